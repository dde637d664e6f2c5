// Package storetest is the conformance suite of store.Store: what every
// backend must do the same, so that the engine, the self-service
// endpoints and the CLI behave alike on any of them. A backend's tests run
// it with one call:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, storetest.Backend{Locking: true, Fresh: func(t *testing.T) storetest.Opener {
//			dir := t.TempDir()
//			return func(t *testing.T, key []byte) (store.Store, error) { return store.OpenDir(dir, key) }
//		}})
//	}
//
// Every case runs in parallel on fresh storage, through one or more
// handles on it (a second process on a directory, another replica on a
// server, a restart). The embedded Dir store and the Redis store (on a
// real redis-server) run it in their own tests.
//
// Backends serialise updates in one of two ways: a locking store (the
// Dir) holds the user's lock while the update function runs, so a
// concurrent writer waits; an optimistic store (Redis) swaps, so the
// function may run again on the newer record, and an update that keeps
// losing is refused. Either way no update computed from a stale record is
// written and none is lost; Backend.Locking says which to expect.
package storetest

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/mfa-authz/mfa-authz/authz/otc"
	"github.com/mfa-authz/mfa-authz/authz/store"
)

// Opener opens a store with key (store.KeySize bytes) on one storage;
// every call is another handle on the same data, as another process or
// replica would open it. A handle that opens is closed when t ends.
type Opener func(t *testing.T, key []byte) (store.Store, error)

// Backend is a store implementation under test.
type Backend struct {
	// Fresh returns an Opener on new, empty storage.
	Fresh func(t *testing.T) Opener
	// Locking is true for a store whose concurrent update waits for the
	// user's lock. When false the store swaps optimistically: the update
	// function runs again on the newer record, and an update that loses
	// every swap is refused with an error whose text says "try again".
	Locking bool
}

// testCase is one conformance case, run on fresh storage.
type testCase struct {
	name string
	run  func(t *testing.T, b Backend, open Opener)
}

// Run runs every conformance case against b, each as a parallel subtest
// on fresh storage.
func Run(t *testing.T, b Backend) {
	t.Helper()
	for _, cases := range [][]testCase{enrollmentCases, codeCases, limitCases, persistenceCases} {
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				t.Parallel()
				c.run(t, b, closing(b.Fresh(t)))
			})
		}
	}
}

// closing wraps open so that every handle it opens is closed when its
// test ends. Closing twice (a case that closes a handle itself) must be
// harmless, as it is for every store.
func closing(open Opener) Opener {
	return func(t *testing.T, key []byte) (store.Store, error) {
		s, err := open(t, key)
		if err != nil {
			return nil, err
		}
		t.Cleanup(func() { _ = s.Close() })
		return s, nil
	}
}

// Key returns a store key of KeySize bytes b: the cases open with Key(1)
// and refuse Key(2).
func Key(b byte) []byte { return bytes.Repeat([]byte{b}, store.KeySize) }

// Secret1 and Secret2 are two valid TOTP secrets (base32, 160 bits).
const Secret1, Secret2 = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ", "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"

// TOTP returns a valid TOTP factor with secret.
func TOTP(secret string) *store.TOTP {
	return &store.TOTP{Secret: secret, Algorithm: "SHA1", Digits: 6, Period: 30, CreatedAt: time.Unix(1700000000, 0).UTC()}
}

// Now is the current time in whole milliseconds, the precision of the
// Redis store's counters and code times.
func Now() time.Time { return time.UnixMilli(time.Now().UnixMilli()) }

// Put makes e the user's enrollment through UpdateEnrollment (nil deletes
// it), failing t on an error.
func Put(t *testing.T, s store.Store, user string, e *store.Enrollment) {
	t.Helper()
	if err := s.UpdateEnrollment(context.Background(), user, func(*store.Enrollment) (*store.Enrollment, error) { return e, nil }); err != nil {
		t.Fatalf("UpdateEnrollment: %v", err)
	}
}

// SetCode makes p the user's pending code of method (nil removes it),
// failing t on an error.
func SetCode(t *testing.T, s store.Store, user, method string, p *store.PendingCode) {
	t.Helper()
	err := s.UpdatePendingCode(context.Background(), user, method, func(*store.PendingCode) (*store.PendingCode, error) { return p, nil })
	if err != nil {
		t.Fatalf("UpdatePendingCode: %v", err)
	}
}

// PendingCode is a code for "123456" of the user's method, sent at now
// and good for a minute.
func PendingCode(s store.Store, user, method string, now time.Time) *store.PendingCode {
	return &store.PendingCode{Hash: s.SecretHash(user, otc.Purpose(method), "123456"), Destination: "alice@example.com",
		SentAt: now, ExpiresAt: now.Add(time.Minute)}
}

var ctx = context.Background()

// mustOpen opens a handle with k, failing t if it cannot.
func mustOpen(t *testing.T, open Opener, k []byte) store.Store {
	t.Helper()
	s, err := open(t, k)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	return s
}

// read returns the user's enrollment, nil when none.
func read(t *testing.T, s store.Store, user string) *store.Enrollment {
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

// code returns the user's pending code of method, nil when none.
func code(t *testing.T, s store.Store, user, method string) *store.PendingCode {
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

func samePending(a, b *store.PendingCode) bool {
	if a == nil || b == nil {
		return a == b
	}
	return bytes.Equal(a.Hash, b.Hash) && a.Destination == b.Destination && a.SentAt.Equal(b.SentAt) &&
		a.ExpiresAt.Equal(b.ExpiresAt) && a.Attempts == b.Attempts && a.Used == b.Used
}

// lostRace reports whether err is an optimistic store's refusal of an
// update that lost every swap to concurrent writers: documented, and
// nothing was written. A locking store never refuses.
func lostRace(b Backend, err error) bool {
	return !b.Locking && err != nil && strings.Contains(err.Error(), "try again")
}
