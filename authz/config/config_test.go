package config

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/mfa-authz/mfa-authz/policy"
)

func TestDefaults(t *testing.T) {
	c, err := Parse(nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Server.GRPCAddress != "127.0.0.1:9191" || c.MFA.Header != "X-MFA-Code" || c.MFA.Profile != "glue" ||
		*c.MFA.GracePeriod != 30*time.Minute || c.Identity.JWTMetadata.Claim != "sub" ||
		c.Identity.JWTMetadata.Namespace != "envoy.filters.http.jwt_authn" || c.Identity.JWTMetadata.PayloadKey != "jwt_payload" ||
		c.TOTP.Digits != 6 || c.TOTP.Period != 30*time.Second || c.TOTP.Skew != 1 || c.TOTP.Algorithm != "SHA1" ||
		c.Regulation.MaxFailures != 5 || c.Regulation.Window != 5*time.Minute || c.Regulation.Ban != 15*time.Minute ||
		c.Cache.MaxSessions != 100000 || c.Log.Level != "info" || c.Log.Format != "json" || c.MFA.StepUpChallenge {
		t.Fatalf("defaults: %+v", c)
	}
}

func TestExampleConfigParses(t *testing.T) {
	c, err := Load("../../mfa-authz.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if c.Identity.Header != "x-user-id" {
		t.Fatalf("example: identity header %q", c.Identity.Header)
	}
	// The example protects what Spryker protects: every method but GET and
	// OPTIONS on its six resources and below them, nothing else.
	pol, err := policy.Compile(c.Policy)
	if err != nil {
		t.Fatal(err)
	}
	for _, res := range []string{"customer-password", "customers", "addresses", "carts", "checkout", "order-payments"} {
		for _, path := range []string{"/" + res, "/" + res + "/DE--42", "/" + res + "/1/items/2"} {
			for _, m := range []string{"GET", "OPTIONS", "POST", "PUT", "PATCH", "DELETE", "HEAD", "PURGE"} {
				r := pol.Match(m, "shop.example.com", path)
				got := r != nil && r.MFARequired
				if want := m != "GET" && m != "OPTIONS"; got != want {
					t.Errorf("%s %s: MFA required %t, want %t", m, path, got, want)
				}
			}
		}
	}
	for _, path := range []string{"/catalog-search", "/wishlists/1", "/access-tokens"} {
		if r := pol.Match("POST", "shop.example.com", path); r != nil && r.MFARequired {
			t.Errorf("POST %s: protected by rule %d", path, r.Index)
		}
	}
}

func TestOverrides(t *testing.T) {
	c, err := Parse([]byte(`
mfa:
  header: X-INVERS-MFA-Code
  profile: problem
  grace_period: 0s
totp:
  skew: 2
policy:
  anonymous: allow
  rules:
    - path: /checkout
      grace_period: 5m
`))
	if err != nil {
		t.Fatal(err)
	}
	if c.MFA.Header != "X-INVERS-MFA-Code" || *c.MFA.GracePeriod != 0 || c.TOTP.Skew != 2 ||
		c.TOTP.Digits != 6 || *c.Policy.Rules[0].GracePeriod != 5*time.Minute {
		t.Fatalf("%+v", c)
	}
}

func TestErrorsNameTheKey(t *testing.T) {
	for _, c := range []struct{ yaml, want string }{
		{"mfa:\n  headr: X\n", "config: mfa.headr (line 2): unknown key"},
		{"bogus: 1\n", "config: bogus (line 1): unknown key"},
		{"policy:\n  rules:\n    - path: /a\n      mehtods: [GET]\n", "config: policy.rules[0].mehtods (line 4): unknown key"},
		{"mfa:\n  grace_period: 30 minutes\n", `config: mfa.grace_period (line 2): invalid value "30 minutes": want a duration such as 30s or 5m`},
		{"cache:\n  max_sessions: lots\n", `config: cache.max_sessions (line 2): invalid value "lots": want a int`},
		{"mfa: [1]\n", "config: mfa (line 1): want a mapping of keys"},
		{"policy:\n  rules: /a\n", "config: policy.rules (line 2): want a list"},
		{"mfa:\n  profile: spryker\n", `config: mfa.profile: want "glue", "problem" or "rfc9470", got "spryker"`},
		{"mfa:\n  glue_content_type: text/json\n", `config: mfa.glue_content_type: want "application/json" or "application/vnd.api+json", got "text/json"`},
		{"mfa:\n  header: \"X MFA\"\n", `config: mfa.header: not a valid HTTP header name: "X MFA"`},
		{"mfa:\n  grace_period: -1m\n", "config: mfa.grace_period: must not be negative, got -1m0s"},
		{"server:\n  grpc_address: nowhere\n", `config: server.grpc_address: want host:port, got "nowhere"`},
		{"log:\n  level: loud\n", `config: log.level: want debug, info, warn or error, got "loud"`},
		{"regulation:\n  max_failures: 0\n", "config: regulation.max_failures: must be at least 1, got 0"},
		{"regulation:\n  max_consecutive_failures: 0\n", "config: regulation.max_consecutive_failures: must be at least 1, got 0"},
		{"regulation:\n  lockout: 0s\n", "config: regulation.lockout: must be positive, got 0s"},
		{"totp:\n  digits: 7\n", "totp.digits: must be 6 or 8, got 7"},
		{"identity:\n  header: X-MFA-Code\n", `config: identity.header: must differ from mfa.header "X-MFA-Code"`},
		{"cache:\n  max_sessions: 0\n", "config: cache.max_sessions: must be at least 1, got 0"},
		{"policy:\n  rules:\n    - path: /x/{\n", "policy.rules[0]"},
		{"mfa:\n  problem_base_url: ftp://x\n", `config: mfa.problem_base_url: want an http(s) URL, got "ftp://x"`},
		{"a: [\n", "config: yaml:"},
	} {
		_, err := Parse([]byte(c.yaml))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: got %v, want error containing %q", c.yaml, err, c.want)
		}
	}
}

func TestLoadNamesTheFile(t *testing.T) {
	path := t.TempDir() + "/bad.yaml"
	os.WriteFile(path, []byte("mfa:\n  nope: 1\n"), 0o600)
	_, err := Load(path)
	if err == nil || !strings.HasPrefix(err.Error(), path+": config: mfa.nope") {
		t.Fatalf("got %v", err)
	}
	if _, err := Load(t.TempDir() + "/missing.yaml"); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Fatalf("missing file: %v", err)
	}
}

func TestForwardAuthKeys(t *testing.T) {
	c, err := Parse(nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Server.ForwardAuthPath != "/forward-auth" || c.Server.EnvoyHTTPPrefix != "/ext-authz" {
		t.Fatalf("defaults: forward_auth_path %q, envoy_http_prefix %q", c.Server.ForwardAuthPath, c.Server.EnvoyHTTPPrefix)
	}
	c, err = Parse([]byte("server:\n  forward_auth_path: /auth/mfa\n  envoy_http_prefix: /envoy/mfa\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Server.ForwardAuthPath != "/auth/mfa" || c.Server.EnvoyHTTPPrefix != "/envoy/mfa" {
		t.Fatalf("overrides: %+v", c.Server)
	}
	c, err = Parse([]byte("server:\n  forward_auth_path: \"\"\n  envoy_http_prefix: \"\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Server.ForwardAuthPath != "" || c.Server.EnvoyHTTPPrefix != "" {
		t.Fatalf("empty values must disable the endpoints: %+v", c.Server)
	}
	for _, tc := range []struct{ yaml, want string }{
		{"server:\n  forward_auth_path: auth\n", `config: server.forward_auth_path: must start with /, got "auth"`},
		{"server:\n  forward_auth_path: /auth?x=1\n", `config: server.forward_auth_path: must be a plain path without spaces, ?, #, % or \, got "/auth?x=1"`},
		{"server:\n  forward_auth_path: /a%2Fb\n", `config: server.forward_auth_path: must be a plain path`},
		{"server:\n  forward_auth_path: /a/../b\n", `config: server.forward_auth_path: must not hold . or .. segments, got "/a/../b"`},
		{"server:\n  forward_auth_path: /healthz\n", `config: server.forward_auth_path: "/healthz" is a health endpoint`},
		{"server:\n  envoy_http_prefix: /\n", `config: server.envoy_http_prefix: must name a path below /, got "/"`},
		{"server:\n  envoy_http_prefix: /ext-authz/\n", `config: server.envoy_http_prefix: must not end with /, got "/ext-authz/"`},
		{"server:\n  envoy_http_prefix: //x\n", `config: server.envoy_http_prefix: must not hold //, got "//x"`},
		{"server:\n  envoy_http_prefix: /readyz\n", `config: server.envoy_http_prefix: "/readyz" would cover a health endpoint`},
		{"server:\n  forward_auth_path: /ext-authz\n", `config: server.forward_auth_path: "/ext-authz" lies below server.envoy_http_prefix "/ext-authz"`},
		{"server:\n  forward_auth_path: /check/fa\n  envoy_http_prefix: /check\n", `config: server.forward_auth_path: "/check/fa" lies below server.envoy_http_prefix "/check"`},
		{"server:\n  forward_auth_path: [a]\n", "config: server.forward_auth_path (line 2): want a single value"},
	} {
		_, err := Parse([]byte(tc.yaml))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: got %v, want error containing %q", tc.yaml, err, tc.want)
		}
	}
}

// The glue profile's codes work 30 minutes, as Spryker's; the problem and
// rfc9470 profiles keep their 5 minutes; an explicit ttl wins in both. Glue
// documents are application/json unless configured otherwise.
func TestProfileDefaults(t *testing.T) {
	for _, c := range []struct {
		yaml string
		ttl  time.Duration
		ct   string
	}{
		{"", 30 * time.Minute, "application/json"},
		{"mfa:\n  profile: glue\n", 30 * time.Minute, "application/json"},
		{"mfa:\n  profile: problem\n", 5 * time.Minute, "application/json"},
		{"mfa:\n  profile: problem\ncodes:\n  ttl: 10m\n", 10 * time.Minute, "application/json"},
		{"mfa:\n  profile: rfc9470\n", 5 * time.Minute, "application/json"},
		{"mfa:\n  glue_content_type: application/vnd.api+json\ncodes:\n  ttl: 2m\n", 2 * time.Minute, "application/vnd.api+json"},
	} {
		cfg, err := Parse([]byte(c.yaml))
		if err != nil {
			t.Fatalf("%q: %v", c.yaml, err)
		}
		if cfg.Codes.TTL != c.ttl || cfg.Codes.MaxAttempts != 3 || cfg.MFA.GlueContentType != c.ct {
			t.Errorf("%q: ttl %s, attempts %d, content type %q; want %s, 3, %q", c.yaml, cfg.Codes.TTL, cfg.Codes.MaxAttempts,
				cfg.MFA.GlueContentType, c.ttl, c.ct)
		}
	}
}

// mfa.step_up_challenge is a boolean, off by default; it goes with every
// profile, and the engine gets it.
func TestStepUpChallengeKey(t *testing.T) {
	for _, name := range []string{"glue", "problem", "rfc9470"} {
		cfg, err := Parse([]byte("mfa:\n  profile: " + name + "\n  step_up_challenge: true\n"))
		if err != nil || !cfg.MFA.StepUpChallenge || cfg.MFA.Profile != name {
			t.Errorf("%s: %v %+v", name, err, cfg.MFA)
		}
	}
	_, err := Parse([]byte("mfa:\n  step_up_challenge: sometimes\n"))
	if err == nil || !strings.Contains(err.Error(), "mfa.step_up_challenge") {
		t.Errorf("non-boolean accepted or not named: %v", err)
	}
}
