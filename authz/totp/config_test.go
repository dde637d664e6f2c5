package totp

import (
	"testing"
	"time"
)

func TestDefaultConfigIsValid(t *testing.T) {
	c := DefaultConfig()
	if err := c.Validate(); err != nil {
		t.Fatalf("DefaultConfig().Validate() = %v", err)
	}
	want := Config{Issuer: "mfa-authz", Digits: 6, Period: 30 * time.Second, Skew: 1, Algorithm: "SHA1"}
	if c != want {
		t.Errorf("DefaultConfig() = %+v, want %+v", c, want)
	}
}

func TestConfigValidate(t *testing.T) {
	for _, c := range []struct {
		name string
		edit func(*Config)
		want string // "" for valid
	}{
		{"digits 8", func(c *Config) { c.Digits = 8 }, ""},
		{"digits 7", func(c *Config) { c.Digits = 7 }, "totp.digits: must be 6 or 8, got 7"},
		{"digits 0", func(c *Config) { c.Digits = 0 }, "totp.digits: must be 6 or 8, got 0"},
		{"period 1s", func(c *Config) { c.Period = time.Second }, ""},
		{"period 5m", func(c *Config) { c.Period = 5 * time.Minute }, ""},
		{"period 0", func(c *Config) { c.Period = 0 }, "totp.period: must be whole seconds from 1s to 5m0s, got 0s"},
		{"period fraction", func(c *Config) { c.Period = 1500 * time.Millisecond }, "totp.period: must be whole seconds from 1s to 5m0s, got 1.5s"},
		{"period long", func(c *Config) { c.Period = 6 * time.Minute }, "totp.period: must be whole seconds from 1s to 5m0s, got 6m0s"},
		{"period negative", func(c *Config) { c.Period = -30 * time.Second }, "totp.period: must be whole seconds from 1s to 5m0s, got -30s"},
		{"skew 0", func(c *Config) { c.Skew = 0 }, ""},
		{"skew 10", func(c *Config) { c.Skew = 10 }, ""},
		{"skew 11", func(c *Config) { c.Skew = 11 }, "totp.skew: must be at most 10, got 11"},
		{"algorithm lower", func(c *Config) { c.Algorithm = "sha512" }, ""},
		{"algorithm MD5", func(c *Config) { c.Algorithm = "MD5" }, `totp.algorithm: must be SHA1, SHA256 or SHA512, got "MD5"`},
		{"algorithm empty", func(c *Config) { c.Algorithm = "" }, `totp.algorithm: must be SHA1, SHA256 or SHA512, got ""`},
		{"algorithm dash", func(c *Config) { c.Algorithm = "SHA-256" }, `totp.algorithm: must be SHA1, SHA256 or SHA512, got "SHA-256"`},
		{"issuer empty", func(c *Config) { c.Issuer = "" }, "totp.issuer: must not be empty"},
		{"issuer colon", func(c *Config) { c.Issuer = "a:b" }, `totp.issuer: must not contain ':', got "a:b"`},
		{"several", func(c *Config) { c.Digits = 7; c.Skew = 11 }, "totp.digits: must be 6 or 8, got 7\ntotp.skew: must be at most 10, got 11"},
	} {
		cfg := DefaultConfig()
		c.edit(&cfg)
		err := cfg.Validate()
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: Validate() = %v, want nil", c.name, err)
		case c.want != "" && err == nil:
			t.Errorf("%s: Validate() = nil, want %q", c.name, c.want)
		case c.want != "" && err.Error() != c.want:
			t.Errorf("%s: Validate() = %q, want %q", c.name, err, c.want)
		}
	}
}
