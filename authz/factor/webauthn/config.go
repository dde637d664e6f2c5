package webauthn

import (
	"net"
	"net/url"
	"strings"
	"time"
)

// Config is the `webauthn` section: the relying party that passkeys and
// security keys are registered with. The factor is off unless rp_id is set.
type Config struct {
	// RPID is the relying party id: the registrable domain the credentials
	// are scoped to ("example.com"), without scheme or port.
	RPID string `yaml:"rp_id"`
	// RPDisplayName is the name authenticators show the user.
	RPDisplayName string `yaml:"rp_display_name"`
	// Origins are the web origins ("https://shop.example.com") whose pages
	// may run the ceremonies; an assertion from any other is refused.
	Origins []string `yaml:"origins"`
	// ChallengeTTL is how long a challenge from the options or challenge
	// endpoint may be answered.
	ChallengeTTL time.Duration `yaml:"challenge_ttl"`
	// UserVerification is asked of the authenticator: required, preferred
	// or discouraged. With required, an assertion without user
	// verification (PIN, biometrics) is refused.
	UserVerification string `yaml:"user_verification"`
}

// Defaults of the section.
const (
	DefaultChallengeTTL     = 5 * time.Minute
	DefaultUserVerification = "preferred"
)

// DefaultConfig returns the section's defaults: off.
func DefaultConfig() Config {
	return Config{ChallengeTTL: DefaultChallengeTTL, UserVerification: DefaultUserVerification}
}

// Enabled reports whether the factor is configured (rp_id is set).
func (c *Config) Enabled() bool { return c.RPID != "" }

// Validate reports each bad key through add, by its name under webauthn.
func (c *Config) Validate(add func(key, format string, args ...any)) {
	if !c.Enabled() {
		if len(c.Origins) > 0 || c.RPDisplayName != "" {
			add("webauthn.rp_id", "must be set when webauthn.origins or webauthn.rp_display_name is")
		}
		return
	}
	if !validRPID(c.RPID) {
		add("webauthn.rp_id", "want a lower-case domain name without scheme, port or path (such as example.com), got %q", c.RPID)
	}
	if strings.TrimSpace(c.RPDisplayName) == "" {
		add("webauthn.rp_display_name", "must not be empty")
	} else if len(c.RPDisplayName) > 64 {
		add("webauthn.rp_display_name", "at most 64 bytes, got %d", len(c.RPDisplayName))
	}
	if len(c.Origins) == 0 {
		add("webauthn.origins", "must list at least one origin, such as https://%s", c.RPID)
	}
	for i, o := range c.Origins {
		if err := checkOrigin(o, c.RPID); err != "" {
			add("webauthn.origins", "[%d] %q: %s", i, o, err)
		}
	}
	if c.ChallengeTTL < 30*time.Second || c.ChallengeTTL > 10*time.Minute {
		add("webauthn.challenge_ttl", "want 30s to 10m, got %s", c.ChallengeTTL)
	}
	switch c.UserVerification {
	case "required", "preferred", "discouraged":
	default:
		add("webauthn.user_verification", "want required, preferred or discouraged, got %q", c.UserVerification)
	}
}

// validRPID reports a lower-case DNS name: dot-separated labels of
// letters, digits and inner hyphens. IP addresses are not relying party ids.
func validRPID(id string) bool {
	if id == "" || len(id) > 253 || net.ParseIP(id) != nil {
		return false
	}
	for _, l := range strings.Split(id, ".") {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

// checkOrigin returns why o is not an origin of rpID, "" when it is: a
// scheme and host (and port) only, https, or http on localhost, whose host
// is rpID or below it.
func checkOrigin(o, rpID string) string {
	u, err := url.Parse(o)
	if err != nil || u.Host == "" || u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || strings.HasSuffix(o, "/") {
		return "want scheme://host[:port] and nothing more"
	}
	host := u.Hostname()
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && host == "localhost":
	default:
		return "want https (http only for localhost)"
	}
	if host != strings.ToLower(host) || u.Scheme != strings.ToLower(u.Scheme) {
		return "want lower case"
	}
	if host != rpID && !strings.HasSuffix(host, "."+rpID) {
		return "host is neither webauthn.rp_id nor below it"
	}
	return ""
}
