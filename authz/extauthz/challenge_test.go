package extauthz_test

import (
	"context"
	"strings"
	"testing"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"

	"github.com/mfa-authz/mfa-authz/authz/config"
	"github.com/mfa-authz/mfa-authz/authz/internal/servicetest"
)

// challengeConfig protects /payments with a 5-minute grace that a step-up
// at the identity provider (acr phr or urn:example:loa:3) also passes, and
// /carts with the global grace.
const challengeConfig = `
identity:
  header: x-user-id
policy:
  rules:
    - path: /payments
      methods: [POST]
      grace_period: 5m
      accept_idp_stepup:
        acr_values: [phr, "urn:example:loa:3"]
    - path: /carts/**
`

// answer is a denial as the client sees it over gRPC.
type answer struct {
	status  int
	headers map[string]string
	names   string // header names in order
	body    string
}

func check(t *testing.T, c authv3.AuthorizationClient, method, path string, h map[string]string) answer {
	t.Helper()
	if path == config.DefaultDeactivatePath {
		h["content-type"] = "application/json"
	}
	req := httpReq(method, path, h)
	if path == config.DefaultDeactivatePath {
		req.Attributes.Request.Http.Body = deactivateTOTP
	}
	resp, err := c.Check(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	den := resp.GetDeniedResponse()
	if den == nil {
		t.Fatalf("%s %s not answered by mfa-authz: %v", method, path, resp)
	}
	a := answer{status: int(den.GetStatus().GetCode()), headers: map[string]string{}, body: den.GetBody()}
	var names []string
	for _, hv := range den.GetHeaders() {
		a.headers[hv.GetHeader().GetKey()] = hv.GetHeader().GetValue()
		names = append(names, hv.GetHeader().GetKey())
	}
	a.names = strings.Join(names, ",")
	return a
}

// deactivateTOTP is a deactivate endpoint's body: remove the TOTP factor.
const deactivateTOTP = `{"data":{"type":"multi-factor-auth-type-deactivate","attributes":{"type":"totp"}}}`

const (
	missingChallenge = `Bearer error="insufficient_user_authentication", error_description="Multi-factor authentication is required."`
	paymentsParams   = `, acr_values="phr urn:example:loa:3", max_age=300`
)

// mfa.step_up_challenge on the glue profile: the header on the denials an
// authentication cures, with each route's own values (two routes, one
// reason: the shared answer of one is never the other's); the status and
// body as without it.
func TestStepUpChallengeGlue(t *testing.T) {
	svc := servicetest.New(t, challengeConfig+"mfa:\n  step_up_challenge: true\n")
	servicetest.EnrollTOTP(t, svc, "alice")
	c := dial(t, svc)
	for range 3 { // the second and third answers may be the shared ones
		for _, w := range []struct{ path, challenge string }{
			{"/payments", missingChallenge + paymentsParams},
			{"/carts/1", missingChallenge + ", max_age=1800"},
		} {
			a := check(t, c, "POST", w.path, map[string]string{"x-user-id": "alice"})
			if a.status != 403 || a.body != `{"errors":[{"status":403,"code":"5900","detail":"X-MFA-Code header is missing."}]}` ||
				a.names != "content-type,cache-control,www-authenticate" || a.headers["www-authenticate"] != w.challenge {
				t.Fatalf("%s: %+v", w.path, a)
			}
		}
	}
	a := check(t, c, "POST", "/payments", map[string]string{"x-user-id": "alice", "x-mfa-code": "000000"})
	if want := `Bearer error="insufficient_user_authentication", error_description="The multi-factor authentication code is invalid."` +
		paymentsParams; a.status != 403 || a.headers["www-authenticate"] != want {
		t.Errorf("wrong code: %+v", a)
	}
	// Not cured by a code: no challenge.
	if a := check(t, c, "POST", "/carts/1", map[string]string{"x-user-id": "bob"}); a.status != 403 || a.names != "content-type,cache-control" {
		t.Errorf("not enrolled on /carts: %+v", a)
	}
	if a := check(t, c, "POST", "/carts/1", nil); a.status != 400 || a.names != "content-type,cache-control" {
		t.Errorf("no identity: %+v", a)
	}
	// A self-service answer is not a route's denial.
	a = check(t, c, "POST", config.DefaultDeactivatePath, map[string]string{"x-user-id": "alice"})
	if a.headers["www-authenticate"] != "" || a.status != 403 {
		t.Errorf("self-service: %+v", a)
	}
}

// With mfa.step_up_challenge left out, the answers are the ones clients
// already know: no www-authenticate, exactly the headers they had.
func TestStepUpChallengeOff(t *testing.T) {
	for _, p := range []string{"glue", "problem"} {
		svc := servicetest.New(t, challengeConfig+"mfa:\n  profile: "+p+"\n")
		servicetest.EnrollTOTP(t, svc, "alice")
		c := dial(t, svc)
		want := "content-type,cache-control"
		if p == "problem" {
			want += ",x-flow-id"
		}
		for _, h := range []map[string]string{{"x-user-id": "alice"}, {"x-user-id": "alice", "x-mfa-code": "000000"}, {"x-user-id": "bob"}} {
			if a := check(t, c, "POST", "/payments", h); a.names != want {
				t.Errorf("%s %v: headers %s, want %s", p, h, a.names, want)
			}
		}
	}
}

// The rfc9470 profile over gRPC: 401 with the route's challenge and an RFC
// 9457 body; a missing identity 401 with the bare Bearer challenge; the
// self-service endpoints answer their errors in RFC 9457 too, challenged
// without a route's values, and their successes as Glue documents.
func TestRFC9470Profile(t *testing.T) {
	svc := servicetest.New(t, challengeConfig+"mfa:\n  profile: rfc9470\n  problem_base_url: https://docs.example.com\n")
	servicetest.EnrollTOTP(t, svc, "alice")
	c := dial(t, svc)
	for _, w := range []struct {
		name, path string
		h          map[string]string
		status     int
		challenge  string
		body       string
	}{
		{"missing", "/payments", map[string]string{"x-user-id": "alice"}, 401, missingChallenge + paymentsParams,
			`{"type":"https://docs.example.com/problems/mfa/missing-code","title":"'X-MFA-Code' header missing","status":401,` +
				`"detail":"Action is secured with MFA. Please provide 'X-MFA-Code' header."}`},
		{"no factor, idp route", "/payments", map[string]string{"x-user-id": "bob"}, 401,
			`Bearer error="insufficient_user_authentication", error_description="Multi-factor authentication is required; no factor is enrolled for this user."` + paymentsParams,
			`{"type":"https://docs.example.com/problems/mfa/factor-not-enrolled","title":"MFA factor not enrolled.","status":401,` +
				`"detail":"Action is secured with MFA, but the requested MFA factor is not enrolled for this user."}`},
		{"no factor", "/carts/1", map[string]string{"x-user-id": "bob"}, 409, "",
			`{"type":"https://docs.example.com/problems/mfa/factor-not-enrolled","title":"MFA factor not enrolled.","status":409,` +
				`"detail":"Action is secured with MFA, but the requested MFA factor is not enrolled for this user."}`},
		{"no identity", "/carts/1", nil, 401, "Bearer",
			`{"type":"https://docs.example.com/problems/mfa/missing-identity","title":"User identity missing.","status":401,` +
				`"detail":"Action is secured with MFA and requires an authenticated user."}`},
		{"self-service, no code", config.DefaultDeactivatePath, map[string]string{"x-user-id": "alice"}, 401, missingChallenge,
			`{"type":"https://docs.example.com/problems/mfa/missing-code","title":"'X-MFA-Code' header missing","status":401,` +
				`"detail":"Action is secured with MFA. Please provide 'X-MFA-Code' header."}`},
	} {
		a := check(t, c, "POST", w.path, w.h)
		wantNames := "content-type,cache-control"
		if w.challenge != "" {
			wantNames += ",www-authenticate"
		}
		if a.status != w.status || a.headers["www-authenticate"] != w.challenge || a.body != w.body ||
			a.names != wantNames || a.headers["content-type"] != "application/problem+json" {
			t.Errorf("%s: got %+v\nwant %d %q %s", w.name, a, w.status, w.challenge, w.body)
		}
	}
	resp, err := c.Check(context.Background(), httpReq("GET", config.DefaultTypesPath, map[string]string{"x-user-id": "alice"}))
	if err != nil {
		t.Fatal(err)
	}
	den := resp.GetDeniedResponse() // the endpoint answers itself
	if den.GetStatus().GetCode() != 200 || !strings.HasPrefix(den.GetBody(), `{"data":`) {
		t.Errorf("types: %d %s", den.GetStatus().GetCode(), den.GetBody())
	}
}
