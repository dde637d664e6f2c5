package store_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mfa-authz/mfa-authz/authz/store"
	"github.com/mfa-authz/mfa-authz/authz/store/storetest"
)

// The Dir's pending-code and counter files on disk: bound to their user or counter key,
// refused when damaged rather than read as absent (which would reset a
// send limit or lose a pending code's spent tries), and gone when empty.
// Their names are the exported record names (store.Keys), as the Redis
// store uses them.

var ctx = context.Background()

func openDir(t *testing.T, dir string) *store.Dir {
	t.Helper()
	d, err := store.OpenDir(dir, storetest.Key(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func names(t *testing.T) *store.Keys {
	t.Helper()
	k, err := store.DeriveKeys(storetest.Key(1))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestDirPendingCodesAreBoundToTheUser(t *testing.T) {
	dir := t.TempDir()
	d := openDir(t, dir)
	now := storetest.Now()
	storetest.SetCode(t, d, "alice", store.MethodEmail, storetest.PendingCode(d, "alice", store.MethodEmail, now))
	storetest.SetCode(t, d, "bob", store.MethodEmail, storetest.PendingCode(d, "bob", store.MethodEmail, now))
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
	now := storetest.Now()
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
	storetest.Put(t, d, "alice", &store.Enrollment{TOTP: storetest.TOTP(storetest.Secret1)})
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
		return &store.Enrollment{TOTP: storetest.TOTP(storetest.Secret2)}, nil
	})
	if !errors.Is(err, store.ErrCorrupt) || called {
		t.Fatalf("UpdateEnrollment of a damaged record = %v (fn called: %v), want ErrCorrupt", err, called)
	}
}

func TestDirRemovesEmptyCodeFiles(t *testing.T) {
	dir := t.TempDir()
	d := openDir(t, dir)
	p := filepath.Join(dir, "codes", names(t).Name("alice"))
	storetest.SetCode(t, d, "alice", store.MethodEmail, storetest.PendingCode(d, "alice", store.MethodEmail, storetest.Now()))
	storetest.SetCode(t, d, "alice", store.MethodSMS, storetest.PendingCode(d, "alice", store.MethodSMS, storetest.Now()))
	storetest.SetCode(t, d, "alice", store.MethodEmail, nil)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("codes file gone with a code left: %v", err)
	}
	storetest.SetCode(t, d, "alice", store.MethodSMS, nil)
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
