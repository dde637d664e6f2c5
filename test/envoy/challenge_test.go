package envoye2e

import (
	"testing"
	"time"

	"github.com/mfa-authz/mfa-authz/test/envoytest"
)

// challengeRules protect /payments with a 5-minute grace that a step-up at
// the identity provider with acr phr or urn:example:loa:3 also passes.
const challengeRules = "    - path: /payments\n      methods: [POST]\n      grace_period: 5m\n" +
	"      accept_idp_stepup:\n        acr_values: [phr, \"urn:example:loa:3\"]\n"

// The route's challenges as the client must receive them.
const (
	paymentsMissing = `Bearer error="insufficient_user_authentication", error_description="Multi-factor authentication is required.", ` +
		`acr_values="phr urn:example:loa:3", max_age=300`
	paymentsInvalid = `Bearer error="insufficient_user_authentication", error_description="The multi-factor authentication code is invalid.", ` +
		`acr_values="phr urn:example:loa:3", max_age=300`
)

// expectChallenge asserts the one WWW-Authenticate value the client
// received (want "": none).
func expectChallenge(t *testing.T, got answer, want string) {
	t.Helper()
	v := got.header.Values("Www-Authenticate")
	if want == "" && len(v) == 0 || len(v) == 1 && v[0] == want {
		return
	}
	t.Fatalf("www-authenticate %q, want %q\nanswer: %s", v, want, got)
}

// TestStepUpChallengeThroughEnvoy: the step-up challenge reaches the
// client through the real Envoy unchanged, over gRPC and in Envoy's HTTP
// mode; a client that follows it (a token from the identity provider with
// an acr the challenge names, authenticated within max_age) passes.
func TestStepUpChallengeThroughEnvoy(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name, file string
		cfg        mfaConfig
		// idp: Envoy sends jwt_authn's metadata, which only the gRPC
		// check carries, so only there a token's acr passes the route.
		idp bool
	}{
		{"rfc9470 gRPC", envoytest.ShippedConfig, mfaConfig{Profile: "rfc9470", Rules: challengeRules}, true},
		{"rfc9470 HTTP", httpConfig, mfaConfig{Profile: "rfc9470", Header: true, Rules: challengeRules}, false},
		{"glue with the challenge", envoytest.ShippedConfig, mfaConfig{Profile: "glue", StepUpChallenge: true, Rules: challengeRules}, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			var f *factor
			s := startStack(t, c.file, c.cfg, func(m *mfa) { f = m.enrollTOTP(t, "erin") })
			token := func(claims map[string]any) string {
				cl := envoytest.Claims("erin", time.Now())
				for k, v := range claims {
					cl[k] = v
				}
				tok, err := s.signer.Token(cl)
				if err != nil {
					t.Fatal(err)
				}
				return tok
			}
			status, ctype := 401, problemType
			missing := `{"type":"https://docs.example.com/problems/mfa/missing-code","title":"'X-MFA-Code' header missing","status":401,` +
				`"detail":"Action is secured with MFA. Please provide 'X-MFA-Code' header."}`
			invalid := `{"type":"https://docs.example.com/problems/mfa/invalid-code","title":"MFA code invalid.","status":401,` +
				`"detail":"The provided MFA code is invalid or expired."}`
			notEnrolled := `{"type":"https://docs.example.com/problems/mfa/factor-not-enrolled","title":"MFA factor not enrolled.","status":409,` +
				`"detail":"Action is secured with MFA, but the requested MFA factor is not enrolled for this user."}`
			notEnrolledStatus := 409
			if c.cfg.Profile == "glue" {
				status, ctype = 403, glueType
				missing, invalid, notEnrolled = golden(t, "glue_missing_code.json"), golden(t, "glue_invalid_code.json"), golden(t, "glue_not_enrolled.json")
				notEnrolledStatus = 403
			}

			got := s.do(t, call{method: "POST", path: "/payments", token: token(nil)})
			s.expectDenied(t, got, status, ctype, missing)
			expectChallenge(t, got, paymentsMissing)
			got = s.do(t, call{method: "POST", path: "/payments", token: token(nil), code: "000000"})
			s.expectDenied(t, got, status, ctype, invalid)
			expectChallenge(t, got, paymentsInvalid)
			// /customer-password has the global grace and no acr values; a
			// user without a factor there is not challenged.
			got = s.do(t, call{method: "POST", path: protectedPath, token: s.token(t, "frank")})
			s.expectDenied(t, got, notEnrolledStatus, ctype, notEnrolled)
			expectChallenge(t, got, "")
			got = s.do(t, call{method: "POST", path: protectedPath, token: token(nil)})
			s.expectDenied(t, got, status, ctype, missing)
			expectChallenge(t, got, `Bearer error="insufficient_user_authentication", error_description="Multi-factor authentication is required.", max_age=1800`)

			// The client follows the challenge: a token whose acr is one it
			// names, authenticated within max_age.
			if c.idp {
				r := s.expectUpstream(t, s.do(t, call{method: "POST", path: "/payments",
					token: token(map[string]any{"acr": "urn:example:loa:3", "auth_time": time.Now().Add(-time.Minute).Unix()})}))
				expectHeader(t, r, "X-MFA-Method", "idp")
			}
			// Or sends a code.
			r := s.expectUpstream(t, s.do(t, call{method: "POST", path: "/payments", token: token(nil), code: f.code()}))
			expectHeader(t, r, "X-MFA-Method", "totp")
		})
	}
}
