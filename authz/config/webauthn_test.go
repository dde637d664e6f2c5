package config

import (
	"strings"
	"testing"
)

// The webauthn section is off unless rp_id is set, and is checked at load
// with errors naming the key.
func TestWebAuthnSection(t *testing.T) {
	c, err := Parse(nil)
	if err != nil || c.WebAuthn.Enabled() {
		t.Fatalf("default: enabled %v, %v", c.WebAuthn.Enabled(), err)
	}
	ok := "webauthn:\n  rp_id: example.com\n  rp_display_name: Shop\n  origins: [https://shop.example.com, https://example.com:8443]\n"
	if c, err := Parse([]byte(ok)); err != nil {
		t.Fatal(err)
	} else if !c.WebAuthn.Enabled() || c.WebAuthn.ChallengeTTL.String() != "5m0s" || c.WebAuthn.UserVerification != "preferred" {
		t.Fatalf("valid section: %+v, %v", c.WebAuthn, err)
	}
	for _, row := range []struct{ yaml, want string }{
		{"webauthn:\n  origins: [https://example.com]\n", "config: webauthn.rp_id: must be set when webauthn.origins or webauthn.rp_display_name is"},
		{"webauthn:\n  rp_id: https://example.com\n  rp_display_name: S\n  origins: [https://example.com]\n", `config: webauthn.rp_id: want a lower-case domain name without scheme, port or path (such as example.com), got "https://example.com"`},
		{"webauthn:\n  rp_id: 10.0.0.1\n  rp_display_name: S\n  origins: [https://10.0.0.1]\n", "config: webauthn.rp_id: want a lower-case domain name"},
		{"webauthn:\n  rp_id: example.com\n  origins: [https://example.com]\n", "config: webauthn.rp_display_name: must not be empty"},
		{"webauthn:\n  rp_id: example.com\n  rp_display_name: S\n", "config: webauthn.origins: must list at least one origin, such as https://example.com"},
		{"webauthn:\n  rp_id: example.com\n  rp_display_name: S\n  origins: [https://example.net]\n", `config: webauthn.origins: [0] "https://example.net": host is neither webauthn.rp_id nor below it`},
		{"webauthn:\n  rp_id: example.com\n  rp_display_name: S\n  origins: [https://notexample.com]\n", "host is neither webauthn.rp_id nor below it"},
		{"webauthn:\n  rp_id: example.com\n  rp_display_name: S\n  origins: [http://shop.example.com]\n", `config: webauthn.origins: [0] "http://shop.example.com": want https (http only for localhost)`},
		{"webauthn:\n  rp_id: example.com\n  rp_display_name: S\n  origins: [https://example.com/login]\n", "want scheme://host[:port] and nothing more"},
		{"webauthn:\n  rp_id: example.com\n  rp_display_name: S\n  origins: [https://example.com]\n  challenge_ttl: 1h\n", "config: webauthn.challenge_ttl: want 30s to 10m, got 1h0m0s"},
		{"webauthn:\n  rp_id: example.com\n  rp_display_name: S\n  origins: [https://example.com]\n  user_verification: always\n", `config: webauthn.user_verification: want required, preferred or discouraged, got "always"`},
		{"webauthn:\n  rp_idd: example.com\n", "config: webauthn.rp_idd (line 2): unknown key"},
		{"api:\n  webauthn_verify_path: /multi-factor-auth-type-verify\n", `config: api.webauthn_verify_path: "/multi-factor-auth-type-verify" is also api.verify_path`},
	} {
		_, err := Parse([]byte(row.yaml))
		if err == nil || !strings.Contains(err.Error(), row.want) {
			t.Errorf("%q: got %v, want error containing %q", row.yaml, err, row.want)
		}
	}
}

// A development relying party on localhost may use plain http.
func TestWebAuthnLocalhost(t *testing.T) {
	if _, err := Parse([]byte("webauthn:\n  rp_id: localhost\n  rp_display_name: Dev\n  origins: [http://localhost:8080]\n")); err != nil {
		t.Fatal(err)
	}
}
