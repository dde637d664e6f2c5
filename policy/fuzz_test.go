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
		if n := cleanReadings(raw, &clean); n > 0 {
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
// decodes and cleans to a protected path.
func FuzzMatch(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add("POST", s)
	}
	f.Add("", "/carts/1/share")
	f.Add("get", "/checkout.json")
	cfg := sprykerConfig()
	cfg.Rules = append(cfg.Rules,
		RuleConfig{Path: "/admin/**", Host: "admin.example.com", Methods: []string{"*"}},
		RuleConfig{Path: "/straße/{id}/*/x"},
	)
	p := mustCompile(f, cfg)
	f.Fuzz(func(t *testing.T, method, raw string) {
		got := p.Match(method, "", raw)
		if ex := p.Explain(method, "", raw); ex.Rule != got {
			t.Fatalf("Match(%q, %q) = %v, Explain = %v", method, raw, got, ex.Rule)
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
		for _, d := range []string{decoded, strings.ReplaceAll(decoded, `\`, "/")} {
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
