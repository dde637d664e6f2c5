package store_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mfa-authz/mfa-authz/authz/store"
)

// The Dir's lifecycle files on disk: bound to their user or counter key,
// refused when damaged rather than read as absent (which would reset a
// send limit or lose a pending code's spent tries), and gone when empty.
// Their names are the exported record names (store.Keys), as the Redis
// store uses them.

func openDir(t *testing.T, dir string) *store.Dir {
	t.Helper()
	d, err := store.OpenDir(dir, key(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func names(t *testing.T) *store.Keys {
	t.Helper()
	k, err := store.DeriveKeys(key(1))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestDirPendingCodesAreBoundToTheUser(t *testing.T) {
	dir := t.TempDir()
	d := openDir(t, dir)
	now := msNow()
	setCode(t, d, "alice", store.MethodEmail, pendingCode(d, "alice", store.MethodEmail, now))
	setCode(t, d, "bob", store.MethodEmail, pendingCode(d, "bob", store.MethodEmail, now))
	k := names(t)
	bob, err := os.ReadFile(filepath.Join(dir, "codes", k.Name("bob")))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "codes", k.Name("alice")), bob, 0o600); err != nil {
		t.Fatal(err)
	}
	called := false
	err = d.UpdatePendingCode(ctx, "alice", store.MethodEmail, func(*store.PendingCode) (*store.PendingCode, error) {
		called = true
		return nil, nil
	})
	if !errors.Is(err, store.ErrCorrupt) || called {
		t.Fatalf("alice's codes replaced by bob's: %v (fn called: %v), want ErrCorrupt", err, called)
	}
}

func TestDirDamagedCounterIsRefused(t *testing.T) {
	dir := t.TempDir()
	d := openDir(t, dir)
	now := msNow()
	if ok, _, err := d.Hit(ctx, "tenant\x00sms", time.Hour, 1, now); !ok || err != nil {
		t.Fatalf("Hit = %v, %v", ok, err)
	}
	p := filepath.Join(dir, "counters", names(t).CounterName("tenant\x00sms"))
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)-1] ^= 1
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if ok, _, err := d.Hit(ctx, "tenant\x00sms", time.Hour, 1, now); ok || !errors.Is(err, store.ErrCorrupt) {
		t.Fatalf("Hit on a damaged counter = %v, %v; want ErrCorrupt", ok, err)
	}
}

func TestDirDamagedEnrollmentIsNotUpdated(t *testing.T) {
	dir := t.TempDir()
	d := openDir(t, dir)
	put(t, d, "alice", &store.Enrollment{TOTP: totpFactor(secret1)})
	p := filepath.Join(dir, "enrollments", names(t).Name("alice"))
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)-1] ^= 1
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	called := false
	err = d.UpdateEnrollment(ctx, "alice", func(*store.Enrollment) (*store.Enrollment, error) {
		called = true
		return &store.Enrollment{TOTP: totpFactor(secret2)}, nil
	})
	if !errors.Is(err, store.ErrCorrupt) || called {
		t.Fatalf("UpdateEnrollment of a damaged record = %v (fn called: %v), want ErrCorrupt", err, called)
	}
}

func TestDirRemovesEmptyCodeFiles(t *testing.T) {
	dir := t.TempDir()
	d := openDir(t, dir)
	p := filepath.Join(dir, "codes", names(t).Name("alice"))
	setCode(t, d, "alice", store.MethodEmail, pendingCode(d, "alice", store.MethodEmail, msNow()))
	setCode(t, d, "alice", store.MethodSMS, pendingCode(d, "alice", store.MethodSMS, msNow()))
	setCode(t, d, "alice", store.MethodEmail, nil)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("codes file gone with a code left: %v", err)
	}
	setCode(t, d, "alice", store.MethodSMS, nil)
	if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("codes file left without codes: %v", err)
	}
}

// Records in the Dir's format are the Redis store's too: the hash of a
// secret must not depend on where it is kept.
func TestDirSecretHashIsTheSharedOne(t *testing.T) {
	d := openDir(t, t.TempDir())
	if got, want := d.SecretHash("alice", "recovery", "ABCD-EFGH"), names(t).SecretHash("alice", "recovery", "ABCD-EFGH"); string(got) != string(want) {
		t.Fatal("Dir.SecretHash differs from Keys.SecretHash")
	}
}
