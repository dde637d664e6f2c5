package mfaapi_test

import (
	"context"
	"reflect"
	"strings"
	"testing"

	"github.com/mfa-authz/mfa-authz/authz"
	"github.com/mfa-authz/mfa-authz/authz/config"
	"github.com/mfa-authz/mfa-authz/authz/mfaapi"
	"github.com/mfa-authz/mfa-authz/authz/profile"
)

func TestServes(t *testing.T) {
	e := newEnv(t, opts{})
	for _, c := range []struct {
		method, target string
		want           bool
	}{
		{"GET", config.DefaultTypesPath, true},
		{"get", config.DefaultTypesPath + "?page=2", true},
		{"POST", config.DefaultTypesPath, true},
		{"HEAD", config.DefaultTypesPath, true},
		{"POST", config.DefaultActivatePath, true},
		{"post", config.DefaultVerifyPath + "?x=1", true},
		{"POST", config.DefaultDeactivatePath, true},
		{"POST", config.DefaultTriggerPath, true},
		{"POST", config.DefaultRecoveryCodesPath, true},
		// Another method on an endpoint's path is answered too (405).
		{"GET", config.DefaultActivatePath, true},
		{"PUT", config.DefaultActivatePath, true},
		{"POST", config.DefaultActivatePath + "/", false},
		// The path is matched as sent: another spelling is another path.
		{"POST", "/multi-factor-auth-type-%61ctivate", false},
		{"POST", "/multi-factor-auth-type-activat%65", false},
		{"POST", config.DefaultActivatePath + "%2F", false},
		{"POST", "/" + config.DefaultActivatePath, false},
		{"POST", config.DefaultActivatePath + ";x", false},
		{"POST", strings.ToUpper(config.DefaultActivatePath), false},
		{"POST", "http://shop.example.com" + config.DefaultActivatePath, false},
		{"GET", "/multi-factor-auth-typ%65s", false},
		{"POST", "/checkout", false},
		{"POST", "", false},
		{"POST", "?x=1", false},
	} {
		if got := e.svc.API.Serves(c.method, c.target); got != c.want {
			t.Errorf("Serves(%q, %q) = %v, want %v", c.method, c.target, got, c.want)
		}
		_, ok := e.svc.API.Handle(context.Background(), req{method: c.method, path: c.target, user: "alice"}.build())
		if ok != c.want {
			t.Errorf("Handle(%q, %q) answered = %v, want %v", c.method, c.target, ok, c.want)
		}
	}
}

func TestMethods(t *testing.T) {
	for _, c := range []struct {
		opts opts
		want string
	}{
		{opts{}, "totp,email,sms"},
		{opts{noSMS: true}, "totp,email"},
	} {
		api := newEnv(t, c.opts).svc.API
		m := api.Methods()
		if got := strings.Join(m, ","); got != c.want {
			t.Errorf("Methods() = %s, want %s", got, c.want)
		}
		m[0] = "changed"
		if got := strings.Join(api.Methods(), ","); got != c.want {
			t.Errorf("Methods() after changing a copy = %s", got)
		}
	}
}

// Every endpoint needs the user: without an identity, Spryker's 5905
// (customers) or 5909 (back-office users), before the body is read.
func TestNoIdentity(t *testing.T) {
	var rows []row
	for _, ep := range []struct{ method, path string }{
		{"GET", config.DefaultTypesPath},
		{"POST", config.DefaultActivatePath},
		{"POST", config.DefaultVerifyPath},
		{"POST", config.DefaultDeactivatePath},
		{"POST", config.DefaultTriggerPath},
		{"POST", config.DefaultRecoveryCodesPath},
	} {
		r := req{method: ep.method, path: ep.path, body: "not even JSON"}
		rows = append(rows,
			row{name: ep.path + " customer", req: r, want: glue(profile.NoIdentity, "5905")},
			row{name: ep.path + " user", opts: opts{subject: "user"}, req: r, want: glue(profile.NoUserIdentifier, "5909")},
			row{name: ep.path + " problem", opts: opts{profile: profile.Problem}, req: r, want: problem(profile.NoIdentity)},
		)
	}
	rows = append(rows,
		row{name: "jwt payload without the claim", req: req{method: "GET", path: config.DefaultTypesPath, user: "alice",
			claims: map[string]any{"email": aliceEmail}}, want: glue(profile.NoIdentity, "5905")},
	)
	run(t, rows)
}

// A request marked NoSelfService (by the HTTP ext_authz transports, which
// cannot deliver the answers) is refused by the engine with the profile's
// unavailable denial before any endpoint runs; unmarked, the same request
// is answered.
func TestNoSelfService(t *testing.T) {
	e := newEnv(t, opts{})
	e.enabledTOTP(t, "alice")
	e.oob(t, "alice", "email", aliceEmail, true)
	before := e.enrollment(t, "alice")
	unavailable := glueErr(t, profile.Unavailable, "5912")
	for _, r := range []req{
		{method: "GET", path: config.DefaultTypesPath, user: "alice"},
		{path: config.DefaultActivatePath + "?x=1", user: "bob", body: body(mfaapi.TypeActivate, "totp")},
		{path: config.DefaultVerifyPath, user: "alice", body: body(mfaapi.TypeVerify, "totp")},
		{path: config.DefaultDeactivatePath, user: "alice", body: body(mfaapi.TypeDeactivate, "email")},
		{path: config.DefaultTriggerPath, user: "alice", body: body(mfaapi.TypeTrigger, "email")},
		{path: config.DefaultRecoveryCodesPath, user: "alice"},
	} {
		r.code = "totp " + totpCode(t, e.totp)
		ar := r.build()
		ar.NoSelfService = true
		d := e.svc.Engine.Check(context.Background(), ar)
		if d.Allowed || d.API || d.Reason != profile.Unavailable || d.Detail != authz.DetailNoSelfService {
			t.Errorf("%s %s: decision %+v, want the refusal", ar.Method, ar.Path, d)
		}
		expect(t, d.Answer, unavailable)
	}
	if got := e.enrollment(t, "alice"); !reflect.DeepEqual(got, before) {
		t.Errorf("alice's enrollment changed:\n%+v\n%+v", before, got)
	}
	if got := e.enrollment(t, "bob"); got != nil {
		t.Errorf("bob was enrolled: %+v", got)
	}
	if p := e.pending(t, "alice", "email"); p != nil {
		t.Errorf("a code is pending: %+v", p)
	}
	e.expectNothingSent(t)

	// Unmarked, the endpoint answers (and acts: a code is sent).
	d := e.svc.Engine.Check(context.Background(), req{path: config.DefaultTriggerPath, user: "alice",
		body: body(mfaapi.TypeTrigger, "email")}.build())
	if !d.API || d.Answer.Status != 204 {
		t.Errorf("unmarked trigger: %+v", d)
	}
	e.expectSent(t, "alice", "email", aliceEmail)

	// Other requests are decided as usual.
	ar := req{method: "GET", path: "/checkout", user: "alice"}.build()
	ar.NoSelfService = true
	if d := e.svc.Engine.Check(context.Background(), ar); !d.Allowed {
		t.Errorf("GET /checkout: %+v", d)
	}
}
