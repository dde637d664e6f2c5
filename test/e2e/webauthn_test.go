package e2e

import (
	"strings"
	"testing"

	"github.com/mfa-authz/mfa-authz/authz/factor/webauthn/webauthntest"
)

// A passkey through the real binary: registered over the self-service
// endpoints, then an assertion in the MFA header passes a protected route
// once; its replay, a wrong origin and a value over the factor's bound are
// refused with the documented answer.
func TestWebAuthnPasskey(t *testing.T) {
	t.Parallel()
	e := newEnv(t, cfgOpts{Extra: "api:\n  enabled: true\nwebauthn:\n  rp_id: example.com\n  rp_display_name: Example Shop\n" +
		"  origins: [https://shop.example.com]\n"})
	s := startServer(t, e)
	const u = "pia"
	post := func(path, code, b string) apiReq {
		return apiReq{method: "POST", path: path, user: u, code: code, body: b}
	}

	s.answer(t, apiReq{method: "GET", path: "/multi-factor-auth-types", user: u}, 200,
		`{"data":[{"type":"multi-factor-auth-types","id":"totp","attributes":{"type":"totp","status":0}},`+
			`{"type":"multi-factor-auth-types","id":"webauthn","attributes":{"type":"webauthn","status":0}}]}`)

	opts := webauthntest.ParseOptions(t, s.answer(t, post("/multi-factor-auth-webauthn-registration-options", "", ""), 200, "*"))
	a := webauthntest.New(t, "example.com", "https://shop.example.com")
	reg := webauthntest.Body("multi-factor-auth-webauthn-registration", a.Register(t, opts))
	s.answer(t, post("/multi-factor-auth-webauthn-registration", "", reg), 204, "")
	// Pia has a factor now: adding another needs a step-up first.
	s.answer(t, post("/multi-factor-auth-webauthn-registration", "", reg), 403, glueErr(403, "5919", "Verify an enabled MFA type before adding another."))

	s.expectDenied(t, s.check(t, protected(u, "").build(t)), deny403(glueMissing))
	challenge := func() string {
		return webauthntest.ParseOptions(t, s.answer(t, post("/multi-factor-auth-webauthn-challenge", "", ""), 200, "*")).Challenge
	}
	hdr := webauthntest.Header(a.Assert(t, challenge()))
	s.expectAllowed(t, s.check(t, req{method: "POST", path: "/checkout/1", user: u, code: hdr}.build(t)), "webauthn")
	s.expectDenied(t, s.check(t, req{method: "POST", path: "/checkout/1", user: u, code: hdr}.build(t)), deny403(glueInvalid))

	a.Origin = "https://shop.example.net"
	s.expectDenied(t, s.check(t, req{method: "POST", path: "/checkout/1", user: u, code: webauthntest.Header(a.Assert(t, challenge()))}.build(t)), deny403(glueInvalid))
	s.expectDenied(t, s.check(t, req{method: "POST", path: "/checkout/1", user: u, code: "webauthn " + strings.Repeat("A", 8193)}.build(t)), deny403(glueInvalid))

	// The session the passkey started counts on routes with a grace period.
	a.Origin = "https://shop.example.com"
	s.answer(t, post("/multi-factor-auth-webauthn-verify", "", webauthntest.Body("multi-factor-auth-webauthn-verify", a.Assert(t, challenge()))), 204, "")
	s.expectAllowed(t, s.check(t, protected(u, "").build(t)), "webauthn")
	// A session is no step-up for adding a factor (an identity from a
	// header binds none): the replayed registration is refused for that.
	s.answer(t, post("/multi-factor-auth-webauthn-registration", "", reg), 403, glueErr(403, "5919", "Verify an enabled MFA type before adding another."))
	// The recovery codes of a first factor come with their own request,
	// proved by an assertion as verify's 204 leaves them.
	codes := recoveryDoc(t, s.answer(t, post("/multi-factor-auth-recovery-codes", webauthntest.Header(a.Assert(t, challenge())), ""), 200, "*"))
	checkRecoveryCodes(t, codes)
}
