package policy

import (
	"fmt"
	"testing"
)

// benchPolicy returns a policy of n rules: n-7 generated ones like
// "/svc12/items/{id}" followed by the Spryker rules.
func benchPolicy(b *testing.B, n int) *Policy {
	b.Helper()
	var cfg Config
	for i := range n - len(sprykerConfig().Rules) {
		cfg.Rules = append(cfg.Rules, RuleConfig{Path: fmt.Sprintf("/svc%d/items/{id}", i)})
	}
	cfg.Rules = append(cfg.Rules, sprykerConfig().Rules...)
	return mustCompile(b, cfg)
}

func BenchmarkMatch(b *testing.B) {
	for _, n := range []int{10, 10000} {
		p := benchPolicy(b, n)
		for _, bc := range []struct{ name, path string }{
			{"protected", "/customer-password/DE--42"},
			{"unprotected", "/catalog-search/suggestions"},
		} {
			b.Run(fmt.Sprintf("rules=%d/%s", n, bc.name), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if r := p.Match("POST", "shop.example.com", bc.path); protected(r) != (bc.name == "protected") {
						b.Fatalf("Match(%q) = %v", bc.path, r)
					}
				}
			})
		}
	}
}

func BenchmarkMatchUgly(b *testing.B) {
	const ugly = "/foo/..;/Customer-Password%2FDE--42%20/?x=1"
	for _, n := range []int{10, 10000} {
		p := benchPolicy(b, n)
		b.Run(fmt.Sprintf("rules=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if r := p.Match("POST", "shop.example.com", ugly); !protected(r) {
					b.Fatalf("Match(%q) = %v", ugly, r)
				}
			}
		})
	}
}

func BenchmarkCompile(b *testing.B) {
	var cfg Config
	for i := range 10000 {
		cfg.Rules = append(cfg.Rules, RuleConfig{Path: fmt.Sprintf("/svc%d/items/{id}", i)})
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Compile(cfg); err != nil {
			b.Fatal(err)
		}
	}
}
