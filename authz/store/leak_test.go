package store

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// leakUser is a user id whose appearance in an error would be a leak: store
// errors are logged by the engine and the API, and logs name users only by
// a hash.
const leakUser = "alice.leak@example.com"

// noUser fails the test if err is nil or its text names leakUser (or a
// recognisable part of it).
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

// TestErrorsNameNoUser provokes every kind of store error and checks that
// none quotes the user id.
func TestErrorsNameNoUser(t *testing.T) {
	ctx := context.Background()
	keep := func(cur *Enrollment) (*Enrollment, error) {
		if cur == nil {
			return &Enrollment{TOTP: testTOTP(1)}, nil
		}
		c := *cur
		return &c, nil
	}
	code := func(*PendingCode) (*PendingCode, error) {
		return &PendingCode{Hash: []byte{1}, Destination: "d", ExpiresAt: time.Now().Add(time.Minute)}, nil
	}
	// exercise runs the enrollment calls on leakUser; each must fail.
	exercise := func(t *testing.T, d *Dir, what string) {
		t.Helper()
		_, err := d.Enrollment(ctx, leakUser)
		noUser(t, what+": Enrollment", err)
		noUser(t, what+": UpdateEnrollment", d.UpdateEnrollment(ctx, leakUser, keep))
		noUser(t, what+": PutEnrollment", d.PutEnrollment(ctx, leakUser, &Enrollment{TOTP: testTOTP(2)}, false))
	}

	t.Run("not found", func(t *testing.T) {
		d := openTestDir(t, t.TempDir(), testKey(1))
		_, err := d.Enrollment(ctx, leakUser)
		if !errors.Is(err, ErrNotFound) {
			t.Fatalf("Enrollment: %v, want ErrNotFound", err)
		}
		noUser(t, "Enrollment", err)
		err = d.DeleteEnrollment(ctx, leakUser)
		if !errors.Is(err, ErrNotFound) {
			t.Fatalf("DeleteEnrollment: %v, want ErrNotFound", err)
		}
		noUser(t, "DeleteEnrollment", err)
	})

	t.Run("exists", func(t *testing.T) {
		d := openTestDir(t, t.TempDir(), testKey(1))
		if err := d.PutEnrollment(ctx, leakUser, &Enrollment{TOTP: testTOTP(1)}, false); err != nil {
			t.Fatal(err)
		}
		err := d.PutEnrollment(ctx, leakUser, &Enrollment{TOTP: testTOTP(2)}, false)
		if !errors.Is(err, ErrExists) {
			t.Fatalf("PutEnrollment: %v, want ErrExists", err)
		}
		noUser(t, "PutEnrollment", err)
	})

	t.Run("corrupt records", func(t *testing.T) {
		d := openTestDir(t, t.TempDir(), testKey(1))
		name := d.keys.fileName(leakUser)
		for _, sub := range []string{enrollmentsDir, totpUsedDir, codesDir} {
			if err := os.MkdirAll(filepath.Join(d.root, sub), 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(d.root, sub, name), []byte("\x01garbage that is no record at all......"), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		_, err := d.Enrollment(ctx, leakUser)
		if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), name) {
			t.Fatalf("Enrollment: %v, want ErrCorrupt naming the record %s", err, name)
		}
		exercise(t, d, "corrupt")
		_, err = d.UseTOTPStep(ctx, leakUser, 5)
		noUser(t, "corrupt: UseTOTPStep", err)
		noUser(t, "corrupt: UpdatePendingCode", d.UpdatePendingCode(ctx, leakUser, MethodEmail, code))
	})

	t.Run("too large", func(t *testing.T) {
		d := openTestDir(t, t.TempDir(), testKey(1))
		name := d.keys.fileName(leakUser)
		big := make([]byte, maxRecordSize+1)
		for _, sub := range []string{enrollmentsDir, totpUsedDir, codesDir} {
			_ = os.MkdirAll(filepath.Join(d.root, sub), 0o700)
			if err := os.WriteFile(filepath.Join(d.root, sub, name), big, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		exercise(t, d, "too large")
		_, err := d.UseTOTPStep(ctx, leakUser, 5)
		noUser(t, "too large: UseTOTPStep", err)
		noUser(t, "too large: UpdatePendingCode", d.UpdatePendingCode(ctx, leakUser, MethodEmail, code))
	})

	t.Run("wrong key", func(t *testing.T) {
		dir := t.TempDir()
		a := openTestDir(t, dir, testKey(1))
		if err := a.PutEnrollment(ctx, leakUser, &Enrollment{TOTP: testTOTP(1)}, false); err != nil {
			t.Fatal(err)
		}
		if ok, err := a.UseTOTPStep(ctx, leakUser, 5); !ok || err != nil {
			t.Fatal(ok, err)
		}
		if err := a.UpdatePendingCode(ctx, leakUser, MethodEmail, code); err != nil {
			t.Fatal(err)
		}
		// Remove the key check so that a store opens with another key, as
		// after a botched key rotation.
		if err := os.Remove(filepath.Join(dir, keyCheckFile)); err != nil {
			t.Fatal(err)
		}
		b := openTestDir(t, dir, testKey(2))
		bName := b.keys.fileName(leakUser)
		aName := a.keys.fileName(leakUser)
		for _, sub := range []string{enrollmentsDir, totpUsedDir, codesDir} {
			if err := os.Rename(filepath.Join(dir, sub, aName), filepath.Join(dir, sub, bName)); err != nil {
				t.Fatal(err)
			}
		}
		_, err := b.Enrollment(ctx, leakUser)
		if !errors.Is(err, ErrCorrupt) {
			t.Fatalf("Enrollment under the wrong key: %v, want ErrCorrupt", err)
		}
		exercise(t, b, "wrong key")
		_, err = b.UseTOTPStep(ctx, leakUser, 6)
		noUser(t, "wrong key: UseTOTPStep", err)
		noUser(t, "wrong key: UpdatePendingCode", b.UpdatePendingCode(ctx, leakUser, MethodEmail, code))
	})

	t.Run("another user's record", func(t *testing.T) {
		d := openTestDir(t, t.TempDir(), testKey(1))
		if err := d.PutEnrollment(ctx, "mallory", &Enrollment{TOTP: testTOTP(1)}, false); err != nil {
			t.Fatal(err)
		}
		rec, err := os.ReadFile(enrollmentPath(d, "mallory"))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(enrollmentPath(d, leakUser), rec, 0o600); err != nil {
			t.Fatal(err)
		}
		exercise(t, d, "swapped")
	})

	t.Run("file system faults", func(t *testing.T) {
		d := openTestDir(t, t.TempDir(), testKey(1))
		name := d.keys.fileName(leakUser)
		// A directory where a record should be: reads and writes fail.
		for _, sub := range []string{enrollmentsDir, totpUsedDir, codesDir} {
			if err := os.MkdirAll(filepath.Join(d.root, sub, name, "x"), 0o700); err != nil {
				t.Fatal(err)
			}
		}
		exercise(t, d, "directory as record")
		_, err := d.UseTOTPStep(ctx, leakUser, 5)
		noUser(t, "directory as record: UseTOTPStep", err)
		noUser(t, "directory as record: UpdatePendingCode", d.UpdatePendingCode(ctx, leakUser, MethodEmail, code))
		noUser(t, "directory as record: DeleteEnrollment", d.DeleteEnrollment(ctx, leakUser))

		// A directory where the lock file should be: every locked call fails.
		l := openTestDir(t, t.TempDir(), testKey(1))
		if err := os.MkdirAll(filepath.Join(l.root, locksDir, name, "x"), 0o700); err != nil {
			t.Fatal(err)
		}
		noUser(t, "lock: UpdateEnrollment", l.UpdateEnrollment(ctx, leakUser, keep))
		noUser(t, "lock: PutEnrollment", l.PutEnrollment(ctx, leakUser, &Enrollment{TOTP: testTOTP(1)}, false))
		noUser(t, "lock: DeleteEnrollment", l.DeleteEnrollment(ctx, leakUser))
		_, err = l.UseTOTPStep(ctx, leakUser, 5)
		noUser(t, "lock: UseTOTPStep", err)
		noUser(t, "lock: UpdatePendingCode", l.UpdatePendingCode(ctx, leakUser, MethodEmail, code))
	})

	t.Run("bad arguments", func(t *testing.T) {
		d := openTestDir(t, t.TempDir(), testKey(1))
		short := testTOTP(1)
		short.Secret = "GEZDGNBV"
		noUser(t, "PutEnrollment(nil)", d.PutEnrollment(ctx, leakUser, nil, false))
		noUser(t, "PutEnrollment(short secret)", d.PutEnrollment(ctx, leakUser, &Enrollment{TOTP: short}, false))
		noUser(t, "PutEnrollment(no destination)", d.PutEnrollment(ctx, leakUser, &Enrollment{Email: &OOB{}}, false))
		noUser(t, "UpdateEnrollment(invalid)", d.UpdateEnrollment(ctx, leakUser, func(*Enrollment) (*Enrollment, error) {
			return &Enrollment{TOTP: short}, nil
		}))
		_, _, err := d.Hit(ctx, "user\x00email\x00"+leakUser, 0, 1, time.Now())
		noUser(t, "Hit(window 0)", err)
		_, _, err = d.Hit(ctx, "destination\x00email\x00"+leakUser, time.Minute, 0, time.Now())
		noUser(t, "Hit(limit 0)", err)
		if _, err := (&Keys{k: d.keys}).SealEnrollment(leakUser, d.keys.fileName(leakUser), &Enrollment{TOTP: short}); err == nil {
			t.Error("SealEnrollment accepted a short secret")
		} else {
			noUser(t, "SealEnrollment", err)
		}
		canceled, cancel := context.WithCancel(ctx)
		cancel()
		_, err = d.Enrollment(canceled, leakUser)
		noUser(t, "Enrollment(canceled)", err)
	})

	t.Run("closed", func(t *testing.T) {
		d := openTestDir(t, t.TempDir(), testKey(1))
		d.Close()
		exercise(t, d, "closed")
		noUser(t, "closed: DeleteEnrollment", d.DeleteEnrollment(ctx, leakUser))
		_, err := d.UseTOTPStep(ctx, leakUser, 5)
		noUser(t, "closed: UseTOTPStep", err)
		noUser(t, "closed: UpdatePendingCode", d.UpdatePendingCode(ctx, leakUser, MethodEmail, code))
		_, _, err = d.Hit(ctx, "user\x00email\x00"+leakUser, time.Minute, 1, time.Now())
		noUser(t, "closed: Hit", err)
	})
}
