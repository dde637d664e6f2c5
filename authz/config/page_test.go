package config

import (
	"strings"
	"testing"
)

// The page is off by default, and when on needs the HTTP listener and the
// self-service endpoints; its path may not overlap another HTTP path.
func TestPageSection(t *testing.T) {
	c, err := Parse(nil)
	if err != nil || c.Page.Enabled || c.Page.Path != "/mfa" {
		t.Fatalf("default: %+v, %v; want off at /mfa", c.Page, err)
	}
	on := "server:\n  http_address: 127.0.0.1:9192\npage:\n  enabled: true\n  path: /account/security\n"
	if c, err := Parse([]byte(on)); err != nil || !c.Page.Enabled || c.Page.Path != "/account/security" {
		t.Fatalf("valid section: %+v, %v", c.Page, err)
	}
	for _, row := range []struct{ yaml, want string }{
		{"page:\n  enabled: true\n", "config: page.enabled: needs server.http_address: the page is served on the HTTP listener"},
		{"server:\n  http_address: 127.0.0.1:9192\napi:\n  enabled: false\npage:\n  enabled: true\n", "config: page.enabled: needs api.enabled: the page acts through the self-service endpoints"},
		{"page:\n  path: mfa\n", `config: page.path: must start with /, got "mfa"`},
		{"page:\n  path: /\n", `config: page.path: must name a path below /, got "/"`},
		{"page:\n  path: /mfa?x=1\n", `config: page.path: must be a plain path without spaces, ?, #, % or \, got "/mfa?x=1"`},
		{"page:\n  path: /healthz\n", `config: page.path: "/healthz" overlaps the health endpoint "/healthz"`},
		{"page:\n  path: /forward-auth/mfa\n", `config: page.path: "/forward-auth/mfa" overlaps server.forward_auth_path "/forward-auth"`},
		{"page:\n  path: /ext-authz\n", `config: page.path: "/ext-authz" overlaps server.envoy_http_prefix "/ext-authz"`},
		{"page:\n  path: /multi-factor-auth-types\n", `config: page.path: "/multi-factor-auth-types" overlaps api.types_path "/multi-factor-auth-types"`},
		{"api:\n  activate_path: /mfa/activate\n", `config: page.path: "/mfa" overlaps api.activate_path "/mfa/activate"`},
		{"page:\n  enabled: yes please\n", "config: page.enabled (line 2)"},
	} {
		_, err := Parse([]byte(row.yaml))
		if err == nil || !strings.Contains(err.Error(), row.want) {
			t.Errorf("%q: got %v, want error containing %q", row.yaml, err, row.want)
		}
	}
}
