package redisstore

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/mfa-authz/mfa-authz/authz/store"
	"github.com/mfa-authz/mfa-authz/test/redistest"
)

const leakUser = "alice.leak@example.com"

// noUser fails the test if err is nil or names leakUser: store errors are
// logged, and logs name users only by a hash.
func noUser(t *testing.T, what string, err error) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: no error", what)
		return
	}
	for _, part := range []string{leakUser, "alice", "example.com"} {
		if strings.Contains(err.Error(), part) {
			t.Errorf("%s: error %q names the user (%q)", what, err, part)
		}
	}
}

func TestErrorsNameNoUser(t *testing.T) {
	srv := redistest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s := open(t, srv, key(1))
	keep := func(cur *store.Enrollment) (*store.Enrollment, error) {
		if cur == nil {
			return &store.Enrollment{TOTP: totpFactor(secret1)}, nil
		}
		c := *cur
		return &c, nil
	}
	code := func(*store.PendingCode) (*store.PendingCode, error) {
		return &store.PendingCode{Hash: []byte{1}, Destination: "d", ExpiresAt: time.Now().Add(time.Minute)}, nil
	}
	all := func(what string) {
		t.Helper()
		_, err := s.Enrollment(ctx, leakUser)
		noUser(t, what+": Enrollment", err)
		noUser(t, what+": UpdateEnrollment", s.UpdateEnrollment(ctx, leakUser, keep))
		noUser(t, what+": UpdatePendingCode", s.UpdatePendingCode(ctx, leakUser, store.MethodEmail, code))
	}

	_, err := s.Enrollment(ctx, leakUser)
	if !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Enrollment: %v, want ErrNotFound", err)
	}
	noUser(t, "not found: Enrollment", err)
	noUser(t, "not found: DeleteEnrollment", s.DeleteEnrollment(ctx, leakUser))

	if err := s.PutEnrollment(ctx, leakUser, &store.Enrollment{TOTP: totpFactor(secret1)}, false); err != nil {
		t.Fatal(err)
	}
	err = s.PutEnrollment(ctx, leakUser, &store.Enrollment{TOTP: totpFactor(secret2)}, false)
	if !errors.Is(err, store.ErrExists) {
		t.Fatalf("PutEnrollment: %v, want ErrExists", err)
	}
	noUser(t, "exists: PutEnrollment", err)

	// Bad arguments.
	short := totpFactor("GEZDGNBV")
	noUser(t, "PutEnrollment(short secret)", s.PutEnrollment(ctx, leakUser, &store.Enrollment{TOTP: short}, true))
	noUser(t, "UpdateEnrollment(invalid)", s.UpdateEnrollment(ctx, leakUser, func(*store.Enrollment) (*store.Enrollment, error) {
		return &store.Enrollment{TOTP: short}, nil
	}))
	_, _, err = s.Hit(ctx, "user\x00email\x00"+leakUser, 0, 1, time.Now())
	noUser(t, "Hit(window 0)", err)

	// Corrupt records (damaged, or sealed under another key).
	name := s.keys.Name(leakUser)
	for _, kind := range []string{"enrollment", "codes"} {
		if err := s.rdb.Set(ctx, s.userKey(name, kind), "\x01not a record at all, just garbage....", 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	_, err = s.Enrollment(ctx, leakUser)
	if !errors.Is(err, store.ErrCorrupt) {
		t.Fatalf("Enrollment: %v, want ErrCorrupt", err)
	}
	all("corrupt")

	// Redis down: every read and write fails.
	srv.Stop()
	down, cancelDown := context.WithTimeout(ctx, 5*time.Second)
	defer cancelDown()
	_, err = s.Enrollment(down, leakUser)
	noUser(t, "down: Enrollment", err)
	noUser(t, "down: UpdateEnrollment", s.UpdateEnrollment(down, leakUser, keep))
	noUser(t, "down: UpdatePendingCode", s.UpdatePendingCode(down, leakUser, store.MethodEmail, code))
	noUser(t, "down: PutEnrollment", s.PutEnrollment(down, leakUser, &store.Enrollment{TOTP: totpFactor(secret2)}, true))
	noUser(t, "down: DeleteEnrollment", s.DeleteEnrollment(down, leakUser))
	_, err = s.UseTOTPStep(down, leakUser, 7)
	noUser(t, "down: UseTOTPStep", err)

	// Closed store.
	s.Close()
	all("closed")
	_, err = s.UseTOTPStep(ctx, leakUser, 8)
	noUser(t, "closed: UseTOTPStep", err)
}
