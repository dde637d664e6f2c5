package policy

import (
	"strings"
	"testing"
	"time"
)

// Every spelling of "POST /customer-password/DE--42" that some server or
// framework would route to the password endpoint must need MFA.
func TestMatchPasswordChangeVariants(t *testing.T) {
	p := mustCompile(t, sprykerConfig())
	tests := []struct {
		method, host, path string
	}{
		{"POST", "shop.example.com", "/customer-password/DE--42"},
		{"post", "shop.example.com", "/customer-password/DE--42"},
		{"Patch", "shop.example.com", "/customer-password/DE--42"},
		{"DELETE", "", "/customer-password/DE--42"},
		{"", "shop.example.com", "/customer-password/DE--42"},
		{"POST", "shop.example.com", "/customer-password/DE--42?x=1"},
		{"POST", "shop.example.com", "/customer-password/DE--42?"},
		{"POST", "shop.example.com", "/customer-password/DE--42#frag"},
		{"POST", "shop.example.com", "/customer-password/DE--42/"},
		{"POST", "shop.example.com", "/customer-password/DE--42.json"},
		{"POST", "shop.example.com", "https://shop.example.com/customer-password/DE--42"},
		{"POST", "shop.example.com", "http://shop.example.com:8080/customer-password/DE--42?a=b"},
		{"POST", "shop.example.com", "//customer-password//DE--42"},
		{"POST", "shop.example.com", "//evil.example/customer-password/DE--42"},
		{"POST", "shop.example.com", "/customer-password//DE--42"},
		{"POST", "shop.example.com", "/./customer-password/DE--42"},
		{"POST", "shop.example.com", "/customer-password/./DE--42"},
		{"POST", "shop.example.com", "/foo/../customer-password/DE--42"},
		{"POST", "shop.example.com", "/../customer-password/DE--42"},
		{"POST", "shop.example.com", "/foo/%2e%2e/customer-password/DE--42"},
		{"POST", "shop.example.com", "/foo/.%2e/customer-password/DE--42"},
		{"POST", "shop.example.com", "/foo/%2E%2E/customer-password/DE--42"},
		{"POST", "shop.example.com", "/%2e/customer-password/DE--42"},
		{"POST", "shop.example.com", "/%2e%2e/%2e%2e/customer-password/DE--42"},
		{"POST", "shop.example.com", "/x//../customer-password/DE--42"},
		{"POST", "shop.example.com", "/customer-password/x//../DE--42"},
		{"POST", "shop.example.com", "/foo/..;/customer-password/DE--42"},
		{"POST", "shop.example.com", "/customer%2dpassword/DE--42"},
		{"POST", "shop.example.com", "/%63ustomer-password/DE--42"},
		{"POST", "shop.example.com", "/%63USTOMER-PASSWORD/DE--42"},
		{"POST", "shop.example.com", "/customer-password/%44E--42"},
		{"POST", "shop.example.com", "/CUSTOMER-PASSWORD/DE--42"},
		{"POST", "shop.example.com", "/Customer-Password/DE--42"},
		{"POST", "shop.example.com", "/customer-pa%C5%BF%C5%BFword/DE--42"}, // long s: upper-cases to S
		{"POST", "shop.example.com", "/customer-password;a=b/DE--42"},
		{"POST", "shop.example.com", "/customer-password;jsessionid=1/DE--42"},
		{"POST", "shop.example.com", "/customer-password/DE--42;x=y"},
		{"POST", "shop.example.com", `\customer-password\DE--42`},
		{"POST", "shop.example.com", `/customer-password\DE--42`},
		{"POST", "shop.example.com", "/customer-password%2fDE--42"},
		{"POST", "shop.example.com", "/customer-password%2FDE--42"},
		{"POST", "shop.example.com", "/customer-password%5cDE--42"},
		{"POST", "shop.example.com", "/customer-password%5CDE--42"},
		{"POST", "shop.example.com", "/customer-password%252fDE--42"},
		{"POST", "shop.example.com", "/customer-password./DE--42"},
		{"POST", "shop.example.com", "/customer-password::$DATA/DE--42"},
		{"POST", "shop.example.com", "/%u0063ustomer-password/DE--42"},
		{"POST", "shop.example.com", "/customer%u002Dpassword/DE--42"},
		{"POST", "shop.example.com", "/customer-password/DE--42::$data"},
		{"POST", "shop.example.com", "/customer-password/DE--42:s:$DATA"},
		{"POST", "shop.example.com", "/customer-password.../DE--42"},
		{"POST", "shop.example.com", "/customer-password%20/DE--42"},
		{"POST", "shop.example.com", "/customer-password%09/DE--42"},
		{"POST", "shop.example.com", "/customer-password%2e%20/DE--42"},
		{"POST", "shop.example.com", "/customer-password+/DE--42"},
		{"POST", "shop.example.com", "/customer-password%2B/DE--42"},
		{"POST", "shop.example.com", "/foo/%C0%AE%C0%AE/customer-password/DE--42"},
		{"POST", "shop.example.com", "/foo/%c0%ae%c0%ae%c0%afcustomer-password/DE--42"},
		{"POST", "shop.example.com", "/customer-pass%00word/DE--42"},
		{"POST", "shop.example.com", "/customer-password/DE--42%00.png"},
		{"POST", "shop.example.com", "/customer-password/DE--42\x00.png"},
		{"POST", "shop.example.com", "/customer-password/DE%zz"},
		{"POST", "shop.example.com", "/customer-password/DE--42%4"},
		{"POST", "shop.example.com", "/customer-password/DE\xff--42"},
		{"POST", "shop.example.com", "/%252e/customer-password/DE--42"},
		{"POST", "shop.example.com", "/foo/%252e%252e/customer-password/DE--42"},
		{"POST", "shop.example.com", "/foo/%25252e%25252e/customer-password/DE--42"},
		{"POST", "shop.example.com", "customer-password/DE--42"},
		{"POST", "shop.example.com", "/customer-password/DE--42/extra/.."},
	}
	if len(tests) < 25 {
		t.Fatalf("only %d variants", len(tests))
	}
	for _, tt := range tests {
		if got := p.Match(tt.method, tt.host, tt.path); index(got) != rulePassword {
			t.Errorf("Match(%q, %q, %q) = %v, want rule %d; readings %q",
				tt.method, tt.host, tt.path, got, rulePassword, Readings(tt.path))
		}
	}
}

// Paths that merely look like the password endpoint are not protected.
func TestMatchNearMisses(t *testing.T) {
	p := mustCompile(t, sprykerConfig())
	tests := []struct{ method, path string }{
		{"POST", "/customer-passwords/1"},
		{"POST", "/customer-password-help"},
		{"POST", "/customer-password"},
		{"POST", "/customer-password/"},
		{"POST", "/customer-password/DE--42/extra"},
		{"POST", "/xcustomer-password/DE--42"},
		{"POST", "/api/customer-password/DE--42"},
		{"GET", "/customer-password/DE--42"},
		{"HEAD", "/customer-password/DE--42"},
		{"PUT", "/customer-password/DE--42"}, // the rule lists POST, PATCH and DELETE only
		{"POST", "/x?/../customer-password/DE--42"},
		{"POST", "/x?%2F../customer-password/DE--42"},
		{"POST", "/checkout/confirm"},
		{"POST", "/"},
		{"POST", ""},
		{"GET", "/carts/1"},
		{"POST", "/cartsx"},
		{"POST", "/customer-password:batch"}, // a colon alone is no NTFS stream
	}
	for _, tt := range tests {
		if got := p.Match(tt.method, "shop.example.com", tt.path); got != nil {
			t.Errorf("Match(%q, %q) = %v, want nil", tt.method, tt.path, got)
		}
	}
}

func TestMatchFirstMatchOrder(t *testing.T) {
	p := mustCompile(t, sprykerConfig())
	tests := []struct {
		method, path string
		want         int // rule index, -1 for none
	}{
		{"POST", "/carts/1/share", ruleCartShare},
		{"POST", "/carts/1/share/", ruleCartShare},
		// The exception matches case-exactly; a case variant falls through
		// to the rule it carves out of.
		{"POST", "/CARTS/1/Share", ruleCarts},
		{"POST", "/carts/1/Share", ruleCarts},
		{"PATCH", "/carts/1/share", ruleCarts}, // the exception is for POST only
		{"POST", "/carts/1/share/x", ruleCarts},
		{"POST", "/carts/1/shares", ruleCarts},
		{"POST", "/carts", ruleCarts},
		{"POST", "/carts/", ruleCarts},
		{"DELETE", "/carts/1/items/2", ruleCarts},
		{"POST", "/checkout", ruleCheckout},
		{"POST", "/checkout.json", ruleCheckout}, // format suffix
		{"PATCH", "/checkout", -1},
		{"PUT", "/customers/DE--42/addresses/1", ruleCustomers},
		{"POST", "/order-payments", rulePayments},
		// An exception applies only when no reading reaches a rule that
		// requires MFA: "share.json" may be routed to "share" (format
		// suffix) but is also just another path below /carts.
		{"POST", "/carts/1/share.json", ruleCarts},
		{"POST", "/carts/1/share;x", ruleCarts},
		{"POST", "/carts/1/share%2F..%2F..%2F2", ruleCarts},
		// Both readings are the exception.
		{"POST", "/carts/1/x/../share", ruleCartShare},
	}
	for _, tt := range tests {
		if got := p.Match(tt.method, "", tt.path); index(got) != tt.want {
			t.Errorf("Match(%q, %q) = %v, want rule %d", tt.method, tt.path, got, tt.want)
		}
	}
}

func TestMatchLowestIndexAcrossBranches(t *testing.T) {
	// The literal, parameter and ** branches of the trie all match; the
	// lowest Index wins wherever it is.
	for _, order := range [][]string{
		{"/a/b/c", "/a/{x}/c", "/a/**", "/**", "/*/b/*"},
		{"/**", "/a/b/c", "/a/{x}/c", "/a/**", "/*/b/*"},
		{"/*/b/*", "/a/**", "/a/{x}/c", "/**", "/a/b/c"},
		{"/a/{x}/c", "/*/b/*", "/a/b/c", "/a/**", "/**"},
	} {
		var cfg Config
		for _, path := range order {
			cfg.Rules = append(cfg.Rules, RuleConfig{Path: path})
		}
		p := mustCompile(t, cfg)
		if got := p.Match("POST", "", "/a/b/c"); index(got) != 0 {
			t.Errorf("rules %q: Match(/a/b/c) = %v, want rule 0", order, got)
		}
	}
}

func TestMatchPatterns(t *testing.T) {
	p := mustCompile(t, Config{Rules: []RuleConfig{
		{Path: "/one/{id}"},
		{Path: "/star/*/x"},
		{Path: "/rest/**"},
		{Path: "/exact/"},
		{Path: "/"},
		{Path: "/dup/{id}/{id}"},
	}})
	tests := []struct {
		path string
		want int
	}{
		{"/one/1", 0},
		{"/one", -1},
		{"/one/1/2", -1},
		{"/star/a/x", 1},
		{"/star/x", -1},
		{"/star/a/b/x", -1},
		{"/rest", 2},
		{"/rest/", 2},
		{"/rest/a/b/c", 2},
		{"/restx", -1},
		{"/exact", 3},
		{"/exact/", 3},
		{"/exact/x", -1},
		{"/", 4},
		{"", 4},
		{"/dup/1/2", 5},
	}
	for _, tt := range tests {
		if got := p.Match("POST", "", tt.path); index(got) != tt.want {
			t.Errorf("Match(%q) = %v, want rule %d", tt.path, got, tt.want)
		}
	}

	all := mustCompile(t, Config{Rules: []RuleConfig{{Path: "/**"}}})
	for _, path := range []string{"", "/", "/a", "/a/b/c", "*", "%zz", "https://x"} {
		if got := all.Match("POST", "", path); index(got) != 0 {
			t.Errorf("/**: Match(%q) = %v, want rule 0", path, got)
		}
	}
}

func TestMatchGrace(t *testing.T) {
	p := mustCompile(t, sprykerConfig())
	tests := []struct {
		path      string
		wantGrace time.Duration
		hasGrace  bool
	}{
		{"/customer-password/1", 0, true},
		{"/carts/1", 10 * time.Minute, true},
		{"/checkout", 5 * time.Minute, true},
		{"/customers/1", 0, false},
	}
	for _, tt := range tests {
		r := p.Match("POST", "", tt.path)
		if r == nil || r.Grace != tt.wantGrace || r.HasGrace != tt.hasGrace {
			t.Errorf("Match(%q) = %v, want grace %v (set %t)", tt.path, r, tt.wantGrace, tt.hasGrace)
		}
	}
	if g, ok := p.MaxGrace(); g != 10*time.Minute || !ok {
		t.Errorf("MaxGrace() = %v, %t; want 10m, true", g, ok)
	}
	if g, ok := mustCompile(t, Config{Rules: []RuleConfig{{Path: "/x"}}}).MaxGrace(); g != 0 || ok {
		t.Errorf("MaxGrace() without overrides = %v, %t; want 0, false", g, ok)
	}

	// When readings reach different rules, the one with the shorter grace
	// period decides.
	q := mustCompile(t, Config{Rules: []RuleConfig{
		{Path: "/a/**", GracePeriod: ptr(time.Hour)},
		{Path: "/b/**", GracePeriod: ptr(time.Minute)},
	}})
	if got := q.Match("POST", "", "/a/x%2F..%2F..%2Fb"); index(got) != 1 {
		t.Errorf("Match(/a/x%%2F..%%2F..%%2Fb) = %v, want rule 1 (shorter grace)", got)
	}
}

func TestMatchHosts(t *testing.T) {
	p := mustCompile(t, Config{Rules: []RuleConfig{
		{Path: "/admin/**", Host: "Admin.Example.COM."},
		{Path: "/tls/**", Host: "shop.example.com:8443"},
		{Path: "/wild/**", Host: "*.example.com"},
		{Path: "/v6/**", Host: "[::1]:8080"},
		{Path: "/any/**"},
	}})
	tests := []struct {
		host, path string
		want       int
	}{
		{"admin.example.com", "/admin/x", 0},
		{"ADMIN.example.com", "/admin/x", 0},
		{"admin.example.com.", "/admin/x", 0},
		{"admin.example.com:8080", "/admin/x", 0},
		{"user@admin.example.com", "/admin/x", 0},
		{"", "/admin/x", 0}, // unknown host: protected
		{"shop.example.com", "/admin/x", -1},
		{"admin.example.com.evil", "/admin/x", -1},
		{"shop.example.com:8443", "/tls/x", 1},
		{"shop.example.com:08443", "/tls/x", 1},
		{"shop.example.com", "/tls/x", 1}, // no port: may still be 8443 behind a proxy
		{"shop.example.com:443", "/tls/x", -1},
		{"other.example.com:8443", "/tls/x", -1},
		{"a.example.com", "/wild/x", 2},
		{"a.b.EXAMPLE.com:1", "/wild/x", 2},
		{"example.com", "/wild/x", -1},
		{"aexample.com", "/wild/x", -1},
		{"[::1]:8080", "/v6/x", 3},
		{"[::1]", "/v6/x", 3},
		{"[::1]:9090", "/v6/x", -1},
		{"[::2]:8080", "/v6/x", -1},
		{"[0:0::1]:8080", "/v6/x", 3},
		{"[0:0:0:0:0:0:0:1]", "/v6/x", 3},
		{"whatever", "/any/x", 4},
		// The host an absolute-form target names counts too.
		{"shop.example.com", "https://admin.example.com/admin/x", 0},
		{"shop.example.com", "//admin.example.com/admin/x", 0},
	}
	for _, tt := range tests {
		if got := p.Match("POST", tt.host, tt.path); index(got) != tt.want {
			t.Errorf("Match(POST, %q, %q) = %v, want rule %d", tt.host, tt.path, got, tt.want)
		}
	}
}

func TestMatchUnknownHostAndException(t *testing.T) {
	// An exception for one host must not exempt a request whose host is
	// unknown: it might be another host, for which a rule requires MFA.
	p := mustCompile(t, Config{Rules: []RuleConfig{
		{Path: "/hook", Host: "internal.example.com", MFA: "none"},
		{Path: "/**"},
	}})
	tests := []struct {
		host, path string
		want       int
	}{
		{"internal.example.com", "/hook", 0},
		{"shop.example.com", "/hook", 1},
		{"", "/hook", 1},
		{"internal.example.com", "https://shop.example.com/hook", 1},
	}
	for _, tt := range tests {
		if got := p.Match("POST", tt.host, tt.path); index(got) != tt.want {
			t.Errorf("Match(POST, %q, %q) = %v, want rule %d", tt.host, tt.path, got, tt.want)
		}
	}
}

func TestMatchMethods(t *testing.T) {
	p := mustCompile(t, Config{Rules: []RuleConfig{
		{Path: "/any", Methods: []string{"*"}},
		{Path: "/get", Methods: []string{"get", "HEAD"}},
		{Path: "/custom", Methods: []string{"PROPFIND", "purge"}},
		{Path: "/default"},
		// An exception for POST only, then a broad rule.
		{Path: "/hook", Methods: []string{"POST"}, MFA: "none"},
		{Path: "/hook", Methods: []string{"*"}, GracePeriod: ptr(time.Minute)},
		{Path: "/two", Methods: []string{"POST"}, GracePeriod: ptr(time.Hour)},
		{Path: "/two", Methods: []string{"DELETE"}, GracePeriod: ptr(time.Minute)},
	}})
	tests := []struct {
		method, path string
		want         int
	}{
		{"GET", "/any", 0},
		{"BREW", "/any", 0},
		{"", "/any", 0},
		{"get", "/get", 1},
		{"HEAD", "/get", 1},
		{"POST", "/get", -1},
		{"PROPFIND", "/custom", 2},
		{"propfind", "/custom", 2},
		{"PURGE", "/custom", 2},
		{"GET", "/custom", -1},
		{"POST", "/default", 3},
		{"PUT", "/default", 3},
		{"PATCH", "/default", 3},
		{"DELETE", "/default", 3},
		{"GET", "/default", -1},
		{"HEAD", "/default", -1},
		{"OPTIONS", "/default", -1},
		{"POST", "/hook", 4},
		{"PUT", "/hook", 5},
		// An empty method stands for every method: the exception for POST
		// does not decide it, and of two rules the stricter one wins.
		{"", "/hook", 5},
		{"", "/two", 7},
		{"", "/default", 3},
	}
	for _, tt := range tests {
		if got := p.Match(tt.method, "", tt.path); index(got) != tt.want {
			t.Errorf("Match(%q, %q) = %v, want rule %d", tt.method, tt.path, got, tt.want)
		}
	}
}

func TestMayProtect(t *testing.T) {
	p := mustCompile(t, sprykerConfig())
	tests := []struct {
		path string
		want bool
	}{
		{"/customer-password/1", true},
		{"/carts/1/share", true}, // PATCH needs MFA there
		{"/checkout", true},
		{"/catalog-search", false},
		{"/customer-password", false},
	}
	for _, tt := range tests {
		if got := p.MayProtect("shop.example.com", tt.path); got != tt.want {
			t.Errorf("MayProtect(%q) = %t, want %t", tt.path, got, tt.want)
		}
	}
}

func TestMatchCaseSensitive(t *testing.T) {
	p := mustCompile(t, Config{CaseInsensitive: ptr(false), Rules: []RuleConfig{
		{Path: "/Checkout"},
		{Path: "/carts/**"},
	}})
	if p.CaseInsensitive() {
		t.Fatal("CaseInsensitive() = true, want false")
	}
	tests := []struct {
		path string
		want int
	}{
		{"/Checkout", 0},
		{"/checkout", -1},
		{"/CHECKOUT", -1},
		{"/%43heckout", 0},
		{"/carts/X", 1},
		{"/Carts/X", -1},
	}
	for _, tt := range tests {
		if got := p.Match("POST", "", tt.path); index(got) != tt.want {
			t.Errorf("Match(%q) = %v, want rule %d", tt.path, got, tt.want)
		}
	}
	if !mustCompile(t, Config{CaseInsensitive: ptr(true)}).CaseInsensitive() ||
		!mustCompile(t, Config{}).CaseInsensitive() {
		t.Error("CaseInsensitive() = false, want true by default and when set")
	}
}

// An "mfa: none" exception exempts only what it names, as written: in a
// case-insensitive policy, rules requiring MFA still match every case
// variant, but a case variant of an exception falls through to the rules
// after it.
func TestMatchExceptionCase(t *testing.T) {
	p := mustCompile(t, Config{Rules: []RuleConfig{
		{Path: "/carts/{id}/public", Methods: []string{"GET", "POST"}, MFA: "none"},
		{Path: "/customer-password/**", Methods: []string{"POST", "PATCH", "DELETE"}},
		{Path: "/carts/**", Methods: []string{"POST", "PATCH", "DELETE"}},
		{Path: "/Kiosk/{id}/Status", Host: "kiosk.example.com", Methods: []string{"*"}, MFA: "none"},
		{Path: "/kiosk/**", Host: "kiosk.example.com", Methods: []string{"*"}},
		{Path: "/Static/**", Methods: []string{"*"}, MFA: "none"},
		{Path: "/static/**", Methods: []string{"*"}},
	}})
	tests := []struct {
		method, host, path string
		want               int
	}{
		// The exception as written, and spellings that decode to it.
		{"POST", "shop.example.com", "/carts/1/public", 0},
		{"POST", "shop.example.com", "/carts/1/public/", 0},
		{"POST", "shop.example.com", "/carts/1/public?X=Y", 0},
		{"POST", "shop.example.com", "/carts/1/%70ublic", 0},
		{"POST", "shop.example.com", "/carts/1/x/../public", 0},
		{"GET", "shop.example.com", "/carts/1/public", 0},
		// Case variants of the exception are protected by /carts/**.
		{"POST", "shop.example.com", "/carts/1/PUBLIC", 2},
		{"POST", "shop.example.com", "/Carts/1/public", 2},
		{"POST", "shop.example.com", "/CARTS/1/Public", 2},
		{"POST", "shop.example.com", "/carts/1/publiC", 2},
		{"POST", "shop.example.com", "/carts/1/%50UBLIC", 2},
		{"POST", "shop.example.com", "/carts/1/%50ublic", 2},
		{"POST", "shop.example.com", "/carts/1/publi%43", 2},
		{"POST", "shop.example.com", "/%43arts/1/public", 2},
		{"POST", "shop.example.com", "/carts/1/%2550UBLIC", 2},           // double-encoded
		{"POST", "shop.example.com", "/carts/1/%u0050ublic", 2},          // IIS %u escape
		{"POST", "shop.example.com", "/carts/1/pub%C4%B1ic", 2},          // dotless i folds to i
		{"POST", "shop.example.com", "/carts/1/PUBLIC.json", 2},          // format suffix
		{"POST", "shop.example.com", "/carts/1/PUBLIC;x=y", 2},           // ;params
		{"POST", "shop.example.com", "/carts/1/x/../PUBLIC", 2},          // dot segments
		{"POST", "shop.example.com", "https://shop/carts/1/PUBLIC", 2},   // absolute form
		{"POST", "shop.example.com", "/carts/1/public%2F..%2FPUBLIC", 2}, // one reading exempt, one not
		{"", "shop.example.com", "/carts/1/PUBLIC", 2},
		// It falls through to what else matches: nothing protects GET.
		{"GET", "shop.example.com", "/carts/1/PUBLIC", -1},
		// Rules requiring MFA still match every case.
		{"POST", "shop.example.com", "/CUSTOMER-PASSWORD/DE--42", 1},
		{"POST", "shop.example.com", "/Carts/1/Items", 2},
		{"POST", "shop.example.com", "/carts/1/PUBLIC/x", 2},

		// A host-scoped exception with capitals in its path. Host names are
		// compared with ASCII case folding, as DNS and virtual-host routing
		// do, but no further: the Kelvin sign folds to "k" only in Unicode.
		{"GET", "kiosk.example.com", "/Kiosk/1/Status", 3},
		{"GET", "KIOSK.Example.COM", "/Kiosk/1/Status", 3},
		{"GET", "kiosk.example.com.", "/Kiosk/1/Status", 4}, // another virtual host to Envoy
		{"GET", "x@kiosk.example.com", "/Kiosk/1/Status", 4},
		{"GET", "kiosk.example.com:443", "/Kiosk/1/Status", 3},
		{"GET", "kiosk.example.com:0443", "/Kiosk/1/Status", 4},
		{"GET", "kiosk.example.com:", "/Kiosk/1/Status", 4},
		{"GET", "kiosk.example.com:abc", "/Kiosk/1/Status", 4},
		{"GET", "kiosk.example.com", "/%4Biosk/1/Status", 3},
		{"GET", "kiosk.example.com", "/kiosk/1/status", 4},
		{"GET", "kiosk.example.com", "/KIOSK/1/STATUS", 4},
		{"GET", "kiosk.example.com", "/Kiosk/1/status", 4},
		{"GET", "kiosk.example.com", "/%6Biosk/1/Status", 4},
		{"GET", "kiosk.example.com", "/\u212aiosk/1/Status", 4},
		{"GET", "\u212aiosk.example.com", "/Kiosk/1/Status", 4},
		{"GET", "", "/Kiosk/1/Status", 4},
		{"GET", "shop.example.com", "/Kiosk/1/Status", -1},
		{"GET", "shop.example.com", "/kiosk/1/status", -1},

		// An exception ending in /**: only below its literal as written.
		{"GET", "", "/Static", 5},
		{"GET", "", "/Static/app.js", 5},
		{"GET", "", "/Static/A/b/C", 5},
		{"GET", "", "/static/app.js", 6},
		{"GET", "", "/STATIC/app.js", 6},
		{"GET", "", "/static", 6},
		{"GET", "", "/%53tatic/app.js", 5},
		{"GET", "", "/%73tatic/app.js", 6},
	}
	for _, tt := range tests {
		if got := p.Match(tt.method, tt.host, tt.path); index(got) != tt.want {
			t.Errorf("Match(%q, %q, %q) = %v, want rule %d; readings %q",
				tt.method, tt.host, tt.path, got, tt.want, Readings(tt.path))
		}
		if got, ex := p.Match(tt.method, tt.host, tt.path), p.Explain(tt.method, tt.host, tt.path); ex.Rule != got {
			t.Errorf("Explain(%q, %q, %q).Rule = %v, but Match = %v", tt.method, tt.host, tt.path, ex.Rule, got)
		}
	}

	// A case-sensitive policy matches every rule case-exactly.
	cs := mustCompile(t, Config{CaseInsensitive: ptr(false), Rules: []RuleConfig{
		{Path: "/carts/{id}/public", MFA: "none"},
		{Path: "/carts/**"},
	}})
	for _, tt := range []struct {
		path string
		want int
	}{
		{"/carts/1/public", 0},
		{"/carts/1/PUBLIC", 1},
		{"/carts/1/%50UBLIC", 1},
		{"/Carts/1/public", -1},
	} {
		if got := cs.Match("POST", "", tt.path); index(got) != tt.want {
			t.Errorf("case-sensitive: Match(%q) = %v, want rule %d", tt.path, got, tt.want)
		}
	}
}

func TestMatchesExactly(t *testing.T) {
	segs, err := parsePattern("/Carts/{id}/Public/**", false)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		reading string
		want    bool
	}{
		{"/Carts/1/Public", true},
		{"/Carts/1/Public/", true},
		{"/Carts/1/Public/x/y", true},
		{"//Carts//1//Public", true},
		{"/carts/1/Public", false},
		{"/Carts/1/public", false},
		{"/Carts/1", false},
		{"/Carts", false},
		{"/", false},
		{"", false},
	}
	for _, tt := range tests {
		if got := matchesExactly(segs, tt.reading); got != tt.want {
			t.Errorf("matchesExactly(%q, %q) = %t, want %t", "/Carts/{id}/Public/**", tt.reading, got, tt.want)
		}
	}
	exact, err := parsePattern("/a/{id}", false)
	if err != nil {
		t.Fatal(err)
	}
	for reading, want := range map[string]bool{"/a/1": true, "/a/1/": true, "/a/1/2": false, "/a": false, "/A/1": false} {
		if got := matchesExactly(exact, reading); got != want {
			t.Errorf("matchesExactly(%q, %q) = %t, want %t", "/a/{id}", reading, got, want)
		}
	}
}

func TestMatchUnicodeFolding(t *testing.T) {
	p := mustCompile(t, Config{Rules: []RuleConfig{{Path: "/straße/{id}"}, {Path: "/kelvin"}}})
	tests := []struct {
		path string
		want int
	}{
		{"/STRASSE/1", -1}, // full case folding is not attempted
		{"/STRAßE/1", 0},
		{"/stra%C3%9Fe/1", 0},
		{"/%E2%84%AAelvin", 1}, // Kelvin sign
		{"/\u212aelvin", 1},
	}
	for _, tt := range tests {
		if got := p.Match("POST", "", tt.path); index(got) != tt.want {
			t.Errorf("Match(%q) = %v, want rule %d", tt.path, got, tt.want)
		}
	}
}

func TestMatchLimits(t *testing.T) {
	p := mustCompile(t, Config{Rules: []RuleConfig{
		{Path: "/public/**", MFA: "none", Methods: []string{"*"}},
		{Path: "/a", GracePeriod: ptr(time.Hour)},
		{Path: "/b", GracePeriod: ptr(time.Minute), Methods: []string{"POST"}},
		{Path: "/c", Host: "other.example.com", GracePeriod: ptr(0 * time.Second)},
	}})
	long := "/public/" + strings.Repeat("x", maxPathLen)
	// Every ambiguity at once: more readings than the limit.
	ambiguous := "//h/public/%252e%252e;x/a%2f..%5c.. /b%00/c%zz\xff#f"
	for _, path := range []string{long, ambiguous, ambiguous[1:]} {
		if rs := Readings(path); rs != nil {
			t.Fatalf("Readings(%.40q…) = %q, want nil", path, rs)
		}
	}
	tests := []struct {
		method, host, path string
		want               int
	}{
		{"POST", "shop.example.com", long, 2},
		{"PUT", "shop.example.com", long, 1},
		{"POST", "other.example.com", long, 3},
		{"GET", "shop.example.com", long, -1},
		{"POST", "shop.example.com", ambiguous[1:], 2},
		// A path starting with "//" might name another host.
		{"POST", "shop.example.com", ambiguous, 3},
		{"POST", "shop.example.com", long + "?q", 2},
		// A long query is not part of the path.
		{"POST", "shop.example.com", "/public/x?" + strings.Repeat("q", 2*maxPathLen), 0},
	}
	for _, tt := range tests {
		if got := p.Match(tt.method, tt.host, tt.path); index(got) != tt.want {
			t.Errorf("Match(%q, %q, %.40q…) = %v, want rule %d", tt.method, tt.host, tt.path, got, tt.want)
		}
	}
}

func TestExplain(t *testing.T) {
	p := mustCompile(t, sprykerConfig())
	tests := []struct {
		path     string
		readings []string
		want     int
	}{
		// Readings keep their case: exceptions compare them as they are.
		{"/Customer-Password/DE--42", []string{"/Customer-Password/DE--42"}, rulePassword},
		{"/carts/1/share.json", []string{"/carts/1/share.json", "/carts/1/share"}, ruleCarts},
		{"/customer-password%2FDE--42", []string{"/customer-password%2FDE--42", "/customer-password/DE--42"}, rulePassword},
		{"/carts/1/share", []string{"/carts/1/share"}, ruleCartShare},
		{"/carts/1/SHARE", []string{"/carts/1/SHARE"}, ruleCarts},
		{"/carts/1/%53hare", []string{"/carts/1/Share"}, ruleCarts},
		{"/" + strings.Repeat("x", maxPathLen), nil, rulePassword},
	}
	for _, tt := range tests {
		ex := p.Explain("POST", "", tt.path)
		if index(ex.Rule) != tt.want || !equalStrings(ex.Readings, tt.readings) {
			t.Errorf("Explain(%.40q) = %q, %v; want %q, rule %d", tt.path, ex.Readings, ex.Rule, tt.readings, tt.want)
		}
		if m := p.Match("POST", "", tt.path); m != ex.Rule {
			t.Errorf("Explain(%.40q).Rule = %v, but Match = %v", tt.path, ex.Rule, m)
		}
	}
}

func TestMatchCleanPathAllocs(t *testing.T) {
	p := mustCompile(t, sprykerConfig())
	for _, path := range []string{"/customer-password/DE--42", "/Catalog-Search/x.json?q=1", "/checkout/"} {
		if n := testing.AllocsPerRun(100, func() { p.Match("POST", "Shop.Example.com:443", path) }); n != 0 {
			t.Errorf("Match(%q) allocates %v times, want 0", path, n)
		}
	}
}

func TestRulesAccessors(t *testing.T) {
	p := mustCompile(t, Config{Anonymous: "allow", Rules: sprykerConfig().Rules})
	if !p.AnonymousAllowed() {
		t.Error("AnonymousAllowed() = false, want true")
	}
	for _, anon := range []string{"", "deny"} {
		if mustCompile(t, Config{Anonymous: anon}).AnonymousAllowed() {
			t.Errorf("anonymous %q: AnonymousAllowed() = true, want false", anon)
		}
	}
	rules := p.Rules()
	if len(rules) != 7 {
		t.Fatalf("len(Rules()) = %d, want 7", len(rules))
	}
	for i, r := range rules {
		if r.Index != i {
			t.Errorf("Rules()[%d].Index = %d", i, r.Index)
		}
	}
	rules[0] = nil
	if p.Rules()[0] == nil {
		t.Error("Rules() returned the policy's own slice")
	}
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestMatchConcurrent(t *testing.T) {
	p := mustCompile(t, sprykerConfig())
	paths := []string{"/customer-password/DE--42", "/foo/..;/carts/1", "", "//h/x", "/carts/1/share"}
	done := make(chan struct{})
	for g := range 8 {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := range 200 {
				path := paths[(g+i)%len(paths)]
				if a, b := p.Match("POST", "", path), p.Explain("POST", "", path).Rule; a != b {
					t.Errorf("Match(%q) = %v, Explain = %v", path, a, b)
					return
				}
			}
		}()
	}
	for range 8 {
		<-done
	}
}

// An exception's host admits only the host it names, spelled as a proxy's
// virtual-host routing would see it; a rule requiring MFA admits every
// spelling that may be that host.
func TestMatchExceptionHost(t *testing.T) {
	p := mustCompile(t, Config{Rules: []RuleConfig{
		{Path: "/**", Host: "shop.example.com:8080", Methods: []string{"*"}, MFA: "none"},
		{Path: "/**", Host: "[::1]:8080", Methods: []string{"*"}, MFA: "none"},
		{Path: "/admin/**", Host: "admin.example.com:8443", Methods: []string{"*"}},
		{Path: "/**", Methods: []string{"*"}},
	}})
	for _, tt := range []struct {
		host string
		path string
		want int
	}{
		{"shop.example.com:8080", "/checkout", 0},
		{"SHOP.example.com:8080", "/checkout", 0},
		{"shop.example.com", "/checkout", 3}, // a browser on 443 sends no port
		{"shop.example.com:443", "/checkout", 3},
		{"shop.example.com:08080", "/checkout", 3},
		{"shop.example.com:", "/checkout", 3},
		{"shop.example.com:abc", "/checkout", 3},
		{"shop.example.com.:8080", "/checkout", 3},
		{"x@shop.example.com:8080", "/checkout", 3},
		{"[::1]:8080", "/checkout", 1},
		{"[0:0::1]:8080", "/checkout", 1},
		{"[::1]", "/checkout", 3},
		{"[::1]x:8080", "/checkout", 3},
		// Required rules stay lenient about ports: over-protecting is safe.
		{"admin.example.com:8443", "/admin/x", 2},
		{"admin.example.com", "/admin/x", 2},
		{"admin.example.com:abc", "/admin/x", 2},
		{"admin.example.com.", "/admin/x", 2},
	} {
		if got := p.Match("POST", tt.host, tt.path); index(got) != tt.want {
			t.Errorf("Match(POST, %q, %q) = %v, want rule %d", tt.host, tt.path, got, tt.want)
		}
	}
}
