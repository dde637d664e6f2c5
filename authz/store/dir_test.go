package store

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func testKey(b byte) []byte {
	return bytes.Repeat([]byte{b}, KeySize)
}

func openTestDir(t *testing.T, dir string, key []byte) *Dir {
	t.Helper()
	d, err := OpenDir(dir, key)
	if err != nil {
		t.Fatalf("OpenDir: %v", err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// testTOTP returns a valid factor whose secret is distinguishable by seed.
func testTOTP(seed byte) *TOTP {
	secrets := map[byte]string{
		1: "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ", // "12345678901234567890"
		2: "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP",
	}
	return &TOTP{
		Secret:    secrets[seed],
		Algorithm: "SHA1",
		Digits:    6,
		Period:    30,
		CreatedAt: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC),
	}
}

func enrollmentPath(d *Dir, user string) string {
	return filepath.Join(d.root, enrollmentsDir, d.keys.fileName(user))
}

func TestRoundTrip(t *testing.T) {
	ctx := context.Background()
	d := openTestDir(t, t.TempDir(), testKey(1))
	want := &Enrollment{TOTP: testTOTP(1)}
	if err := d.PutEnrollment(ctx, "alice", want, false); err != nil {
		t.Fatalf("PutEnrollment: %v", err)
	}
	got, err := d.Enrollment(ctx, "alice")
	if err != nil {
		t.Fatalf("Enrollment: %v", err)
	}
	if *got.TOTP != *want.TOTP {
		t.Errorf("Enrollment = %+v, want %+v", *got.TOTP, *want.TOTP)
	}
	if !got.Has(MethodTOTP) || got.Has(MethodEmail) {
		t.Errorf("Has: totp=%v email=%v, want true false", got.Has(MethodTOTP), got.Has(MethodEmail))
	}
}

func TestSurvivesReopen(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	d := openTestDir(t, dir, testKey(1))
	if err := d.PutEnrollment(ctx, "alice", &Enrollment{TOTP: testTOTP(1)}, false); err != nil {
		t.Fatal(err)
	}
	if ok, err := d.UseTOTPStep(ctx, "alice", 100); !ok || err != nil {
		t.Fatalf("UseTOTPStep(100) = %v, %v", ok, err)
	}
	d.Close()
	if _, err := d.Enrollment(ctx, "alice"); err == nil {
		t.Error("Enrollment on a closed Dir succeeded")
	}

	d2 := openTestDir(t, dir, testKey(1))
	got, err := d2.Enrollment(ctx, "alice")
	if err != nil {
		t.Fatalf("Enrollment after reopen: %v", err)
	}
	if got.TOTP.Secret != testTOTP(1).Secret {
		t.Error("secret changed across reopen")
	}
	if ok, err := d2.UseTOTPStep(ctx, "alice", 100); ok || err != nil {
		t.Errorf("UseTOTPStep(100) after reopen = %v, %v; want replay", ok, err)
	}
}

func TestNotFound(t *testing.T) {
	ctx := context.Background()
	d := openTestDir(t, t.TempDir(), testKey(1))
	if _, err := d.Enrollment(ctx, "nobody"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Enrollment: err = %v, want ErrNotFound", err)
	}
	if err := d.DeleteEnrollment(ctx, "nobody"); !errors.Is(err, ErrNotFound) {
		t.Errorf("DeleteEnrollment: err = %v, want ErrNotFound", err)
	}
}

func TestExistsAndReplace(t *testing.T) {
	ctx := context.Background()
	d := openTestDir(t, t.TempDir(), testKey(1))
	if err := d.PutEnrollment(ctx, "alice", &Enrollment{TOTP: testTOTP(1)}, false); err != nil {
		t.Fatal(err)
	}
	err := d.PutEnrollment(ctx, "alice", &Enrollment{TOTP: testTOTP(2)}, false)
	if !errors.Is(err, ErrExists) {
		t.Fatalf("second PutEnrollment: err = %v, want ErrExists", err)
	}
	if got, _ := d.Enrollment(ctx, "alice"); got.TOTP.Secret != testTOTP(1).Secret {
		t.Error("refused PutEnrollment changed the record")
	}
	if err := d.PutEnrollment(ctx, "alice", &Enrollment{TOTP: testTOTP(2)}, true); err != nil {
		t.Fatalf("PutEnrollment(replace): %v", err)
	}
	if got, _ := d.Enrollment(ctx, "alice"); got.TOTP.Secret != testTOTP(2).Secret {
		t.Error("replace did not take effect")
	}
	if err := d.DeleteEnrollment(ctx, "alice"); err != nil {
		t.Fatalf("DeleteEnrollment: %v", err)
	}
	if _, err := d.Enrollment(ctx, "alice"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Enrollment after delete: err = %v, want ErrNotFound", err)
	}
}

func TestPutValidates(t *testing.T) {
	ctx := context.Background()
	d := openTestDir(t, t.TempDir(), testKey(1))
	short := testTOTP(1)
	short.Secret = "JBSWY3DPEHPK3PXP" // 80 bits
	badAlg := testTOTP(1)
	badAlg.Algorithm = "MD5"
	for name, e := range map[string]*Enrollment{
		"nil":          nil,
		"no factor":    {},
		"short secret": {TOTP: short},
		"algorithm":    {TOTP: badAlg},
	} {
		err := d.PutEnrollment(ctx, "alice", e, true)
		if err == nil {
			t.Errorf("%s: PutEnrollment succeeded", name)
			continue
		}
		if strings.Contains(err.Error(), short.Secret) {
			t.Errorf("%s: error reveals the secret: %v", name, err)
		}
	}
	if err := d.PutEnrollment(ctx, "", &Enrollment{TOTP: testTOTP(1)}, false); err == nil {
		t.Error("PutEnrollment with empty user succeeded")
	}
}

func TestWrongKeyIsCorrupt(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	d := openTestDir(t, dir, testKey(1))
	if err := d.PutEnrollment(ctx, "alice", &Enrollment{TOTP: testTOTP(1)}, false); err != nil {
		t.Fatal(err)
	}

	// The key check stops a wrong key at open.
	if _, err := OpenDir(dir, testKey(2)); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("OpenDir with wrong key: err = %v, want ErrCorrupt", err)
	}

	// A record that reaches a Dir with another key is corrupt, not missing.
	other := openTestDir(t, t.TempDir(), testKey(2))
	data, err := os.ReadFile(enrollmentPath(d, "alice"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(enrollmentPath(other, "alice"), data, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = other.Enrollment(ctx, "alice")
	if !errors.Is(err, ErrCorrupt) || errors.Is(err, ErrNotFound) {
		t.Fatalf("Enrollment under wrong key: err = %v, want ErrCorrupt", err)
	}
	if strings.Contains(err.Error(), testTOTP(1).Secret) {
		t.Errorf("error reveals the secret: %v", err)
	}
}

func TestSwappedFileIsCorrupt(t *testing.T) {
	ctx := context.Background()
	d := openTestDir(t, t.TempDir(), testKey(1))
	if err := d.PutEnrollment(ctx, "alice", &Enrollment{TOTP: testTOTP(1)}, false); err != nil {
		t.Fatal(err)
	}
	if err := d.PutEnrollment(ctx, "mallory", &Enrollment{TOTP: testTOTP(2)}, false); err != nil {
		t.Fatal(err)
	}
	// Mallory, able to write the directory but not to read the key, gives
	// Alice his factor.
	data, err := os.ReadFile(enrollmentPath(d, "mallory"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(enrollmentPath(d, "alice"), data, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Enrollment(ctx, "alice"); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Enrollment of swapped file: err = %v, want ErrCorrupt", err)
	}
	// Replacing repairs it.
	if err := d.PutEnrollment(ctx, "alice", &Enrollment{TOTP: testTOTP(1)}, true); err != nil {
		t.Fatalf("PutEnrollment(replace) over corrupt record: %v", err)
	}
	if _, err := d.Enrollment(ctx, "alice"); err != nil {
		t.Fatalf("Enrollment after repair: %v", err)
	}
}

func TestDamagedFileIsCorrupt(t *testing.T) {
	ctx := context.Background()
	d := openTestDir(t, t.TempDir(), testKey(1))
	if err := d.PutEnrollment(ctx, "alice", &Enrollment{TOTP: testTOTP(1)}, false); err != nil {
		t.Fatal(err)
	}
	p := enrollmentPath(d, "alice")
	good, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	flipped := bytes.Clone(good)
	flipped[len(flipped)/2] ^= 1
	badVersion := bytes.Clone(good)
	badVersion[0] = 9
	for name, data := range map[string][]byte{
		"empty":       {},
		"truncated":   good[:len(good)-1],
		"header only": good[:5],
		"bit flip":    flipped,
		"version":     badVersion,
		"garbage":     []byte("not a record at all, just some text that is long enough"),
		"huge":        make([]byte, maxRecordSize+1),
	} {
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := d.Enrollment(ctx, "alice"); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: err = %v, want ErrCorrupt", name, err)
		}
		if err := d.PutEnrollment(ctx, "alice", &Enrollment{TOTP: testTOTP(2)}, false); !errors.Is(err, ErrExists) {
			t.Errorf("%s: PutEnrollment without replace: err = %v, want ErrExists", name, err)
		}
	}
}

func TestPermissions(t *testing.T) {
	ctx := context.Background()
	root := filepath.Join(t.TempDir(), "data")
	d := openTestDir(t, root, testKey(1))
	if err := d.PutEnrollment(ctx, "alice", &Enrollment{TOTP: testTOTP(1)}, false); err != nil {
		t.Fatal(err)
	}
	if _, err := d.UseTOTPStep(ctx, "alice", 1); err != nil {
		t.Fatal(err)
	}
	n := 0
	err := filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := e.Info()
		if err != nil {
			return err
		}
		want := fs.FileMode(0o600)
		if e.IsDir() {
			want = 0o700
		}
		if got := fi.Mode().Perm(); got != want {
			t.Errorf("%s: mode %04o, want %04o", p, got, want)
		}
		if strings.HasPrefix(e.Name(), ".tmp-") {
			t.Errorf("%s: temporary file left behind", p)
		}
		n++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// root, 3 subdirectories, keycheck, enrollment, lock, totp-used record.
	if n != 8 {
		t.Errorf("walked %d entries, want 8", n)
	}
}

func TestHostileUserIDs(t *testing.T) {
	ctx := context.Background()
	parent := t.TempDir()
	root := filepath.Join(parent, "data")
	d := openTestDir(t, root, testKey(1))
	users := []string{"../../etc/passwd", "/etc/passwd", "a/b", ".", "..", "a\x00b", strings.Repeat("x", 10000), "ünïcødé"}
	for _, u := range users {
		if err := d.PutEnrollment(ctx, u, &Enrollment{TOTP: testTOTP(1)}, false); err != nil {
			t.Fatalf("PutEnrollment(%q): %v", u, err)
		}
		if _, err := d.Enrollment(ctx, u); err != nil {
			t.Fatalf("Enrollment(%q): %v", u, err)
		}
		if ok, err := d.UseTOTPStep(ctx, u, 1); !ok || err != nil {
			t.Fatalf("UseTOTPStep(%q) = %v, %v", u, ok, err)
		}
	}
	// Nothing escaped the store, and no file name contains a user id.
	entries, err := os.ReadDir(parent)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Errorf("store wrote outside its directory: %v", entries)
	}
	names, err := os.ReadDir(filepath.Join(root, enrollmentsDir))
	if err != nil {
		t.Fatal(err)
	}
	if len(names) != len(users) {
		t.Errorf("%d enrollment files for %d users", len(names), len(users))
	}
	for _, e := range names {
		if len(e.Name()) != 64 || strings.Trim(e.Name(), "0123456789abcdef") != "" {
			t.Errorf("enrollment file name %q is not 64 hex digits", e.Name())
		}
	}
}

func TestSecondProcessWriteIsSeenAtOnce(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	server := openTestDir(t, dir, testKey(1))
	if _, err := server.Enrollment(ctx, "alice"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("before enrollment: err = %v, want ErrNotFound", err)
	}
	cli := openTestDir(t, dir, testKey(1))
	if err := cli.PutEnrollment(ctx, "alice", &Enrollment{TOTP: testTOTP(1)}, false); err != nil {
		t.Fatal(err)
	}
	got, err := server.Enrollment(ctx, "alice")
	if err != nil {
		t.Fatalf("server does not see the CLI's enrollment: %v", err)
	}
	if got.TOTP.Secret != testTOTP(1).Secret {
		t.Error("server sees a different secret")
	}
	if err := cli.DeleteEnrollment(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := server.Enrollment(ctx, "alice"); !errors.Is(err, ErrNotFound) {
		t.Errorf("after CLI delete: err = %v, want ErrNotFound", err)
	}
}

func TestCanceledContext(t *testing.T) {
	d := openTestDir(t, t.TempDir(), testKey(1))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := d.Enrollment(ctx, "alice"); !errors.Is(err, context.Canceled) {
		t.Errorf("Enrollment: err = %v, want context.Canceled", err)
	}
	if ok, err := d.UseTOTPStep(ctx, "alice", 1); ok || !errors.Is(err, context.Canceled) {
		t.Errorf("UseTOTPStep = %v, %v; want false, context.Canceled", ok, err)
	}
}

func TestLockWaitHonoursContext(t *testing.T) {
	d := openTestDir(t, t.TempDir(), testKey(1))
	other := openTestDir(t, d.root, testKey(1))
	name := d.keys.fileName("alice")
	unlock, err := other.lock(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	ok, err := d.UseTOTPStep(ctx, "alice", 1)
	if ok || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("UseTOTPStep while locked = %v, %v; want false, context.DeadlineExceeded", ok, err)
	}
}

func TestOpenDirRejectsBadKey(t *testing.T) {
	for _, n := range []int{0, 16, 31, 33, 64} {
		if _, err := OpenDir(t.TempDir(), make([]byte, n)); err == nil {
			t.Errorf("OpenDir with %d-byte key succeeded", n)
		}
	}
}

func TestMethods(t *testing.T) {
	var none *Enrollment
	if m := none.Methods(); len(m) != 0 {
		t.Errorf("nil Methods() = %v", m)
	}
	if (&Enrollment{}).Has(MethodTOTP) {
		t.Error("empty enrollment has totp")
	}
	e := &Enrollment{TOTP: testTOTP(1)}
	if m := e.Methods(); len(m) != 1 || m[0] != MethodTOTP {
		t.Errorf("Methods() = %v, want [totp]", m)
	}
}
