package envoye2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp"

	"github.com/mfa-authz/mfa-authz/authz/store"
	"github.com/mfa-authz/mfa-authz/test/envoytest"
	"github.com/mfa-authz/mfa-authz/test/smtptest"
)

// Self-service endpoints (README "Self-service MFA endpoints").
const (
	typesPath      = "/multi-factor-auth-types"
	activatePath   = "/multi-factor-auth-type-activate"
	verifyPath     = "/multi-factor-auth-type-verify"
	deactivatePath = "/multi-factor-auth-type-deactivate"
	triggerPath    = "/multi-factor-auth-trigger"
	recoveryPath   = "/multi-factor-auth-recovery-codes"
)

// smtpConfig is the delivery section sending e-mail codes to mail over
// STARTTLS (sms stays off, so the types list totp and email).
func smtpConfig(t *testing.T, mail *smtptest.Server) string {
	t.Helper()
	ca := filepath.Join(t.TempDir(), "smtp-ca.pem")
	if err := os.WriteFile(ca, mail.CAPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	host, port, _ := strings.Cut(mail.Addr, ":")
	return fmt.Sprintf(`api:
  enabled: true
delivery:
  email: smtp
  smtp:
    host: %s
    port: %s
    from: no-reply@shop.example.com
    tls: starttls
    ca_file: %q
limits:
  resend_cooldown: 1s
`, host, port, ca)
}

var mailCodeRE = regexp.MustCompile(`code is (\d{6})\.`)

// mailCode waits (at most 5 s) for the next e-mail, to to, and returns
// its code.
func mailCode(t *testing.T, mail *smtptest.Server, to string) string {
	t.Helper()
	m, ok := mail.Next(5 * time.Second)
	if !ok {
		t.Fatal("no e-mail within 5s")
	}
	c := mailCodeRE.FindStringSubmatch(m.Body)
	if len(m.To) != 1 || m.To[0] != to || !m.TLS || c == nil {
		t.Fatalf("e-mail to %q (TLS %v) with body %q; want one to %q over STARTTLS with a code", m.To, m.TLS, m.Body, to)
	}
	return c[1]
}

// typesBody is the answer of GET /multi-factor-auth-types.
func typesBody(totp, email int) string {
	return fmt.Sprintf(`{"data":[{"type":"multi-factor-auth-types","id":"totp","attributes":{"type":"totp","status":%d}},`+
		`{"type":"multi-factor-auth-types","id":"email","attributes":{"type":"email","status":%d}}]}`, totp, email)
}

// apiBody is a JSON:API request body of kind with attributes type and extra.
func apiBody(kind, typ string, extra ...string) string {
	attrs := append([]string{fmt.Sprintf(`"type":%q`, typ)}, extra...)
	return fmt.Sprintf(`{"data":{"type":%q,"attributes":{%s}}}`, kind, strings.Join(attrs, ","))
}

// api asserts the answer of a self-service request as the client gets it
// from Envoy: status, content-type ("" for none), body ("*" for any; the
// body is returned), and that the upstream was never called.
func (s *stack) api(t *testing.T, c call, status int, contentType, body string) string {
	t.Helper()
	got := s.do(t, c)
	var errs []string
	if got.status != status {
		errs = append(errs, fmt.Sprintf("status %d, want %d", got.status, status))
	}
	if ct := got.header.Values("Content-Type"); strings.Join(ct, ",") != contentType || len(ct) > 1 {
		errs = append(errs, fmt.Sprintf("content-type %q, want %q", ct, contentType))
	}
	if cc := got.header.Get("Cache-Control"); cc != "no-store" {
		errs = append(errs, fmt.Sprintf("cache-control %q, want no-store", cc))
	}
	if body != "*" && got.body != body {
		errs = append(errs, fmt.Sprintf("body:\n got: %s\nwant: %s", got.body, body))
	}
	if n := len(s.up.Requests()); n != 0 {
		errs = append(errs, fmt.Sprintf("the upstream received %d requests, want none: mfa-authz answers these", n))
	}
	if len(errs) > 0 {
		t.Fatalf("%s %s: %s\nanswer: %s%s", c.method, c.path, strings.Join(errs, "\n"), got, s.mfa.proc.Tail())
	}
	return got.body
}

// recoveryCodes decodes a recovery-codes answer and checks it holds 10.
func recoveryCodes(t *testing.T, body string) []string {
	t.Helper()
	var rec struct {
		Data struct {
			Type       string `json:"type"`
			ID         string `json:"id"`
			Attributes struct {
				Codes []string `json:"codes"`
			} `json:"attributes"`
		} `json:"data"`
	}
	if err := json.Unmarshal([]byte(body), &rec); err != nil || rec.Data.Type != "multi-factor-auth-recovery-codes" ||
		rec.Data.ID != "recovery" || len(rec.Data.Attributes.Codes) != 10 {
		t.Fatalf("want 10 recovery codes, got %s (%v)", body, err)
	}
	return rec.Data.Attributes.Codes
}

// TestLifecycle: a user with nothing enrolled enrolls e-mail (codes from
// a real SMTP server) and TOTP, steps up with each kind of code, replaces
// the recovery codes and deactivates e-mail, every step through the
// shipped Envoy (with_request_body on /multi-factor-auth-*), every answer
// delivered to the client with mfa-authz's status and body.
func TestLifecycle(t *testing.T) {
	t.Parallel()
	mail := smtptest.Start(t, smtptest.Options{})
	s := startStack(t, envoytest.ShippedConfig, mfaConfig{Profile: "glue", Header: true, Extra: smtpConfig(t, mail)}, nil)
	tok := s.token(t, "erin")
	const to = "erin@example.com"
	post := func(path, code, body string) call {
		return call{method: "POST", path: path, token: tok, code: code, body: body,
			header: map[string]string{"Content-Type": "application/json"}}
	}
	types := call{method: "GET", path: typesPath, token: tok}

	s.api(t, types, 200, glueType, typesBody(0, 0))
	s.api(t, call{method: "GET", path: typesPath}, 400, glueType, golden(t, "glue_no_identity.json"))

	// E-mail: activate (204, the code goes out by SMTP), verify.
	s.api(t, post(activatePath, "", apiBody("multi-factor-auth-type-activate", "email", `"destination":"`+to+`"`)), 204, "", "")
	code := mailCode(t, mail, to)
	s.api(t, types, 200, glueType, typesBody(0, 1))
	wrong := "000000"
	if code == wrong {
		wrong = "111111"
	}
	s.api(t, post(verifyPath, wrong, apiBody("multi-factor-auth-type-verify", "email")), 403, glueType, golden(t, "glue_invalid_code.json"))
	s.api(t, post(verifyPath, code, apiBody("multi-factor-auth-type-verify", "email")), 204, "", "")
	s.api(t, types, 200, glueType, typesBody(0, 2))
	// Recovery codes come with their own request, proven by a fresh code.
	time.Sleep(1100 * time.Millisecond)
	s.api(t, post(triggerPath, "", apiBody("multi-factor-auth-trigger", "email")), 204, "", "")
	recovery := recoveryCodes(t, s.api(t, post(recoveryPath, "email "+mailCode(t, mail, to), ""), 200, glueType, "*"))
	s.api(t, post(verifyPath, code, apiBody("multi-factor-auth-type-verify", "email")), 400, glueType, golden(t, "glue_already_enabled.json"))

	// Bodies: absent, not JSON, and larger than the route's
	// max_request_bytes, which Envoy refuses itself.
	s.api(t, post(triggerPath, "", ""), 400, glueType, golden(t, "glue_invalid_body.json"))
	s.api(t, post(triggerPath, "", "type=email"), 400, glueType, golden(t, "glue_invalid_body.json"))
	if got := s.do(t, post(triggerPath, "", `{"pad":"`+strings.Repeat("x", 9000)+`"}`)); got.status != 413 || got.body != "Payload Too Large" {
		t.Errorf("a body over max_request_bytes: got %s, want Envoy's 413 Payload Too Large", got)
	}

	// Step-up with a triggered e-mail code on the route without grace.
	s.expectDenied(t, s.do(t, call{method: "POST", path: checkoutPath, token: tok}), 403, glueType, golden(t, "glue_missing_code.json"))
	// The resend cooldown holds across endpoints: the activation's code
	// counts, verified or not.
	time.Sleep(1100 * time.Millisecond)
	s.api(t, post(triggerPath, "", apiBody("multi-factor-auth-trigger", "email")), 204, "", "")
	code = mailCode(t, mail, to)
	r := s.expectUpstream(t, s.do(t, call{method: "POST", path: checkoutPath, token: tok, code: "email " + code}))
	expectHeader(t, r, "X-MFA-Method", "email")
	expectHeader(t, r, "X-MFA-Code")
	s.expectDenied(t, s.do(t, call{method: "POST", path: checkoutPath, token: tok, code: "email " + code}),
		403, glueType, golden(t, "glue_invalid_code.json"))

	// A recovery code works once.
	r = s.expectUpstream(t, s.do(t, call{method: "POST", path: checkoutPath, token: tok, code: "recovery " + recovery[0]}))
	expectHeader(t, r, "X-MFA-Method", "recovery")

	// TOTP: activate within the step-up (secret and URI), verify (204: not
	// the first factor, so no recovery codes).
	out := s.api(t, post(activatePath, "", apiBody("multi-factor-auth-type-activate", "totp")), 200, glueType, "*")
	var act struct {
		Data struct {
			Type, ID   string
			Attributes struct{ Type, Secret, URI string }
		}
	}
	if err := json.Unmarshal([]byte(out), &act); err != nil || act.Data.Type != "multi-factor-auth-type-activate" ||
		act.Data.ID != "totp" || act.Data.Attributes.Type != "totp" {
		t.Fatalf("TOTP activation answered %s (%v)", out, err)
	}
	key, err := otp.NewKeyFromURL(act.Data.Attributes.URI)
	if err != nil || key.AccountName() != "erin" || key.Secret() != act.Data.Attributes.Secret {
		t.Fatalf("TOTP activation URI %q (secret %q): %v", act.Data.Attributes.URI, act.Data.Attributes.Secret, err)
	}
	f := &factor{t: t, tf: store.TOTP{Secret: key.Secret(), Algorithm: "SHA1", Digits: 6, Period: 30}}
	s.api(t, types, 200, glueType, typesBody(1, 2))
	s.api(t, post(verifyPath, f.code(), apiBody("multi-factor-auth-type-verify", "totp")), 204, "", "")
	s.api(t, types, 200, glueType, typesBody(2, 2))
	r = s.expectUpstream(t, s.do(t, call{method: "POST", path: checkoutPath, token: tok, code: "totp " + f.code()}))
	expectHeader(t, r, "X-MFA-Method", "totp")

	// New recovery codes: the old ones stop working. The TOTP code above
	// stepped up this very token, so no second code is needed within the
	// step-up window.
	fresh := recoveryCodes(t, s.api(t, post(recoveryPath, "", ""), 200, glueType, "*"))
	s.expectDenied(t, s.do(t, call{method: "POST", path: checkoutPath, token: tok, code: "recovery " + recovery[2]}),
		403, glueType, golden(t, "glue_invalid_code.json"))
	r = s.expectUpstream(t, s.do(t, call{method: "POST", path: checkoutPath, token: tok, code: "recovery " + fresh[0]}))
	expectHeader(t, r, "X-MFA-Method", "recovery")

	// Deactivate e-mail: a used recovery code fails as on a protected
	// route, a fresh one works.
	s.api(t, post(deactivatePath, "recovery "+fresh[0], apiBody("multi-factor-auth-type-deactivate", "email")), 403, glueType,
		golden(t, "glue_invalid_recovery_code.json"))
	s.api(t, post(deactivatePath, "recovery "+fresh[1], apiBody("multi-factor-auth-type-deactivate", "email")), 204, "", "")
	s.api(t, types, 200, glueType, typesBody(2, 0))
	s.api(t, post(triggerPath, "", apiBody("multi-factor-auth-trigger", "email")), 400, glueType, golden(t, "glue_factor_not_active.json"))

	// A GET on an endpoint that only answers POST is 405 with Allow,
	// answered by mfa-authz through Envoy.
	s.api(t, call{method: "GET", path: triggerPath, token: tok}, 405, glueType, golden(t, "glue_method_not_allowed.json"))
	if got := s.do(t, call{method: "GET", path: triggerPath, token: tok}); got.header.Get("Allow") != "POST" {
		t.Errorf("405 through Envoy: Allow %q, want POST", got.header.Get("Allow"))
	}
}
