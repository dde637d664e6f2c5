package mfaapi_test

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
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
// shows once, then accepts as the proof. It keeps its record in the
// enrollment's Factors under its own name, as any factor the store has no
// field for does. It proves that storing, offering, activating, verifying
// and removing a factor through the self-service endpoints is one Factor
// value plus registration: neither the store nor mfaapi names it.
type tokenFactor struct{}

// tokenRecord is what the token factor stores.
type tokenRecord struct {
	CreatedAt time.Time `json:"created_at"`
}

var _ factor.Generated = tokenFactor{}

func (tokenFactor) Name() string                { return "token" }
func (tokenFactor) WellFormed(code string) bool { return len(code) == 8 && factor.Digits(code) }

// record returns the token in enr and whether it is enabled; ok=false
// when enr holds none (or one that does not decode).
func (tokenFactor) record(enr *store.Enrollment) (r tokenRecord, enabled, ok bool) {
	rec, ok := enr.Factor("token")
	if !ok || json.Unmarshal(rec.Data, &r) != nil {
		return tokenRecord{}, false, false
	}
	return r, rec.Enabled, true
}

func (f tokenFactor) Enabled(enr *store.Enrollment) bool {
	_, enabled, ok := f.record(enr)
	return ok && enabled
}

func (f tokenFactor) Verify(_ context.Context, _ *factor.Env, _ string, enr *store.Enrollment, code string, _ time.Time) (bool, string, error) {
	r, _, ok := f.record(enr)
	if !ok || subtle.ConstantTimeCompare([]byte(tokenCode(r.CreatedAt)), []byte(code)) != 1 {
		return false, factor.DetailWrong, nil
	}
	return true, "", nil
}

func (f tokenFactor) Status(enr *store.Enrollment) int {
	switch _, enabled, ok := f.record(enr); {
	case !ok:
		return factor.StatusDisabled
	case !enabled:
		return factor.StatusInProgress
	}
	return factor.StatusEnabled
}

func (f tokenFactor) Started(enr *store.Enrollment) time.Time {
	r, _, _ := f.record(enr)
	return r.CreatedAt
}

func (f tokenFactor) SamePending(a, b *store.Enrollment) bool {
	return f.Started(a).Equal(f.Started(b))
}

func (tokenFactor) Remove(enr *store.Enrollment) { enr.SetFactor("token", nil) }

func (tokenFactor) Enable(enr *store.Enrollment) {
	rec, _ := enr.Factor("token")
	rec.Enabled = true
	enr.SetFactor("token", &rec)
}

func (tokenFactor) Generate(_ *factor.EnrollEnv, _ string, now time.Time) (factor.Activation, error) {
	data, err := json.Marshal(tokenRecord{CreatedAt: now.UTC()})
	if err != nil {
		return factor.Activation{}, err
	}
	return factor.Activation{
		Started: now.UTC(),
		Shown:   map[string]string{"type": "token", "code": tokenCode(now)},
		Put: func(enr *store.Enrollment, pending bool) {
			enr.SetFactor("token", &store.FactorRecord{Enabled: !pending, Data: data})
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
	// Stored in its own record, encrypted with the enrollment, and a
	// proof on a protected route.
	if enr, err := st.Enrollment(context.Background(), "alice"); err != nil || !enr.Factors["token"].Enabled || enr.TOTP != nil {
		t.Fatalf("stored enrollment %+v, %v: want the token's own enabled record", enr, err)
	}
	d := eng.Check(context.Background(), &authz.Request{Method: "POST", Host: "shop.example.com", Path: "/carts/1",
		Header: authz.MapHeader{"x-user-id": "alice", "x-mfa-code": "token " + code}})
	if !d.Allowed || d.Method != "token" {
		t.Fatalf("protected route with the token: %+v", d)
	}
	if ans := call(http.MethodPost, config.DefaultTriggerPath, "", body(mfaapi.TypeTrigger)); ans.Status != 204 {
		t.Fatalf("trigger of a factor that sends nothing: %d %s, want 204", ans.Status, ans.Body)
	}
	if ans := call(http.MethodPost, config.DefaultDeactivatePath, "token "+code, body(mfaapi.TypeDeactivate)); ans.Status != 204 {
		t.Fatalf("deactivate: %d %s, want 204", ans.Status, ans.Body)
	}
	types(listed(mfaapi.StatusDisabled))
	if _, err := st.Enrollment(context.Background(), "alice"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("after deactivate: %v, want no enrollment left", err)
	}
}
