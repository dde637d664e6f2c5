package envoye2e

import (
	"strings"
	"testing"
	"time"

	"github.com/mfa-authz/mfa-authz/test/envoytest"
)

// TestIdPStepUpThroughEnvoy: a token signed with the test key, verified by
// the shipped jwt_authn, whose amr and auth_time meet the rule's
// accept_idp_stepup, reaches the upstream without a code; the claims come
// from jwt_authn's metadata, so a token without them needs a code, and one
// with a malformed auth_time is denied.
func TestIdPStepUpThroughEnvoy(t *testing.T) {
	t.Parallel()
	rules := "    - path: /payments\n      methods: [POST]\n      grace_period: 5m\n      factors: [totp]\n" +
		"      accept_idp_stepup:\n        amr: [hwk, otp]\n"
	var f *factor
	s := startStack(t, envoytest.ShippedConfig, mfaConfig{Profile: "glue", Rules: rules},
		func(m *mfa) { f = m.enrollTOTP(t, "erin") })
	token := func(claims map[string]any) string {
		c := envoytest.Claims("erin", time.Now())
		for k, v := range claims {
			c[k] = v
		}
		tok, err := s.signer.Token(c)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	missing := strings.TrimSuffix(golden(t, "glue_missing_code.json"), "}]}") + `,"meta":{"acceptable_factors":["totp"]}}]}`

	r := s.expectUpstream(t, s.do(t, call{method: "POST", path: "/payments",
		token: token(map[string]any{"amr": []any{"pwd", "hwk"}, "auth_time": time.Now().Add(-time.Minute).Unix()})}))
	expectHeader(t, r, "X-MFA-Method", "idp")

	s.expectDenied(t, s.do(t, call{method: "POST", path: "/payments", token: token(nil),
		header: map[string]string{"amr": "hwk", "auth_time": "1"}}), 403, glueType, missing)
	s.expectDenied(t, s.do(t, call{method: "POST", path: "/payments",
		token: token(map[string]any{"amr": []any{"hwk"}, "auth_time": time.Now().Add(-6 * time.Minute).Unix()})}), 403, glueType, missing)
	s.expectDenied(t, s.do(t, call{method: "POST", path: "/payments", code: f.code(),
		token: token(map[string]any{"amr": []any{"hwk"}, "auth_time": "now"})}), 400, glueType, golden(t, "glue_no_identity.json"))
	// A code of the route's factor still passes, as mfa-authz's own step-up.
	r = s.expectUpstream(t, s.do(t, call{method: "POST", path: "/payments", token: token(nil), code: f.code()}))
	expectHeader(t, r, "X-MFA-Method", "totp")
}
