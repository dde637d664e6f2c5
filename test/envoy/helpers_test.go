package envoye2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/mfa-authz/mfa-authz/authz/store"
	"github.com/mfa-authz/mfa-authz/authz/totp"
	"github.com/mfa-authz/mfa-authz/test/envoytest"
	"github.com/mfa-authz/mfa-authz/test/testproc"
)

// mfaBin is the mfa-authz binary, built once by TestMain.
var mfaBin string

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "mfa-authz-envoye2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	if mfaBin, err = testproc.Build(dir, false); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

// Paths of the policy every stack serves: the first needs a code once per
// grace period, the second on every request; anything else is unprotected.
const (
	protectedPath = "/customer-password/DE--42"
	checkoutPath  = "/checkout/1"
	openPath      = "/catalog/items"
)

// policy is the policy section of every mfa-authz config here.
const policy = `policy:
  anonymous: deny
  rules:
    - path: /customer-password/**
      methods: [POST, PATCH, DELETE]
    - path: /checkout/**
      methods: [POST]
      grace_period: 0s
`

// mfaConfig shapes the mfa-authz config a stack writes.
type mfaConfig struct {
	// Profile is mfa.profile: glue, problem or rfc9470.
	Profile string
	// StepUpChallenge sets mfa.step_up_challenge: true.
	StepUpChallenge bool
	// Header sets identity.header to x-user-id, which the shipped Envoy
	// strips from clients and sets from the verified token's sub. Without
	// it only the default identity.jwt_metadata names the user.
	Header bool
	// Rules are further policy.rules entries, indented by four spaces,
	// tried before the common ones.
	Rules string
	// Extra is appended to the file as written (delivery, limits, ...).
	Extra string
}

// mfa is an mfa-authz config file and, while it runs, the server.
type mfa struct {
	dir, cfg           string
	grpcAddr, httpAddr string
	proc               *testproc.Process
}

// newMFA writes a config for c on free loopback ports, with its own store.
func newMFA(t *testing.T, c mfaConfig) *mfa {
	t.Helper()
	dir := t.TempDir()
	m := &mfa{dir: dir, cfg: filepath.Join(dir, "mfa-authz.yaml"),
		grpcAddr: testproc.FreeAddr(t), httpAddr: testproc.FreeAddr(t)}
	var b strings.Builder
	fmt.Fprintf(&b, "server:\n  grpc_address: %s\n  http_address: %s\n  shutdown_timeout: 5s\n", m.grpcAddr, m.httpAddr)
	fmt.Fprintf(&b, "storage:\n  path: %q\n  key_file: %q\n", filepath.Join(dir, "store"), filepath.Join(dir, "secrets", "store.key"))
	b.WriteString("log:\n  level: debug\n  format: json\n")
	profile := c.Profile
	if profile == "" {
		profile = "glue"
	}
	fmt.Fprintf(&b, "mfa:\n  header: X-MFA-Code\n  profile: %s\n  problem_base_url: https://docs.example.com\n", profile)
	if c.StepUpChallenge {
		b.WriteString("  step_up_challenge: true\n")
	}
	if c.Header {
		b.WriteString("identity:\n  header: x-user-id\n")
	}
	head, common, _ := strings.Cut(policy, "  rules:\n")
	b.WriteString(head + "  rules:\n" + c.Rules + common)
	b.WriteString(c.Extra)
	if err := os.WriteFile(m.cfg, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return m
}

// start runs `mfa-authz serve` and waits (at most 10 s) until its gRPC
// health check answers SERVING.
func (m *mfa) start(t *testing.T) {
	t.Helper()
	m.proc = testproc.Start(t, "mfa-authz serve", exec.Command(mfaBin, "serve", "--config", m.cfg))
	conn, err := grpc.NewClient(m.grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	m.proc.WaitServing(t, conn, 10*time.Second)
}

// stop ends the server with SIGTERM (at most 10 s).
func (m *mfa) stop(t *testing.T) {
	t.Helper()
	if code, _ := m.proc.Stop(t, 10*time.Second); code != 0 {
		t.Fatalf("mfa-authz exited with status %d%s", code, m.proc.Tail())
	}
}

// enrollTOTP enrolls user's TOTP factor with the CLI and returns it.
func (m *mfa) enrollTOTP(t *testing.T, user string) *factor {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, mfaBin, "enroll", "totp", "--user", user, "--config", m.cfg, "--output", "json")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("enroll totp --user %s: %v\n%s", user, err, stderr.String())
	}
	var got struct{ User, Secret string }
	if err := json.Unmarshal(out, &got); err != nil || got.User != user || got.Secret == "" {
		t.Fatalf("enroll totp --user %s printed %s (%v)", user, out, err)
	}
	return &factor{t: t, tf: store.TOTP{Secret: got.Secret, Algorithm: "SHA1", Digits: 6, Period: 30}}
}

// factor is an enrolled TOTP factor: it computes the app's codes.
type factor struct {
	t    *testing.T
	tf   store.TOTP
	used map[string]bool
}

// code returns a code the server accepts now and has not seen: the replay
// guard refuses a code twice (and any of an earlier step), so the codes of
// the previous, the current and the next step, all inside the default
// skew of 1, serve three requests in a row.
func (f *factor) code() string {
	f.t.Helper()
	if f.used == nil {
		f.used = map[string]bool{}
	}
	now := time.Now()
	for _, at := range []time.Time{now.Add(-30 * time.Second), now, now.Add(30 * time.Second)} {
		c, err := totp.Code(&f.tf, at)
		if err != nil {
			f.t.Fatal(err)
		}
		if !f.used[c] {
			f.used[c] = true
			return c
		}
	}
	f.t.Fatal("no unused TOTP code left in this time step")
	return ""
}

// httpConfig is the shipped bootstrap for Envoy's HTTP ext_authz mode.
const httpConfig = "envoy/envoy-http.yaml"

// stack is the real Envoy, serving a shipped bootstrap with only its
// addresses substituted, in front of mfa-authz and a recording upstream.
type stack struct {
	mfa     *mfa
	up      *envoytest.Upstream
	envoy   *envoytest.Shipped
	ingress string
	signer  *envoytest.Signer
}

// startStack starts mfa-authz for c (after enroll, which may enroll users
// with the CLI while the server is not running yet), the upstream, and
// Envoy with the shipped file (envoytest.ShippedConfig or httpConfig).
func startStack(t *testing.T, file string, c mfaConfig, enroll func(*mfa)) *stack {
	t.Helper()
	bin := envoytest.Require(t)
	root, err := envoytest.FindRoot()
	if err != nil {
		t.Fatal(err)
	}
	s := &stack{mfa: newMFA(t, c), up: envoytest.StartUpstream(t)}
	if s.signer, err = envoytest.NewSigner(root); err != nil {
		t.Fatal(err)
	}
	if enroll != nil {
		enroll(s.mfa)
	}
	s.mfa.start(t)
	clusters := map[string]string{"mfa-authz": s.mfa.grpcAddr, "upstream": s.up.Addr}
	if file == httpConfig {
		clusters = map[string]string{"mfa-authz-http": s.mfa.httpAddr, "upstream": s.up.Addr}
	}
	s.envoy = envoytest.StartShipped(t, bin, root, file, clusters)
	s.ingress = s.envoy.Ingress
	return s
}

// token returns a token the shipped jwt_authn accepts for user.
func (s *stack) token(t *testing.T, user string) string {
	t.Helper()
	tok, err := s.signer.Token(envoytest.Claims(user, time.Now()))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// call is one request a client sends to Envoy's listener.
type call struct {
	method, path string
	token        string            // bearer token; "" for none
	code         string            // X-MFA-Code; "" for none
	header       map[string]string // further request headers
	body         string
}

// answer is a response as the client received it from Envoy.
type answer struct {
	status int
	header http.Header
	body   string
}

func (a answer) String() string {
	var h strings.Builder
	_ = a.header.Write(&h)
	return fmt.Sprintf("HTTP %d\n%s\n%s", a.status, h.String(), a.body)
}

// client talks to Envoy without keeping connections: a stopped mfa-authz
// or a closed Envoy connection must not leak into the next request.
var client = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

// do sends c to Envoy's listener and returns what the client received.
func (s *stack) do(t *testing.T, c call) answer {
	t.Helper()
	var body io.Reader
	if c.body != "" {
		body = strings.NewReader(c.body)
	}
	req, err := http.NewRequest(c.method, "http://"+s.ingress+c.path, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = "shop.example.com"
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if c.code != "" {
		req.Header.Set("X-MFA-Code", c.code)
	}
	for k, v := range c.header {
		req.Header.Set(k, v)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v%s%s", c.method, c.path, err, s.envoy.Tail(), s.mfa.proc.Tail())
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return answer{status: resp.StatusCode, header: resp.Header, body: string(b)}
}

// golden returns a profile golden file's body, without its final newline.
func golden(t *testing.T, name string) string {
	t.Helper()
	root, err := envoytest.FindRoot()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(root, "authz", "profile", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSuffix(string(b), "\n")
}

// Content types of the two profiles' answers.
const (
	glueType    = "application/json"
	problemType = "application/problem+json"
)

// expectDenied asserts a denial as the client received it: status, the
// one content-type, cache-control: no-store, body; and that the upstream
// received nothing.
func (s *stack) expectDenied(t *testing.T, got answer, status int, contentType, body string) {
	t.Helper()
	var errs []string
	if got.status != status {
		errs = append(errs, fmt.Sprintf("status %d, want %d", got.status, status))
	}
	if ct := got.header.Values("Content-Type"); len(ct) != 1 || ct[0] != contentType {
		errs = append(errs, fmt.Sprintf("content-type %q, want exactly %q", ct, contentType))
	}
	if cc := got.header.Values("Cache-Control"); len(cc) != 1 || cc[0] != "no-store" {
		errs = append(errs, fmt.Sprintf("cache-control %q, want exactly no-store", cc))
	}
	if got.body != body {
		errs = append(errs, fmt.Sprintf("body:\n got: %s\nwant: %s", got.body, body))
	}
	if n := len(s.up.Requests()); n != 0 {
		errs = append(errs, fmt.Sprintf("the upstream received %d requests, want none", n))
	}
	if len(errs) > 0 {
		t.Fatalf("%s\nanswer: %s%s", strings.Join(errs, "\n"), got, s.mfa.proc.Tail())
	}
}

// expectUpstream asserts that the client got the upstream's answer and
// that the upstream received exactly one request, which it returns (and
// forgets, for the next step).
func (s *stack) expectUpstream(t *testing.T, got answer) envoytest.Received {
	t.Helper()
	reqs := s.up.Requests()
	s.up.Reset()
	if got.status != 200 || got.body != envoytest.UpstreamBody || len(reqs) != 1 {
		t.Fatalf("want the upstream's 200 %q and one upstream request, got %d upstream requests and answer %s%s",
			envoytest.UpstreamBody, len(reqs), got, s.mfa.proc.Tail())
	}
	return reqs[0]
}

// expectHeader asserts that the upstream request r carried header name
// exactly with the values want (none: absent).
func expectHeader(t *testing.T, r envoytest.Received, name string, want ...string) {
	t.Helper()
	got := r.Header.Values(name)
	if strings.Join(got, "\x00") != strings.Join(want, "\x00") || len(got) != len(want) {
		t.Errorf("%s %s: upstream received %s: %q, want %q", r.Method, r.Target, name, got, want)
	}
}

// waitFor polls cond every 100 ms until it holds, failing t after timeout.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, last := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal(errors.New(what + " within " + timeout.String() + "; last: " + last))
		}
		time.Sleep(100 * time.Millisecond)
	}
}
