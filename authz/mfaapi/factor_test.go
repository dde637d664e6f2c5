package mfaapi_test

import (
	"context"
	"crypto/subtle"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/mfa-authz/mfa-authz/authz"
	"github.com/mfa-authz/mfa-authz/authz/config"
	"github.com/mfa-authz/mfa-authz/authz/factor"
	"github.com/mfa-authz/mfa-authz/authz/mfaapi"
	"github.com/mfa-authz/mfa-authz/authz/profile"
	"github.com/mfa-authz/mfa-authz/authz/regulation"
	"github.com/mfa-authz/mfa-authz/authz/store"
	"github.com/mfa-authz/mfa-authz/cache"
	"github.com/mfa-authz/mfa-authz/policy"
)

// tokenFactor is a test-only factor with its enrollment side: a token
// whose eight-digit code the server derives from the activation's time and
// shows once, then accepts as the proof. It stands in its record on the
// TOTP field of the enrollment (a new factor would add its own field to
// store.Enrollment). It proves that offering, activating, verifying and
// removing a factor through the self-service endpoints is one Factor value
// plus registration: mfaapi names no factor.
type tokenFactor struct{}

var _ factor.Generated = tokenFactor{}

func (tokenFactor) Name() string                { return "token" }
func (tokenFactor) WellFormed(code string) bool { return len(code) == 8 && factor.Digits(code) }
func (tokenFactor) Enabled(enr *store.Enrollment) bool {
	return enr.TOTP != nil && !enr.TOTP.Pending
}

func (tokenFactor) Verify(_ context.Context, _ *factor.Env, _ string, enr *store.Enrollment, code string, _ time.Time) (bool, string, error) {
	if enr.TOTP == nil || subtle.ConstantTimeCompare([]byte(tokenCode(enr.TOTP.CreatedAt)), []byte(code)) != 1 {
		return false, factor.DetailWrong, nil
	}
	return true, "", nil
}

func (tokenFactor) Status(enr *store.Enrollment) int {
	switch {
	case enr.TOTP == nil:
		return factor.StatusDisabled
	case enr.TOTP.Pending:
		return factor.StatusInProgress
	}
	return factor.StatusEnabled
}

func (tokenFactor) Started(enr *store.Enrollment) time.Time { return enr.TOTP.CreatedAt }

func (tokenFactor) SamePending(a, b *store.Enrollment) bool {
	return a.TOTP.CreatedAt.Equal(b.TOTP.CreatedAt)
}

func (tokenFactor) Remove(enr *store.Enrollment) { enr.TOTP = nil }

func (tokenFactor) Enable(enr *store.Enrollment) {
	t := *enr.TOTP
	t.Pending = false
	enr.TOTP = &t
}

func (tokenFactor) Generate(_ *factor.EnrollEnv, _ string, now time.Time) (factor.Activation, error) {
	return factor.Activation{
		Started: now.UTC(),
		Shown:   map[string]string{"type": "token", "code": tokenCode(now)},
		Put: func(enr *store.Enrollment, pending bool) {
			enr.TOTP = &store.TOTP{Secret: "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ", Algorithm: "SHA1", Digits: 8, Period: 30,
				CreatedAt: now.UTC(), Pending: pending}
		},
	}, nil
}

// tokenCode is the code of a token activated at t.
func tokenCode(t time.Time) string { return fmt.Sprintf("%08d", t.UnixNano()%100000000) }

// TestRegisteredFactorEnrollment runs a registered test-only factor
// through types, activate, verify and deactivate of a real engine and
// store.
func TestRegisteredFactorEnrollment(t *testing.T) {
	key := make([]byte, store.KeySize)
	st, err := store.OpenDir(t.TempDir(), key)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	sessions, err := cache.New(100)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sessions.Close)
	pol, err := policy.Compile(policy.Config{Rules: []policy.RuleConfig{{Path: "/carts/**", Methods: []string{"POST"}}}})
	if err != nil {
		t.Fatal(err)
	}
	prof, err := profile.New(profile.Glue, "X-MFA-Code", "")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 3, 4, 5, 6, 7, 12345678, time.UTC)
	clock := func() time.Time { return now }
	eng, err := authz.New(authz.Options{
		Config: authz.Config{Header: "X-MFA-Code", GracePeriod: time.Minute,
			Identity: authz.IdentityConfig{Header: "x-user-id"}},
		Policy: pol, Profile: prof, Store: st, Sessions: sessions,
		Regulator: regulation.New(regulation.DefaultConfig()),
		Factors:   factor.MustRegistry(tokenFactor{}),
		Now:       clock,
	})
	if err != nil {
		t.Fatal(err)
	}
	api, err := mfaapi.New(mfaapi.Options{Engine: eng, Store: st, Now: clock,
		Paths: mfaapi.Paths{Types: config.DefaultTypesPath, Activate: config.DefaultActivatePath,
			Verify: config.DefaultVerifyPath, Deactivate: config.DefaultDeactivatePath,
			Trigger: config.DefaultTriggerPath, RecoveryCodes: config.DefaultRecoveryCodesPath}})
	if err != nil {
		t.Fatal(err)
	}
	call := func(method, path, code, body string) profile.Answer {
		t.Helper()
		h := authz.MapHeader{"x-user-id": "alice", "content-type": "application/vnd.api+json"}
		if code != "" {
			h["x-mfa-code"] = code
		}
		ans, ok := api.Handle(context.Background(), &authz.Request{Method: method, Path: path, Header: h, Body: []byte(body)})
		if !ok {
			t.Fatalf("%s %s not handled", method, path)
		}
		return ans
	}
	types := func(want string) {
		t.Helper()
		ans := call(http.MethodGet, config.DefaultTypesPath, "", "")
		if ans.Status != 200 || string(ans.Body) != want {
			t.Fatalf("types: %d %s\nwant 200 %s", ans.Status, ans.Body, want)
		}
	}
	body := func(typ string) string {
		return `{"data":{"type":"` + typ + `","attributes":{"type":"token"}}}`
	}
	listed := func(status int) string {
		return fmt.Sprintf(`{"data":[{"type":"multi-factor-auth-types","id":"token","attributes":{"type":"token","status":%d}}]}`, status)
	}
	code := tokenCode(now)

	if m := api.Methods(); len(m) != 1 || m[0] != "token" {
		t.Fatalf("Methods() = %v, want [token]", m)
	}
	types(listed(mfaapi.StatusDisabled))
	ans := call(http.MethodPost, config.DefaultActivatePath, "", body(mfaapi.TypeActivate))
	want := `{"data":{"type":"multi-factor-auth-type-activate","id":"token","attributes":{"code":"` + code + `","type":"token"}}}`
	if ans.Status != 200 || string(ans.Body) != want {
		t.Fatalf("activate: %d %s\nwant 200 %s", ans.Status, ans.Body, want)
	}
	types(listed(mfaapi.StatusInProgress))
	if ans := call(http.MethodPost, config.DefaultVerifyPath, "token 00000000", body(mfaapi.TypeVerify)); ans.Status != 403 {
		t.Fatalf("verify with a wrong code: %d %s, want 403", ans.Status, ans.Body)
	}
	types(listed(mfaapi.StatusInProgress))
	if ans := call(http.MethodPost, config.DefaultVerifyPath, "token "+code, body(mfaapi.TypeVerify)); ans.Status != 204 {
		t.Fatalf("verify: %d %s, want 204", ans.Status, ans.Body)
	}
	types(listed(mfaapi.StatusEnabled))
	if ans := call(http.MethodPost, config.DefaultTriggerPath, "", body(mfaapi.TypeTrigger)); ans.Status != 204 {
		t.Fatalf("trigger of a factor that sends nothing: %d %s, want 204", ans.Status, ans.Body)
	}
	if ans := call(http.MethodPost, config.DefaultDeactivatePath, "token "+code, body(mfaapi.TypeDeactivate)); ans.Status != 204 {
		t.Fatalf("deactivate: %d %s, want 204", ans.Status, ans.Body)
	}
	types(listed(mfaapi.StatusDisabled))
}
