package mfaapi_test

import (
	"context"
	"strings"
	"testing"

	"github.com/mfa-authz/mfa-authz/authz/config"
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
		{"POST", config.DefaultTypesPath, false},
		{"HEAD", config.DefaultTypesPath, false},
		{"POST", config.DefaultActivatePath, true},
		{"post", config.DefaultVerifyPath + "?x=1", true},
		{"POST", config.DefaultDeactivatePath, true},
		{"POST", config.DefaultTriggerPath, true},
		{"POST", config.DefaultRecoveryCodesPath, true},
		{"GET", config.DefaultActivatePath, false},
		{"PUT", config.DefaultActivatePath, false},
		{"POST", config.DefaultActivatePath + "/", false},
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
