package config

import (
	"time"

	"github.com/mfa-authz/mfa-authz/authz/profile"
)

// API is the `api` section: the self-service MFA endpoints mfa-authz
// answers itself, in Spryker Glue's shape. Paths are exact; a request for
// one of them with the endpoint's method never reaches the upstream.
type API struct {
	// Enabled turns the endpoints on (on ext_authz and the HTTP listener).
	Enabled bool `yaml:"enabled"`
	// The endpoints' paths.
	TypesPath         string `yaml:"types_path"`
	ActivatePath      string `yaml:"activate_path"`
	VerifyPath        string `yaml:"verify_path"`
	DeactivatePath    string `yaml:"deactivate_path"`
	TriggerPath       string `yaml:"trigger_path"`
	RecoveryCodesPath string `yaml:"recovery_codes_path"`
	// The WebAuthn endpoints' paths, served when the webauthn section is
	// configured: registration options and registration, a login
	// challenge, and an assertion in a body.
	WebAuthnRegistrationOptionsPath string `yaml:"webauthn_registration_options_path"`
	WebAuthnRegistrationPath        string `yaml:"webauthn_registration_path"`
	WebAuthnChallengePath           string `yaml:"webauthn_challenge_path"`
	WebAuthnVerifyPath              string `yaml:"webauthn_verify_path"`
	// MaxBodyBytes bounds a request body.
	MaxBodyBytes int `yaml:"max_body_bytes"`
	// Subject is "customer" (Spryker's storefront: 5905 when no identity)
	// or "user" (back office: 5909).
	Subject string `yaml:"subject"`
	// StepUpWindow is how long proving a factor lets the same credential
	// add, remove or replace factors and regenerate recovery codes
	// without a code in the request.
	StepUpWindow time.Duration `yaml:"step_up_window"`
}

// Codes is the `codes` section: one-time codes sent by e-mail or SMS.
type Codes struct {
	Length int `yaml:"length"`
	// TTL is how long a code works; 0 (unset) is the profile's default
	// (CodeTTLFor), filled in by Validate.
	TTL         time.Duration `yaml:"ttl"`
	MaxAttempts int           `yaml:"max_attempts"`
}

// Limits is the `limits` section: how many codes may be sent.
type Limits struct {
	// UserMaxSends codes per method per user within UserWindow.
	UserMaxSends int           `yaml:"user_max_sends"`
	UserWindow   time.Duration `yaml:"user_window"`
	// TenantMaxSends codes per method for all users within TenantWindow.
	TenantMaxSends int           `yaml:"tenant_max_sends"`
	TenantWindow   time.Duration `yaml:"tenant_window"`
	// ResendCooldown is the least time between two codes to one user and method.
	ResendCooldown time.Duration `yaml:"resend_cooldown"`
}

// Self-service defaults.
const (
	DefaultTypesPath         = "/multi-factor-auth-types"
	DefaultActivatePath      = "/multi-factor-auth-type-activate"
	DefaultVerifyPath        = "/multi-factor-auth-type-verify"
	DefaultDeactivatePath    = "/multi-factor-auth-type-deactivate"
	DefaultTriggerPath       = "/multi-factor-auth-trigger"
	DefaultRecoveryCodesPath = "/multi-factor-auth-recovery-codes"
	DefaultMaxBodyBytes      = 16 << 10
	DefaultCodeLength        = 6
	// DefaultCodeTTL is the problem profile's code validity;
	// DefaultGlueCodeTTL the glue profile's, Spryker's 30 minutes.
	DefaultCodeTTL         = 5 * time.Minute
	DefaultGlueCodeTTL     = 30 * time.Minute
	DefaultCodeMaxAttempts = 3
	DefaultUserMaxSends    = 10
	DefaultUserWindow      = time.Hour
	DefaultTenantMaxSends  = 1000
	DefaultTenantWindow    = time.Hour
	DefaultResendCooldown  = 30 * time.Second
	DefaultStepUpWindow    = 5 * time.Minute
)

// The WebAuthn endpoints' defaults, beside the others under the prefix
// that a Glue route already sends to mfa-authz.
const (
	DefaultWebAuthnRegistrationOptionsPath = "/multi-factor-auth-webauthn-registration-options"
	DefaultWebAuthnRegistrationPath        = "/multi-factor-auth-webauthn-registration"
	DefaultWebAuthnChallengePath           = "/multi-factor-auth-webauthn-challenge"
	DefaultWebAuthnVerifyPath              = "/multi-factor-auth-webauthn-verify"
)

func defaultAPI() API {
	return API{Enabled: true, TypesPath: DefaultTypesPath, ActivatePath: DefaultActivatePath,
		VerifyPath: DefaultVerifyPath, DeactivatePath: DefaultDeactivatePath, TriggerPath: DefaultTriggerPath,
		RecoveryCodesPath: DefaultRecoveryCodesPath, MaxBodyBytes: DefaultMaxBodyBytes, Subject: "customer",
		StepUpWindow:                    DefaultStepUpWindow,
		WebAuthnRegistrationOptionsPath: DefaultWebAuthnRegistrationOptionsPath,
		WebAuthnRegistrationPath:        DefaultWebAuthnRegistrationPath,
		WebAuthnChallengePath:           DefaultWebAuthnChallengePath,
		WebAuthnVerifyPath:              DefaultWebAuthnVerifyPath}
}

func defaultCodes() Codes {
	return Codes{Length: DefaultCodeLength, MaxAttempts: DefaultCodeMaxAttempts}
}

// CodeTTLFor returns the default code validity of the named profile: the
// glue profile follows Spryker (30 minutes), the problem and rfc9470
// profiles keep mfa-authz's shorter one. All allow DefaultCodeMaxAttempts
// tries, as Spryker does.
func CodeTTLFor(profileName string) time.Duration {
	if profileName == profile.Problem || profileName == profile.RFC9470 {
		return DefaultCodeTTL
	}
	return DefaultGlueCodeTTL
}

func defaultLimits() Limits {
	return Limits{UserMaxSends: DefaultUserMaxSends, UserWindow: DefaultUserWindow,
		TenantMaxSends: DefaultTenantMaxSends, TenantWindow: DefaultTenantWindow, ResendCooldown: DefaultResendCooldown}
}

// pathKey is a configured path and the key that sets it.
type pathKey struct{ key, v string }

// paths lists the self-service endpoints' paths with their keys.
func (a *API) paths() []pathKey {
	return []pathKey{
		{"api.types_path", a.TypesPath}, {"api.activate_path", a.ActivatePath}, {"api.verify_path", a.VerifyPath},
		{"api.deactivate_path", a.DeactivatePath}, {"api.trigger_path", a.TriggerPath},
		{"api.recovery_codes_path", a.RecoveryCodesPath},
		{"api.webauthn_registration_options_path", a.WebAuthnRegistrationOptionsPath},
		{"api.webauthn_registration_path", a.WebAuthnRegistrationPath},
		{"api.webauthn_challenge_path", a.WebAuthnChallengePath},
		{"api.webauthn_verify_path", a.WebAuthnVerifyPath},
	}
}

// validateSelfService checks the api, codes, limits and delivery sections.
func (c *Config) validateSelfService(add func(key, format string, args ...any)) []error {
	a := &c.API
	seen := map[string]string{}
	for _, p := range a.paths() {
		if err := checkHTTPPath(p.v); err != nil {
			add(p.key, "%v, got %q", err, p.v)
			continue
		}
		if reservedHTTPPath(p.v) {
			add(p.key, "%q is a health endpoint", p.v)
		}
		if other, dup := seen[p.v]; dup {
			add(p.key, "%q is also %s", p.v, other)
		}
		seen[p.v] = p.key
	}
	if a.MaxBodyBytes < 256 || a.MaxBodyBytes > 1<<20 {
		add("api.max_body_bytes", "want 256 to 1048576, got %d", a.MaxBodyBytes)
	}
	if a.Subject != "customer" && a.Subject != "user" {
		add("api.subject", "want customer or user, got %q", a.Subject)
	}
	if a.StepUpWindow < 30*time.Second || a.StepUpWindow > time.Hour {
		add("api.step_up_window", "want 30s to 1h, got %s", a.StepUpWindow)
	}
	if c.Codes.Length < 4 || c.Codes.Length > 10 {
		add("codes.length", "want 4 to 10, got %d", c.Codes.Length)
	}
	if c.Codes.TTL == 0 {
		c.Codes.TTL = CodeTTLFor(c.MFA.Profile)
	}
	if c.Codes.TTL < 30*time.Second || c.Codes.TTL > time.Hour {
		add("codes.ttl", "want 30s to 1h, got %s", c.Codes.TTL)
	}
	if c.Codes.MaxAttempts < 1 || c.Codes.MaxAttempts > 10 {
		add("codes.max_attempts", "want 1 to 10, got %d", c.Codes.MaxAttempts)
	}
	l := &c.Limits
	if l.UserMaxSends < 1 {
		add("limits.user_max_sends", "must be at least 1, got %d", l.UserMaxSends)
	}
	if l.UserWindow <= 0 {
		add("limits.user_window", "must be positive, got %s", l.UserWindow)
	}
	if l.TenantMaxSends < 1 {
		add("limits.tenant_max_sends", "must be at least 1, got %d", l.TenantMaxSends)
	}
	if l.TenantWindow <= 0 {
		add("limits.tenant_window", "must be positive, got %s", l.TenantWindow)
	}
	if l.ResendCooldown < 0 || l.ResendCooldown >= c.Codes.TTL+time.Hour {
		add("limits.resend_cooldown", "want 0s to an hour, got %s", l.ResendCooldown)
	}
	var errs []error
	if err := c.Delivery.Validate(); err != nil {
		errs = append(errs, err)
	}
	return errs
}
