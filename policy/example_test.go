package policy_test

import (
	"fmt"
	"time"

	"github.com/mfa-authz/mfa-authz/policy"
)

func Example() {
	grace := 5 * time.Minute
	p, err := policy.Compile(policy.Config{Rules: []policy.RuleConfig{
		{Name: "share", Path: "/carts/{id}/share", Methods: []string{"POST"}, MFA: "none"},
		{Path: "/customer-password/{id}", Methods: []string{"POST", "PATCH", "DELETE"}},
		{Path: "/carts/**", GracePeriod: &grace},
	}})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, target := range []string{
		"/customer-password/DE--42",
		"/foo/..%2F%2e%2E/Customer-Password;x=1/DE--42",
		"/carts/7/share",
		"/carts/7/items",
		"/catalog-search?q=shoes",
	} {
		fmt.Printf("%-48s %v\n", target, p.Match("POST", "shop.example.com", target))
	}
	// Output:
	// /customer-password/DE--42                        rule 1 "/customer-password/{id}" [POST PATCH DELETE] mfa=required
	// /foo/..%2F%2e%2E/Customer-Password;x=1/DE--42    rule 1 "/customer-password/{id}" [POST PATCH DELETE] mfa=required
	// /carts/7/share                                   rule 0 (share) "/carts/{id}/share" [POST] mfa=none
	// /carts/7/items                                   rule 2 "/carts/**" [POST PUT PATCH DELETE] mfa=required grace=5m0s
	// /catalog-search?q=shoes                          no rule
}

func ExampleCompile_error() {
	_, err := policy.Compile(policy.Config{Rules: []policy.RuleConfig{
		{Path: "/checkout"},
		{Path: "/x/{", MFA: "sometimes"},
	}})
	fmt.Println(err)
	// Output:
	// policy.rules[1] (path "/x/{"): unterminated parameter "{"
	// policy.rules[1] (path "/x/{"): mfa: invalid value "sometimes" (want "required" or "none")
}

func ExampleReadings() {
	for _, r := range policy.Readings(`/api/..;/customer-password%2FDE--42.`) {
		fmt.Println(r)
	}
	// Output:
	// /api/..;/customer-password%2FDE--42.
	// /api/..;/customer-password/DE--42.
	// /customer-password%2FDE--42
	// /customer-password/DE--42
}
