package policy

import (
	"strings"
	"testing"
)

// Each class of lenient reading, with its variants: every path must be
// decided by the rule named (-1: unprotected), in the Spryker policy with
// its exception (/carts/{id}/share, POST, mfa: none).
func TestMatchLenientReadings(t *testing.T) {
	p := mustCompile(t, sprykerConfig())
	tests := []struct {
		class, path string
		want        int
	}{
		// Front controllers, default names.
		{"front-controller", "/index.php/customer-password/DE--42", rulePassword},
		{"front-controller", "/app.php/carts/1", ruleCarts},
		{"front-controller", "/app_dev.php/checkout", ruleCheckout},
		{"front-controller", "/INDEX.PHP/checkout", ruleCheckout},
		{"front-controller", "/Index.Php/checkout", ruleCheckout},
		{"front-controller", "/%69ndex.php/checkout", ruleCheckout},
		{"front-controller", "/index%2Ephp/checkout", ruleCheckout},
		{"front-controller", "/index.php;x/checkout", ruleCheckout},
		{"front-controller", "/index.php%3Bx/checkout", ruleCheckout},
		{"front-controller", "/index.php./checkout", ruleCheckout},
		{"front-controller", "/index.php%20/checkout", ruleCheckout},
		{"front-controller", "/index.php/../checkout", ruleCheckout},
		{"front-controller", "/index.php//checkout", ruleCheckout},
		{"front-controller", `/index.php\checkout`, ruleCheckout},
		{"front-controller", "/index.php%2Fcheckout", ruleCheckout},
		{"front-controller", "/\uff49\uff4e\uff44\uff45\uff58.php/checkout", ruleCheckout},
		{"front-controller", "/shop/index.php/checkout", ruleCheckout},
		{"front-controller", "/index.php/index.php/checkout", ruleCheckout},
		{"front-controller", "/customers/index.php/1", ruleCustomers},
		{"front-controller", "https://shop.example.com/index.php/checkout", ruleCheckout},
		{"front-controller", "/index.php/carts/1/items", ruleCarts},
		// An exception admits only plain readings: the rule after it decides.
		{"front-controller", "/index.php/carts/1/share", ruleCarts},
		{"front-controller", "/carts/1/share", ruleCartShare},
		{"front-controller", "/carts/1/%73hare", ruleCartShare},
		// Near misses: not a front controller.
		{"front-controller", "/index.phpx/checkout", -1},
		{"front-controller", "/index.html/checkout", -1},
		{"front-controller", "/index/checkout", -1},
		{"front-controller", "/index.php", -1},

		// Encoded forms of the families handled plainly.
		{"encoded", "/checkout%3A%3A%24DATA", ruleCheckout},
		{"encoded", "/checkout::%24DATA", ruleCheckout},
		{"encoded", "/checkout%3A$DATA", ruleCheckout}, // as "/checkout:$DATA"
		{"encoded", "/checkout%3A%3A$DATA", ruleCheckout},
		{"encoded", "/checkout%2E", ruleCheckout},
		{"encoded", "/checkout%2E%2E%20", ruleCheckout},
		{"encoded", "/checkout%3Bx", ruleCheckout},
		{"encoded", "/checkout%2Ejson", ruleCheckout},
		{"encoded", "/x%5C..%5Ccheckout", ruleCheckout},
		{"encoded", "%5Ccheckout", ruleCheckout},
		{"encoded", "/checkout%5C", ruleCheckout},
		{"encoded", "/customer-password%5CDE--42%5C", rulePassword},
		{"encoded", "/%5C%5Cevil/checkout", ruleCheckout},
		{"encoded", "%2F%2Fevil/checkout", ruleCheckout},
		{"encoded", "/%2F%2Fevil%2Fcheckout", ruleCheckout},
		{"encoded", "/%252F%252Fevil/checkout", ruleCheckout},
		{"compat", "\uff0f\uff0fevil\uff0fcheckout", ruleCheckout},
		{"encoded", "/evil/checkout", -1},

		// Unicode compatibility forms (NFKC).
		{"compat", "/\uff43\uff48\uff45\uff43\uff4b\uff4f\uff55\uff54", ruleCheckout},
		{"compat", "/\uff23\uff28\uff25\uff23\uff2b\uff2f\uff35\uff34", ruleCheckout},
		{"compat", "\uff0fcheckout", ruleCheckout},
		{"compat", "/x\uff0f..\uff0fcheckout", ruleCheckout},
		{"compat", "/x/\uff0e\uff0e/checkout", ruleCheckout},
		{"compat", "/checkout\uff0e", ruleCheckout},
		{"compat", "/checkout\uff1bjsessionid=1", ruleCheckout},
		{"compat", "/checkout\uff0ejson", ruleCheckout},
		{"compat", "/carts%EF%BC%8F1", ruleCarts},
		{"compat", "/carts\uff3c1", ruleCarts},
		{"compat", "/customer-password/\uff24\uff25--\uff14\uff12", rulePassword},
		{"compat", "/%EF%BD%83heckout", ruleCheckout},
		{"compat", "/%25EF%25BD%2583heckout", ruleCheckout},
		{"compat", "/\U0001d41c\U0001d421\U0001d41e\U0001d41c\U0001d424\U0001d428\U0001d42e\U0001d42d", ruleCheckout},
		{"compat", "/che\u24d2kout", ruleCheckout}, // circled c
		{"compat", "/carts/1/\uff53\uff48\uff41\uff52\uff45", ruleCarts},
		{"compat", "/\uff43arts/1/share", ruleCarts}, // exceptions: plain readings only
		{"compat", "/checkout\u00e9", -1},            // not a compatibility form

		// Invisible characters.
		{"invisible", "/check\u200bout", ruleCheckout},
		{"invisible", "/check\u200cout", ruleCheckout},
		{"invisible", "/check\u200dout", ruleCheckout},
		{"invisible", "/check\u00adout", ruleCheckout},
		{"invisible", "/\ufeffcheckout", ruleCheckout},
		{"invisible", "/checkout\u200e", ruleCheckout},
		{"invisible", "/checkout\u200f", ruleCheckout},
		{"invisible", "/check\u2060out", ruleCheckout},
		{"invisible", "/check\u034fout", ruleCheckout},
		{"invisible", "/check\u202eout", ruleCheckout},
		{"invisible", "/check\ufe0fout", ruleCheckout},
		{"invisible", "/check%E2%80%8Bout", ruleCheckout},
		{"invisible", "/check%25E2%2580%258Bout", ruleCheckout},
		{"invisible", "/carts/1/sha\u200bre", ruleCarts},

		// Windows short names.
		{"short-name", "/CUSTOM~1/DE--42", rulePassword},
		{"short-name", "/custom~1/DE--42", rulePassword},
		{"short-name", "/CUSTOM~12/DE--42", rulePassword},
		{"short-name", "/CUSTO~1/DE--42", rulePassword},
		{"short-name", "/CHECKO~1", ruleCheckout},
		{"short-name", "/CHECKO~1.JSO", ruleCheckout},
		{"short-name", "/ORDER-~1/1", rulePayments},
		{"short-name", "/CU1A2B~1/DE--42", rulePassword}, // hashed form
		{"short-name", "/carts/1/SHARE~1", ruleCarts},
		{"short-name", "/index.php/CUSTOM~1/DE--42", rulePassword},
		{"short-name", "/%43USTOM~1/DE--42", rulePassword},
		{"short-name", "/ZZZZZZ~1/DE--42", -1},
		{"short-name", "/CUSTOM~/DE--42", -1},
		{"short-name", "/CUSTOM~X/DE--42", -1},
		{"short-name", "/CUSTOMER~1/DE--42", -1}, // more than six characters
		{"short-name", "/CHECKO~1X", -1},
		{"short-name", "/~1/DE--42", -1},

		// "scheme:" without "//".
		{"scheme", "http:/checkout", ruleCheckout},
		{"scheme", "https:checkout", ruleCheckout},
		{"scheme", `HTTP:\checkout`, ruleCheckout},
		{"scheme", "http:/customer-password/DE--42", rulePassword},
		{"scheme", "x-y.z+1:/checkout", ruleCheckout},
		{"scheme", "http:%2Fcheckout", ruleCheckout},
		{"scheme", "/http:/checkout", -1},
	}
	for _, tt := range tests {
		got := p.Match("POST", "shop.example.com", tt.path)
		if index(got) != tt.want {
			t.Errorf("%s: Match(POST, %q) = %v, want rule %d; readings %q",
				tt.class, tt.path, got, tt.want, p.Explain("POST", "shop.example.com", tt.path).Readings)
		}
	}
}

// An exception is never admitted through a short name, in either case
// mode, and a case-sensitive policy still reads short names.
func TestMatchShortNamesAndExceptions(t *testing.T) {
	for _, fold := range []bool{true, false} {
		p := mustCompile(t, Config{CaseInsensitive: ptr(fold), Rules: []RuleConfig{
			{Path: "/carts/{id}/share", MFA: "none"},
			{Path: "/Shared-Carts/**", MFA: "none"},
			{Path: "/carts/**"},
			{Path: "/**"},
		}})
		for _, tt := range []struct {
			path string
			want int
		}{
			{"/carts/1/share", 0},
			{"/carts/1/SHARE~1", 2},
			{"/carts/1/share~1", 2},
			{"/Shared-Carts/x", 1},
			{"/SHARED~1/x", 3},
			{"/CARTS~1/1/share", 3},
		} {
			if got := p.Match("POST", "", tt.path); index(got) != tt.want {
				t.Errorf("case-insensitive %v: Match(%q) = %v, want rule %d", fold, tt.path, got, tt.want)
			}
		}
	}
	p := mustCompile(t, Config{CaseInsensitive: ptr(false), Rules: []RuleConfig{{Path: "/Customer-Password/**"}}})
	if got := p.Match("POST", "", "/CUSTOM~1/1"); index(got) != 0 {
		t.Errorf("case-sensitive: Match(/CUSTOM~1/1) = %v, want rule 0", got)
	}
}

// The front-controller list is configurable: other names, none at all,
// and names validated with errors naming the key.
func TestFrontControllersConfig(t *testing.T) {
	base := sprykerConfig()

	cfg := base
	cfg.FrontControllers = []string{"glue.php", "ＢＯＯＴ.PHP"}
	p := mustCompile(t, cfg)
	for path, want := range map[string]int{
		"/glue.php/checkout":  ruleCheckout,
		"/GLUE.PHP/checkout":  ruleCheckout,
		"/boot.php/checkout":  ruleCheckout,
		"/index.php/checkout": -1, // the defaults are replaced
	} {
		if got := p.Match("POST", "", path); index(got) != want {
			t.Errorf("front_controllers %q: Match(%q) = %v, want rule %d", cfg.FrontControllers, path, got, want)
		}
	}
	if got, want := p.FrontControllers(), []string{"glue.php", "boot.php"}; !equalStrings(got, want) {
		t.Errorf("FrontControllers() = %q, want %q", got, want)
	}

	cfg.FrontControllers = []string{}
	p = mustCompile(t, cfg)
	if got := p.Match("POST", "", "/index.php/checkout"); got != nil {
		t.Errorf("front_controllers []: Match(/index.php/checkout) = %v, want nil", got)
	}
	if got := mustCompile(t, base).FrontControllers(); !equalStrings(got, DefaultFrontControllers) {
		t.Errorf("default FrontControllers() = %q, want %q", got, DefaultFrontControllers)
	}

	cfg.FrontControllers = []string{"index.php", "", "a/b", "..", "x;y", "%69.php", "a b", "\xff"}
	_, err := Compile(cfg)
	if err == nil {
		t.Fatal("Compile accepted invalid front controllers")
	}
	for _, want := range []string{
		`policy.front_controllers[1] (""): must not be empty`,
		`policy.front_controllers[2] ("a/b"): invalid character "/"`,
		`policy.front_controllers[3] (".."): must not be a dot segment`,
		`policy.front_controllers[4] ("x;y"): invalid character ";"`,
		`policy.front_controllers[5] ("%69.php"): invalid character "%"`,
		`policy.front_controllers[6] ("a b"): invalid character " "`,
		`policy.front_controllers[7] ("\xff"): not valid UTF-8`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "[0]") {
		t.Errorf("error %q names the valid entry", err)
	}
}

// Explain shows the readings without the front controller, and clean paths
// naming one leave the fast path.
func TestExplainFrontController(t *testing.T) {
	p := mustCompile(t, sprykerConfig())
	ex := p.Explain("POST", "shop.example.com", "/shop/index.php/checkout")
	want := []string{"/shop/index.php/checkout", "/shop/checkout", "/checkout"}
	if !equalStrings(ex.Readings, want) || index(ex.Rule) != ruleCheckout {
		t.Errorf("Explain = %q %v, want %q and rule %d", ex.Readings, ex.Rule, want, ruleCheckout)
	}
	if got, want := Readings("http:/checkout"), []string{"/checkout", "/http:/checkout"}; !equalStrings(got, want) {
		t.Errorf("Readings(http:/checkout) = %q, want %q", got, want)
	}
	if got, want := Readings("/\uff43\u200barts"), []string{"/\uff43\u200barts", "/carts"}; !equalStrings(got, want) {
		t.Errorf("Readings(full-width, ZWSP) = %q, want %q", got, want)
	}
}
