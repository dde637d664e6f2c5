package storetest

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mfa-authz/mfa-authz/authz/otc"
	"github.com/mfa-authz/mfa-authz/authz/store"
)

// codeCases hold UpdatePendingCode to its contract, through the one-time
// code logic that uses it (otc): a code works once, across handles.
var codeCases = []testCase{
	{"pending codes are kept per user and method", func(t *testing.T, _ Backend, open Opener) {
		s := mustOpen(t, open, Key(1))
		now := Now()
		email, sms := PendingCode(s, "alice", store.MethodEmail, now), PendingCode(s, "alice", store.MethodSMS, now.Add(time.Second))
		sms.Attempts = 2
		SetCode(t, s, "alice", store.MethodEmail, email)
		SetCode(t, s, "alice", store.MethodSMS, sms)
		if p := code(t, s, "alice", store.MethodEmail); !samePending(p, email) {
			t.Errorf("email code %+v, want %+v", p, email)
		}
		if p := code(t, s, "bob", store.MethodEmail); p != nil {
			t.Errorf("bob got alice's code %+v", p)
		}
		SetCode(t, s, "alice", store.MethodEmail, nil)
		if p := code(t, s, "alice", store.MethodEmail); p != nil {
			t.Errorf("removed email code still there: %+v", p)
		}
		if p := code(t, s, "alice", store.MethodSMS); !samePending(p, sms) {
			t.Errorf("removing the email code changed the sms code: %+v", p)
		}
		SetCode(t, s, "alice", store.MethodSMS, nil)
		SetCode(t, s, "alice", store.MethodSMS, nil) // removing nothing is no error
		if p := code(t, s, "alice", store.MethodSMS); p != nil {
			t.Errorf("removed sms code still there: %+v", p)
		}
	}},

	{"update pending code writes nothing on ErrNoChange or an error", func(t *testing.T, _ Backend, open Opener) {
		s := mustOpen(t, open, Key(1))
		want := PendingCode(s, "alice", store.MethodEmail, Now())
		SetCode(t, s, "alice", store.MethodEmail, want)
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

	{"a pending code works once", func(t *testing.T, _ Backend, open Opener) {
		s := mustOpen(t, open, Key(1))
		now := Now()
		SetCode(t, s, "alice", store.MethodEmail, PendingCode(s, "alice", store.MethodEmail, now))
		for i, want := range []otc.Outcome{otc.OK, otc.None} {
			if got, err := otc.Use(ctx, s, "alice", store.MethodEmail, "123456", now, 3); got != want || err != nil {
				t.Errorf("use #%d = %v, %v; want %v", i, got, err, want)
			}
		}
	}},

	{"of concurrent uses of a code one wins", func(t *testing.T, b Backend, open Opener) {
		handles := []store.Store{mustOpen(t, open, Key(1)), mustOpen(t, open, Key(1))}
		now := Now()
		SetCode(t, handles[0], "alice", store.MethodEmail, PendingCode(handles[0], "alice", store.MethodEmail, now))
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

	{"an expired code is refused and dropped", func(t *testing.T, _ Backend, open Opener) {
		s := mustOpen(t, open, Key(1))
		p := PendingCode(s, "alice", store.MethodSMS, Now())
		SetCode(t, s, "alice", store.MethodSMS, p)
		if got, err := otc.Use(ctx, s, "alice", store.MethodSMS, "123456", p.ExpiresAt.Add(-time.Millisecond), 3); got != otc.OK || err != nil {
			t.Fatalf("use just before expiry = %v, %v", got, err)
		}
		SetCode(t, s, "alice", store.MethodSMS, p)
		if got, _ := otc.Use(ctx, s, "alice", store.MethodSMS, "123456", p.ExpiresAt, 3); got != otc.Expired {
			t.Errorf("use at expiry = %v, want expired", got)
		}
		if q := code(t, s, "alice", store.MethodSMS); q != nil {
			t.Errorf("expired code kept: %+v", q)
		}
	}},

	{"wrong tries are counted and the last one drops the code", func(t *testing.T, _ Backend, open Opener) {
		s := mustOpen(t, open, Key(1))
		now := Now()
		SetCode(t, s, "alice", store.MethodEmail, PendingCode(s, "alice", store.MethodEmail, now))
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

	{"concurrent wrong tries are all counted", func(t *testing.T, b Backend, open Opener) {
		handles := []store.Store{mustOpen(t, open, Key(1)), mustOpen(t, open, Key(1))}
		now := Now()
		SetCode(t, handles[0], "alice", store.MethodEmail, PendingCode(handles[0], "alice", store.MethodEmail, now))
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
}
