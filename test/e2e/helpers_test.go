package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"github.com/pquerna/otp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/mfa-authz/mfa-authz/authz/store"
	"github.com/mfa-authz/mfa-authz/authz/totp"
	"github.com/mfa-authz/mfa-authz/test/testproc"
)

// binPath is the mfa-authz binary built once by TestMain.
var binPath string

// raceEnabled builds the binary under test with the race detector, so that
// a race in the server fails the test too. It is opt-in (E2E_RACE_BINARY=1)
// because a race-instrumented binary starts about a second slower, and the
// CLI is run a few dozen times.
var raceEnabled = os.Getenv("E2E_RACE_BINARY") == "1"

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	dir, err := os.MkdirTemp("", "mfa-authz-e2e-")
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2e: %v\n", err)
		return 1
	}
	defer os.RemoveAll(dir)
	binPath, err = testproc.Build(dir, raceEnabled)
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2e: %v\n", err)
		return 1
	}
	return m.Run()
}

// ---------------------------------------------------------------------------
// Command line.

// cliResult is the outcome of one mfa-authz invocation.
type cliResult struct {
	args   []string
	stdout string
	stderr string
	code   int
}

func (r cliResult) String() string {
	return fmt.Sprintf("mfa-authz %s\nexit status: %d\nstdout:\n%s\nstderr:\n%s",
		strings.Join(r.args, " "), r.code, r.stdout, r.stderr)
}

// runCLI runs the binary to completion (at most 20 s) and returns its output
// and exit status.
func runCLI(t *testing.T, args ...string) cliResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binPath, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	res := cliResult{args: args, stdout: stdout.String(), stderr: stderr.String()}
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit) && exit.Exited():
		res.code = exit.ExitCode()
	case ctx.Err() != nil:
		t.Fatalf("mfa-authz %s did not finish within 20s\n%s", strings.Join(args, " "), res)
	default:
		t.Fatalf("mfa-authz %s: %v\n%s", strings.Join(args, " "), err, res)
	}
	if raceEnabled && strings.Contains(res.stderr, "WARNING: DATA RACE") {
		t.Errorf("data race in the binary:\n%s", res)
	}
	return res
}

// factor is an enrolled user's TOTP factor, as the enroll command printed it.
type factor struct {
	user   string
	secret string
	uri    string
	tf     store.TOTP
	// recovery holds the recovery codes the enrollment printed: 10 when it
	// was the user's first factor, none otherwise.
	recovery []string
}

// newFactor reads the factor's parameters from its otpauth URI, checking
// that the URI names the user and carries the printed secret.
func newFactor(t *testing.T, user, secret, uri string) *factor {
	t.Helper()
	key, err := otp.NewKeyFromURL(uri)
	if err != nil {
		t.Fatalf("enroll printed an unparsable URI %q: %v", uri, err)
	}
	if key.Type() != "totp" || key.AccountName() != user || key.Issuer() != "mfa-authz" || key.Secret() != secret {
		t.Fatalf("URI %q: type %q account %q issuer %q secret %q; want totp, %q, mfa-authz, the printed secret %q",
			uri, key.Type(), key.AccountName(), key.Issuer(), key.Secret(), user, secret)
	}
	if key.Period() != 30 || key.Digits() != otp.DigitsSix || key.Algorithm() != otp.AlgorithmSHA1 {
		t.Fatalf("URI %q: period %d digits %d algorithm %s; want the defaults 30, 6, SHA1",
			uri, key.Period(), key.Digits(), key.Algorithm())
	}
	return &factor{user: user, secret: secret, uri: uri, tf: store.TOTP{
		Secret: secret, Algorithm: "SHA1", Digits: 6, Period: 30,
	}}
}

// step returns the current TOTP time step.
func (f *factor) step() uint64 {
	return uint64(time.Now().Unix()) / uint64(f.tf.Period)
}

// codeAt returns the code of time step s.
func (f *factor) codeAt(t *testing.T, s uint64) string {
	t.Helper()
	code, err := totp.Code(&f.tf, time.Unix(int64(s)*int64(f.tf.Period), 0))
	if err != nil {
		t.Fatalf("totp.Code(%s): %v", f.user, err)
	}
	return code
}

// wrongCode returns a well-formed code that matches none of the steps the
// server could accept now.
func (f *factor) wrongCode(t *testing.T) string {
	t.Helper()
	cur := f.step()
	near := map[string]bool{}
	for s := cur - 3; s <= cur+3; s++ {
		near[f.codeAt(t, s)] = true
	}
	for i := 0; ; i++ {
		c := fmt.Sprintf("%06d", (i*137137+424242)%1000000)
		if !near[c] {
			return c
		}
	}
}

// enrollOutput is the exact shape of `enroll --output json`: user, secret
// and uri, plus recovery_codes when the enrollment is the user's first
// factor (the key is absent otherwise).
type enrollOutput struct {
	User          string   `json:"user"`
	Secret        string   `json:"secret"`
	URI           string   `json:"uri"`
	RecoveryCodes []string `json:"recovery_codes"`
}

// enrollJSON enrolls user with --output json (plus extra flags) and returns
// the factor, with the recovery codes printed if any.
func enrollJSON(t *testing.T, cfg, user string, extra ...string) *factor {
	t.Helper()
	args := append([]string{"enroll", "totp", "--user", user, "--config", cfg, "--output", "json"}, extra...)
	res := runCLI(t, args...)
	if res.code != 0 {
		t.Fatalf("enroll %s: want exit status 0\n%s", user, res)
	}
	dec := json.NewDecoder(strings.NewReader(res.stdout))
	dec.DisallowUnknownFields()
	var out enrollOutput
	if err := dec.Decode(&out); err != nil {
		t.Fatalf("enroll %s: stdout is not the {user,secret,uri[,recovery_codes]} JSON object: %v\n%s", user, err, res)
	}
	if dec.More() {
		t.Fatalf("enroll %s: stdout holds more than one JSON value\n%s", user, res)
	}
	if out.User != user || out.Secret == "" || !strings.HasPrefix(out.URI, "otpauth://totp/") {
		t.Fatalf("enroll %s: got %+v; want user %q, a secret and an otpauth://totp/ URI", user, out, user)
	}
	// recovery_codes is either absent or 10 codes; never null or [].
	if strings.Contains(res.stdout, `"recovery_codes"`) {
		checkRecoveryCodes(t, out.RecoveryCodes)
	}
	f := newFactor(t, user, out.Secret, out.URI)
	f.recovery = out.RecoveryCodes
	return f
}

// recoveryCodeRE is one recovery code as printed: XXXX-XXXX over the
// alphabet without easily confused characters.
var recoveryCodeRE = regexp.MustCompile(`^[ABCDEFGHJKMNPQRSTWXYZ2-9]{4}-[ABCDEFGHJKMNPQRSTWXYZ2-9]{4}$`)

// checkRecoveryCodes asserts 10 distinct, well-formed recovery codes.
func checkRecoveryCodes(t *testing.T, codes []string) {
	t.Helper()
	if len(codes) != 10 {
		t.Fatalf("got %d recovery codes %q, want 10", len(codes), codes)
	}
	seen := map[string]bool{}
	for _, c := range codes {
		if !recoveryCodeRE.MatchString(c) || seen[c] {
			t.Fatalf("recovery codes %q: %q is malformed or repeated", codes, c)
		}
		seen[c] = true
	}
}

// recoveryText is the block the CLI prints after a first factor's
// enrollment (and for `user recovery-codes`): a header line naming the
// user, then the 10 codes, indented.
func recoveryText(user string, codes []string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Recovery codes for user %q (each works once; shown only now):\n", user)
	for _, c := range codes {
		fmt.Fprintf(&b, "  %s\n", c)
	}
	return b.String()
}

// recoveryTextRE matches a recoveryText block and captures its codes.
const recoveryTextRE = `Recovery codes for user "%s" \(each works once; shown only now\):\n((?:  [A-Z2-9]{4}-[A-Z2-9]{4}\n){10})`

// parseRecoveryText returns the codes of a recoveryTextRE capture.
func parseRecoveryText(t *testing.T, block string) []string {
	t.Helper()
	codes := strings.Fields(block)
	checkRecoveryCodes(t, codes)
	return codes
}

// ---------------------------------------------------------------------------
// Config files.

// cfgOpts shapes one config file. Empty fields keep the defaults used by
// most scenarios.
type cfgOpts struct {
	MFA       []string // extra "key: value" lines of the mfa section
	Anonymous string   // policy.anonymous
	Rules     string   // the policy.rules list, indented by four spaces
	Raw       string   // the whole file, except server and storage (for broken configs)
	Extra     string   // further sections, appended as written
}

const defaultRules = `    - path: /customer-password/**
      methods: [POST, PATCH, DELETE]
    - path: /checkout/**
      methods: [POST]
      grace_period: 0s
`

// testEnv is one config file with its own store and port.
type testEnv struct {
	dir  string
	cfg  string
	addr string
}

// newEnv writes a config file in a fresh temp dir: its own loopback port,
// the store data and key in separate subdirectories, JSON logs.
func newEnv(t *testing.T, o cfgOpts) *testEnv {
	t.Helper()
	dir := t.TempDir()
	e := &testEnv{dir: dir, cfg: filepath.Join(dir, "mfa-authz.yaml"), addr: testproc.FreeAddr(t)}
	var b strings.Builder
	fmt.Fprintf(&b, "server:\n  grpc_address: %s\n  shutdown_timeout: 5s\n", e.addr)
	fmt.Fprintf(&b, "storage:\n  path: %s\n  key_file: %s\n",
		strconv.Quote(filepath.Join(dir, "data", "store")), strconv.Quote(filepath.Join(dir, "secrets", "store.key")))
	if o.Raw != "" {
		b.WriteString(o.Raw)
	} else {
		b.WriteString("log:\n  level: debug\n  format: json\n")
		b.WriteString("mfa:\n  header: X-MFA-Code\n")
		for _, l := range o.MFA {
			fmt.Fprintf(&b, "  %s\n", l)
		}
		b.WriteString("identity:\n  header: x-user-id\n")
		anon := o.Anonymous
		if anon == "" {
			anon = "deny"
		}
		rules := o.Rules
		if rules == "" {
			rules = defaultRules
		}
		fmt.Fprintf(&b, "policy:\n  anonymous: %s\n  rules:\n%s", anon, rules)
	}
	b.WriteString(o.Extra)
	if err := os.WriteFile(e.cfg, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return e
}

// ---------------------------------------------------------------------------
// The server process.

// server is a running `mfa-authz serve` child process and a client of it.
type server struct {
	*testproc.Process
	env    *testEnv
	conn   *grpc.ClientConn
	authz  authv3.AuthorizationClient
	health healthpb.HealthClient
}

// startServer starts `mfa-authz serve --config` for e and waits (at most
// 10 s) until its gRPC health check answers SERVING.
func startServer(t *testing.T, e *testEnv) *server {
	t.Helper()
	s := &server{env: e}
	// Registered before Start's cleanup, so it runs after the kill.
	t.Cleanup(func() {
		if s.Process != nil && raceEnabled && strings.Contains(s.Output(), "WARNING: DATA RACE") {
			t.Errorf("data race in the server:\n%s", s.Output())
		}
	})
	s.Process = testproc.Start(t, "mfa-authz serve", exec.Command(binPath, "serve", "--config", e.cfg))
	conn, err := grpc.NewClient(e.addr,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 20 * time.Millisecond, Multiplier: 1.5, MaxDelay: 200 * time.Millisecond},
			MinConnectTimeout: time.Second,
		}))
	if err != nil {
		t.Fatalf("grpc client for %s: %v", e.addr, err)
	}
	t.Cleanup(func() { conn.Close() })
	s.conn = conn
	s.authz = authv3.NewAuthorizationClient(conn)
	s.health = healthpb.NewHealthClient(conn)
	s.WaitServing(t, conn, 10*time.Second)
	return s
}

// check sends req and fails the test on a transport error.
func (s *server) check(t *testing.T, req *authv3.CheckRequest) *authv3.CheckResponse {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := s.authz.Check(ctx, req)
	if err != nil {
		t.Fatalf("Check(%s): %v%s", prototext.Format(req), err, s.Tail())
	}
	return resp
}

// ---------------------------------------------------------------------------
// Requests.

const (
	host          = "shop.example.com"
	protectedPath = "/customer-password/DE--42"
)

// req describes one HTTP request as Envoy would report it.
type req struct {
	method, path string
	user         string // x-user-id; "" for none
	code         string // X-MFA-Code; "" for none
	requestID    string // x-request-id header; "" for none
	id           string // attributes.request.http.id; "" for none
	extra        map[string]string
	jwtSub       string // jwt_authn payload sub; "" for no metadata
}

// build returns the CheckRequest, with the attribute fields and Envoy's
// lower-case headers map, pseudo-headers included.
func (r req) build(t *testing.T) *authv3.CheckRequest {
	t.Helper()
	h := map[string]string{":method": r.method, ":path": r.path, ":authority": host}
	if r.user != "" {
		h["x-user-id"] = r.user
	}
	if r.code != "" {
		h["x-mfa-code"] = r.code
	}
	if r.requestID != "" {
		h["x-request-id"] = r.requestID
	}
	for k, v := range r.extra {
		h[k] = v
	}
	cr := &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
		Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{
			Id: r.id, Method: r.method, Path: r.path, Host: host, Scheme: "https", Protocol: "HTTP/1.1", Headers: h,
		}},
	}}
	if r.jwtSub != "" {
		md, err := structpb.NewStruct(map[string]any{
			"jwt_payload": map[string]any{
				"sub": r.jwtSub,
				"iss": "https://issuer.example.com",
				"aud": []any{"shop"},
				"exp": float64(time.Now().Add(time.Hour).Unix()),
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		cr.Attributes.MetadataContext = &corev3.Metadata{FilterMetadata: map[string]*structpb.Struct{
			"envoy.filters.http.jwt_authn": md,
		}}
	}
	return cr
}

// protected is a POST to the protected path.
func protected(user, code string) req {
	return req{method: "POST", path: protectedPath, user: user, code: code}
}

// ---------------------------------------------------------------------------
// Assertions.

// Denial bodies of the glue profile, exactly as Spryker's Glue API answers.
const (
	glueMissing     = `{"errors":[{"status":403,"code":"5900","detail":"X-MFA-Code header is missing."}]}`
	glueInvalid     = `{"errors":[{"status":403,"code":"5901","detail":"X-MFA-Code is invalid."}]}`
	glueNoIdentity  = `{"errors":[{"status":400,"code":"5905","detail":"No customer identifier provided."}]}`
	glueNotEnrolled = `{"errors":[{"status":403,"code":"5920","detail":"MFA is not activated for this customer."}]}`
	glueTooMany     = `{"errors":[{"status":429,"code":"5911","detail":"Too many invalid MFA codes. Try again later."}]}`
	glueUnavailable = `{"errors":[{"status":503,"code":"5912","detail":"MFA verification is temporarily unavailable."}]}`

	glueType    = "application/json"
	problemType = "application/problem+json"
)

// denial is an expected DeniedResponse.
type denial struct {
	rpc         codes.Code
	status      int
	contentType string
	body        string
	// retryAfter, when non-zero, is the most seconds a retry-after header
	// may say; zero means the header must be absent.
	retryAfter int
}

func deny403(body string) denial {
	return denial{rpc: codes.PermissionDenied, status: 403, contentType: glueType, body: body}
}

// deny400 is a Glue denial with Spryker's 400 (its request errors, 5905).
func deny400(body string) denial {
	return denial{rpc: codes.PermissionDenied, status: 400, contentType: glueType, body: body}
}

func show(resp *authv3.CheckResponse) string {
	return prototext.Format(resp)
}

// headerValues collects a header list by lower-case key.
func headerValues(hs []*corev3.HeaderValueOption) map[string][]*corev3.HeaderValueOption {
	m := map[string][]*corev3.HeaderValueOption{}
	for _, h := range hs {
		k := strings.ToLower(h.GetHeader().GetKey())
		m[k] = append(m[k], h)
	}
	return m
}

// fail reports the mismatches of one answer at once, with the answer and
// the server's log tail, and stops the test.
func (s *server) fail(t *testing.T, resp *authv3.CheckResponse, errs []string) {
	t.Helper()
	if len(errs) > 0 {
		t.Fatalf("%s\nresponse: %s%s", strings.Join(errs, "\n"), show(resp), s.Tail())
	}
}

// expectDenied asserts the rpc status, HTTP status, headers and body of a
// denial.
func (s *server) expectDenied(t *testing.T, resp *authv3.CheckResponse, want denial) {
	t.Helper()
	var errs []string
	errorf := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }
	if got := codes.Code(resp.GetStatus().GetCode()); got != want.rpc {
		errorf("rpc status: got %d (%v), want %d (%v)", got, got, want.rpc, want.rpc)
	}
	d := resp.GetDeniedResponse()
	if d == nil {
		errorf("got no DeniedResponse, want HTTP %d %s", want.status, want.body)
		s.fail(t, resp, errs)
	}
	if got := int(d.GetStatus().GetCode()); got != want.status {
		errorf("HTTP status: got %d, want %d", got, want.status)
	}
	if d.GetBody() != want.body {
		errorf("body:\n got: %s\nwant: %s", d.GetBody(), want.body)
	}
	hv := headerValues(d.GetHeaders())
	one := func(name string) (string, bool) {
		vs := hv[name]
		if len(vs) > 1 {
			errorf("header %s sent %d times", name, len(vs))
		}
		if len(vs) == 0 {
			return "", false
		}
		return vs[0].GetHeader().GetValue(), true
	}
	if got, _ := one("content-type"); got != want.contentType {
		errorf("content-type: got %q, want %q", got, want.contentType)
	}
	if got, _ := one("cache-control"); got != "no-store" {
		errorf("cache-control: got %q, want \"no-store\" on a denial", got)
	}
	ra, ok := one("retry-after")
	switch {
	case want.retryAfter == 0 && ok:
		errorf("unexpected retry-after %q", ra)
	case want.retryAfter > 0 && !ok:
		errorf("no retry-after header, want one of at most %d seconds", want.retryAfter)
	case want.retryAfter > 0:
		n, err := strconv.Atoi(ra)
		if err != nil || n < want.retryAfter-60 || n > want.retryAfter {
			errorf("retry-after: got %q, want whole seconds in [%d, %d]", ra, want.retryAfter-60, want.retryAfter)
		}
	}
	s.fail(t, resp, errs)
}

// expectAllowed asserts an OK answer. method "" is an unprotected request:
// the MFA and method headers are removed and nothing is added. Otherwise
// the method header is set (overwriting any client value) and the MFA
// header is removed.
func (s *server) expectAllowed(t *testing.T, resp *authv3.CheckResponse, method string) {
	t.Helper()
	var errs []string
	errorf := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }
	if got := codes.Code(resp.GetStatus().GetCode()); got != codes.OK {
		errorf("rpc status: got %d (%v), want 0 (OK)", got, got)
	}
	ok := resp.GetOkResponse()
	if ok == nil {
		errorf("got no OkResponse")
		s.fail(t, resp, errs)
	}
	remove := ok.GetHeadersToRemove()
	if method == "" {
		if want := []string{"x-mfa-code", "x-mfa-method"}; !slices.Equal(remove, want) {
			errorf("headers_to_remove: got %q, want exactly %q", remove, want)
		}
		if len(ok.GetHeaders()) != 0 {
			errorf("unprotected request: got %d headers to add, want none", len(ok.GetHeaders()))
		}
	} else {
		if !slices.Contains(remove, "x-mfa-code") {
			errorf("headers_to_remove %q lacks x-mfa-code: the code would go upstream", remove)
		}
		if slices.Contains(remove, "x-mfa-method") {
			errorf("headers_to_remove %q removes the x-mfa-method header being set", remove)
		}
		hv := headerValues(ok.GetHeaders())["x-mfa-method"]
		switch {
		case len(hv) != 1:
			errorf("want exactly one x-mfa-method header, got %d", len(hv))
		case hv[0].GetHeader().GetValue() != method:
			errorf("x-mfa-method: got %q, want %q", hv[0].GetHeader().GetValue(), method)
		case hv[0].GetAppendAction() != corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD:
			errorf("x-mfa-method append action %v: a client-sent value would survive", hv[0].GetAppendAction())
		}
	}
	s.fail(t, resp, errs)
}

// problemBody is an RFC 9457 body of the problem profile with base URL
// https://docs.example.com, as INVERS OneAPI shapes it.
func problemBody(kind, title string, status int, detail, flow string) string {
	return fmt.Sprintf(`{"type":"/problems/mfa/%s","type_documentation":"https://docs.example.com/problems/mfa/%s",`+
		`"title":%q,"status":%d,"detail":%q,"flow_id":%q}`, kind, kind, title, status, detail, flow)
}

// isPNG reports whether data starts with the PNG signature.
func isPNG(data []byte) bool {
	return bytes.HasPrefix(data, []byte("\x89PNG\r\n\x1a\n"))
}

// uriSecret returns the secret query parameter of an otpauth URI.
func uriSecret(t *testing.T, uri string) string {
	t.Helper()
	u, err := url.Parse(uri)
	if err != nil {
		t.Fatalf("URI %q: %v", uri, err)
	}
	return u.Query().Get("secret")
}
