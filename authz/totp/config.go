package totp

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/pquerna/otp"
)

// Limits enforced by Config.Validate.
const (
	// MaxPeriod is the longest time step accepted. Longer steps keep a
	// code valid for longer, which widens the window for phishing it.
	MaxPeriod = 5 * time.Minute
	// MaxSkew is the most steps either side of the current one a code may
	// come from. Each step of skew adds two codes an attacker could guess.
	MaxSkew = 10
)

// Config is the `totp` config section. It sets the parameters of new
// enrollments and the verification skew; factors already enrolled keep the
// parameters they were created with.
type Config struct {
	// Issuer names the service in authenticator apps.
	Issuer string `yaml:"issuer"`
	// Digits is the code length: 6 or 8.
	Digits int `yaml:"digits"`
	// Period is the time step: whole seconds, from 1s to MaxPeriod.
	Period time.Duration `yaml:"period"`
	// Skew is how many steps before and after the current one are accepted,
	// to absorb clock drift and typing time.
	Skew uint `yaml:"skew"`
	// Algorithm is the HMAC hash: SHA1, SHA256 or SHA512, in any case.
	// SHA1 is what most authenticator apps support.
	Algorithm string `yaml:"algorithm"`
}

// DefaultConfig returns the configuration every authenticator app supports:
// 6 digits, 30-second steps, SHA1, one step of skew.
func DefaultConfig() Config {
	return Config{
		Issuer:    "mfa-authz",
		Digits:    6,
		Period:    30 * time.Second,
		Skew:      1,
		Algorithm: "SHA1",
	}
}

// Validate reports every invalid setting, each error naming its key.
func (c Config) Validate() error {
	var errs []error
	switch {
	case c.Issuer == "":
		errs = append(errs, errors.New("totp.issuer: must not be empty"))
	case strings.Contains(c.Issuer, ":"):
		// The otpauth label is "issuer:account"; a colon would split it
		// in the wrong place.
		errs = append(errs, fmt.Errorf("totp.issuer: must not contain ':', got %q", c.Issuer))
	}
	if c.Digits != 6 && c.Digits != 8 {
		errs = append(errs, fmt.Errorf("totp.digits: must be 6 or 8, got %d", c.Digits))
	}
	if c.Period < time.Second || c.Period > MaxPeriod || c.Period%time.Second != 0 {
		errs = append(errs, fmt.Errorf("totp.period: must be whole seconds from 1s to %s, got %s", MaxPeriod, c.Period))
	}
	if c.Skew > MaxSkew {
		errs = append(errs, fmt.Errorf("totp.skew: must be at most %d, got %d", MaxSkew, c.Skew))
	}
	if _, _, ok := parseAlgorithm(c.Algorithm); !ok {
		errs = append(errs, fmt.Errorf("totp.algorithm: must be SHA1, SHA256 or SHA512, got %q", c.Algorithm))
	}
	return errors.Join(errs...)
}

// parseAlgorithm maps a case-insensitive algorithm name to pquerna's
// constant, its canonical name and the secret size recommended for it: the
// hash's output size (RFC 4226 section 4; RFC 6238 appendix A uses keys of
// these lengths).
func parseAlgorithm(name string) (alg otp.Algorithm, canonical string, ok bool) {
	switch strings.ToUpper(name) {
	case "SHA1":
		return otp.AlgorithmSHA1, "SHA1", true
	case "SHA256":
		return otp.AlgorithmSHA256, "SHA256", true
	case "SHA512":
		return otp.AlgorithmSHA512, "SHA512", true
	}
	return 0, "", false
}

// secretSize returns the secret length in bytes used for alg: the output
// size of its hash.
func secretSize(alg otp.Algorithm) uint {
	switch alg {
	case otp.AlgorithmSHA256:
		return 32
	case otp.AlgorithmSHA512:
		return 64
	default:
		return 20
	}
}
