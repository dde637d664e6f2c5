package authz

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/structpb"

	"github.com/mfa-authz/mfa-authz/authz/profile"
	"github.com/mfa-authz/mfa-authz/authz/regulation"
	"github.com/mfa-authz/mfa-authz/authz/store"
	"github.com/mfa-authz/mfa-authz/authz/totp"
	"github.com/mfa-authz/mfa-authz/cache"
	"github.com/mfa-authz/mfa-authz/policy"
)

// clock is a settable test clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// faultStore wraps a store and injects errors or panics.
type faultStore struct {
	store.Store
	err   error
	panic bool
}

func (f *faultStore) Enrollment(ctx context.Context, user string) (*store.Enrollment, error) {
	if f.panic {
		panic("injected store panic")
	}
	if f.err != nil {
		return nil, f.err
	}
	return f.Store.Enrollment(ctx, user)
}

type fixture struct {
	t       testing.TB
	engine  *Engine
	clock   *clock
	store   *faultStore
	secrets map[string]*store.TOTP
}

func ptr[T any](v T) *T { return &v }

var testPolicy = policy.Config{Rules: []policy.RuleConfig{
	{Path: "/carts/{id}/public", Methods: []string{"GET", "POST"}, MFA: "none"},
	{Path: "/customer-password/**", Methods: []string{"POST", "PATCH", "DELETE"}},
	{Path: "/carts/**", Methods: []string{"POST", "PATCH", "DELETE"}},
	{Path: "/checkout/**", Methods: []string{"POST"}, GracePeriod: ptr(5 * time.Minute)},
	{Path: "/order-payments/**", Methods: []string{"POST"}, GracePeriod: ptr(time.Duration(0))},
}}

func newFixture(t testing.TB, mutate func(*Options, *policy.Config)) *fixture {
	t.Helper()
	dir := t.TempDir()
	key := make([]byte, store.KeySize)
	for i := range key {
		key[i] = byte(i)
	}
	st, err := store.OpenDir(dir, key)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	sessions, err := cache.New(1000)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sessions.Close)
	f := &fixture{t: t, clock: &clock{now: time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)},
		store: &faultStore{Store: st}, secrets: map[string]*store.TOTP{}}
	pc := testPolicy
	prof, _ := profile.New(profile.Glue, "X-MFA-Code", "")
	o := Options{
		Config: Config{Header: "X-MFA-Code", GracePeriod: 30 * time.Minute, TOTPSkew: 1,
			Identity: IdentityConfig{Header: "x-user-id", Namespace: "envoy.filters.http.jwt_authn", PayloadKey: "jwt_payload", Claim: "sub"}},
		Profile:   prof,
		Store:     f.store,
		Sessions:  sessions,
		Regulator: regulation.New(regulation.DefaultConfig()),
		Now:       f.clock.Now,
	}
	if mutate != nil {
		mutate(&o, &pc)
	}
	if o.Policy, err = policy.Compile(pc); err != nil {
		t.Fatal(err)
	}
	if f.engine, err = New(o); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fixture) enroll(user string) {
	f.t.Helper()
	tf, _, err := totp.Generate(totp.DefaultConfig(), user, f.clock.Now())
	if err != nil {
		f.t.Fatal(err)
	}
	if err := f.store.PutEnrollment(context.Background(), user, &store.Enrollment{TOTP: tf}, false); err != nil {
		f.t.Fatal(err)
	}
	f.secrets[user] = tf
}

func (f *fixture) code(user string, offset time.Duration) string {
	f.t.Helper()
	c, err := totp.Code(f.secrets[user], f.clock.Now().Add(offset))
	if err != nil {
		f.t.Fatal(err)
	}
	return c
}

func (f *fixture) check(method, path string, h MapHeader) Decision {
	return f.engine.Check(context.Background(), &Request{Method: method, Host: "shop.example.com", Path: path, Header: h})
}

func expectDeny(t *testing.T, d Decision, reason profile.Reason, status int, detail string) {
	t.Helper()
	if d.Allowed || d.Reason != reason || d.Answer.Status != status || (detail != "" && d.Detail != detail) {
		t.Fatalf("got allowed=%t reason=%s status=%d detail=%q body=%s; want %s %d %q",
			d.Allowed, d.Reason, d.Answer.Status, d.Detail, d.Answer.Body, reason, status, detail)
	}
}

func expectAllow(t *testing.T, d Decision, method string) {
	t.Helper()
	if !d.Allowed || d.Method != method {
		t.Fatalf("got allowed=%t method=%q reason=%s detail=%q; want allowed with method %q",
			d.Allowed, d.Method, d.Reason, d.Detail, method)
	}
}

func TestUnprotectedAllowed(t *testing.T) {
	f := newFixture(t, nil)
	for _, c := range []struct{ method, path string }{
		{"GET", "/customer-password/1"}, {"POST", "/catalog-search"}, {"POST", "/carts/1/public"}, {"HEAD", "/carts"},
	} {
		d := f.check(c.method, c.path, nil)
		expectAllow(t, d, "")
	}
}

func TestNoIdentity(t *testing.T) {
	f := newFixture(t, nil)
	d := f.check("POST", "/carts/1", MapHeader{"x-mfa-code": "123456"})
	expectDeny(t, d, profile.NoIdentity, 400, "no identity")
	if d.Answer.Body != `{"errors":[{"status":400,"code":"5905","detail":"No customer identifier provided."}]}` {
		t.Fatalf("body %s", d.Answer.Body)
	}
	d = f.check("POST", "/carts/1", MapHeader{"x-user-id": "\x01bad"})
	expectDeny(t, d, profile.NoIdentity, 400, "unusable identity header")
}

func TestAnonymousAllow(t *testing.T) {
	f := newFixture(t, func(_ *Options, p *policy.Config) { p.Anonymous = "allow" })
	expectAllow(t, f.check("POST", "/carts/1", nil), MethodNone)
	// A present but unusable identity is never anonymous.
	d := f.check("POST", "/carts/1", MapHeader{"x-user-id": ""})
	expectDeny(t, d, profile.NoIdentity, 400, "unusable identity header")
}

func TestNotEnrolled(t *testing.T) {
	f := newFixture(t, nil)
	d := f.check("POST", "/carts/1", MapHeader{"x-user-id": "carol", "x-mfa-code": "123456"})
	expectDeny(t, d, profile.NotEnrolled, 403, "no factor enrolled")

	f = newFixture(t, func(o *Options, _ *policy.Config) { o.AllowUnenrolled = true })
	expectAllow(t, f.check("POST", "/carts/1", MapHeader{"x-user-id": "carol"}), MethodNone)
	f.enroll("dave")
	d = f.check("POST", "/carts/1", MapHeader{"x-user-id": "dave"})
	expectDeny(t, d, profile.Missing, 403, "no code")
}

func TestCodeFlow(t *testing.T) {
	f := newFixture(t, nil)
	f.enroll("alice")
	f.enroll("bob")
	alice := MapHeader{"x-user-id": "alice"}
	expectDeny(t, f.check("POST", "/carts/1", alice), profile.Missing, 403, "no code")
	expectDeny(t, f.check("POST", "/carts/1", MapHeader{"x-user-id": "alice", "x-mfa-code": "  "}), profile.Missing, 403, "no code")
	expectDeny(t, f.check("POST", "/carts/1", MapHeader{"x-user-id": "alice", "x-mfa-code": "12a456"}), profile.MalformedCode, 403, "malformed code")
	expectDeny(t, f.check("POST", "/carts/1", MapHeader{"x-user-id": "alice", "x-mfa-code": "sms 123456"}), profile.NotEnrolled, 403, "sms not enrolled")
	wrong := "000000"
	if wrong == f.code("alice", 0) {
		wrong = "111111"
	}
	expectDeny(t, f.check("POST", "/carts/1", MapHeader{"x-user-id": "alice", "x-mfa-code": wrong}), profile.Invalid, 403, "wrong code")
	// Bob's code is not Alice's.
	expectDeny(t, f.check("POST", "/carts/1", MapHeader{"x-user-id": "alice", "x-mfa-code": f.code("bob", 0)}), profile.Invalid, 403, "")

	code := f.code("alice", 0)
	expectAllow(t, f.check("POST", "/carts/1", MapHeader{"x-user-id": "alice", "x-mfa-code": "totp " + code}), "totp")
	// The very next request rides the session; bob has none.
	expectAllow(t, f.check("DELETE", "/customer-password/7", alice), "totp")
	expectDeny(t, f.check("POST", "/carts/1", MapHeader{"x-user-id": "bob"}), profile.Missing, 403, "no code")

	// Replay after the session is gone.
	f.engine.sessions.Delete("alice")
	expectDeny(t, f.check("POST", "/carts/1", MapHeader{"x-user-id": "alice", "x-mfa-code": code}), profile.Invalid, 403, "replay")
}

func TestSkew(t *testing.T) {
	f := newFixture(t, nil)
	f.enroll("alice")
	expectAllow(t, f.check("POST", "/carts/1", MapHeader{"x-user-id": "alice", "x-mfa-code": f.code("alice", -30*time.Second)}), "totp")
	f.engine.sessions.Delete("alice")
	expectDeny(t, f.check("POST", "/carts/1", MapHeader{"x-user-id": "alice", "x-mfa-code": f.code("alice", 90*time.Second)}), profile.Invalid, 403, "wrong code")
}

func TestGracePeriods(t *testing.T) {
	f := newFixture(t, nil)
	f.enroll("alice")
	alice := MapHeader{"x-user-id": "alice"}
	expectAllow(t, f.check("POST", "/carts/1", MapHeader{"x-user-id": "alice", "x-mfa-code": f.code("alice", 0)}), "totp")
	// A rule with grace 0 needs a fresh code every time.
	expectDeny(t, f.check("POST", "/order-payments", alice), profile.Missing, 403, "no code")
	f.clock.Advance(6 * time.Minute)
	// /checkout overrides grace to 5m; the global 30m still covers /carts.
	expectDeny(t, f.check("POST", "/checkout", alice), profile.Missing, 403, "no code")
	expectAllow(t, f.check("POST", "/carts/1", alice), "totp")
	f.clock.Advance(24 * time.Minute)
	expectDeny(t, f.check("POST", "/carts/1", alice), profile.Missing, 403, "no code")
}

func TestLockout(t *testing.T) {
	f := newFixture(t, func(o *Options, _ *policy.Config) { o.Profile, _ = profile.New(profile.Problem, "X-MFA-Code", "") })
	f.enroll("mallory")
	wrong := "000000"
	if wrong == f.code("mallory", 0) || wrong == f.code("mallory", 30*time.Second) || wrong == f.code("mallory", -30*time.Second) {
		wrong = "999999"
	}
	for i := 0; i < 5; i++ {
		d := f.check("POST", "/carts/1", MapHeader{"x-user-id": "mallory", "x-mfa-code": wrong})
		expectDeny(t, d, profile.Invalid, 401, "")
	}
	d := f.check("POST", "/carts/1", MapHeader{"x-user-id": "mallory", "x-mfa-code": f.code("mallory", 0)})
	expectDeny(t, d, profile.TooManyAttempts, 429, "banned")
	if d.Answer.RetryAfter != 15*time.Minute {
		t.Fatalf("retry after %s", d.Answer.RetryAfter)
	}
	f.clock.Advance(15*time.Minute + time.Second)
	expectAllow(t, f.check("POST", "/carts/1", MapHeader{"x-user-id": "mallory", "x-mfa-code": f.code("mallory", 0)}), "totp")
}

func TestJWTIdentity(t *testing.T) {
	f := newFixture(t, nil)
	f.enroll("jwt-user")
	payload, _ := structpb.NewStruct(map[string]any{"sub": "jwt-user", "email": "j@example.com"})
	md := map[string]*structpb.Struct{"envoy.filters.http.jwt_authn": {Fields: map[string]*structpb.Value{"jwt_payload": structpb.NewStructValue(payload)}}}
	r := &Request{Method: "POST", Path: "/carts/1", Metadata: md,
		// The metadata wins over a header a client might have slipped in.
		Header: MapHeader{"x-user-id": "someone-else", "x-mfa-code": f.code("jwt-user", 0)}}
	d := f.engine.Check(context.Background(), r)
	expectAllow(t, d, "totp")
	if d.User != "jwt-user" {
		t.Fatalf("user %q", d.User)
	}
	num, _ := structpb.NewStruct(map[string]any{"sub": 42})
	md["envoy.filters.http.jwt_authn"].Fields["jwt_payload"] = structpb.NewStructValue(num)
	expectDeny(t, f.engine.Check(context.Background(), r), profile.NoIdentity, 400, "unusable jwt claim sub")
}

func TestBearerFingerprint(t *testing.T) {
	f := newFixture(t, func(o *Options, _ *policy.Config) { o.Identity.Header = ""; o.Identity.BearerFingerprint = true })
	d := f.check("POST", "/carts/1", MapHeader{"authorization": "Bearer abc.def"})
	expectDeny(t, d, profile.NotEnrolled, 403, "")
	sum := sha256.Sum256([]byte("abc.def"))
	if want := "sha256:" + hex.EncodeToString(sum[:]); d.User != want {
		t.Fatalf("user %q, want %q", d.User, want)
	}
	expectDeny(t, f.check("POST", "/carts/1", MapHeader{"authorization": "Basic abc"}), profile.NoIdentity, 400, "unusable authorization header")
}

func TestMethodOverride(t *testing.T) {
	f := newFixture(t, nil)
	for _, h := range []MapHeader{
		{"x-http-method-override": "DELETE"}, {"x-http-method": "patch"}, {"x-method-override": "GET, POST"},
	} {
		expectDeny(t, f.check("GET", "/carts/1", h), profile.NoIdentity, 400, "")
	}
	expectDeny(t, f.check("GET", "/carts/1?_method=DELETE", nil), profile.NoIdentity, 400, "")
	expectDeny(t, f.check("GET", "/carts/1?_method=%zz", nil), profile.NoIdentity, 400, "")
	expectAllow(t, f.check("GET", "/carts/1", MapHeader{"x-http-method-override": "GET"}), "")
}

func TestFailClosed(t *testing.T) {
	f := newFixture(t, nil)
	f.enroll("alice")
	h := MapHeader{"x-user-id": "alice", "x-mfa-code": "123456"}
	f.store.err = errors.New("disk on fire")
	expectDeny(t, f.check("POST", "/carts/1", h), profile.Unavailable, 503, "store error")
	f.store.err = nil
	f.store.panic = true
	expectDeny(t, f.check("POST", "/carts/1", h), profile.Unavailable, 503, "panic")
	f.store.panic = false
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	d := f.engine.Check(ctx, &Request{Method: "POST", Path: "/carts/1", Header: h})
	expectDeny(t, d, profile.Unavailable, 503, "")
	expectDeny(t, f.engine.Check(context.Background(), nil), profile.Unavailable, 503, "no path")
	expectDeny(t, f.engine.Check(context.Background(), &Request{Method: "POST"}), profile.Unavailable, 503, "no path")
	// The engine still serves.
	expectAllow(t, f.check("GET", "/", nil), "")
}

func TestRepeatedHeadersAreInvalid(t *testing.T) {
	f := newFixture(t, nil)
	f.enroll("alice")
	code := f.code("alice", 0)
	// A transport that sees the header twice (Envoy's header_map) reports n=2.
	d := f.engine.Check(context.Background(), &Request{Method: "POST", Path: "/carts/1",
		Header: twice{MapHeader{"x-user-id": "alice"}, "x-mfa-code", code}})
	expectDeny(t, d, profile.MalformedCode, 403, "malformed code")
	// Envoy's headers map joins repeats with commas.
	d = f.check("POST", "/carts/1", MapHeader{"x-user-id": "alice", "x-mfa-code": code + "," + code})
	expectDeny(t, d, profile.MalformedCode, 403, "malformed code")
	// Upper-case keys are found.
	expectAllow(t, f.check("POST", "/carts/1", MapHeader{"X-User-Id": "alice", "X-Mfa-Code": code}), "totp")
}

// twice reports one header as sent twice.
type twice struct {
	MapHeader
	name, value string
}

func (h twice) Lookup(name string) (string, int) {
	if name == h.name {
		return h.value, 2
	}
	return h.MapHeader.Lookup(name)
}

func TestParseCode(t *testing.T) {
	for _, c := range []struct {
		in, method, code string
		ok               bool
	}{
		{"123456", "", "123456", true},
		{" 123456 ", "", "123456", true},
		{"email 123456", "email", "123456", true},
		{"TOTP 123456", "totp", "123456", true},
		{"recovery ab12-cd34", "recovery", "ab12-cd34", true},
		{"", "", "", false},
		{"push 123456", "", "", false},
		{"totp  123456", "", "", false},
		{"totp", "", "", false},
		{"12 34 56", "", "", false},
		{"１２３４５６", "", "", false},
		{"١٢٣٤٥٦", "", "", false},
		{"-123456", "", "", false},
		{"123456\x00", "", "", false},
		{"recovery a_b", "", "", false},
		{string(make([]byte, 65)), "", "", false},
	} {
		m, code, ok := ParseCode(c.in)
		if m != c.method || code != c.code || ok != c.ok {
			t.Errorf("ParseCode(%q) = %q %q %t, want %q %q %t", c.in, m, code, ok, c.method, c.code, c.ok)
		}
	}
}
