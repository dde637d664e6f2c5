// Package config reads mfa-authz's YAML config file: one file, strict keys,
// defaults applied and every value validated before the service starts.
// Errors name the offending key, as it is written in the file.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/mfa-authz/mfa-authz/authz"
	"github.com/mfa-authz/mfa-authz/authz/delivery"
	"github.com/mfa-authz/mfa-authz/authz/factor/builtin"
	"github.com/mfa-authz/mfa-authz/authz/factor/webauthn"
	"github.com/mfa-authz/mfa-authz/authz/internal/tracing"
	"github.com/mfa-authz/mfa-authz/authz/profile"
	"github.com/mfa-authz/mfa-authz/authz/regulation"
	"github.com/mfa-authz/mfa-authz/authz/store/redisstore"
	"github.com/mfa-authz/mfa-authz/authz/totp"
	"github.com/mfa-authz/mfa-authz/policy"
)

// Config is the whole config file.
type Config struct {
	Server     Server            `yaml:"server"`
	Log        Log               `yaml:"log"`
	MFA        MFA               `yaml:"mfa"`
	Identity   Identity          `yaml:"identity"`
	TOTP       totp.Config       `yaml:"totp"`
	Regulation regulation.Config `yaml:"regulation"`
	Storage    Storage           `yaml:"storage"`
	Cache      Cache             `yaml:"cache"`
	Policy     policy.Config     `yaml:"policy"`
	API        API               `yaml:"api"`
	Codes      Codes             `yaml:"codes"`
	Delivery   delivery.Config   `yaml:"delivery"`
	Limits     Limits            `yaml:"limits"`
	Tracing    tracing.Config    `yaml:"tracing"`
	WebAuthn   webauthn.Config   `yaml:"webauthn"`
	Page       Page              `yaml:"page"`
}

// Server is the `server` section: where mfa-authz listens.
type Server struct {
	// GRPCAddress serves envoy.service.auth.v3.Authorization, health and reflection.
	GRPCAddress string `yaml:"grpc_address"`
	// HTTPAddress serves plain-HTTP endpoints; empty disables them.
	HTTPAddress string `yaml:"http_address"`
	// ForwardAuthPath is the HTTP forward-auth endpoint on HTTPAddress
	// (Caddy forward_auth, Traefik ForwardAuth, nginx auth_request); empty
	// disables it.
	ForwardAuthPath string `yaml:"forward_auth_path"`
	// EnvoyHTTPPrefix is the path prefix on HTTPAddress for Envoy's
	// ext_authz filter in HTTP mode (its http_service.path_prefix); empty
	// disables it.
	EnvoyHTTPPrefix string `yaml:"envoy_http_prefix"`
	// ShutdownTimeout bounds how long in-flight checks may finish on SIGTERM.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
	// DrainDelay is how long readiness fails on SIGTERM before the
	// listeners stop accepting, so balancers stop sending first (ops.go).
	DrainDelay time.Duration `yaml:"drain_delay"`
	// TLS is the listeners' certificates (ops.go).
	TLS TLS `yaml:"tls"`
}

// Log is the `log` section.
type Log struct {
	Level  string `yaml:"level"`  // debug, info, warn, error
	Format string `yaml:"format"` // json or console
	// Decisions logs one line per decision: off, sampled or all (ops.go).
	Decisions string `yaml:"decisions"`
	// DecisionSampleRate is the share of decisions logged when sampled.
	DecisionSampleRate float64 `yaml:"decision_sample_rate"`
}

// MFA is the `mfa` section: the header, the answers, the grace period.
type MFA struct {
	Header          string         `yaml:"header"`
	Profile         string         `yaml:"profile"`
	ProblemBaseURL  string         `yaml:"problem_base_url"`
	GracePeriod     *time.Duration `yaml:"grace_period"`
	AllowUnenrolled bool           `yaml:"allow_unenrolled"`
	// GlueContentType is the media type of Glue documents:
	// application/json (Spryker's storefront examples, the default) or
	// application/vnd.api+json (its Backend API examples).
	GlueContentType string `yaml:"glue_content_type"`
	// StepUpChallenge adds an RFC 9470 step-up challenge (a WWW-Authenticate
	// header naming the route's acr values and grace period as max_age) to
	// the glue and problem profiles' denials that an authentication cures;
	// their statuses and bodies stay as they are. The rfc9470 profile always
	// sends it.
	StepUpChallenge bool `yaml:"step_up_challenge"`
}

// Identity is the `identity` section: how a request names its user.
type Identity struct {
	Header            string      `yaml:"header"`
	JWTMetadata       JWTMetadata `yaml:"jwt_metadata"`
	BearerFingerprint bool        `yaml:"bearer_fingerprint"`
	// ClockSkew is how far the identity provider's clock may be off when a
	// token's auth_time is judged for a rule's accept_idp_stepup.
	ClockSkew *time.Duration `yaml:"clock_skew"`
}

// JWTMetadata locates a claim of Envoy's jwt_authn payload in the
// CheckRequest's metadata_context.
type JWTMetadata struct {
	Namespace  string `yaml:"namespace"`
	PayloadKey string `yaml:"payload_key"`
	Claim      string `yaml:"claim"`
}

// Storage is the `storage` section: the embedded enrollment store, or
// Redis when storage.redis is set (the key file encrypts records in both).
type Storage struct {
	Path    string `yaml:"path"`
	KeyFile string `yaml:"key_file"`
	// AllowReadableKeyFile lets the server start with a key file its group
	// or other users may access (mode bits 0077), which it otherwise
	// refuses; the file's mode is then logged as a warning.
	AllowReadableKeyFile bool              `yaml:"allow_readable_key_file"`
	Redis                redisstore.Config `yaml:"redis"`
}

// Cache is the `cache` section: verified sessions kept in memory.
type Cache struct {
	MaxSessions int `yaml:"max_sessions"`
}

// Defaults.
const (
	DefaultGRPCAddress     = "127.0.0.1:9191"
	DefaultHeader          = "X-MFA-Code"
	DefaultGracePeriod     = 30 * time.Minute
	DefaultShutdownTimeout = 10 * time.Second
	DefaultForwardAuthPath = "/forward-auth"
	DefaultEnvoyHTTPPrefix = "/ext-authz"
	DefaultJWTNamespace    = "envoy.filters.http.jwt_authn"
	DefaultJWTPayloadKey   = "jwt_payload"
	DefaultJWTClaim        = "sub"
	DefaultStoragePath     = "data/store"
	DefaultKeyFile         = "data/secrets/store.key"
	DefaultMaxSessions     = 100_000
)

// Default returns the configuration used for keys the file leaves out.
func Default() *Config {
	grace, skew := DefaultGracePeriod, authz.DefaultClockSkew
	return &Config{
		Server: Server{GRPCAddress: DefaultGRPCAddress, ShutdownTimeout: DefaultShutdownTimeout,
			ForwardAuthPath: DefaultForwardAuthPath, EnvoyHTTPPrefix: DefaultEnvoyHTTPPrefix},
		Log: Log{Level: "info", Format: "json", Decisions: DecisionsOff, DecisionSampleRate: DefaultDecisionSampleRate},
		MFA: MFA{Header: DefaultHeader, Profile: profile.Glue, GracePeriod: &grace, GlueContentType: profile.JSONContentType},
		Identity: Identity{JWTMetadata: JWTMetadata{
			Namespace: DefaultJWTNamespace, PayloadKey: DefaultJWTPayloadKey, Claim: DefaultJWTClaim}, ClockSkew: &skew},
		TOTP:       totp.DefaultConfig(),
		Regulation: regulation.DefaultConfig(),
		Storage:    Storage{Path: DefaultStoragePath, KeyFile: DefaultKeyFile, Redis: redisstore.DefaultConfig()},
		Cache:      Cache{MaxSessions: DefaultMaxSessions},
		API:        defaultAPI(),
		Codes:      defaultCodes(),
		Delivery:   delivery.DefaultConfig(),
		Limits:     defaultLimits(),
		Tracing:    tracing.Default(),
		WebAuthn:   webauthn.DefaultConfig(),
		Page:       defaultPage(),
	}
}

// Load reads and validates the config file at path.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	c, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// Parse decodes a config document over the defaults and validates it.
// Unknown keys, values of the wrong type and a second YAML document are
// errors naming the key or line. Settings that are valid but risky are not
// errors: see Warnings.
func Parse(data []byte) (*Config, error) {
	c := Default()
	var root yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&root); err != nil {
		if errors.Is(err, io.EOF) { // an empty file: all defaults
			return c, c.Validate()
		}
		return nil, fmt.Errorf("config: %w", err)
	}
	// A second document would be silently ignored: whatever it says (a
	// stricter policy, say) would never apply.
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case errors.Is(err, io.EOF):
	case err != nil:
		return nil, fmt.Errorf("config: %w", err)
	default:
		return nil, fmt.Errorf("config: line %d: a second YAML document (after \"---\"); the file must hold exactly one", extra.Line)
	}
	if err := checkKeys(&root, "", c); err != nil {
		return nil, err
	}
	if err := root.Decode(c); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// Validate checks every value, naming the first bad key.
func (c *Config) Validate() error {
	var errs []error
	add := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("config: %s: "+format, append([]any{key}, args...)...))
	}
	if err := checkAddress(c.Server.GRPCAddress); err != nil || c.Server.GRPCAddress == "" {
		add("server.grpc_address", "want host:port, got %q", c.Server.GRPCAddress)
	}
	if c.Server.HTTPAddress != "" && checkAddress(c.Server.HTTPAddress) != nil {
		add("server.http_address", "want host:port, got %q", c.Server.HTTPAddress)
	}
	if c.Server.ShutdownTimeout <= 0 {
		add("server.shutdown_timeout", "must be positive, got %s", c.Server.ShutdownTimeout)
	}
	fa, prefix := c.Server.ForwardAuthPath, c.Server.EnvoyHTTPPrefix
	if fa != "" {
		if err := checkHTTPPath(fa); err != nil {
			add("server.forward_auth_path", "%v, got %q", err, fa)
		} else if reservedHTTPPath(fa) {
			add("server.forward_auth_path", "%q is a health endpoint", fa)
		}
	}
	if prefix != "" {
		switch err := checkHTTPPath(prefix); {
		case err != nil:
			add("server.envoy_http_prefix", "%v, got %q", err, prefix)
		case prefix == "/":
			// Every path would be an Envoy check, the health endpoints too.
			add("server.envoy_http_prefix", "must name a path below /, got %q", prefix)
		case strings.HasSuffix(prefix, "/"):
			add("server.envoy_http_prefix", "must not end with /, got %q (Envoy appends the path, which starts with one)", prefix)
		case reservedHTTPPath(prefix) || below(healthzPath, prefix) || below(readyzPath, prefix) || below(MetricsPath, prefix):
			add("server.envoy_http_prefix", "%q would cover a health endpoint", prefix)
		case fa != "" && (fa == prefix || below(fa, prefix)):
			add("server.forward_auth_path", "%q lies below server.envoy_http_prefix %q", fa, prefix)
		}
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		add("log.level", "want debug, info, warn or error, got %q", c.Log.Level)
	}
	switch c.Log.Format {
	case "json", "console":
	default:
		add("log.format", "want json or console, got %q", c.Log.Format)
	}
	if !validHeaderName(c.MFA.Header) {
		add("mfa.header", "not a valid HTTP header name: %q", c.MFA.Header)
	}
	if _, err := profile.New(c.MFA.Profile, DefaultHeader, ""); err != nil {
		add("mfa.profile", "want %q, %q or %q, got %q", profile.Glue, profile.Problem, profile.RFC9470, c.MFA.Profile)
	}
	if ct := c.MFA.GlueContentType; ct != profile.JSONContentType && ct != profile.GlueContentType {
		add("mfa.glue_content_type", "want %q or %q, got %q", profile.JSONContentType, profile.GlueContentType, ct)
	}
	if c.MFA.GracePeriod == nil {
		g := DefaultGracePeriod
		c.MFA.GracePeriod = &g
	} else if *c.MFA.GracePeriod < 0 {
		add("mfa.grace_period", "must not be negative, got %s", *c.MFA.GracePeriod)
	}
	if u := c.MFA.ProblemBaseURL; u != "" && !strings.HasPrefix(u, "https://") && !strings.HasPrefix(u, "http://") {
		add("mfa.problem_base_url", "want an http(s) URL, got %q", u)
	}
	if h := c.Identity.Header; h != "" && !validHeaderName(h) {
		add("identity.header", "not a valid HTTP header name: %q", h)
	}
	if h := c.Identity.Header; h != "" && strings.EqualFold(h, c.MFA.Header) {
		add("identity.header", "must differ from mfa.header %q", c.MFA.Header)
	}
	if c.MFA.AllowUnenrolled && c.Identity.BearerFingerprint {
		// Every new bearer token is a user of its own, with no factor: it
		// would pass every rule, so MFA would never be asked for.
		add("mfa.allow_unenrolled", "must not be true with identity.bearer_fingerprint: true (every new token would be an unenrolled user, which turns MFA off)")
	}
	if c.Identity.ClockSkew == nil {
		skew := authz.DefaultClockSkew
		c.Identity.ClockSkew = &skew
	} else if s := *c.Identity.ClockSkew; s < 0 || s > authz.MaxClockSkew {
		add("identity.clock_skew", "want 0 to %s, got %s", authz.MaxClockSkew, s)
	}
	if c.Identity.JWTMetadata.Namespace == "" || c.Identity.JWTMetadata.PayloadKey == "" || c.Identity.JWTMetadata.Claim == "" {
		add("identity.jwt_metadata", "namespace, payload_key and claim must not be empty")
	}
	if err := c.TOTP.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("config: %w", err))
	}
	if err := c.Regulation.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("config: %w", err))
	}
	if c.Storage.Path == "" {
		add("storage.path", "must not be empty")
	}
	if c.Storage.KeyFile == "" {
		add("storage.key_file", "must not be empty")
	}
	if err := c.Storage.Redis.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("config: %w", err))
	}
	if c.Cache.MaxSessions < 1 {
		add("cache.max_sessions", "must be at least 1, got %d", c.Cache.MaxSessions)
	}
	if pol, err := policy.Compile(c.Policy); err != nil {
		errs = append(errs, fmt.Errorf("config: %w", err))
	} else if err := CheckFactors(pol); err != nil {
		errs = append(errs, fmt.Errorf("config: %w", err))
	}
	c.validateOps(add)
	c.Tracing.Validate(func(key, format string, args ...any) { add("tracing."+key, format, args...) })
	errs = append(errs, c.validateSelfService(add)...)
	c.WebAuthn.Validate(add)
	c.validatePage(add)
	return errors.Join(errs...)
}

// CheckFactors reports the rules of pol that name a factor mfa-authz does
// not ship (package factor/builtin), each naming the rule.
func CheckFactors(pol *policy.Policy) error {
	reg := builtin.Registry()
	return pol.CheckFactors(func(name string) bool { _, ok := reg.Lookup(name); return ok }, reg.Names())
}

// The health endpoints the HTTP listener serves (authz/service); the
// forward-auth paths must not shadow them.
const (
	healthzPath = "/healthz"
	readyzPath  = "/readyz"
)

func reservedHTTPPath(p string) bool { return p == healthzPath || p == readyzPath || p == MetricsPath }

// below reports whether path p lies below the prefix dir.
func below(p, dir string) bool { return strings.HasPrefix(p, dir+"/") }

// checkHTTPPath accepts an absolute URL path of printable ASCII without a
// query, fragment, percent-escape or dot segment: the handler compares it
// byte for byte with the request target, so it must be written as a proxy
// sends it.
func checkHTTPPath(p string) error {
	if !strings.HasPrefix(p, "/") {
		return errors.New("must start with /")
	}
	for i := 0; i < len(p); i++ {
		if c := p[i]; c <= ' ' || c >= 0x7f || c == '?' || c == '#' || c == '%' || c == '\\' {
			return errors.New("must be a plain path without spaces, ?, #, % or \\")
		}
	}
	for _, seg := range strings.Split(p[1:], "/") {
		if seg == "." || seg == ".." {
			return errors.New("must not hold . or .. segments")
		}
	}
	if strings.Contains(p, "//") {
		return errors.New("must not hold //")
	}
	return nil
}

func checkAddress(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err == nil && port == "" {
		err = errors.New("missing port")
	}
	return err
}

// validHeaderName reports whether name is an RFC 9110 token.
func validHeaderName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c >= 0x80 || c <= ' ' || strings.IndexByte("\"(),/:;<=>?@[\\]{}\x7f", c) >= 0 {
			return false
		}
	}
	return true
}
