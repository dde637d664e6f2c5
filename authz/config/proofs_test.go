package config

import (
	"testing"
	"time"
)

// A rule's factors and accept_idp_stepup parse from YAML, and the factor
// names are checked against the shipped factors, naming the rule.
func TestRouteProofKeys(t *testing.T) {
	c, err := Parse([]byte(`
identity:
  clock_skew: 1m
policy:
  rules:
    - name: payments
      path: /payments
      factors: [totp, email]
      accept_idp_stepup:
        acr_values: [phr]
        amr: [hwk, otp]
`))
	if err != nil {
		t.Fatal(err)
	}
	r := c.Policy.Rules[0]
	if *c.Identity.ClockSkew != time.Minute || len(r.Factors) != 2 || r.AcceptIdPStepUp == nil ||
		r.AcceptIdPStepUp.ACRValues[0] != "phr" || len(r.AcceptIdPStepUp.AMR) != 2 {
		t.Fatalf("parsed %+v, skew %s", r, *c.Identity.ClockSkew)
	}
	if d, _ := Parse(nil); *d.Identity.ClockSkew != 30*time.Second {
		t.Errorf("default clock_skew %s, want 30s", *d.Identity.ClockSkew)
	}
	for _, tt := range []struct{ yaml, want string }{
		{"policy:\n  rules:\n    - name: pay\n      path: /payments\n      factors: [totp, webauthn]\n",
			`config: policy.rules[0] (name "pay", path "/payments"): factors: unknown factor "webauthn" (known: totp, email, sms, recovery)`},
		{"policy:\n  rules:\n    - path: /p\n      factors: totp\n", "config: policy.rules[0].factors (line 4): want a list"},
		{"policy:\n  rules:\n    - path: /p\n      accept_idp_stepup:\n        acr: [phr]\n",
			"config: policy.rules[0].accept_idp_stepup.acr (line 5): unknown key"},
		{"policy:\n  rules:\n    - path: /p\n      accept_idp_stepup: {}\n",
			`config: policy.rules[0] (path "/p"): accept_idp_stepup: name acr_values, amr or both`},
		{"identity:\n  clock_skew: 6m\n", "config: identity.clock_skew: want 0 to 5m0s, got 6m0s"},
		{"identity:\n  clock_skew: -1s\n", "config: identity.clock_skew: want 0 to 5m0s, got -1s"},
	} {
		_, err := Parse([]byte(tt.yaml))
		if err == nil || err.Error() != tt.want {
			t.Errorf("%q:\ngot  %v\nwant %s", tt.yaml, err, tt.want)
		}
	}
}
