package envoye2e

import (
	"testing"
	"time"

	"github.com/mfa-authz/mfa-authz/test/envoytest"
)

// resumeWithin bounds how long Envoy may take to use a restarted
// mfa-authz. Observed with Envoy 1.40: Envoy tries a new connection for
// each check while mfa-authz is down, so service resumes with the first
// request once mfa-authz listens. The active health check does not gate
// it here: its first probe runs at startup, and Envoy schedules the next
// one after no_traffic_interval (60 s by default), not interval (5 s),
// because the cluster had no traffic yet; so within this test the host is
// never marked unhealthy. (Once it is, after about 65 s down, Envoy still
// routes to it, the cluster's only host, in panic mode, and service
// resumes just as fast.)
const resumeWithin = 20 * time.Second

// expectDown asserts that, with mfa-authz unreachable, Envoy denies
// protected and unprotected requests alike with status_on_error's bare 403
// (no body: Envoy has no answer of mfa-authz to send) and that the
// upstream receives nothing.
func (s *stack) expectDown(t *testing.T, tok string) {
	t.Helper()
	for _, c := range []call{
		{method: "GET", path: openPath},
		{method: "GET", path: openPath, token: tok},
		{method: "POST", path: protectedPath, token: tok},
		{method: "POST", path: protectedPath, token: tok, code: "123456"},
		{method: "POST", path: checkoutPath, token: tok, code: "123456"},
	} {
		got := s.do(t, c)
		if got.status != 403 || got.body != "" || len(s.up.Requests()) != 0 {
			t.Fatalf("%s %s with mfa-authz down: got %s (upstream received %d requests); want Envoy's bare 403",
				c.method, c.path, got, len(s.up.Requests()))
		}
	}
}

// waitResumed polls an unprotected request until the upstream answers it
// again, within resumeWithin; until then every answer must be the 403 of
// an unreachable mfa-authz. It returns how long it took.
func (s *stack) waitResumed(t *testing.T, tok string) time.Duration {
	t.Helper()
	start := time.Now()
	waitFor(t, resumeWithin, "Envoy did not use the restarted mfa-authz", func() (bool, string) {
		got := s.do(t, call{method: "GET", path: openPath, token: tok})
		if got.status == 403 && got.body == "" && len(s.up.Requests()) == 0 {
			return false, got.String()
		}
		s.expectUpstream(t, got)
		return true, ""
	})
	return time.Since(start)
}

// TestMFAAuthzDown: the shipped Envoy fails closed (failure_mode_allow:
// false, status_on_error: Forbidden) while mfa-authz is stopped, and
// serves again by itself once mfa-authz is back on the same address.
func TestMFAAuthzDown(t *testing.T) {
	t.Parallel()
	var f *factor
	s := startStack(t, envoytest.ShippedConfig, mfaConfig{Profile: "glue", Header: true},
		func(m *mfa) { f = m.enrollTOTP(t, "alice") })
	tok := s.token(t, "alice")
	s.expectUpstream(t, s.do(t, call{method: "GET", path: openPath}))
	s.expectUpstream(t, s.do(t, call{method: "POST", path: protectedPath, token: tok, code: f.code()}))

	s.mfa.stop(t)
	s.expectDown(t, tok)

	s.mfa.start(t)
	took := s.waitResumed(t, tok)
	t.Logf("service resumed %v after mfa-authz was serving again", took.Round(10*time.Millisecond))
	// Sessions lived in the stopped process's memory: a code is needed again.
	s.expectDenied(t, s.do(t, call{method: "POST", path: protectedPath, token: tok}), 403, glueType, golden(t, "glue_missing_code.json"))
	r := s.expectUpstream(t, s.do(t, call{method: "POST", path: protectedPath, token: tok, code: f.code()}))
	expectHeader(t, r, "X-MFA-Method", "totp")
}
