package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mfa-authz/mfa-authz/test/smtptest"
	"github.com/mfa-authz/mfa-authz/test/testproc"
)

// seedEnv writes the configuration a Spryker shop starts from: the glue
// profile with its defaults (no codes section: codes work 30 minutes),
// e-mail by SMTP, SMS by webhook, and the example config's policy.
func seedEnv(t *testing.T, mail *smtptest.Server, hook *hookPeer) *testEnv {
	t.Helper()
	dir := t.TempDir()
	e := &testEnv{dir: dir, cfg: filepath.Join(dir, "mfa-authz.yaml"), addr: testproc.FreeAddr(t)}
	ca := filepath.Join(dir, "smtp-ca.pem")
	if err := os.WriteFile(ca, mail.CAPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	mailHost, mailPort, _ := strings.Cut(mail.Addr, ":")
	cfg := fmt.Sprintf(`server:
  grpc_address: %s
  shutdown_timeout: 5s
storage:
  path: %q
  key_file: %q
identity:
  header: x-user-id
delivery:
  email: smtp
  sms: webhook
  smtp: {host: %s, port: %s, from: no-reply@shop.example.com, tls: starttls, ca_file: %q}
  webhook: {url: %s, secret: %s, backoff: 10ms}
limits:
  resend_cooldown: 0s
policy:
  rules:
    - path: /**
      methods: [GET, OPTIONS]
      mfa: none
    - path: /customer-password/**
      methods: ["*"]
      grace_period: 0s
    - path: /carts/**
      methods: ["*"]
`, e.addr, filepath.Join(dir, "data", "store"), filepath.Join(dir, "secrets", "store.key"),
		mailHost, mailPort, ca, hook.srv.URL, hook.secret)
	if err := os.WriteFile(e.cfg, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return e
}

// TestSeedSequenceGlue walks the request sequence of Spryker's "Authenticate
// through MFA" page against the real binary over gRPC Check, with the seed's
// own bodies (the protected route has no grace period, so every step needs
// its code): a user activates and verifies factors (204 each, as Spryker
// answers), fetches recovery codes with their own request, requests a code
// with POST /multi-factor-auth-trigger, sends it bare in X-MFA-Code on
// PATCH /customer-password/DE--42 although another factor is preferred, and
// deactivates: without a code or with a wrong one as on a protected route
// (5900 / 5901, 403), then with a code (204).
func TestSeedSequenceGlue(t *testing.T) {
	t.Parallel()
	mail := smtptest.Start(t, smtptest.Options{})
	hook := startHook(t, "seed-secret")
	s := startServer(t, seedEnv(t, mail, hook))
	const u, addr = "dave", "dave@example.com"
	post := func(path, code, b string) apiReq {
		return apiReq{method: "POST", path: path, user: u, code: code, body: b}
	}
	getTypes := apiReq{method: "GET", path: typesP, user: u}

	// Answers carry the seed's media type.
	resp := s.check(t, getTypes.build())
	if ct := headerValues(resp.GetDeniedResponse().GetHeaders())["content-type"]; len(ct) != 1 || ct[0].GetHeader().GetValue() != "application/json" {
		t.Fatalf("types content-type %v, want application/json", ct)
	}
	s.answer(t, getTypes, 200, types(0, 0, 0))

	// A TOTP factor first: activate (the secret), verify with a bare code: 204.
	out := s.answer(t, post(activate, "", body("multi-factor-auth-type-activate", "totp")), 200, "*")
	f := newFactor(t, u, jsonField(t, out, "secret"), jsonField(t, out, "uri"))
	st := f.step()
	s.answer(t, post(verifyP, f.codeAt(t, st), body("multi-factor-auth-type-verify", "totp")), 204, "")

	// E-mail next, after proving TOTP; the SMS code is valid 30 minutes.
	s.answer(t, post(activate, "totp "+f.codeAt(t, st+1), body("multi-factor-auth-type-activate", "email", `"destination":"`+addr+`"`)), 204, "")
	s.answer(t, post(verifyP, mailCode(t, mail, addr), body("multi-factor-auth-type-verify", "email")), 204, "")
	s.answer(t, getTypes, 200, types(2, 2, 0))

	// Recovery codes with their own request; a bare e-mail code proves it
	// although TOTP is the preferred factor.
	s.answer(t, post(trigger, "", body("multi-factor-auth-trigger", "email")), 204, "")
	recovery := recoveryDoc(t, s.answer(t, post(recoveryCodesP, mailCode(t, mail, addr), ""), 200, "*"))
	if len(recovery) != 10 {
		t.Fatalf("recovery codes %q", recovery)
	}

	// The seed's request sequence: trigger with its body, then its PATCH
	// with the bare code received.
	s.answer(t, post(trigger, "", `{
  "data": {
    "type": "multi-factor-auth-trigger",
    "attributes": {
      "type": "email"
    }
  }
}`), 204, "")
	code := mailCode(t, mail, addr)
	patch := req{method: "PATCH", path: protectedPath, user: u, code: code}
	s.expectAllowed(t, s.check(t, patch.build(t)), "email")
	// Every method but GET and OPTIONS is protected, PUT too; the code
	// worked once. Within the grace period of /carts no code is needed.
	s.expectDenied(t, s.check(t, req{method: "PUT", path: protectedPath, user: u}.build(t)), deny403(glueMissing))
	s.expectDenied(t, s.check(t, patch.build(t)), deny403(glueInvalid))
	s.expectAllowed(t, s.check(t, req{method: "GET", path: protectedPath, user: "nobody"}.build(t)), "")
	s.expectAllowed(t, s.check(t, req{method: "PUT", path: "/carts/1", user: u}.build(t)), "email")

	// Deactivate: like any protected request without a code or with a
	// wrong one, then with a code of an enabled factor.
	deact := body("multi-factor-auth-type-deactivate", "email")
	s.answer(t, post(deactivate, "", deact), 403, glueMissing)
	s.answer(t, post(deactivate, f.wrongCode(t), deact), 403, glueInvalid)
	s.answer(t, post(deactivate, "12ab56", deact), 403, glueInvalid)
	s.answer(t, post(trigger, "", body("multi-factor-auth-trigger", "email")), 204, "")
	s.answer(t, post(deactivate, mailCode(t, mail, addr), deact), 204, "")
	s.answer(t, getTypes, 200, types(2, 0, 0))
	s.answer(t, post(deactivate, "recovery "+recovery[0], deact), 400, glueErr(400, "5906", "MFA type is not found."))
	s.answer(t, apiReq{method: "DELETE", path: deactivate, user: u}, 405,
		glueErr(405, "5921", "The HTTP method is not allowed on this resource."))
}

// TestSeedCodeValidity: with the glue profile's defaults a sent code is
// valid for Spryker's 30 minutes.
func TestSeedCodeValidity(t *testing.T) {
	t.Parallel()
	mail := smtptest.Start(t, smtptest.Options{})
	hook := startHook(t, "seed-secret")
	s := startServer(t, seedEnv(t, mail, hook))
	before := time.Now()
	s.answer(t, apiReq{method: "POST", path: activate, user: "erin",
		body: body("multi-factor-auth-type-activate", "sms", `"destination":"+4915112345678"`)}, 204, "")
	m := hook.next(t)
	exp, err := time.Parse(time.RFC3339, m["expires_at"])
	if err != nil {
		t.Fatalf("expires_at %q: %v", m["expires_at"], err)
	}
	if d := exp.Sub(before); d < 29*time.Minute || d > 31*time.Minute {
		t.Fatalf("code valid for %s, want 30m", d)
	}
}

// jsonField returns data.attributes[name] of a JSON:API document.
func jsonField(t *testing.T, doc, name string) string {
	t.Helper()
	var d struct {
		Data struct {
			Attributes map[string]any `json:"attributes"`
		} `json:"data"`
	}
	if err := json.Unmarshal([]byte(doc), &d); err != nil {
		t.Fatalf("%s: %v", doc, err)
	}
	v, _ := d.Data.Attributes[name].(string)
	return v
}

// TestInversFlowIDHeader: the problem profile answers like INVERS OneAPI,
// with the flow id in the X-INVERS-Flow-ID response header too (the
// header's prefix follows mfa.header's), the seed's missing-code body.
func TestInversFlowIDHeader(t *testing.T) {
	t.Parallel()
	e := newEnv(t, cfgOpts{MFA: []string{"profile: problem", "problem_base_url: https://developers.invers.com"}})
	raw, _ := os.ReadFile(e.cfg)
	if err := os.WriteFile(e.cfg, []byte(strings.Replace(string(raw), "header: X-MFA-Code", "header: X-INVERS-MFA-Code", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	enrollJSON(t, e.cfg, "alice")
	s := startServer(t, e)
	resp := s.check(t, req{method: "POST", path: protectedPath, user: "alice", requestID: "5e77e3e3-48ab-4955-8ab3-1c62339096ab"}.build(t))
	d := resp.GetDeniedResponse()
	want := `{"type":"/problems/mfa/missing-code","type_documentation":"https://developers.invers.com/problems/mfa/missing-code",` +
		`"title":"'X-INVERS-MFA-Code' header missing","status":409,` +
		`"detail":"Action is secured with MFA. Please provide 'X-INVERS-MFA-Code' header.",` +
		`"flow_id":"5e77e3e3-48ab-4955-8ab3-1c62339096ab"}`
	if int(d.GetStatus().GetCode()) != 409 || d.GetBody() != want {
		t.Fatalf("got %d %s\nwant 409 %s", d.GetStatus().GetCode(), d.GetBody(), want)
	}
	h := headerValues(d.GetHeaders())["x-invers-flow-id"]
	if len(h) != 1 || h[0].GetHeader().GetValue() != "5e77e3e3-48ab-4955-8ab3-1c62339096ab" {
		t.Fatalf("x-invers-flow-id %v, want the flow_id", h)
	}
}
