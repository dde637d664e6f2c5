package policy

import "testing"

func TestHostReading(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"%61dmin.example.com", "admin.example.com"},
		{"admin%2Eexample%2Ecom", "admin.example.com"},
		{"%2561dmin.example.com", "admin.example.com"},
		{"\uff41\uff44\uff4d\uff49\uff4e.example.com", "admin.example.com"},
		{"admin\u3002example\u3002com", "admin.example.com"},
		{"admin\uff0eexample\uff0ecom:443", "admin.example.com:443"},
		{"\uff21\uff24\uff2d\uff29\uff2e.EXAMPLE.COM", "admin.example.com"},
		{"admin.example.com\uff1a8080", "admin.example.com:8080"},
		{"b\u00fccher.example", "xn--bcher-kva.example"},
		{"x@%61dmin.example.com.", "admin.example.com"},
		{"admin.exam\u00adple.com", "admin.example.com"},
		{"%zz", ""},
		{"admin example.com", ""},
	} {
		if got := hostReading(c.in); got != c.want {
			t.Errorf("hostReading(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// A rule bound to a host protects the host in every spelling an upstream
// may read as it; an exception exempts only its host plainly spelled.
func TestHostBoundRulesMatchTheReadHost(t *testing.T) {
	p := mustCompile(t, Config{Rules: []RuleConfig{
		{Path: "/status/**", Host: "internal.example.com:8080", MFA: "none", Methods: []string{"*"}},
		{Path: "/status/**", Methods: []string{"*"}},
		{Path: "/admin/**", Host: "admin.example.com", Methods: []string{"*"}},
		{Path: "/open/**", Host: "open.example.com", MFA: "none", Methods: []string{"*"}},
	}})
	for _, c := range []struct {
		host, path string
		protected  bool
	}{
		{"%61dmin.example.com", "/admin/users", true},
		{"admin%2Eexample%2Ecom", "/admin/users", true},
		{"\uff41dmin.example.com", "/admin/users", true},
		{"admin\u3002example\u3002com:443", "/admin/users", true},
		{"adm\u00adin.example.com", "/admin/users", true},
		{"%zzadmin.example.com", "/admin/users", true},
		{"other.example.com", "/admin/users", false},
		{"%6Fther.example.com", "/admin/users", false},
		{"internal.example.com:8080", "/status/all", false},
		{"%69nternal.example.com:8080", "/status/all", true},
		{"\uff49nternal.example.com:8080", "/status/all", true},
		{"open.example.com", "/open/x", false},
		{"\uff4fpen.example.com", "/open/x", false}, // no rule requires MFA there
	} {
		r := p.Match("GET", c.host, c.path)
		if got := r != nil && r.MFARequired; got != c.protected {
			t.Errorf("GET %s on %q: protected %v, want %v (rule %+v)", c.path, c.host, got, c.protected, r)
		}
	}
}
