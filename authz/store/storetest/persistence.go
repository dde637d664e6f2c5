package storetest

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/mfa-authz/mfa-authz/authz/store"
)

// persistenceCases cover refused arguments, secret hashes, what survives
// a reopen, and a store key that is not the data's.
var persistenceCases = []testCase{
	{"bad arguments are refused before fn runs", func(t *testing.T, _ Backend, open Opener) {
		s := mustOpen(t, open, Key(1))
		canceled, cancel := context.WithCancel(ctx)
		cancel()
		called := false
		enr := func(*store.Enrollment) (*store.Enrollment, error) {
			called = true
			return &store.Enrollment{TOTP: TOTP(Secret1)}, nil
		}
		pc := func(*store.PendingCode) (*store.PendingCode, error) { called = true; return &store.PendingCode{}, nil }
		now := Now()
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

	{"secret hashes depend on every input and the key alone", func(t *testing.T, b Backend, open Opener) {
		s, same := mustOpen(t, open, Key(1)), mustOpen(t, open, Key(1))
		other := mustOpen(t, closing(b.Fresh(t)), Key(2))
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

	{"everything survives a reopen", func(t *testing.T, _ Backend, open Opener) {
		s := mustOpen(t, open, Key(1))
		now := Now()
		want := PendingCode(s, "alice", store.MethodSMS, now)
		Put(t, s, "alice", &store.Enrollment{TOTP: TOTP(Secret1), SMS: &store.OOB{Destination: "+4915112345678", Enabled: true}})
		SetCode(t, s, "alice", store.MethodSMS, want)
		if ok, _, _ := s.Hit(ctx, "user\x00sms\x00alice", time.Hour, 1, now); !ok {
			t.Fatal("hit refused")
		}
		if ok, _ := s.UseTOTPStep(ctx, "alice", 100); !ok {
			t.Fatal("step refused")
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		r := mustOpen(t, open, Key(1))
		if e := read(t, r, "alice"); e == nil || e.TOTP.Secret != Secret1 || !e.Has(store.MethodSMS) {
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

	{"another key is refused and changes nothing", func(t *testing.T, _ Backend, open Opener) {
		s := mustOpen(t, open, Key(1))
		Put(t, s, "alice", &store.Enrollment{TOTP: TOTP(Secret1)})
		if _, err := open(t, Key(2)); !errors.Is(err, store.ErrCorrupt) {
			t.Fatalf("open with another key: %v, want ErrCorrupt", err)
		}
		if e := read(t, mustOpen(t, open, Key(1)), "alice"); e == nil || e.TOTP.Secret != Secret1 {
			t.Fatalf("after the refused open: %+v", e)
		}
	}},
}
