package e2e

import (
	"strings"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/protobuf/types/known/structpb"
)

// routeRules protect /payments with TOTP only, accepting a step-up at the
// identity provider (acr "phr" and amr "hwk") within its 10 minutes of
// grace, and the customer-password routes with any factor.
const routeRules = `    - name: payments
      path: /payments
      methods: [POST]
      grace_period: 10m
      factors: [totp]
      accept_idp_stepup:
        acr_values: [phr]
        amr: [hwk]
    - path: /customer-password/**
      methods: [POST, PATCH, DELETE]
`

// withFactors is a Glue denial body with the acceptable factors in its
// error's meta object.
func withFactors(body, list string) string {
	return strings.TrimSuffix(body, "}]}") + `,"meta":{"acceptable_factors":` + list + `}}]}`
}

// TestRouteFactors: a session or code of a factor the route does not
// accept does not satisfy it, and the denial names the factors it does.
func TestRouteFactors(t *testing.T) {
	t.Parallel()
	e := newEnv(t, cfgOpts{Rules: routeRules})
	alice := enrollJSON(t, e.cfg, "alice")
	s := startServer(t, e)
	payments := func(code string) *authv3.CheckResponse {
		return s.check(t, req{method: "POST", path: "/payments", user: "alice", code: code}.build(t))
	}

	// A recovery code passes a route that accepts any factor...
	s.expectAllowed(t, s.check(t, protected("alice", "recovery "+alice.recovery[0]).build(t)), "recovery")
	s.expectAllowed(t, s.check(t, protected("alice", "").build(t)), "recovery")
	// ...but its session does not pass /payments, nor does another one.
	s.expectDenied(t, payments(""), deny403(withFactors(glueMissing, `["totp"]`)))
	s.expectDenied(t, payments("recovery "+alice.recovery[1]), deny403(withFactors(glueInvalid, `["totp"]`)))
	// The refused recovery code was not spent.
	res := runCLI(t, "user", "show", "--user", "alice", "--config", e.cfg)
	if want := "Unused recovery codes: 9\n"; res.code != 0 || !strings.HasSuffix(res.stdout, want) {
		t.Fatalf("user show: want %q at the end\n%s", want, res)
	}
	// A TOTP code passes /payments, and its session serves both routes.
	s.expectAllowed(t, payments(alice.codeAt(t, alice.step())), "totp")
	s.expectAllowed(t, payments(""), "totp")
	s.expectAllowed(t, s.check(t, protected("alice", "").build(t)), "totp")

	res = runCLI(t, "policy", "explain", "--config", e.cfg, "POST", "/payments")
	if want := `decision: MFA required by rule 0 (payments) "/payments" [POST] mfa=required grace=10m0s factors=totp idp_stepup=acr:phr+amr:hwk (grace 10m0s)`; res.code != 0 || !strings.Contains(res.stdout, want) {
		t.Fatalf("policy explain: want %q\n%s", want, res)
	}
}

// TestIdPStepUp: a verified token whose acr, amr and auth_time meet the
// rule passes without a local code; one that does not needs a code; one
// with malformed claims is denied.
func TestIdPStepUp(t *testing.T) {
	t.Parallel()
	e := newEnv(t, cfgOpts{Rules: routeRules}) // identity.clock_skew: the default 30s
	bob := enrollJSON(t, e.cfg, "bob")
	s := startServer(t, e)
	payments := func(claims map[string]any, code string) *authv3.CheckResponse {
		cr := req{method: "POST", path: "/payments", code: code, jwtSub: "bob"}.build(t)
		payload := cr.Attributes.MetadataContext.FilterMetadata["envoy.filters.http.jwt_authn"].Fields["jwt_payload"].GetStructValue()
		for k, v := range claims {
			val, err := structpb.NewValue(v)
			if err != nil {
				t.Fatal(err)
			}
			payload.Fields[k] = val
		}
		return s.check(t, cr)
	}
	at := func(d time.Duration) float64 { return float64(time.Now().Add(d).Unix()) }

	s.expectAllowed(t, payments(map[string]any{"acr": "phr", "amr": []any{"pwd", "hwk"}, "auth_time": at(-9 * time.Minute)}, ""), "idp")
	// Too long ago for the route's 10 minutes, or not the required level:
	// a local code is needed, as without the claims.
	s.expectDenied(t, payments(map[string]any{"acr": "phr", "amr": []any{"hwk"}, "auth_time": at(-11 * time.Minute)}, ""),
		deny403(withFactors(glueMissing, `["totp"]`)))
	s.expectDenied(t, payments(map[string]any{"acr": "pwd", "amr": []any{"hwk"}, "auth_time": at(0)}, ""),
		deny403(withFactors(glueMissing, `["totp"]`)))
	// Claims sent as headers are not claims.
	s.expectDenied(t, s.check(t, req{method: "POST", path: "/payments", user: "bob",
		extra: map[string]string{"acr": "phr", "amr": "hwk", "auth_time": "1"}}.build(t)), deny403(withFactors(glueMissing, `["totp"]`)))
	// Malformed claims deny, whatever code comes with them.
	s.expectDenied(t, payments(map[string]any{"acr": 3, "amr": []any{"hwk"}, "auth_time": at(0)}, bob.codeAt(t, bob.step())),
		deny400(glueNoIdentity))
	s.expectDenied(t, payments(map[string]any{"acr": "phr", "amr": []any{"hwk"}, "auth_time": "yesterday"}, ""),
		deny400(glueNoIdentity))
	// The step-up at the identity provider left no local session.
	s.expectDenied(t, payments(nil, ""), deny403(withFactors(glueMissing, `["totp"]`)))
}
