package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc/codes"

	"github.com/mfa-authz/mfa-authz/authz/delivery"
	"github.com/mfa-authz/mfa-authz/test/smtptest"
	"github.com/mfa-authz/mfa-authz/test/testproc"
)

// hookPeer is a real local HTTP server receiving signed webhook deliveries.
type hookPeer struct {
	srv    *httptest.Server
	secret string
	mu     sync.Mutex
	bad    []string
	ch     chan map[string]string
}

func startHook(t *testing.T, secret string) *hookPeer {
	h := &hookPeer{secret: secret, ch: make(chan map[string]string, 20)}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if r.Header.Get("X-MFA-Signature") != delivery.Sign([]byte(secret), b) {
			h.mu.Lock()
			h.bad = append(h.bad, string(b))
			h.mu.Unlock()
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var m map[string]string
		if err := json.Unmarshal(b, &m); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		h.ch <- m
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *hookPeer) next(t *testing.T) map[string]string {
	t.Helper()
	select {
	case m := <-h.ch:
		return m
	case <-time.After(5 * time.Second):
		t.Fatalf("no webhook delivery within 5s (bad signatures: %q)", h.bad)
		return nil
	}
}

var codeRE = regexp.MustCompile(`code is (\d{6})\.`)

func mailCode(t *testing.T, s *smtptest.Server, to string) string {
	t.Helper()
	m, ok := s.Next(5 * time.Second)
	if !ok {
		t.Fatalf("no e-mail within 5s")
	}
	if len(m.To) != 1 || m.To[0] != to || !m.TLS {
		t.Fatalf("e-mail to %q (tls %v), want to %q over STARTTLS", m.To, m.TLS, to)
	}
	c := codeRE.FindStringSubmatch(m.Body)
	if c == nil {
		t.Fatalf("e-mail body holds no code: %q", m.Body)
	}
	return c[1]
}

// lifecycleEnv writes a config with the api, delivery and limits sections.
func lifecycleEnv(t *testing.T, profile string, mail *smtptest.Server, hook *hookPeer, limits string) (*testEnv, string) {
	t.Helper()
	return lifecycleEnvTTL(t, profile, mail, hook, limits, "5m")
}

// lifecycleEnvTTL is lifecycleEnv with codes.ttl set to ttl.
func lifecycleEnvTTL(t *testing.T, profile string, mail *smtptest.Server, hook *hookPeer, limits, ttl string) (*testEnv, string) {
	t.Helper()
	dir := t.TempDir()
	e := &testEnv{dir: dir, cfg: filepath.Join(dir, "mfa-authz.yaml"), addr: testproc.FreeAddr(t)}
	httpAddr := testproc.FreeAddr(t)
	ca := filepath.Join(dir, "smtp-ca.pem")
	if err := os.WriteFile(ca, mail.CAPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	host, port, _ := strings.Cut(mail.Addr, ":")
	cfg := fmt.Sprintf(`server:
  grpc_address: %s
  http_address: %s
  shutdown_timeout: 5s
storage:
  path: %q
  key_file: %q
log:
  level: debug
mfa:
  profile: %s
  problem_base_url: https://docs.example.com
identity:
  header: x-user-id
codes:
  length: 6
  ttl: %s
  max_attempts: 3
delivery:
  email: smtp
  sms: webhook
  smtp:
    host: %s
    port: %s
    from: no-reply@shop.example.com
    tls: starttls
    ca_file: %q
  webhook:
    url: %s
    secret: %s
    backoff: 10ms
limits:
%s
policy:
  rules:
    - path: /customer-password/**
    - path: /checkout/**
      methods: [POST]
      grace_period: 0s
`, e.addr, httpAddr, filepath.Join(dir, "data", "store"), filepath.Join(dir, "secrets", "store.key"), profile,
		ttl, host, port, ca, hook.srv.URL, hook.secret, limits)
	if err := os.WriteFile(e.cfg, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return e, httpAddr
}

// apiReq is a request to a self-service endpoint as Envoy reports it with
// with_request_body on.
type apiReq struct {
	method, path, user, code, body string
	partial                        bool
	noBody                         bool // content-length announced, body not forwarded
}

func (a apiReq) build() *authv3.CheckRequest {
	h := map[string]string{":method": a.method, ":path": a.path, ":authority": host, "x-request-id": "flow-1"}
	if a.user != "" {
		h["x-user-id"] = a.user
	}
	if a.code != "" {
		h["x-mfa-code"] = a.code
	}
	if a.partial {
		h["x-envoy-auth-partial-body"] = "true"
	}
	if a.body != "" || a.noBody {
		h["content-type"] = "application/vnd.api+json"
	}
	hr := &authv3.AttributeContext_HttpRequest{Method: a.method, Path: a.path, Host: host, Headers: h, Body: a.body,
		Size: int64(len(a.body))}
	if a.noBody {
		hr.Body, hr.Size = "", 64
	}
	return &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
		Request: &authv3.AttributeContext_Request{Http: hr}}}
}

func body(kind, typ string, extra ...string) string {
	attrs := fmt.Sprintf(`"type":%q`, typ)
	for _, e := range extra {
		attrs += "," + e
	}
	return fmt.Sprintf(`{"data":{"type":%q,"attributes":{%s}}}`, kind, attrs)
}

// answer asserts that mfa-authz answered the request itself.
func (s *server) answer(t *testing.T, a apiReq, status int, want string) string {
	t.Helper()
	resp := s.check(t, a.build())
	var errs []string
	if got := codes.Code(resp.GetStatus().GetCode()); got != codes.PermissionDenied {
		errs = append(errs, fmt.Sprintf("rpc status %v, want PermissionDenied (answered by mfa-authz)", got))
	}
	d := resp.GetDeniedResponse()
	if got := int(d.GetStatus().GetCode()); got != status {
		errs = append(errs, fmt.Sprintf("HTTP status %d, want %d", got, status))
	}
	if want != "*" && d.GetBody() != want {
		errs = append(errs, fmt.Sprintf("body:\n got: %s\nwant: %s", d.GetBody(), want))
	}
	s.fail(t, resp, errs)
	return d.GetBody()
}

func types(totp, email, sms int) string {
	return fmt.Sprintf(`{"data":[{"type":"multi-factor-auth-types","id":"totp","attributes":{"type":"totp","status":%d}},`+
		`{"type":"multi-factor-auth-types","id":"email","attributes":{"type":"email","status":%d}},`+
		`{"type":"multi-factor-auth-types","id":"sms","attributes":{"type":"sms","status":%d}}]}`, totp, email, sms)
}

func glueErr(status int, code, detail string) string {
	return fmt.Sprintf(`{"errors":[{"status":%d,"code":%q,"detail":%q}]}`, status, code, detail)
}

const (
	activate   = "/multi-factor-auth-type-activate"
	verifyP    = "/multi-factor-auth-type-verify"
	deactivate = "/multi-factor-auth-type-deactivate"
	trigger    = "/multi-factor-auth-trigger"
	typesP     = "/multi-factor-auth-types"
)

// TestLifecycleGlue: a user with nothing enrolled enrolls e-mail, TOTP and
// SMS, steps up with each kind of code, and deactivates, through Check
// alone, with codes received by a real SMTP server and a real webhook peer.
func TestLifecycleGlue(t *testing.T) {
	t.Parallel()
	mail := smtptest.Start(t, smtptest.Options{})
	hook := startHook(t, "hook-secret")
	e, httpAddr := lifecycleEnv(t, "glue", mail, hook, "  resend_cooldown: 1s\n")
	s := startServer(t, e)
	const u = "carol"
	post := func(path, code, b string) apiReq {
		return apiReq{method: "POST", path: path, user: u, code: code, body: b}
	}

	s.answer(t, apiReq{method: "GET", path: typesP, user: u}, 200, types(0, 0, 0))

	// E-mail: activate, the code arrives by SMTP, verify.
	s.answer(t, post(activate, "", body("multi-factor-auth-type-activate", "email", `"destination":"carol@example.com"`)), 204, "")
	code := mailCode(t, mail, "carol@example.com")
	s.answer(t, apiReq{method: "GET", path: typesP, user: u}, 200, types(0, 1, 0))
	// Activation in progress does not count for step-up.
	s.expectDenied(t, s.check(t, protected(u, "").build(t)), deny403(glueNotEnrolled))
	wrong := "000000"
	if code == wrong {
		wrong = "111111"
	}
	s.answer(t, post(verifyP, wrong, body("multi-factor-auth-type-verify", "email")), 403, glueInvalid)
	s.answer(t, post(verifyP, code, body("multi-factor-auth-type-verify", "email")), 204, "")
	// Recovery codes come with their own request, proven by a new code.
	time.Sleep(1100 * time.Millisecond)
	s.answer(t, post(trigger, "", body("multi-factor-auth-trigger", "email")), 204, "")
	out := s.answer(t, post("/multi-factor-auth-recovery-codes", mailCode(t, mail, "carol@example.com"), ""), 200, "*")
	var rec struct {
		Data struct {
			Type       string `json:"type"`
			Attributes struct {
				Codes []string `json:"codes"`
			} `json:"attributes"`
		} `json:"data"`
	}
	if err := json.Unmarshal([]byte(out), &rec); err != nil || rec.Data.Type != "multi-factor-auth-recovery-codes" || len(rec.Data.Attributes.Codes) != 10 {
		t.Fatalf("recovery codes: want 10, got %s (%v)", out, err)
	}
	recovery := rec.Data.Attributes.Codes
	s.answer(t, post(verifyP, code, body("multi-factor-auth-type-verify", "email")), 400, glueErr(400, "5904", "MFA type already activated."))
	s.answer(t, apiReq{method: "GET", path: typesP, user: u}, 200, types(0, 2, 0))

	// Step-up with a triggered e-mail code on a route with no grace.
	checkout := req{method: "POST", path: "/checkout/1", user: u}
	s.expectDenied(t, s.check(t, checkout.build(t)), deny403(glueMissing))
	// The resend cooldown holds across endpoints: the activation's code
	// counts, verified or not.
	time.Sleep(1100 * time.Millisecond)
	s.answer(t, post(trigger, "", body("multi-factor-auth-trigger", "email")), 204, "")
	code = mailCode(t, mail, "carol@example.com")
	// Within the cooldown no second code is sent.
	s.answer(t, post(trigger, "", body("multi-factor-auth-trigger", "email")), 429, "*")
	checkout.code = "email " + code
	s.expectAllowed(t, s.check(t, checkout.build(t)), "email")
	s.expectDenied(t, s.check(t, checkout.build(t)), deny403(glueInvalid)) // single use

	// Grace: a route with the default grace needs no code after a step-up.
	time.Sleep(1100 * time.Millisecond)
	s.answer(t, post(trigger, "", body("multi-factor-auth-trigger", "email")), 204, "")
	code = mailCode(t, mail, "carol@example.com")
	s.expectAllowed(t, s.check(t, protected(u, "email "+code).build(t)), "email")
	s.expectAllowed(t, s.check(t, protected(u, "").build(t)), "email")

	// A recovery code works once.
	checkout.code = "recovery " + recovery[0]
	s.expectAllowed(t, s.check(t, checkout.build(t)), "recovery")
	s.expectDenied(t, s.check(t, checkout.build(t)), deny403(glueInvalid))

	// TOTP: activate (secret and URI), verify with the app's code. The
	// session does not authorize adding a factor: the identity header
	// binds no step-up, so activate needs a code of its own.
	s.answer(t, post(activate, "", body("multi-factor-auth-type-activate", "totp")), 403,
		glueErr(403, "5919", "Verify an enabled MFA type before adding another."))
	out = s.answer(t, post(activate, "recovery "+recovery[3], body("multi-factor-auth-type-activate", "totp")), 200, "*")
	var act struct {
		Data struct {
			Attributes struct{ Secret, URI string } `json:"attributes"`
		} `json:"data"`
	}
	if err := json.Unmarshal([]byte(out), &act); err != nil {
		t.Fatal(err)
	}
	f := newFactor(t, u, act.Data.Attributes.Secret, act.Data.Attributes.URI)
	s.answer(t, apiReq{method: "GET", path: typesP, user: u}, 200, types(1, 2, 0))
	st := f.step()
	s.answer(t, post(verifyP, f.codeAt(t, st), body("multi-factor-auth-type-verify", "totp")), 204, "")
	checkout.code = "totp " + f.codeAt(t, st+1)
	s.expectAllowed(t, s.check(t, checkout.build(t)), "totp")

	// SMS through the webhook: a bad number, then a good one.
	s.answer(t, post(activate, "recovery "+recovery[5], body("multi-factor-auth-type-activate", "sms", `"destination":"0151 2345"`)), 400,
		glueErr(400, "5917", "The destination for MFA codes is missing or invalid."))
	s.answer(t, post(activate, "recovery "+recovery[4], body("multi-factor-auth-type-activate", "sms", `"destination":"+4915112345678"`)), 204, "")
	m := hook.next(t)
	if m["user"] != u || m["method"] != "sms" || m["destination"] != "+4915112345678" || len(m["code"]) != 6 || m["expires_at"] == "" {
		t.Fatalf("webhook delivery %v", m)
	}
	s.answer(t, post(verifyP, "sms "+m["code"], body("multi-factor-auth-type-verify", "sms")), 204, "")
	s.answer(t, apiReq{method: "GET", path: typesP, user: u}, 200, types(2, 2, 2))

	// Deactivate: a used code is 5901 as on a protected route, a recovery
	// code works; a type no longer enabled is 5906.
	s.answer(t, post(deactivate, "recovery "+recovery[0], body("multi-factor-auth-type-deactivate", "email")), 403, glueInvalid)
	s.answer(t, post(deactivate, "recovery "+recovery[1], body("multi-factor-auth-type-deactivate", "email")), 204, "")
	s.answer(t, apiReq{method: "GET", path: typesP, user: u}, 200, types(2, 0, 2))
	s.answer(t, post(deactivate, "recovery "+recovery[2], body("multi-factor-auth-type-deactivate", "email")), 400,
		glueErr(400, "5906", "MFA type is not found."))

	// The same handlers on the HTTP listener.
	hreq, _ := http.NewRequest("GET", "http://"+httpAddr+typesP, nil)
	hreq.Header.Set("X-User-Id", u)
	resp, err := http.DefaultClient.Do(hreq)
	if err != nil {
		t.Fatal(err)
	}
	hb, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(hb) != types(2, 0, 2) || resp.Header.Get("Content-Type") != glueType {
		t.Fatalf("HTTP types: %d %q %s", resp.StatusCode, resp.Header.Get("Content-Type"), hb)
	}
	// The cooldown of the SMS code activate sent holds although that code
	// was verified: wait it out (1 s here).
	time.Sleep(1100 * time.Millisecond)
	hreq, _ = http.NewRequest("POST", "http://"+httpAddr+trigger, strings.NewReader(body("multi-factor-auth-trigger", "sms")))
	hreq.Header.Set("X-User-Id", u)
	hreq.Header.Set("Content-Type", "application/vnd.api+json")
	resp, err = http.DefaultClient.Do(hreq)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 204 {
		t.Fatalf("HTTP trigger: %d", resp.StatusCode)
	}
	m = hook.next(t)
	checkout.code = "sms " + m["code"]
	s.expectAllowed(t, s.check(t, checkout.build(t)), "sms")
}

// TestLifecycleErrorsGlue: every error of the seed table the endpoints
// produce, with its exact body, and the body checks.
func TestLifecycleErrorsGlue(t *testing.T) {
	t.Parallel()
	mail := smtptest.Start(t, smtptest.Options{})
	hook := startHook(t, "s")
	e, _ := lifecycleEnv(t, "glue", mail, hook, "  resend_cooldown: 30s\n")
	s := startServer(t, e)
	invalidBody := glueErr(400, "5913", "Request body is missing or is not a valid JSON:API document.")
	rows := []struct {
		name   string
		r      apiReq
		status int
		body   string
	}{
		{"no identity", apiReq{method: "POST", path: trigger, body: body("multi-factor-auth-trigger", "email")}, 400, glueNoIdentity},
		{"no identity on types", apiReq{method: "GET", path: typesP}, 400, glueNoIdentity},
		{"type missing", apiReq{method: "POST", path: trigger, user: "u1", body: `{"data":{"type":"multi-factor-auth-trigger","attributes":{}}}`}, 400,
			glueErr(400, "5902", "MFA type is missing.")},
		{"type not found", apiReq{method: "POST", path: trigger, user: "u1", body: body("multi-factor-auth-trigger", "pigeon")}, 400,
			glueErr(400, "5906", "MFA type is not found.")},
		{"trigger not enrolled", apiReq{method: "POST", path: trigger, user: "u1", body: body("multi-factor-auth-trigger", "email")}, 400,
			glueErr(400, "5906", "MFA type is not found.")},
		{"deactivate not enrolled", apiReq{method: "POST", path: deactivate, user: "u1", code: "123456", body: body("multi-factor-auth-type-deactivate", "totp")}, 400,
			glueErr(400, "5906", "MFA type is not found.")},
		{"another method", apiReq{method: "GET", path: trigger, user: "u1"}, 405,
			glueErr(405, "5921", "The HTTP method is not allowed on this resource.")},
		{"body absent", apiReq{method: "POST", path: trigger, user: "u1"}, 400, invalidBody},
		{"body not forwarded", apiReq{method: "POST", path: trigger, user: "u1", noBody: true}, 400, invalidBody},
		{"body truncated", apiReq{method: "POST", path: trigger, user: "u1", body: `{"data":{"type":"multi-factor-auth-tri`, partial: true}, 400, invalidBody},
		{"body not JSON", apiReq{method: "POST", path: trigger, user: "u1", body: `type=email`}, 400, invalidBody},
		{"wrong data.type", apiReq{method: "POST", path: trigger, user: "u1", body: body("multi-factor-auth-type-activate", "email")}, 400, invalidBody},
		{"invalid e-mail", apiReq{method: "POST", path: activate, user: "u1", body: body("multi-factor-auth-type-activate", "email", `"destination":"nobody"`)}, 400,
			glueErr(400, "5917", "The destination for MFA codes is missing or invalid.")},
	}
	for _, row := range rows {
		t.Run(row.name, func(t *testing.T) { s.answer(t, row.r, row.status, row.body) })
	}
	t.Run("resend cooldown", func(t *testing.T) {
		a := apiReq{method: "POST", path: activate, user: "u2", body: body("multi-factor-auth-type-activate", "email", `"destination":"u2@example.com"`)}
		s.answer(t, a, 204, "")
		mailCode(t, mail, "u2@example.com")
		resp := s.check(t, a.build())
		s.expectDenied(t, resp, denial{rpc: codes.PermissionDenied, status: 429, contentType: glueType, retryAfter: 30,
			body: glueErr(429, "5916", "An MFA code was sent a moment ago. Wait before requesting another.")})
	})
}

// TestLifecycleLimitsProblem: the send limits and the problem profile's
// bodies for them.
func TestLifecycleLimitsProblem(t *testing.T) {
	t.Parallel()
	mail := smtptest.Start(t, smtptest.Options{})
	hook := startHook(t, "s")
	e, _ := lifecycleEnv(t, "problem", mail, hook,
		"  resend_cooldown: 0s\n  user_max_sends: 2\n  user_window: 1h\n  tenant_max_sends: 3\n  tenant_window: 1h\n")
	s := startServer(t, e)
	act := func(user string) apiReq {
		return apiReq{method: "POST", path: activate, user: user, body: body("multi-factor-auth-type-activate", "email", `"destination":"`+user+`@example.com"`)}
	}
	problem := func(kind, title string, status int, detail string) denial {
		return denial{rpc: codes.PermissionDenied, status: status, contentType: problemType, retryAfter: 3600,
			body: problemBody(kind, title, status, detail, "flow-1")}
	}
	s.answer(t, act("p1"), 204, "")
	s.answer(t, act("p1"), 204, "")
	s.expectDenied(t, s.check(t, act("p1").build()), problem("too-many-emails", "Too many e-mails.", 429,
		"The number of MFA codes sent by e-mail to this user is exhausted. Try again later."))
	s.answer(t, act("p2"), 204, "")
	s.expectDenied(t, s.check(t, act("p3").build()), problem("too-many-emails-per-tenant", "Too many e-mails for the tenant.", 429,
		"The number of MFA codes sent by e-mail is exhausted for now. Try again later."))
	if n := len(mail.Messages()); n != 3 {
		t.Errorf("%d e-mails sent, want 3", n)
	}

	// Problem bodies of the lifecycle errors.
	s.answer(t, apiReq{method: "POST", path: trigger, user: "p1", body: `nope`}, 400,
		problemBody("invalid-body", "Invalid request body.", 400, "The request body is missing, truncated, not JSON, or not of the expected type.", "flow-1"))
	s.answer(t, apiReq{method: "POST", path: activate, user: "p9", body: body("multi-factor-auth-type-activate", "sms", `"destination":"12"`)}, 400,
		problemBody("invalid-phone-number", "Invalid phone number.", 400, "The phone number for MFA codes is missing or not in E.164 form.", "flow-1"))

	// A used code is gone: invalid-code (an expired one is transaction-expired,
	// TestCodeExpiry). p2's code is used once.
	code := ""
	for _, m := range mail.Messages() {
		if m.To[0] == "p2@example.com" {
			code = codeRE.FindStringSubmatch(m.Body)[1]
		}
	}
	v := apiReq{method: "POST", path: verifyP, user: "p2", code: code, body: body("multi-factor-auth-type-verify", "email")}
	s.answer(t, v, 204, "")
	s.answer(t, v, 409, problemBody("factor-already-enrolled", "MFA factor already enrolled.", 409,
		"The requested MFA factor is already enrolled for this user.", "flow-1"))
	ck := req{method: "POST", path: "/checkout/1", user: "p2", code: "email " + code, requestID: "flow-1"}
	s.expectDenied(t, s.check(t, ck.build(t)), denial{rpc: codes.PermissionDenied, status: 401, contentType: problemType,
		body: problemBody("invalid-code", "MFA code invalid.", 401, "The provided MFA code is invalid or expired.", "flow-1")})
	// Verify makes no recovery codes: until p2 fetches them, a recovery
	// code names a factor p2 does not have.
	ck.code = "recovery ABCD-EFGH"
	s.expectDenied(t, s.check(t, ck.build(t)), denial{rpc: codes.PermissionDenied, status: 409, contentType: problemType,
		body: problemBody("factor-not-enrolled", "MFA factor not enrolled.", 409,
			"Action is secured with MFA, but the requested MFA factor is not enrolled for this user.", "flow-1")})
	_ = strconv.Itoa
	_ = context.Background
}

// TestLifecycleCLI: enroll email from the command line (recovery codes
// printed once), a recovery code works through Check, and the admin
// commands show, regenerate and disable.
func TestLifecycleCLI(t *testing.T) {
	t.Parallel()
	mail := smtptest.Start(t, smtptest.Options{})
	hook := startHook(t, "s")
	e, _ := lifecycleEnv(t, "glue", mail, hook, "  resend_cooldown: 0s\n")
	res := runCLI(t, "enroll", "email", "--user", "dora", "--destination", "dora@example.com", "--config", e.cfg, "--output", "json")
	var out struct {
		RecoveryCodes []string `json:"recovery_codes"`
	}
	if res.code != 0 || json.Unmarshal([]byte(res.stdout), &out) != nil || len(out.RecoveryCodes) != 10 {
		t.Fatalf("enroll email: want 10 recovery codes\n%s", res)
	}
	res = runCLI(t, "user", "show", "--user", "dora", "--config", e.cfg)
	if want := "User \"dora\"\n  email  enabled (d***@example.com)\nUnused recovery codes: 10\n"; res.code != 0 || res.stdout != want {
		t.Fatalf("user show: want %q\n%s", want, res)
	}
	s := startServer(t, e)
	ck := req{method: "POST", path: "/checkout/1", user: "dora", code: "recovery " + strings.ToLower(out.RecoveryCodes[3])}
	s.expectAllowed(t, s.check(t, ck.build(t)), "recovery")
	res = runCLI(t, "user", "recovery-codes", "--user", "dora", "--config", e.cfg, "--output", "json")
	var regen struct {
		RecoveryCodes []string `json:"recovery_codes"`
	}
	if res.code != 0 || json.Unmarshal([]byte(res.stdout), &regen) != nil || len(regen.RecoveryCodes) != 10 {
		t.Fatalf("user recovery-codes\n%s", res)
	}
	checkRecoveryCodes(t, regen.RecoveryCodes)
	ck.code = "recovery " + out.RecoveryCodes[4] // replaced: no longer valid
	s.expectDenied(t, s.check(t, ck.build(t)), deny403(glueInvalid))
	// The text form, while the server runs: the JSON batch is replaced in
	// turn, the new codes work once each.
	res = runCLI(t, "user", "recovery-codes", "--user", "dora", "--config", e.cfg)
	m := regexp.MustCompile(`^` + fmt.Sprintf(recoveryTextRE, "dora") + `$`).FindStringSubmatch(res.stdout)
	if res.code != 0 || m == nil {
		t.Fatalf("user recovery-codes: want exit 0 and the text block\n%s", res)
	}
	text := parseRecoveryText(t, m[1])
	if res.stdout != recoveryText("dora", text) {
		t.Fatalf("user recovery-codes: got %q, want %q", res.stdout, recoveryText("dora", text))
	}
	ck.code = "recovery " + regen.RecoveryCodes[1]
	s.expectDenied(t, s.check(t, ck.build(t)), deny403(glueInvalid))
	ck.code = "recovery " + text[0]
	s.expectAllowed(t, s.check(t, ck.build(t)), "recovery")
	s.expectDenied(t, s.check(t, ck.build(t)), deny403(glueInvalid))
	if res := runCLI(t, "user", "recovery-codes", "--user", "nobody", "--config", e.cfg); res.code != 1 ||
		!strings.Contains(res.stderr, `user "nobody" has no enabled MFA method; recovery codes need one`) || res.stdout != "" {
		t.Fatalf("user recovery-codes for a user with nothing enrolled: want exit 1 and the message\n%s", res)
	}
	res = runCLI(t, "user", "disable", "--user", "dora", "--method", "email", "--config", e.cfg)
	if res.code != 0 || !strings.Contains(res.stdout, `Disabled email of user "dora".`) {
		t.Fatalf("user disable\n%s", res)
	}
	ck.code = "recovery " + regen.RecoveryCodes[0]
	s.expectDenied(t, s.check(t, ck.build(t)), deny403(glueNotEnrolled))
	if res := runCLI(t, "user", "reset", "--user", "dora", "--config", e.cfg); res.code != 1 {
		t.Fatalf("reset of a user with nothing enrolled: want exit 1\n%s", res)
	}
	if res := runCLI(t, "user", "bogus", "--user", "dora", "--config", e.cfg); res.code != 2 {
		t.Fatalf("unknown action: want exit 2\n%s", res)
	}
}
