package store_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mfa-authz/mfa-authz/authz/otc"
	"github.com/mfa-authz/mfa-authz/authz/store"
	"github.com/mfa-authz/mfa-authz/authz/store/redisstore"
	"github.com/mfa-authz/mfa-authz/test/redistest"
)

// The conformance suite of store.Lifecycle: every case runs against the
// embedded Dir store and against the Redis store (on a real redis-server,
// skipped when none is installed), on fresh storage, through one or more
// handles on it (a second process on the directory, another replica on
// Redis, a restart).
//
// The two stores serialise updates differently: the Dir holds the user's
// lock while fn runs, so a concurrent writer waits; the Redis store swaps
// optimistically, so fn may run again on the newer record, and an update
// that keeps losing is refused. Either way no update computed from a stale
// record is written and none is lost; backend.locking says which to expect.

// opener opens a store with key on one storage; every call is another
// handle on the same data.
type opener func(t *testing.T, key []byte) (store.Lifecycle, error)

type backend struct {
	name string
	// fresh returns an opener on new, empty storage.
	fresh func(t *testing.T) opener
	// locking: a concurrent update waits for the lock (Dir); otherwise it
	// is retried on the newer record, and refused after too many losses.
	locking bool
}

func dirBackend() backend {
	return backend{name: "dir", locking: true, fresh: func(t *testing.T) opener {
		dir := t.TempDir()
		return func(t *testing.T, key []byte) (store.Lifecycle, error) {
			d, err := store.OpenDir(dir, key)
			if err == nil {
				t.Cleanup(func() { d.Close() })
			}
			return d, err
		}
	}}
}

func redisBackend(srv *redistest.Server) backend {
	var n atomic.Int32
	return backend{name: "redis", fresh: func(t *testing.T) opener {
		c := redisstore.DefaultConfig()
		c.URL = srv.URL
		c.KeyPrefix = fmt.Sprintf("conformance%d", n.Add(1)) // one server, fresh keys
		return func(t *testing.T, key []byte) (store.Lifecycle, error) {
			s, err := redisstore.Open(context.Background(), c, key, nil)
			if err == nil {
				t.Cleanup(func() { s.Close() })
			}
			return s, err
		}
	}}
}

func TestLifecycleConformance(t *testing.T) {
	t.Run("dir", func(t *testing.T) { runConformance(t, dirBackend()) })
	t.Run("redis", func(t *testing.T) { runConformance(t, redisBackend(redistest.Start(t))) })
}

func runConformance(t *testing.T, b backend) {
	for _, c := range conformance {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.run(t, b, b.fresh(t))
		})
	}
}

func key(b byte) []byte { return bytes.Repeat([]byte{b}, store.KeySize) }

func mustOpen(t *testing.T, open opener, k []byte) store.Lifecycle {
	t.Helper()
	s, err := open(t, k)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	return s
}

const secret1, secret2 = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ", "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"

func totpFactor(secret string) *store.TOTP {
	return &store.TOTP{Secret: secret, Algorithm: "SHA1", Digits: 6, Period: 30, CreatedAt: time.Unix(1700000000, 0).UTC()}
}

var ctx = context.Background()

// put makes e the user's enrollment through UpdateEnrollment.
func put(t *testing.T, s store.Lifecycle, user string, e *store.Enrollment) {
	t.Helper()
	if err := s.UpdateEnrollment(ctx, user, func(*store.Enrollment) (*store.Enrollment, error) { return e, nil }); err != nil {
		t.Fatalf("UpdateEnrollment: %v", err)
	}
}

// read returns the user's enrollment, nil when none.
func read(t *testing.T, s store.Lifecycle, user string) *store.Enrollment {
	t.Helper()
	e, err := s.Enrollment(ctx, user)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		t.Fatalf("Enrollment: %v", err)
	}
	return e
}

// withRecovery returns a copy of cur with one more recovery code: the
// counter of the concurrency cases.
func withRecovery(cur *store.Enrollment, tag byte) *store.Enrollment {
	next := *cur
	next.Recovery = append(append([]store.RecoveryCode(nil), cur.Recovery...), store.RecoveryCode{Hash: []byte{tag}})
	return &next
}

// setCode makes p the user's pending code of method.
func setCode(t *testing.T, s store.Lifecycle, user, method string, p *store.PendingCode) {
	t.Helper()
	err := s.UpdatePendingCode(ctx, user, method, func(*store.PendingCode) (*store.PendingCode, error) { return p, nil })
	if err != nil {
		t.Fatalf("UpdatePendingCode: %v", err)
	}
}

// code returns the user's pending code of method, nil when none.
func code(t *testing.T, s store.Lifecycle, user, method string) *store.PendingCode {
	t.Helper()
	var got *store.PendingCode
	err := s.UpdatePendingCode(ctx, user, method, func(cur *store.PendingCode) (*store.PendingCode, error) {
		got = cur
		return nil, store.ErrNoChange
	})
	if err != nil {
		t.Fatalf("UpdatePendingCode: %v", err)
	}
	return got
}

// pendingCode is a code for "123456" of the user's method, sent at now
// and good for a minute. Times are whole milliseconds, as Redis keeps them.
func pendingCode(s store.Lifecycle, user, method string, now time.Time) *store.PendingCode {
	return &store.PendingCode{Hash: s.SecretHash(user, otc.Purpose(method), "123456"), Destination: "alice@example.com",
		SentAt: now, ExpiresAt: now.Add(time.Minute)}
}

func samePending(a, b *store.PendingCode) bool {
	if a == nil || b == nil {
		return a == b
	}
	return bytes.Equal(a.Hash, b.Hash) && a.Destination == b.Destination && a.SentAt.Equal(b.SentAt) &&
		a.ExpiresAt.Equal(b.ExpiresAt) && a.Attempts == b.Attempts && a.Used == b.Used
}

// lostRace reports whether err is the Redis store's refusal of an update
// that lost every swap to concurrent writers: documented, and nothing was
// written. A locking store never refuses.
func lostRace(b backend, err error) bool {
	return !b.locking && err != nil && strings.Contains(err.Error(), "try again")
}

// msNow is now in whole milliseconds, the precision of the Redis counters.
func msNow() time.Time { return time.UnixMilli(time.Now().UnixMilli()) }

var conformance = []struct {
	name string
	run  func(t *testing.T, b backend, open opener)
}{
	// --- UpdateEnrollment -------------------------------------------------

	{"update enrollment creates, changes and deletes", func(t *testing.T, _ backend, open opener) {
		s := mustOpen(t, open, key(1))
		calls := 0
		err := s.UpdateEnrollment(ctx, "alice", func(cur *store.Enrollment) (*store.Enrollment, error) {
			calls++
			if cur != nil {
				t.Errorf("fn got %+v for a user without enrollment", cur)
			}
			return &store.Enrollment{TOTP: totpFactor(secret1)}, nil
		})
		if err != nil || calls != 1 {
			t.Fatalf("create: %v (%d calls)", err, calls)
		}
		err = s.UpdateEnrollment(ctx, "alice", func(cur *store.Enrollment) (*store.Enrollment, error) {
			if cur == nil || cur.TOTP.Secret != secret1 {
				t.Errorf("fn got %+v, want the stored enrollment", cur)
			}
			next := *cur
			next.Email = &store.OOB{Destination: "alice@example.com", Enabled: true}
			return &next, nil
		})
		if err != nil {
			t.Fatalf("change: %v", err)
		}
		if e := read(t, s, "alice"); e == nil || e.TOTP.Secret != secret1 || e.Email == nil || !e.Has(store.MethodEmail) {
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

	{"update enrollment writes nothing on ErrNoChange, an error or an invalid record", func(t *testing.T, _ backend, open opener) {
		s := mustOpen(t, open, key(1))
		put(t, s, "alice", &store.Enrollment{TOTP: totpFactor(secret1)})
		boom := errors.New("boom")
		for _, c := range []struct {
			name string
			next *store.Enrollment
			err  error
			want func(error) bool
		}{
			{"ErrNoChange", &store.Enrollment{TOTP: totpFactor(secret2)}, store.ErrNoChange, func(err error) bool { return err == nil }},
			{"fn's error", &store.Enrollment{TOTP: totpFactor(secret2)}, boom, func(err error) bool { return errors.Is(err, boom) }},
			{"no factor", &store.Enrollment{}, nil, func(err error) bool { return err != nil }},
			{"no destination", &store.Enrollment{Email: &store.OOB{Enabled: true}}, nil, func(err error) bool { return err != nil }},
			{"bad TOTP", &store.Enrollment{TOTP: &store.TOTP{Secret: "short", Algorithm: "SHA1", Digits: 6, Period: 30}}, nil,
				func(err error) bool { return err != nil && !strings.Contains(err.Error(), "short") }},
		} {
			err := s.UpdateEnrollment(ctx, "alice", func(*store.Enrollment) (*store.Enrollment, error) { return c.next, c.err })
			if !c.want(err) {
				t.Errorf("%s: UpdateEnrollment = %v", c.name, err)
			}
			if e := read(t, s, "alice"); e == nil || e.TOTP.Secret != secret1 || e.Email != nil {
				t.Errorf("%s: the record changed to %+v", c.name, e)
			}
		}
	}},

	{"deleting the enrollment takes its replay guard and pending codes", func(t *testing.T, _ backend, open opener) {
		s := mustOpen(t, open, key(1))
		put(t, s, "alice", &store.Enrollment{TOTP: totpFactor(secret1)})
		if ok, err := s.UseTOTPStep(ctx, "alice", 100); !ok || err != nil {
			t.Fatalf("UseTOTPStep = %v, %v", ok, err)
		}
		setCode(t, s, "alice", store.MethodEmail, pendingCode(s, "alice", store.MethodEmail, msNow()))
		put(t, s, "alice", nil)
		if p := code(t, s, "alice", store.MethodEmail); p != nil {
			t.Errorf("pending code %+v outlived the enrollment", p)
		}
		put(t, s, "alice", &store.Enrollment{TOTP: totpFactor(secret1)})
		if ok, err := s.UseTOTPStep(ctx, "alice", 100); !ok || err != nil {
			t.Errorf("UseTOTPStep after re-enrollment = %v, %v; the old guard outlived the enrollment", ok, err)
		}
	}},

	{"a new TOTP factor resets the replay guard, other changes keep it", func(t *testing.T, _ backend, open opener) {
		s := mustOpen(t, open, key(1))
		put(t, s, "alice", &store.Enrollment{TOTP: totpFactor(secret1)})
		if ok, _ := s.UseTOTPStep(ctx, "alice", 100); !ok {
			t.Fatal("first use refused")
		}
		put(t, s, "alice", &store.Enrollment{TOTP: totpFactor(secret1), SMS: &store.OOB{Destination: "+4915112345678"}})
		if ok, _ := s.UseTOTPStep(ctx, "alice", 100); ok {
			t.Error("adding a factor reset the TOTP replay guard")
		}
		put(t, s, "alice", &store.Enrollment{TOTP: totpFactor(secret2)})
		if ok, _ := s.UseTOTPStep(ctx, "alice", 100); !ok {
			t.Error("a new TOTP factor kept the old factor's replay guard")
		}
	}},

	{"an update sees a concurrent write, never a stale record", func(t *testing.T, b backend, open opener) {
		a, other := mustOpen(t, open, key(1)), mustOpen(t, open, key(1))
		put(t, a, "alice", &store.Enrollment{TOTP: totpFactor(secret1)})
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
		if b.locking {
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

	{"concurrent updaters lose no update", func(t *testing.T, b backend, open opener) {
		handles := []store.Lifecycle{mustOpen(t, open, key(1)), mustOpen(t, open, key(1))}
		put(t, handles[0], "alice", &store.Enrollment{TOTP: totpFactor(secret1)})
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

	// --- UpdatePendingCode ------------------------------------------------

	{"pending codes are kept per user and method", func(t *testing.T, _ backend, open opener) {
		s := mustOpen(t, open, key(1))
		now := msNow()
		email, sms := pendingCode(s, "alice", store.MethodEmail, now), pendingCode(s, "alice", store.MethodSMS, now.Add(time.Second))
		sms.Attempts = 2
		setCode(t, s, "alice", store.MethodEmail, email)
		setCode(t, s, "alice", store.MethodSMS, sms)
		if p := code(t, s, "alice", store.MethodEmail); !samePending(p, email) {
			t.Errorf("email code %+v, want %+v", p, email)
		}
		if p := code(t, s, "bob", store.MethodEmail); p != nil {
			t.Errorf("bob got alice's code %+v", p)
		}
		setCode(t, s, "alice", store.MethodEmail, nil)
		if p := code(t, s, "alice", store.MethodEmail); p != nil {
			t.Errorf("removed email code still there: %+v", p)
		}
		if p := code(t, s, "alice", store.MethodSMS); !samePending(p, sms) {
			t.Errorf("removing the email code changed the sms code: %+v", p)
		}
		setCode(t, s, "alice", store.MethodSMS, nil)
		setCode(t, s, "alice", store.MethodSMS, nil) // removing nothing is no error
		if p := code(t, s, "alice", store.MethodSMS); p != nil {
			t.Errorf("removed sms code still there: %+v", p)
		}
	}},

	{"update pending code writes nothing on ErrNoChange or an error", func(t *testing.T, _ backend, open opener) {
		s := mustOpen(t, open, key(1))
		want := pendingCode(s, "alice", store.MethodEmail, msNow())
		setCode(t, s, "alice", store.MethodEmail, want)
		boom := errors.New("boom")
		for _, fnErr := range []error{store.ErrNoChange, boom} {
			err := s.UpdatePendingCode(ctx, "alice", store.MethodEmail, func(*store.PendingCode) (*store.PendingCode, error) {
				return nil, fnErr
			})
			if fnErr == boom && !errors.Is(err, boom) || fnErr == store.ErrNoChange && err != nil {
				t.Errorf("fn returning %v: UpdatePendingCode = %v", fnErr, err)
			}
			if p := code(t, s, "alice", store.MethodEmail); !samePending(p, want) {
				t.Errorf("fn returning %v: code changed to %+v", fnErr, p)
			}
		}
	}},

	{"a pending code works once", func(t *testing.T, _ backend, open opener) {
		s := mustOpen(t, open, key(1))
		now := msNow()
		setCode(t, s, "alice", store.MethodEmail, pendingCode(s, "alice", store.MethodEmail, now))
		for i, want := range []otc.Outcome{otc.OK, otc.None} {
			if got, err := otc.Use(ctx, s, "alice", store.MethodEmail, "123456", now, 3); got != want || err != nil {
				t.Errorf("use #%d = %v, %v; want %v", i, got, err, want)
			}
		}
	}},

	{"of concurrent uses of a code one wins", func(t *testing.T, b backend, open opener) {
		handles := []store.Lifecycle{mustOpen(t, open, key(1)), mustOpen(t, open, key(1))}
		now := msNow()
		setCode(t, handles[0], "alice", store.MethodEmail, pendingCode(handles[0], "alice", store.MethodEmail, now))
		var wins atomic.Int32
		var wg sync.WaitGroup
		for i := range 16 {
			wg.Go(func() {
				out, err := otc.Use(ctx, handles[i%2], "alice", store.MethodEmail, "123456", now, 3)
				if err != nil && !lostRace(b, err) {
					t.Errorf("Use: %v", err)
				}
				if out == otc.OK {
					wins.Add(1)
				}
			})
		}
		wg.Wait()
		if wins.Load() != 1 {
			t.Fatalf("%d of 16 concurrent uses succeeded, want 1", wins.Load())
		}
	}},

	{"an expired code is refused and dropped", func(t *testing.T, _ backend, open opener) {
		s := mustOpen(t, open, key(1))
		p := pendingCode(s, "alice", store.MethodSMS, msNow())
		setCode(t, s, "alice", store.MethodSMS, p)
		if got, err := otc.Use(ctx, s, "alice", store.MethodSMS, "123456", p.ExpiresAt.Add(-time.Millisecond), 3); got != otc.OK || err != nil {
			t.Fatalf("use just before expiry = %v, %v", got, err)
		}
		setCode(t, s, "alice", store.MethodSMS, p)
		if got, _ := otc.Use(ctx, s, "alice", store.MethodSMS, "123456", p.ExpiresAt, 3); got != otc.Expired {
			t.Errorf("use at expiry = %v, want expired", got)
		}
		if q := code(t, s, "alice", store.MethodSMS); q != nil {
			t.Errorf("expired code kept: %+v", q)
		}
	}},

	{"wrong tries are counted and the last one drops the code", func(t *testing.T, _ backend, open opener) {
		s := mustOpen(t, open, key(1))
		now := msNow()
		setCode(t, s, "alice", store.MethodEmail, pendingCode(s, "alice", store.MethodEmail, now))
		for try := 1; try <= 3; try++ {
			if got, err := otc.Use(ctx, s, "alice", store.MethodEmail, "654321", now, 3); got != otc.Wrong || err != nil {
				t.Fatalf("wrong try %d = %v, %v", try, got, err)
			}
			p := code(t, s, "alice", store.MethodEmail)
			if try < 3 && (p == nil || p.Attempts != try) || try == 3 && p != nil {
				t.Fatalf("after wrong try %d: %+v", try, p)
			}
		}
		if got, _ := otc.Use(ctx, s, "alice", store.MethodEmail, "123456", now, 3); got != otc.None {
			t.Errorf("right code after the last try = %v, want none left", got)
		}
	}},

	{"concurrent wrong tries are all counted", func(t *testing.T, b backend, open opener) {
		handles := []store.Lifecycle{mustOpen(t, open, key(1)), mustOpen(t, open, key(1))}
		now := msNow()
		setCode(t, handles[0], "alice", store.MethodEmail, pendingCode(handles[0], "alice", store.MethodEmail, now))
		var counted atomic.Int32
		var wg sync.WaitGroup
		for i := range 12 {
			wg.Go(func() {
				switch out, err := otc.Use(ctx, handles[i%2], "alice", store.MethodEmail, "000000", now, 100); {
				case out == otc.Wrong && err == nil:
					counted.Add(1)
				case !lostRace(b, err):
					t.Errorf("Use = %v, %v", out, err)
				}
			})
		}
		wg.Wait()
		if p := code(t, handles[1], "alice", store.MethodEmail); p == nil || p.Attempts != int(counted.Load()) || counted.Load() == 0 {
			t.Fatalf("after %d wrong tries counted: %+v", counted.Load(), p)
		}
	}},

	// --- Hit ----------------------------------------------------------------

	{"hit counts up to the limit per window", func(t *testing.T, _ backend, open opener) {
		s := mustOpen(t, open, key(1))
		now := msNow()
		for i, c := range []struct {
			at    time.Duration
			ok    bool
			reset time.Duration
		}{
			{0, true, time.Minute}, {time.Second, true, time.Minute}, {2 * time.Second, true, time.Minute},
			{3 * time.Second, false, time.Minute}, {time.Minute - time.Millisecond, false, time.Minute},
			{time.Minute, true, 2 * time.Minute}, {time.Minute + time.Second, true, 2 * time.Minute},
		} {
			ok, reset, err := s.Hit(ctx, "user\x00email\x00alice", time.Minute, 3, now.Add(c.at))
			if err != nil || ok != c.ok || !reset.Equal(now.Add(c.reset)) {
				t.Errorf("hit #%d at +%s = %v %s %v; want %v until +%s", i, c.at, ok, reset.Sub(now), err, c.ok, c.reset)
			}
		}
		// Counters are per key.
		if ok, _, err := s.Hit(ctx, "user\x00email\x00bob", time.Minute, 3, now.Add(3*time.Second)); !ok || err != nil {
			t.Errorf("another key's hit = %v, %v", ok, err)
		}
	}},

	{"a window from the future moves back and keeps its count", func(t *testing.T, _ backend, open opener) {
		s := mustOpen(t, open, key(1))
		now := msNow()
		if ok, _, _ := s.Hit(ctx, "tenant\x00sms", time.Minute, 1, now); !ok {
			t.Fatal("first hit refused")
		}
		// The clock stepped back, or a request that read it earlier
		// arrived later: the window must not last longer than one, and
		// must not forget what it counted (concurrent requests would
		// otherwise restart it and pass the limit together).
		ok, reset, err := s.Hit(ctx, "tenant\x00sms", time.Minute, 1, now.Add(-time.Second))
		if ok || err != nil || !reset.Equal(now.Add(time.Minute-time.Second)) {
			t.Errorf("hit after the clock stepped back = %v %s %v; want refused until +59s", ok, reset.Sub(now), err)
		}
	}},

	{"concurrent hits never pass the limit", func(t *testing.T, _ backend, open opener) {
		handles := []store.Lifecycle{mustOpen(t, open, key(1)), mustOpen(t, open, key(1))}
		now := msNow()
		var passed atomic.Int32
		var wg sync.WaitGroup
		for i := range 20 {
			wg.Go(func() {
				ok, _, err := handles[i%2].Hit(ctx, "tenant\x00email", time.Hour, 5, now)
				if err != nil {
					t.Errorf("Hit: %v", err)
				}
				if ok {
					passed.Add(1)
				}
			})
		}
		wg.Wait()
		if passed.Load() != 5 {
			t.Fatalf("%d of 20 concurrent hits passed a limit of 5", passed.Load())
		}
	}},

	// --- Reserve ------------------------------------------------------------

	{"reserve counts every limit or none", func(t *testing.T, _ backend, open opener) {
		s := mustOpen(t, open, key(1))
		now := msNow()
		cooldown := store.Limit{Key: "cooldown\x00email\x00alice", Window: 30 * time.Second, Max: 1}
		user := store.Limit{Key: "user\x00email\x00alice", Window: time.Hour, Max: 2}
		if refused, _, err := s.Reserve(ctx, []store.Limit{cooldown, user}, now); refused != -1 || err != nil {
			t.Fatalf("first reserve = %d, %v; want counted", refused, err)
		}
		refused, reset, err := s.Reserve(ctx, []store.Limit{user, cooldown}, now.Add(time.Second))
		if refused != 1 || err != nil || !reset.Equal(now.Add(30*time.Second)) {
			t.Fatalf("reserve in the cooldown = %d, +%s, %v; want limit 1 until +30s", refused, reset.Sub(now), err)
		}
		// The refused reserve did not spend the user limit: one is left.
		if ok, _, _ := s.Hit(ctx, user.Key, user.Window, user.Max, now); !ok {
			t.Fatal("a refused reserve spent another limit's count")
		}
		if ok, _, _ := s.Hit(ctx, user.Key, user.Window, user.Max, now); ok {
			t.Fatal("the user limit counted more than two")
		}
	}},

	{"concurrent reserves pass a cooldown once and count exactly", func(t *testing.T, _ backend, open opener) {
		handles := []store.Lifecycle{mustOpen(t, open, key(1)), mustOpen(t, open, key(1))}
		now := msNow()
		tenant := store.Limit{Key: "tenant\x00sms", Window: time.Hour, Max: 1000}
		run := func(limits []store.Limit) int32 {
			var passed atomic.Int32
			var wg sync.WaitGroup
			for i := range 30 {
				wg.Go(func() {
					// Requests read the clock a little apart and reach
					// the store in any order.
					refused, _, err := handles[i%2].Reserve(ctx, limits, now.Add(time.Duration(i%5)*time.Millisecond))
					if err != nil {
						t.Errorf("Reserve: %v", err)
					}
					if refused < 0 {
						passed.Add(1)
					}
				})
			}
			wg.Wait()
			return passed.Load()
		}
		cooldown := store.Limit{Key: "cooldown\x00sms\x00bob", Window: 30 * time.Second, Max: 1}
		if n := run([]store.Limit{cooldown, {Key: "user\x00sms\x00bob", Window: time.Hour, Max: 10}, tenant}); n != 1 {
			t.Fatalf("%d of 30 concurrent sends passed one cooldown, want 1", n)
		}
		if n := run([]store.Limit{{Key: "user\x00sms\x00carol", Window: time.Hour, Max: 5}, tenant}); n != 5 {
			t.Fatalf("%d of 30 concurrent sends passed a limit of 5, want 5", n)
		}
		// The tenant counted exactly the 6 sends that went out.
		if refused, _, _ := handles[0].Reserve(ctx, []store.Limit{{Key: tenant.Key, Window: time.Hour, Max: 7}}, now); refused != -1 {
			t.Fatal("the tenant counter overshot: the 7th send was refused")
		}
		if refused, _, _ := handles[1].Reserve(ctx, []store.Limit{{Key: tenant.Key, Window: time.Hour, Max: 7}}, now); refused != 0 {
			t.Fatal("the tenant counter undercounted: an 8th send passed a limit of 7")
		}
	}},

	// --- Arguments --------------------------------------------------------

	{"bad arguments are refused before fn runs", func(t *testing.T, _ backend, open opener) {
		s := mustOpen(t, open, key(1))
		canceled, cancel := context.WithCancel(ctx)
		cancel()
		called := false
		enr := func(*store.Enrollment) (*store.Enrollment, error) {
			called = true
			return &store.Enrollment{TOTP: totpFactor(secret1)}, nil
		}
		pc := func(*store.PendingCode) (*store.PendingCode, error) { called = true; return &store.PendingCode{}, nil }
		now := msNow()
		for _, c := range []struct {
			name string
			err  error
		}{
			{"enrollment of no user", s.UpdateEnrollment(ctx, "", enr)},
			{"enrollment, canceled", s.UpdateEnrollment(canceled, "alice", enr)},
			{"pending code of no user", s.UpdatePendingCode(ctx, "", store.MethodEmail, pc)},
			{"pending code, canceled", s.UpdatePendingCode(canceled, "alice", store.MethodEmail, pc)},
			{"hit of no key", func() error { _, _, err := s.Hit(ctx, "", time.Minute, 1, now); return err }()},
			{"hit, canceled", func() error { _, _, err := s.Hit(canceled, "k", time.Minute, 1, now); return err }()},
			{"hit, no window", func() error { _, _, err := s.Hit(ctx, "k", 0, 1, now); return err }()},
			{"hit, no limit", func() error { _, _, err := s.Hit(ctx, "k", time.Minute, 0, now); return err }()},
			{"reserve of nothing", func() error { _, _, err := s.Reserve(ctx, nil, now); return err }()},
			{"reserve of no key", func() error {
				_, _, err := s.Reserve(ctx, []store.Limit{{Key: "k", Window: time.Minute, Max: 1}, {Window: time.Minute, Max: 1}}, now)
				return err
			}()},
		} {
			if c.err == nil {
				t.Errorf("%s: no error", c.name)
			}
		}
		if called {
			t.Error("fn ran for a refused call")
		}
		if read(t, s, "alice") != nil || code(t, s, "alice", store.MethodEmail) != nil {
			t.Error("a refused call wrote")
		}
		if ok, _, _ := s.Hit(ctx, "k", time.Minute, 1, now); !ok {
			t.Error("a refused hit was counted")
		}
	}},

	// --- Keys and persistence ---------------------------------------------

	{"secret hashes depend on every input and the key alone", func(t *testing.T, b backend, open opener) {
		s, same := mustOpen(t, open, key(1)), mustOpen(t, open, key(1))
		other := mustOpen(t, b.fresh(t), key(2))
		h := s.SecretHash("alice", "code:email", "123456")
		if !bytes.Equal(h, same.SecretHash("alice", "code:email", "123456")) {
			t.Error("two handles with one key disagree")
		}
		for _, c := range [][3]string{
			{"bob", "code:email", "123456"}, {"alice", "code:sms", "123456"}, {"alice", "code:email", "123457"},
			{"alicecode:email", "", "123456"}, {"alice", "code:email123456", ""},
		} {
			if bytes.Equal(h, s.SecretHash(c[0], c[1], c[2])) {
				t.Errorf("SecretHash%q equals alice's", c)
			}
		}
		if bytes.Equal(h, other.SecretHash("alice", "code:email", "123456")) {
			t.Error("another key gives the same hash")
		}
	}},

	{"everything survives a reopen", func(t *testing.T, _ backend, open opener) {
		s := mustOpen(t, open, key(1))
		now := msNow()
		want := pendingCode(s, "alice", store.MethodSMS, now)
		put(t, s, "alice", &store.Enrollment{TOTP: totpFactor(secret1), SMS: &store.OOB{Destination: "+4915112345678", Enabled: true}})
		setCode(t, s, "alice", store.MethodSMS, want)
		if ok, _, _ := s.Hit(ctx, "user\x00sms\x00alice", time.Hour, 1, now); !ok {
			t.Fatal("hit refused")
		}
		if ok, _ := s.UseTOTPStep(ctx, "alice", 100); !ok {
			t.Fatal("step refused")
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		r := mustOpen(t, open, key(1))
		if e := read(t, r, "alice"); e == nil || e.TOTP.Secret != secret1 || !e.Has(store.MethodSMS) {
			t.Errorf("enrollment after reopen: %+v", e)
		}
		if p := code(t, r, "alice", store.MethodSMS); !samePending(p, want) {
			t.Errorf("pending code after reopen: %+v", p)
		}
		if ok, reset, _ := r.Hit(ctx, "user\x00sms\x00alice", time.Hour, 1, now.Add(time.Second)); ok || !reset.Equal(now.Add(time.Hour)) {
			t.Errorf("counter after reopen: %v until %s", ok, reset)
		}
		if ok, _ := r.UseTOTPStep(ctx, "alice", 100); ok {
			t.Error("replay guard lost on reopen")
		}
	}},

	{"another key is refused and changes nothing", func(t *testing.T, _ backend, open opener) {
		s := mustOpen(t, open, key(1))
		put(t, s, "alice", &store.Enrollment{TOTP: totpFactor(secret1)})
		if _, err := open(t, key(2)); !errors.Is(err, store.ErrCorrupt) {
			t.Fatalf("open with another key: %v, want ErrCorrupt", err)
		}
		if e := read(t, mustOpen(t, open, key(1)), "alice"); e == nil || e.TOTP.Secret != secret1 {
			t.Fatalf("after the refused open: %+v", e)
		}
	}},
}
