package policy

import (
	"net/url"
	"path"
	"strings"
	"testing"
)

var fuzzSeeds = []string{
	"/customer-password/DE--42",
	"/customer-password/DE--42?x=1#y",
	"https://shop.example.com/customer-password/DE--42",
	"//customer-password//DE--42",
	"/foo/%2e%2e/customer-password/DE--42",
	"/customer-password;a=b/DE--42",
	`\customer-password\DE--42`,
	"/customer-password%2fDE--42",
	"/customer-password./DE--42",
	"/customer-password%20/DE--42",
	"/customer-password/DE--42%00.png",
	"/customer-password/DE%zz",
	"/%252e/customer-password/DE--42",
	"customer-password/DE--42",
	"/x//../customer-password/DE--42",
	"/carts/1/share.json",
	"/a\xff/b",
	"",
	"*",
}

// FuzzReadings checks that Readings never panics and that every reading is
// well formed.
func FuzzReadings(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		rs := Readings(raw)
		if len(rs) > maxReadings {
			t.Fatalf("%d readings, limit is %d", len(rs), maxReadings)
		}
		for _, r := range rs {
			if msg := checkReading(r); msg != "" {
				t.Errorf("reading %q of %q %s", r, raw, msg)
			}
		}
		var clean [2]string
		if n := cleanReadings(raw, &clean, DefaultFrontControllers, defaultMask); n > 0 {
			var set readingSet
			set.build(raw)
			if !equalStrings(clean[:n], set.paths) {
				t.Errorf("%q: clean readings %q, general readings %q", raw, clean[:n], set.paths)
			}
		}
	})
}

// FuzzMatch checks that Match never panics, agrees with Explain, protects
// at least as much without method and host, and protects every path that
// decodes and cleans to a protected path. It also checks that case folding
// only ever adds protection: compared with the same rules matched
// case-sensitively, a case-insensitive policy protects whatever the
// case-sensitive one protects, and an exception decides a request only if it
// decides it case-sensitively too (exceptions match case-exactly).
func FuzzMatch(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add("POST", s)
	}
	f.Add("", "/carts/1/share")
	f.Add("get", "/checkout.json")
	f.Add("POST", "/carts/1/SHARE")
	f.Add("GET", "/Orders/7/Receipt")
	f.Add("GET", "/orders/7/%52eceipt")
	f.Add("", `\0\Customer-pAssword\0`) // the oracle must not invent "//0/…"
	cfg := sprykerConfig()
	cfg.Rules = append(cfg.Rules,
		RuleConfig{Path: "/admin/**", Host: "admin.example.com", Methods: []string{"*"}},
		RuleConfig{Path: "/straße/{id}/*/x"},
		RuleConfig{Path: "/Orders/{id}/Receipt", Methods: []string{"*"}, MFA: "none"},
		RuleConfig{Path: "/orders/**", Methods: []string{"*"}},
	)
	p := mustCompile(f, cfg)
	cfg.CaseInsensitive = ptr(false)
	cs := mustCompile(f, cfg)
	f.Fuzz(func(t *testing.T, method, raw string) {
		got := p.Match(method, "", raw)
		if ex := p.Explain(method, "", raw); ex.Rule != got {
			t.Fatalf("Match(%q, %q) = %v, Explain = %v", method, raw, got, ex.Rule)
		}
		exact := cs.Match(method, "", raw)
		if protected(exact) && !protected(got) {
			t.Errorf("Match(%q, %q) = %v, but matched case-sensitively it is protected by %v; readings %q",
				method, raw, got, exact, Readings(raw))
		}
		if got != nil && !got.MFARequired && index(exact) != got.Index {
			t.Errorf("Match(%q, %q) = exception %v, but matched case-sensitively: %v; readings %q",
				method, raw, got, exact, Readings(raw))
		}
		if protected(got) {
			// An unknown method or host stands for every one: it protects
			// at least as much.
			if r := p.Match("", "", raw); !protected(r) {
				t.Errorf("Match(%q, %q) = %v, but with no method or host: %v", method, raw, got, r)
			}
			return
		}
		// The oracle: decode the path once, as most servers do, and clean it
		// as Go's path package does, with "\" as a separator too.
		target, _, _ := strings.Cut(raw, "?")
		target, _, _ = strings.Cut(target, "#")
		decoded, err := url.PathUnescape(target)
		if err != nil || strings.ContainsAny(decoded, "?#%") {
			return
		}
		for i, d := range []string{decoded, strings.ReplaceAll(decoded, `\`, "/")} {
			if i == 0 && strings.HasPrefix(d, `\`) {
				// With "\" kept as a character, "/" + d starts with "/\",
				// which Match reads, splitting on "\", as "//host": an
				// authority the target does not name under either reading
				// (splitting on "\", its leading "\" is the root; see the
				// second form).
				continue
			}
			clean := path.Clean("/" + d)
			if Readings(clean) == nil {
				continue // over the limits itself
			}
			if want := p.Match(method, "", clean); protected(want) {
				t.Errorf("Match(%q, %q) = %v, but its clean form %q is protected by %v; readings %q",
					method, raw, got, clean, want, Readings(raw))
			}
		}
	})
}
