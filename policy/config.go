package policy

import "time"

// Config is the policy section of the configuration file.
//
// The zero Config is valid: it protects nothing.
type Config struct {
	// Anonymous says what happens to a request without an authenticated
	// subject on a route that requires MFA: "deny" (the default, also when
	// empty) or "allow".
	Anonymous string `yaml:"anonymous"`

	// CaseInsensitive makes paths match rules that require MFA regardless
	// of case. Nil means true: most upstream routers are case-sensitive, but
	// some are not, and over-protecting a path that differs only in case is
	// harmless. It never applies to "mfa: none" exceptions, which match
	// their paths case-exactly: exempting a case variant is not harmless.
	CaseInsensitive *bool `yaml:"case_insensitive"`

	// FrontControllers are script names, such as "index.php", that route
	// the path after them: "/index.php/carts/1" reaches "/carts/1". Every
	// reading of a path naming one (in any case, encoded, with ;params or
	// trailing dots) is also matched without it, and from the segment
	// after it. Nil means DefaultFrontControllers; an empty list, none.
	FrontControllers []string `yaml:"front_controllers"`

	// Rules are tried in order; the first one that admits a request decides it.
	Rules []RuleConfig `yaml:"rules"`
}

// RuleConfig is one rule as written in the configuration file.
type RuleConfig struct {
	// Name is an optional label used in messages.
	Name string `yaml:"name"`

	// Path is the pattern the request path must match (required). See the
	// package documentation for the syntax.
	Path string `yaml:"path"`

	// Host optionally restricts the rule to one host, such as
	// "shop.example.com", "shop.example.com:8443" or "*.example.com".
	// Empty means any host.
	Host string `yaml:"host"`

	// Methods lists the HTTP methods the rule applies to; "*" means every
	// method. Empty means POST, PUT, PATCH and DELETE.
	Methods []string `yaml:"methods"`

	// MFA is "required" (the default, also when empty) or "none". A "none"
	// rule is an exception: placed before a broader rule, it exempts the
	// requests it matches. An exception's path matches case-exactly, whatever
	// CaseInsensitive says, so it never exempts a case variant of what it
	// names.
	MFA string `yaml:"mfa"`

	// GracePeriod optionally overrides the global grace period for this rule:
	// how long a verified code keeps satisfying it. Zero demands a fresh code
	// on every request.
	GracePeriod *time.Duration `yaml:"grace_period"`

	// Factors optionally restricts the rule to the named factors ("totp",
	// "email", "sms", "recovery"): only a code of one of them, or a session
	// verified with one of them, satisfies it. Empty means any factor.
	Factors []string `yaml:"factors"`

	// AcceptIdPStepUp optionally lets a token whose authentication at the
	// identity provider meets the rule pass without a local code.
	AcceptIdPStepUp *IdPStepUpConfig `yaml:"accept_idp_stepup"`
}

// IdPStepUpConfig is what a token's claims must show for a step-up done at
// the identity provider to satisfy a rule: an acr claim among ACRValues
// (when set), an amr claim naming one of AMR (when set), and an auth_time
// within the rule's grace period. At least one of the lists is required.
type IdPStepUpConfig struct {
	// ACRValues are the acceptable values of the token's acr claim.
	ACRValues []string `yaml:"acr_values"`
	// AMR are the authentication methods, any one of which the token's amr
	// claim must name.
	AMR []string `yaml:"amr"`
}
