package policy

import (
	"testing"
	"time"
)

func ptr[T any](v T) *T { return &v }

// Indexes of the rules in sprykerConfig.
const (
	ruleCartShare = iota
	rulePassword
	ruleCustomers
	ruleAddresses
	ruleCarts
	ruleCheckout
	rulePayments
)

// sprykerConfig protects what Spryker's Glue API changes, with one exception:
// sharing a cart does not need a step-up, and it is listed before the broad
// /carts/** rule it carves out of.
func sprykerConfig() Config {
	return Config{Rules: []RuleConfig{
		ruleCartShare: {Name: "cart-share", Path: "/carts/{id}/share", Methods: []string{"POST"}, MFA: "none"},
		rulePassword:  {Name: "password", Path: "/customer-password/{id}", Methods: []string{"POST", "PATCH", "DELETE"}, GracePeriod: ptr(time.Duration(0))},
		ruleCustomers: {Path: "/customers/**"},
		ruleAddresses: {Path: "/addresses/**"},
		ruleCarts:     {Path: "/carts/**", GracePeriod: ptr(10 * time.Minute)},
		ruleCheckout:  {Path: "/checkout", Methods: []string{"POST"}, GracePeriod: ptr(5 * time.Minute)},
		rulePayments:  {Path: "/order-payments/**"},
	}}
}

func mustCompile(t testing.TB, cfg Config) *Policy {
	t.Helper()
	p, err := Compile(cfg)
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	return p
}

// index returns the Index of r, or -1 for nil.
func index(r *Rule) int {
	if r == nil {
		return -1
	}
	return r.Index
}

func protected(r *Rule) bool { return r != nil && r.MFARequired }
