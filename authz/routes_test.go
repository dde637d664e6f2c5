package authz

import (
	"context"
	"math"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/structpb"

	"github.com/mfa-authz/mfa-authz/authz/factor"
	"github.com/mfa-authz/mfa-authz/authz/factor/oob"
	"github.com/mfa-authz/mfa-authz/authz/factor/recovery"
	ftotp "github.com/mfa-authz/mfa-authz/authz/factor/totp"
	"github.com/mfa-authz/mfa-authz/authz/profile"
	"github.com/mfa-authz/mfa-authz/policy"
)

const testAssertion = "c2lnbmVk-YXNzZXJ0aW9u"

// withRouteFactors registers the test assertion factor beside the shipped
// ones and protects /payments with TOTP only and /transfers with TOTP or
// the assertion.
func withRouteFactors(o *Options, p *policy.Config) {
	o.Factors = factor.MustRegistry(ftotp.Factor{}, oob.Email, oob.SMS, recovery.Factor{}, assertionFactor{valid: testAssertion})
	p.Rules = append([]policy.RuleConfig{
		{Path: "/payments", Methods: []string{"POST"}, Factors: []string{"totp"}},
		{Path: "/transfers", Methods: []string{"POST"}, Factors: []string{"assert", "totp"}},
	}, p.Rules...)
}

func TestRouteFactorSessions(t *testing.T) {
	f := newFixture(t, withRouteFactors)
	f.enroll("alice")
	alice := MapHeader{"x-user-id": "alice"}
	// Verified with the assertion on a route accepting any factor.
	expectAllow(t, f.check("POST", "/carts/1", MapHeader{"x-user-id": "alice", "x-mfa-code": "assert " + testAssertion}), "assert")
	expectAllow(t, f.check("POST", "/carts/2", alice), "assert")
	expectAllow(t, f.check("POST", "/transfers", alice), "assert")
	// The assertion's session does not satisfy a TOTP-only route: the
	// denial names the factor that would.
	d := f.check("POST", "/payments", alice)
	expectDeny(t, d, profile.Missing, 403, "no code")
	if want := `{"errors":[{"status":403,"code":"5900","detail":"X-MFA-Code header is missing.","meta":{"acceptable_factors":["totp"]}}]}`; d.Answer.Body != want {
		t.Fatalf("body %s\nwant %s", d.Answer.Body, want)
	}
	// A TOTP code passes it, and its session then serves every route
	// accepting TOTP.
	expectAllow(t, f.check("POST", "/payments", MapHeader{"x-user-id": "alice", "x-mfa-code": f.code("alice", 0)}), "totp")
	expectAllow(t, f.check("POST", "/payments", alice), "totp")
	expectAllow(t, f.check("POST", "/transfers", alice), "totp")
	expectAllow(t, f.check("POST", "/carts/1", alice), "totp")
}

func TestRouteFactorRefusesOtherCodes(t *testing.T) {
	f := newFixture(t, func(o *Options, p *policy.Config) {
		o.Profile, _ = profile.New(profile.Problem, "X-MFA-Code", "https://docs.example.com")
		withRouteFactors(o, p)
	})
	f.enroll("bob")
	r := &Request{Method: "POST", Path: "/payments", ID: "flow-1",
		Header: MapHeader{"x-user-id": "bob", "x-mfa-code": "assert " + testAssertion}}
	d := f.engine.Check(context.Background(), r)
	expectDeny(t, d, profile.Invalid, 401, DetailFactorNotAccepted)
	want := `{"type":"/problems/mfa/invalid-code","type_documentation":"https://docs.example.com/problems/mfa/invalid-code",` +
		`"title":"MFA code invalid.","status":401,"detail":"The provided MFA code is invalid or expired.","flow_id":"flow-1",` +
		`"acceptable_factors":["totp"]}`
	if d.Answer.Body != want {
		t.Fatalf("body %s\nwant %s", d.Answer.Body, want)
	}
	// Refused codes are not checked, so they count towards no lockout.
	for range 10 {
		expectDeny(t, f.engine.Check(context.Background(), r), profile.Invalid, 401, DetailFactorNotAccepted)
	}
	// A bare code means the user's first enabled factor the route accepts.
	expectAllow(t, f.check("POST", "/payments", MapHeader{"x-user-id": "bob", "x-mfa-code": f.code("bob", 0)}), "totp")

	// A user with none of the route's factors is not enrolled for it.
	f2 := newFixture(t, func(o *Options, p *policy.Config) {
		withRouteFactors(o, p)
		p.Rules[0].Factors = []string{"email"}
	})
	f2.enroll("carol")
	d = f2.check("POST", "/payments", MapHeader{"x-user-id": "carol", "x-mfa-code": f2.code("carol", 0)})
	expectDeny(t, d, profile.NotEnrolled, 403, " not enrolled")
	if !strings.HasSuffix(d.Answer.Body, `"meta":{"acceptable_factors":["email"]}}]}`) {
		t.Fatalf("body %s", d.Answer.Body)
	}
	// Denials a factor cannot cure name none.
	d = f2.check("POST", "/payments", nil)
	expectDeny(t, d, profile.NoIdentity, 400, "no identity")
	if strings.Contains(d.Answer.Body, "acceptable_factors") {
		t.Fatalf("body %s", d.Answer.Body)
	}
}

func TestRouteFactorUnknownToEngine(t *testing.T) {
	pol, err := policy.Compile(policy.Config{Rules: []policy.RuleConfig{{Name: "pay", Path: "/payments", Factors: []string{"webauthn"}}}})
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, nil)
	o := Options{Config: f.engine.cfg, Policy: pol, Profile: f.engine.profile, Store: f.store, Sessions: f.engine.sessions, Limiter: f.engine.reg}
	_, err = New(o)
	want := `authz: policy.rules[0] (name "pay", path "/payments"): factors: unknown factor "webauthn" (known: totp, email, sms, recovery)`
	if err == nil || err.Error() != want {
		t.Fatalf("New: %v\nwant %s", err, want)
	}
}

// withIdPStepUp lets /payments accept a step-up at the identity provider
// with acr "phr" or amr "hwk", under a grace period of 5 minutes.
func withIdPStepUp(o *Options, p *policy.Config) {
	o.Identity.ClockSkew = 30 * time.Second
	p.Rules = append([]policy.RuleConfig{{Path: "/payments", Methods: []string{"POST"}, GracePeriod: ptr(5 * time.Minute),
		AcceptIdPStepUp: &policy.IdPStepUpConfig{ACRValues: []string{"phr"}, AMR: []string{"hwk"}}}}, p.Rules...)
}

// jwtRequest is a request to path whose verified token (jwt_authn
// metadata) carries claims.
func jwtRequest(t *testing.T, path string, claims map[string]any, h MapHeader) *Request {
	t.Helper()
	payload, err := structpb.NewStruct(claims)
	if err != nil {
		t.Fatal(err)
	}
	return &Request{Method: "POST", Path: path, Header: h, Metadata: map[string]*structpb.Struct{
		"envoy.filters.http.jwt_authn": {Fields: map[string]*structpb.Value{"jwt_payload": structpb.NewStructValue(payload)}}}}
}

func TestIdPStepUp(t *testing.T) {
	f := newFixture(t, withIdPStepUp)
	f.enroll("alice")
	now := f.clock.Now()
	at := func(d time.Duration) float64 { return float64(now.Add(d).Unix()) }
	check := func(claims map[string]any, h MapHeader) Decision {
		claims["sub"] = "alice"
		return f.engine.Check(context.Background(), jwtRequest(t, "/payments", claims, h))
	}
	for _, c := range []struct {
		name   string
		claims map[string]any
	}{
		{"acr and amr", map[string]any{"acr": "phr", "amr": []any{"pwd", "hwk"}, "auth_time": at(-4 * time.Minute)}},
		{"clock ahead within skew", map[string]any{"acr": "phr", "amr": []any{"hwk"}, "auth_time": at(29 * time.Second)}},
		{"grace plus skew", map[string]any{"acr": "phr", "amr": []any{"hwk"}, "auth_time": at(-5*time.Minute - 29*time.Second)}},
		{"fractional auth_time", map[string]any{"acr": "phr", "amr": []any{"hwk"}, "auth_time": at(-time.Minute) + 0.5}},
	} {
		d := check(c.claims, nil)
		if !d.Allowed || d.Method != MethodIdP || d.Detail != "idp step-up" {
			t.Errorf("%s: allowed=%t method=%q detail=%q", c.name, d.Allowed, d.Method, d.Detail)
		}
	}
	for _, c := range []struct {
		name   string
		claims map[string]any
	}{
		{"no claims", map[string]any{}},
		{"acr not accepted", map[string]any{"acr": "pwd", "amr": []any{"hwk"}, "auth_time": at(-time.Minute)}},
		{"amr not accepted", map[string]any{"acr": "phr", "amr": []any{"pwd", "otp"}, "auth_time": at(-time.Minute)}},
		{"no amr", map[string]any{"acr": "phr", "auth_time": at(-time.Minute)}},
		{"no auth_time", map[string]any{"acr": "phr", "amr": []any{"hwk"}}},
		{"too old", map[string]any{"acr": "phr", "amr": []any{"hwk"}, "auth_time": at(-5*time.Minute - 31*time.Second)}},
		{"from the future", map[string]any{"acr": "phr", "amr": []any{"hwk"}, "auth_time": at(31 * time.Second)}},
	} {
		// Not met: the user needs a local code, as without the claims.
		expectDeny(t, check(c.claims, nil), profile.Missing, 403, "no code")
	}
	for _, c := range []struct {
		name   string
		claims map[string]any
	}{
		{"acr a number", map[string]any{"acr": 2, "amr": []any{"hwk"}, "auth_time": at(0)}},
		{"amr a string", map[string]any{"acr": "phr", "amr": "hwk", "auth_time": at(0)}},
		{"amr with a number", map[string]any{"acr": "phr", "amr": []any{"hwk", 1}, "auth_time": at(0)}},
		{"auth_time a string", map[string]any{"acr": "phr", "amr": []any{"hwk"}, "auth_time": "1700000000"}},
		{"auth_time negative", map[string]any{"acr": "phr", "amr": []any{"hwk"}, "auth_time": -1}},
		{"auth_time huge", map[string]any{"acr": "phr", "amr": []any{"hwk"}, "auth_time": 1e300}},
		{"auth_time infinite", map[string]any{"acr": "phr", "amr": []any{"hwk"}, "auth_time": math.Inf(1)}},
		{"auth_time a list", map[string]any{"acr": "phr", "amr": []any{"hwk"}, "auth_time": []any{at(0)}}},
	} {
		// Malformed: denied even with a right code.
		d := check(c.claims, MapHeader{"x-mfa-code": f.code("alice", 0)})
		if d.Allowed || d.Reason != profile.NoIdentity || d.Detail != DetailMalformedIdPClaims {
			t.Errorf("%s: allowed=%t reason=%s detail=%q", c.name, d.Allowed, d.Reason, d.Detail)
		}
	}
	// The claims count on the rule that accepts them only: /carts asks for
	// a code, and malformed claims there are no concern of its.
	r := jwtRequest(t, "/carts/1", map[string]any{"sub": "alice", "acr": 7, "amr": []any{"hwk"}, "auth_time": at(0)}, nil)
	expectDeny(t, f.engine.Check(context.Background(), r), profile.Missing, 403, "no code")
	// A header is never a claim.
	r = &Request{Method: "POST", Path: "/payments", Header: MapHeader{"x-user-id": "alice", "acr": "phr", "amr": "hwk",
		"auth_time": "1772600767"}}
	expectDeny(t, f.engine.Check(context.Background(), r), profile.Missing, 403, "no code")
}

func TestIdPStepUpUnderBan(t *testing.T) {
	f := newFixture(t, withIdPStepUp)
	f.enroll("mallory")
	wrong := "000000"
	if wrong == f.code("mallory", 0) || wrong == f.code("mallory", 30*time.Second) || wrong == f.code("mallory", -30*time.Second) {
		wrong = "999999"
	}
	for range 5 {
		f.check("POST", "/carts/1", MapHeader{"x-user-id": "mallory", "x-mfa-code": wrong})
	}
	r := jwtRequest(t, "/payments", map[string]any{"sub": "mallory", "acr": "phr", "amr": []any{"hwk"},
		"auth_time": float64(f.clock.Now().Unix())}, nil)
	expectDeny(t, f.engine.Check(context.Background(), r), profile.TooManyAttempts, 429, "banned")
}
