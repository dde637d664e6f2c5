package storetest

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mfa-authz/mfa-authz/authz/store"
)

// enrollmentCases hold UpdateEnrollment to its contract, with the replay
// guard and pending codes that live and die with the enrollment.
var enrollmentCases = []testCase{
	{"update enrollment creates, changes and deletes", func(t *testing.T, _ Backend, open Opener) {
		s := mustOpen(t, open, Key(1))
		calls := 0
		err := s.UpdateEnrollment(ctx, "alice", func(cur *store.Enrollment) (*store.Enrollment, error) {
			calls++
			if cur != nil {
				t.Errorf("fn got %+v for a user without enrollment", cur)
			}
			return &store.Enrollment{TOTP: TOTP(Secret1)}, nil
		})
		if err != nil || calls != 1 {
			t.Fatalf("create: %v (%d calls)", err, calls)
		}
		err = s.UpdateEnrollment(ctx, "alice", func(cur *store.Enrollment) (*store.Enrollment, error) {
			if cur == nil || cur.TOTP.Secret != Secret1 {
				t.Errorf("fn got %+v, want the stored enrollment", cur)
			}
			next := *cur
			next.Email = &store.OOB{Destination: "alice@example.com", Enabled: true}
			return &next, nil
		})
		if err != nil {
			t.Fatalf("change: %v", err)
		}
		if e := read(t, s, "alice"); e == nil || e.TOTP.Secret != Secret1 || e.Email == nil || !e.Has(store.MethodEmail) {
			t.Fatalf("after change: %+v", e)
		}
		if e := read(t, s, "bob"); e != nil {
			t.Fatalf("bob got alice's enrollment: %+v", e)
		}
		// nil deletes; deleting nothing is no error.
		for i := range 2 {
			if err := s.UpdateEnrollment(ctx, "alice", func(*store.Enrollment) (*store.Enrollment, error) { return nil, nil }); err != nil {
				t.Fatalf("delete #%d: %v", i, err)
			}
			if e := read(t, s, "alice"); e != nil {
				t.Fatalf("after delete #%d: %+v", i, e)
			}
		}
	}},

	{"a factor's own record is kept opaque, by name, and removed with the factor", func(t *testing.T, _ Backend, open Opener) {
		s := mustOpen(t, open, Key(1))
		e := &store.Enrollment{}
		e.SetFactor("token", &store.FactorRecord{Enabled: true, Data: []byte(`{"created_at":"2026-03-04T05:06:07Z"}`)})
		e.SetFactor("pending", &store.FactorRecord{Data: []byte(`"in progress"`)})
		Put(t, s, "alice", e)
		got := read(t, s, "alice")
		if got == nil || len(got.Factors) != 2 || !got.Factors["token"].Enabled || string(got.Factors["token"].Data) != `{"created_at":"2026-03-04T05:06:07Z"}` ||
			got.Factors["pending"].Enabled || string(got.Factors["pending"].Data) != `"in progress"` {
			t.Fatalf("read back %+v", got)
		}
		if m := got.Methods(); len(m) != 1 || m[0] != "token" {
			t.Fatalf("Methods() = %v, want [token]: a factor in progress does not count", m)
		}
		next := got.Without("token")
		if next == nil || len(next.Factors) != 1 || len(got.Factors) != 2 {
			t.Fatalf("Without(token) = %+v, and the original %+v: want one left and the original unchanged", next, got)
		}
		if next.Without("pending") != nil {
			t.Fatal("an enrollment without any factor record is still an enrollment")
		}
		bad := &store.Enrollment{}
		bad.SetFactor(store.MethodTOTP, &store.FactorRecord{Enabled: true})
		if err := s.UpdateEnrollment(ctx, "bob", func(*store.Enrollment) (*store.Enrollment, error) { return bad, nil }); err == nil {
			t.Fatal("a factor record under a name the store keeps itself was written")
		}
	}},

	{"update enrollment writes nothing on ErrNoChange, an error or an invalid record", func(t *testing.T, _ Backend, open Opener) {
		s := mustOpen(t, open, Key(1))
		Put(t, s, "alice", &store.Enrollment{TOTP: TOTP(Secret1)})
		boom := errors.New("boom")
		for _, c := range []struct {
			name string
			next *store.Enrollment
			err  error
			want func(error) bool
		}{
			{"ErrNoChange", &store.Enrollment{TOTP: TOTP(Secret2)}, store.ErrNoChange, func(err error) bool { return err == nil }},
			{"fn's error", &store.Enrollment{TOTP: TOTP(Secret2)}, boom, func(err error) bool { return errors.Is(err, boom) }},
			{"no factor", &store.Enrollment{}, nil, func(err error) bool { return err != nil }},
			{"no destination", &store.Enrollment{Email: &store.OOB{Enabled: true}}, nil, func(err error) bool { return err != nil }},
			{"bad TOTP", &store.Enrollment{TOTP: &store.TOTP{Secret: "short", Algorithm: "SHA1", Digits: 6, Period: 30}}, nil,
				func(err error) bool { return err != nil && !strings.Contains(err.Error(), "short") }},
		} {
			err := s.UpdateEnrollment(ctx, "alice", func(*store.Enrollment) (*store.Enrollment, error) { return c.next, c.err })
			if !c.want(err) {
				t.Errorf("%s: UpdateEnrollment = %v", c.name, err)
			}
			if e := read(t, s, "alice"); e == nil || e.TOTP.Secret != Secret1 || e.Email != nil {
				t.Errorf("%s: the record changed to %+v", c.name, e)
			}
		}
	}},

	{"deleting the enrollment takes its replay guard and pending codes", func(t *testing.T, _ Backend, open Opener) {
		s := mustOpen(t, open, Key(1))
		Put(t, s, "alice", &store.Enrollment{TOTP: TOTP(Secret1)})
		if ok, err := s.UseTOTPStep(ctx, "alice", 100); !ok || err != nil {
			t.Fatalf("UseTOTPStep = %v, %v", ok, err)
		}
		SetCode(t, s, "alice", store.MethodEmail, PendingCode(s, "alice", store.MethodEmail, Now()))
		Put(t, s, "alice", nil)
		if p := code(t, s, "alice", store.MethodEmail); p != nil {
			t.Errorf("pending code %+v outlived the enrollment", p)
		}
		Put(t, s, "alice", &store.Enrollment{TOTP: TOTP(Secret1)})
		if ok, err := s.UseTOTPStep(ctx, "alice", 100); !ok || err != nil {
			t.Errorf("UseTOTPStep after re-enrollment = %v, %v; the old guard outlived the enrollment", ok, err)
		}
	}},

	{"a new TOTP factor resets the replay guard, other changes keep it", func(t *testing.T, _ Backend, open Opener) {
		s := mustOpen(t, open, Key(1))
		Put(t, s, "alice", &store.Enrollment{TOTP: TOTP(Secret1)})
		if ok, _ := s.UseTOTPStep(ctx, "alice", 100); !ok {
			t.Fatal("first use refused")
		}
		Put(t, s, "alice", &store.Enrollment{TOTP: TOTP(Secret1), SMS: &store.OOB{Destination: "+4915112345678"}})
		if ok, _ := s.UseTOTPStep(ctx, "alice", 100); ok {
			t.Error("adding a factor reset the TOTP replay guard")
		}
		Put(t, s, "alice", &store.Enrollment{TOTP: TOTP(Secret2)})
		if ok, _ := s.UseTOTPStep(ctx, "alice", 100); !ok {
			t.Error("a new TOTP factor kept the old factor's replay guard")
		}
	}},

	{"an update sees a concurrent write, never a stale record", func(t *testing.T, b Backend, open Opener) {
		a, other := mustOpen(t, open, Key(1)), mustOpen(t, open, Key(1))
		Put(t, a, "alice", &store.Enrollment{TOTP: TOTP(Secret1)})
		addEmail := func(cur *store.Enrollment) (*store.Enrollment, error) {
			next := *cur
			next.Email = &store.OOB{Destination: "alice@example.com"}
			return &next, nil
		}
		calls := 0
		var concurrent error
		err := a.UpdateEnrollment(ctx, "alice", func(cur *store.Enrollment) (*store.Enrollment, error) {
			calls++
			if calls == 1 {
				// Another handle writes while this update runs.
				wctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
				concurrent = other.UpdateEnrollment(wctx, "alice", addEmail)
				cancel()
			}
			return withRecovery(cur, 'a'), nil
		})
		if err != nil {
			t.Fatal(err)
		}
		e := read(t, a, "alice")
		if b.Locking {
			// The writer waited for the lock, and gave up.
			if !errors.Is(concurrent, context.DeadlineExceeded) || calls != 1 || e.Email != nil || len(e.Recovery) != 1 {
				t.Fatalf("concurrent write: %v, %d calls, %+v; want it to wait for the lock", concurrent, calls, e)
			}
			if err := other.UpdateEnrollment(ctx, "alice", addEmail); err != nil {
				t.Fatal(err)
			}
			e = read(t, a, "alice")
		} else if concurrent != nil || calls != 2 {
			t.Fatalf("concurrent write: %v, %d calls; want it to win and fn to run again", concurrent, calls)
		}
		if e.Email == nil || len(e.Recovery) != 1 {
			t.Fatalf("final %+v: an update was lost", e)
		}
	}},

	{"concurrent updaters lose no update", func(t *testing.T, b Backend, open Opener) {
		handles := []store.Store{mustOpen(t, open, Key(1)), mustOpen(t, open, Key(1))}
		Put(t, handles[0], "alice", &store.Enrollment{TOTP: TOTP(Secret1)})
		const workers, each = 6, 8
		var done, refused atomic.Int32
		var wg sync.WaitGroup
		for w := range workers {
			wg.Go(func() {
				for range each {
					err := handles[w%2].UpdateEnrollment(ctx, "alice", func(cur *store.Enrollment) (*store.Enrollment, error) {
						return withRecovery(cur, byte(w)), nil
					})
					switch {
					case err == nil:
						done.Add(1)
					case lostRace(b, err):
						refused.Add(1)
					default:
						t.Errorf("UpdateEnrollment: %v", err)
					}
				}
			})
		}
		wg.Wait()
		e := read(t, handles[1], "alice")
		if len(e.Recovery) != int(done.Load()) || done.Load()+refused.Load() != workers*each || done.Load() == 0 {
			t.Fatalf("%d updates done, %d refused, %d written", done.Load(), refused.Load(), len(e.Recovery))
		}
	}},
}
