package redisstore

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/mfa-authz/mfa-authz/authz"
	"github.com/mfa-authz/mfa-authz/authz/profile"
	"github.com/mfa-authz/mfa-authz/authz/regulation"
	"github.com/mfa-authz/mfa-authz/authz/store"
	"github.com/mfa-authz/mfa-authz/authz/totp"
	"github.com/mfa-authz/mfa-authz/cache"
	"github.com/mfa-authz/mfa-authz/policy"
	"github.com/mfa-authz/mfa-authz/test/redistest"
)

// replica is one engine on a Redis store, wired as the service wires it:
// the store's Limiter regulates and its Sessions are the cache's shared level.
type replica struct {
	st       *Store
	sessions *cache.Sessions
	engine   *authz.Engine
	cmds     atomic.Int64 // Redis commands sent
}

func newReplica(t *testing.T, srv *redistest.Server) *replica {
	t.Helper()
	r := &replica{st: open(t, srv, key(1))}
	r.st.rdb.AddHook(countHook{&r.cmds})
	var err error
	if r.sessions, err = cache.New(100); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.sessions.Close)
	r.sessions.SetShared(r.st.Sessions())
	pol, err := policy.Compile(policy.Config{Rules: []policy.RuleConfig{{Path: "/checkout", Methods: []string{"POST"}}}})
	if err != nil {
		t.Fatal(err)
	}
	prof, err := profile.New(profile.Glue, "X-MFA-Code", "")
	if err != nil {
		t.Fatal(err)
	}
	r.engine, err = authz.New(authz.Options{
		Config: authz.Config{Header: "X-MFA-Code", GracePeriod: 30 * time.Minute, TOTPSkew: 1,
			Identity: authz.IdentityConfig{Header: "x-user-id"}},
		Policy: pol, Profile: prof, Store: r.st, Sessions: r.sessions,
		Limiter: r.st.Limiter(regulation.DefaultConfig()),
	})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func (r *replica) check(user, code string) authz.Decision {
	h := authz.MapHeader{"x-user-id": user}
	if code != "" {
		h["x-mfa-code"] = code
	}
	return r.engine.Check(context.Background(), &authz.Request{Method: "POST", Host: "shop.example.com", Path: "/checkout", Header: h})
}

// countHook counts the commands a client sends (a pipeline counts each).
type countHook struct{ n *atomic.Int64 }

func (h countHook) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h countHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error { h.n.Add(1); return next(ctx, cmd) }
}
func (h countHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error { h.n.Add(int64(len(cmds))); return next(ctx, cmds) }
}

// expectDenied asserts d is the exact Glue denial of reason with code.
func expectDenied(t *testing.T, who string, d authz.Decision, reason profile.Reason, code, detail string) {
	t.Helper()
	want := `{"errors":[{"status":403,"code":"` + code + `","detail":`
	if d.Allowed || d.Reason != reason || d.Detail != detail || d.Answer.Status != 403 ||
		len(d.Answer.Body) < len(want) || d.Answer.Body[:len(want)] != want {
		t.Fatalf("%s: %+v; want %s %s (%s)", who, d, reason, code, detail)
	}
}

// A session verified on A and cached by B ends on both at once when Redis
// loses it: by DeleteEnrollment, by an UpdateEnrollment that removes a
// factor, or by a plain DEL of the session key. Every protected request
// reads the ban and the session with one MGET and nothing else.
func TestSessionRevokedOnEveryReplica(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	a, b := newReplica(t, srv), newReplica(t, srv)
	type revocation struct {
		name string
		do   func(t *testing.T, user string)
		// the denial of the next protected request without a code
		reason       profile.Reason
		code, detail string
	}
	for _, rv := range []revocation{
		{name: "DeleteEnrollment", reason: profile.NotEnrolled, code: "5920", detail: "no factor enrolled",
			do: func(t *testing.T, user string) {
				if err := a.st.DeleteEnrollment(ctx, user); err != nil {
					t.Fatal(err)
				}
			}},
		{name: "UpdateEnrollment removing a factor", reason: profile.Missing, code: "5900", detail: "no code",
			do: func(t *testing.T, user string) {
				err := b.st.UpdateEnrollment(ctx, user, func(cur *store.Enrollment) (*store.Enrollment, error) {
					return cur.Without(store.MethodEmail), nil
				})
				if err != nil {
					t.Fatal(err)
				}
			}},
		{name: "DEL of the session key", reason: profile.Missing, code: "5900", detail: "no code",
			do: func(t *testing.T, user string) {
				if n, err := a.st.rdb.Del(ctx, a.st.userKey(a.st.keys.Name(user), "session")).Result(); n != 1 || err != nil {
					t.Fatalf("DEL = %d, %v", n, err)
				}
			}},
	} {
		t.Run(rv.name, func(t *testing.T) {
			user := "user-" + strconv.FormatInt(time.Now().UnixNano(), 36)
			f, _, err := totp.Generate(totp.DefaultConfig(), user, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			enr := &store.Enrollment{TOTP: f, Email: &store.OOB{Destination: "u@example.com", Enabled: true, CreatedAt: time.Now()}}
			if err := a.st.PutEnrollment(ctx, user, enr, false); err != nil {
				t.Fatal(err)
			}
			code, _ := totp.Code(f, time.Now())
			if d := a.check(user, "totp "+code); !d.Allowed || d.Detail != "verified" {
				t.Fatalf("verify on A: %+v", d)
			}
			for i := range 2 { // B opens the record, then finds it in its cache
				before := b.cmds.Load()
				if d := b.check(user, ""); !d.Allowed || d.Detail != "session" || d.Method != "totp" {
					t.Fatalf("session on B (%d): %+v", i, d)
				}
				if n := b.cmds.Load() - before; n != 1 {
					t.Fatalf("a session hit on B sent %d Redis commands, want 1 (MGET)", n)
				}
			}
			if d := a.check(user, ""); !d.Allowed || d.Detail != "session" {
				t.Fatalf("session on A: %+v", d)
			}
			if _, ok := b.sessions.Get(user); !ok {
				t.Fatal("B did not cache the session")
			}
			rv.do(t, user)
			for name, r := range map[string]*replica{"A": a, "B": b} {
				expectDenied(t, name, r.check(user, ""), rv.reason, rv.code, rv.detail)
				if r.engine.SteppedUp(ctx, user, time.Now()) {
					t.Fatalf("%s: the revoked session still counts as a step-up", name)
				}
			}
		})
	}

	// A ban set in Redis still applies on every replica inside a session.
	t.Run("ban", func(t *testing.T) {
		f, _, _ := totp.Generate(totp.DefaultConfig(), "banned", time.Now())
		if err := a.st.PutEnrollment(ctx, "banned", &store.Enrollment{TOTP: f}, false); err != nil {
			t.Fatal(err)
		}
		code, _ := totp.Code(f, time.Now())
		if d := a.check("banned", "totp "+code); !d.Allowed {
			t.Fatalf("verify: %+v", d)
		}
		until := time.Now().Add(time.Minute).UnixMilli()
		a.st.rdb.Set(ctx, a.st.userKey(a.st.keys.Name("banned"), "reg:ban"), until, time.Minute)
		for name, r := range map[string]*replica{"A": a, "B": b} {
			if d := r.check("banned", ""); d.Allowed || d.Reason != profile.TooManyAttempts {
				t.Fatalf("%s: %+v, want banned", name, d)
			}
		}
	})

	// A session record copied from another user is no session.
	t.Run("forged", func(t *testing.T) {
		rec, err := a.st.rdb.Get(ctx, a.st.userKey(a.st.keys.Name("banned"), "session")).Result()
		if err != nil {
			t.Fatal(err)
		}
		f, _, _ := totp.Generate(totp.DefaultConfig(), "mallory", time.Now())
		if err := a.st.PutEnrollment(ctx, "mallory", &store.Enrollment{TOTP: f}, false); err != nil {
			t.Fatal(err)
		}
		a.st.rdb.Set(ctx, a.st.userKey(a.st.keys.Name("mallory"), "session"), rec, time.Minute)
		expectDenied(t, "B", b.check("mallory", ""), profile.Missing, "5900", "no code")
	})
}
