package envoye2e

import (
	"strings"
	"testing"
)

// TestHTTPMode: the shipped envoy/envoy-http.yaml, Envoy's ext_authz over
// HTTP (http_service) to server.envoy_http_prefix, with the self-service
// endpoints routed straight to mfa-authz's HTTP listener.
func TestHTTPMode(t *testing.T) {
	t.Parallel()
	var f *factor
	s := startStack(t, httpConfig, mfaConfig{Profile: "glue", Header: true},
		func(m *mfa) { f = m.enrollTOTP(t, "alice") })
	tok := s.token(t, "alice")
	forged := map[string]string{"X-MFA-Method": "sms", "X-User-Id": "mallory"}

	// Unprotected: the code and the forged headers are dropped.
	for _, c := range []call{
		{method: "GET", path: openPath, token: tok, code: "123456", header: forged},
		{method: "GET", path: protectedPath, token: tok, code: "123456", header: forged},
		{method: "GET", path: openPath, header: forged},
	} {
		r := s.expectUpstream(t, s.do(t, c))
		expectHeader(t, r, "X-MFA-Code")
		expectHeader(t, r, "X-MFA-Method")
		if c.token != "" {
			expectHeader(t, r, "X-User-Id", "alice")
		} else {
			expectHeader(t, r, "X-User-Id")
		}
	}

	// Denials: mfa-authz's status, content-type, cache-control and body.
	s.expectDenied(t, s.do(t, call{method: "POST", path: protectedPath, token: tok}), 403, glueType, golden(t, "glue_missing_code.json"))
	s.expectDenied(t, s.do(t, call{method: "POST", path: protectedPath, token: tok, code: "12345x"}), 403, glueType, golden(t, "glue_invalid_code.json"))
	s.expectDenied(t, s.do(t, call{method: "POST", path: protectedPath, header: map[string]string{"X-User-Id": "alice"}}),
		400, glueType, golden(t, "glue_no_identity.json"))

	// With a valid code: x-mfa-method from mfa-authz, over the client's;
	// no code upstream; the body arrives.
	got := s.do(t, call{method: "POST", path: protectedPath, token: tok, code: f.code(), header: forged, body: `{"password":"x"}`})
	r := s.expectUpstream(t, got)
	if r.Method != "POST" || r.Target != protectedPath || string(r.Body) != `{"password":"x"}` {
		t.Errorf("upstream got %s %s %q", r.Method, r.Target, r.Body)
	}
	expectHeader(t, r, "X-MFA-Code")
	expectHeader(t, r, "X-MFA-Method", "totp")
	expectHeader(t, r, "X-User-Id", "alice")
	// Within the grace period.
	r = s.expectUpstream(t, s.do(t, call{method: "PATCH", path: protectedPath, token: tok, header: map[string]string{"X-MFA-Method": "none"}}))
	expectHeader(t, r, "X-MFA-Method", "totp")
	// A query string reaches mfa-authz and the upstream as sent.
	r = s.expectUpstream(t, s.do(t, call{method: "POST", path: checkoutPath + "?cart=7&x=%2F", token: tok, code: "totp " + f.code()}))
	if r.Target != checkoutPath+"?cart=7&x=%2F" {
		t.Errorf("upstream target %q", r.Target)
	}
	expectHeader(t, r, "X-MFA-Method", "totp")

	// The self-service endpoints, answered by mfa-authz's HTTP listener
	// with their real statuses; the upstream is not involved.
	s.api(t, call{method: "GET", path: typesPath, token: tok}, 200, glueType,
		`{"data":[{"type":"multi-factor-auth-types","id":"totp","attributes":{"type":"totp","status":2}}]}`)
	s.api(t, call{method: "GET", path: typesPath, header: map[string]string{"X-User-Id": "alice"}}, 400, glueType, golden(t, "glue_no_identity.json"))
	s.api(t, call{method: "POST", path: triggerPath, token: tok}, 400, glueType, golden(t, "glue_invalid_body.json"))
	recoveryCodes(t, s.api(t, call{method: "POST", path: recoveryPath, token: tok, code: "totp " + f.code()}, 200, glueType, "*"))

	// mfa-authz down: every request is denied with status_on_error's bare
	// 403, and the self-service route has no one to answer it.
	s.mfa.stop(t)
	s.expectDown(t, tok)
	if got := s.do(t, call{method: "GET", path: typesPath, token: tok}); got.status != 503 || len(s.up.Requests()) != 0 {
		t.Errorf("self-service with mfa-authz down: got %s, want Envoy's 503", got)
	}
	s.mfa.start(t)
	s.waitResumed(t, tok)
	s.expectDenied(t, s.do(t, call{method: "POST", path: protectedPath, token: tok}), 403, glueType, golden(t, "glue_missing_code.json"))
}

// TestHTTPModeProblem: the problem profile's denial over Envoy's HTTP
// mode, with flow_id from the x-request-id that allowed_headers forwards:
// Envoy's UUID, or the client's plain id.
func TestHTTPModeProblem(t *testing.T) {
	t.Parallel()
	s := startStack(t, httpConfig, mfaConfig{Profile: "problem", Header: true},
		func(m *mfa) { m.enrollTOTP(t, "alice") })
	golden := golden(t, "problem_missing_code.json")
	const goldenFlow = `"flow_id":"5e77e3e3-48ab-4955-8ab3-1c62339096ab"`
	for _, sent := range []string{"", "client-flow-1"} {
		c := call{method: "POST", path: protectedPath, token: s.token(t, "alice")}
		if sent != "" {
			c.header = map[string]string{"X-Request-Id": sent}
		}
		got := s.do(t, c)
		m := flowRE.FindStringSubmatch(got.body)
		if m == nil || (sent == "" && !uuidRE.MatchString(m[1])) || (sent != "" && m[1] != sent) {
			t.Fatalf("x-request-id %q: want flow_id %q (or Envoy's UUID), got %s", sent, sent, got)
		}
		s.expectDenied(t, got, 409, problemType, strings.Replace(golden, goldenFlow, `"flow_id":"`+m[1]+`"`, 1))
	}
}
