package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// policy explain lists the lenient readings: a front controller of
// policy.front_controllers removed, and compatibility forms folded.
func TestPolicyExplainLenientReadings(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "mfa-authz.yaml")
	conf := "policy:\n  front_controllers: [glue.php]\n  rules:\n    - path: /carts/**\n"
	if err := os.WriteFile(cfg, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ target, want string }{
		{"/shop/GLUE.PHP/carts/1",
			"request:  POST /shop/GLUE.PHP/carts/1 (host \"\")\nreadings:\n" +
				"  /shop/GLUE.PHP/carts/1\n  /shop/carts/1\n  /carts/1\n" +
				"decision: MFA required by rule 0 \"/carts/**\" [POST PUT PATCH DELETE] mfa=required (grace 30m0s)\n"},
		{"/index.php/carts/1",
			"request:  POST /index.php/carts/1 (host \"\")\nreadings:\n  /index.php/carts/1\n" +
				"decision: unprotected (no rule matches)\n"},
		{"/\uff43\uff41\uff52\uff54\uff53\uff0f1",
			"request:  POST /\uff43\uff41\uff52\uff54\uff53\uff0f1 (host \"\")\nreadings:\n" +
				"  /\uff43\uff41\uff52\uff54\uff53\uff0f1\n  /carts/1\n" +
				"decision: MFA required by rule 0 \"/carts/**\" [POST PUT PATCH DELETE] mfa=required (grace 30m0s)\n"},
	} {
		var stdout, stderr bytes.Buffer
		if err := policyCmd([]string{"explain", "--config", cfg, "POST", tt.target}, &stdout, &stderr); err != nil {
			t.Fatalf("explain %s: %v (stderr %s)", tt.target, err, stderr.String())
		}
		if got := stdout.String(); got != tt.want {
			t.Errorf("explain %s:\ngot\n%s\nwant\n%s", tt.target, got, tt.want)
		}
	}
}

// policy explain shows the factors and the identity-provider step-up a
// rule accepts.
func TestPolicyExplainProofs(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "mfa-authz.yaml")
	conf := "policy:\n  rules:\n    - name: payments\n      path: /payments\n      methods: [POST]\n      grace_period: 5m\n" +
		"      factors: [totp]\n      accept_idp_stepup:\n        acr_values: [phr]\n"
	if err := os.WriteFile(cfg, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	if err := policyCmd([]string{"explain", "--config", cfg, "POST", "/payments"}, &stdout, &stderr); err != nil {
		t.Fatalf("explain: %v (stderr %s)", err, stderr.String())
	}
	want := "request:  POST /payments (host \"\")\nreadings:\n  /payments\n" +
		"decision: MFA required by rule 0 (payments) \"/payments\" [POST] mfa=required grace=5m0s factors=totp idp_stepup=acr:phr (grace 5m0s)\n"
	if got := stdout.String(); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}
