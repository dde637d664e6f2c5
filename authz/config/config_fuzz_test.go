package config

import (
	"os"
	"strings"
	"testing"

	"github.com/mfa-authz/mfa-authz/policy"
)

// FuzzParse checks that Parse never panics and returns either a config
// that validates (and whose policy compiles) or an error naming the
// config, never both and never neither.
func FuzzParse(f *testing.F) {
	if example, err := os.ReadFile("../../mfa-authz.example.yaml"); err == nil {
		f.Add(example)
	}
	for _, s := range []string{
		"",
		"---\n",
		"~\n",
		"[]\n",
		"mfa:\n  header: X-MFA-Code\n  grace_period: 30m\n",
		"mfa:\n  grace_period: -1s\n",
		"mfa:\n  headr: x\n",
		"mfa: &a\n  header: X-A\nidentity:\n  header: x-user-id\n",
		"policy:\n  rules:\n    - path: /carts/**\n      methods: [POST, '*']\n      grace_period: 0s\n",
		"policy:\n  rules:\n    - &r {path: /a/{id}, mfa: none}\n    - *r\n",
		"policy:\n  anonymous: allow\n  case_insensitive: false\n  rules: [{path: '/x/**', host: '*.example.com:8443'}]\n",
		"policy:\n  rules:\n    - path: /a/{id}/{id}\n",
		"regulation: {max_failures: 0, window: 1s, ban: 1s}\n",
		"totp: {digits: 8, period: 1s, skew: 10, algorithm: SHA512}\n",
		"server: {grpc_address: ':9191', http_address: '[::1]:0', forward_auth_path: /forward-auth, envoy_http_prefix: /ext-authz}\n",
		"cache: {max_sessions: 1}\nstorage: {path: x, key_file: y}\n",
		"identity: {header: X-MFA-Code}\n",
		"log: {level: debug, format: console}\n",
		"a: !!binary aGk=\n",
		"mfa: !!str 1\n",
		"mfa:\n  grace_period: 9223372036854775807ns\n",
		"? [a]\n: b\n",
		"mfa:\n  header: X\n---\nmfa:\n  header: Y\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 64<<10 {
			return // config files are small; bound the work per input
		}
		c, err := Parse(data)
		if err != nil {
			if c != nil {
				t.Fatalf("Parse returned a config and the error %v", err)
			}
			if !strings.HasPrefix(err.Error(), "config: ") {
				t.Fatalf("error %q does not start with \"config: \"", err)
			}
			return
		}
		if c == nil {
			t.Fatal("Parse returned neither a config nor an error")
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("Parse accepted a config that does not validate: %v", err)
		}
		if c.MFA.GracePeriod == nil || *c.MFA.GracePeriod < 0 {
			t.Fatalf("accepted grace period %v", c.MFA.GracePeriod)
		}
		if _, err := policy.Compile(c.Policy); err != nil {
			t.Fatalf("accepted a policy that does not compile: %v", err)
		}
	})
}
