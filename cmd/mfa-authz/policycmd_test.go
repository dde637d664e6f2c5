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
