package store

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
)

func TestUseTOTPStepMonotonic(t *testing.T) {
	ctx := context.Background()
	d := openTestDir(t, t.TempDir(), testKey(1))
	for i, c := range []struct {
		step uint64
		ok   bool
	}{{1, true}, {1, false}, {0, false}, {2, true}, {2, false}, {1, false}, {100, true}} {
		ok, err := d.UseTOTPStep(ctx, "alice", c.step)
		if err != nil {
			t.Fatalf("#%d UseTOTPStep(%d): %v", i, c.step, err)
		}
		if ok != c.ok {
			t.Errorf("#%d UseTOTPStep(%d) = %v, want %v", i, c.step, ok, c.ok)
		}
	}
	// Users do not share a guard.
	if ok, err := d.UseTOTPStep(ctx, "bob", 1); !ok || err != nil {
		t.Errorf("UseTOTPStep(bob, 1) = %v, %v; want true", ok, err)
	}
}

func TestUseTOTPStepConcurrent(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	dirs := []*Dir{openTestDir(t, dir, testKey(1)), openTestDir(t, dir, testKey(1))}
	for _, step := range []uint64{7, 8, 9} {
		var wins atomic.Int32
		var wg sync.WaitGroup
		for i := range 50 {
			wg.Go(func() {
				ok, err := dirs[i%len(dirs)].UseTOTPStep(ctx, "alice", step)
				if err != nil {
					t.Errorf("UseTOTPStep: %v", err)
				}
				if ok {
					wins.Add(1)
				}
			})
		}
		wg.Wait()
		if n := wins.Load(); n != 1 {
			t.Errorf("step %d: %d of 50 concurrent uses succeeded, want exactly 1", step, n)
		}
	}
}

func TestReplayGuardIsAuthenticated(t *testing.T) {
	ctx := context.Background()
	d := openTestDir(t, t.TempDir(), testKey(1))
	for _, u := range []string{"alice", "mallory"} {
		if ok, err := d.UseTOTPStep(ctx, u, 10); !ok || err != nil {
			t.Fatalf("UseTOTPStep(%s) = %v, %v", u, ok, err)
		}
	}
	guard := func(u string) string { return filepath.Join(d.root, totpUsedDir, d.keys.fileName(u)) }

	// A forged huge step would lock Alice out forever; a record copied from
	// another user would move her guard. Both must be refused, not obeyed.
	forged := d.keys.sealStep(d.keys.fileName("alice"), 1<<62)
	forged[len(forged)-1] ^= 1
	copied, err := os.ReadFile(guard("mallory"))
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{"forged": forged, "copied": copied, "short": copied[:9]} {
		if err := os.WriteFile(guard("alice"), data, 0o600); err != nil {
			t.Fatal(err)
		}
		ok, err := d.UseTOTPStep(ctx, "alice", 11)
		if ok || !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: UseTOTPStep = %v, %v; want false, ErrCorrupt", name, ok, err)
		}
	}
}

func TestReplayGuardResetOnNewFactor(t *testing.T) {
	ctx := context.Background()
	d := openTestDir(t, t.TempDir(), testKey(1))
	if err := d.PutEnrollment(ctx, "alice", &Enrollment{TOTP: testTOTP(1)}, false); err != nil {
		t.Fatal(err)
	}
	if ok, _ := d.UseTOTPStep(ctx, "alice", 1000); !ok {
		t.Fatal("first use refused")
	}
	// Rewriting the same factor keeps the guard: a used code stays used.
	if err := d.PutEnrollment(ctx, "alice", &Enrollment{TOTP: testTOTP(1)}, true); err != nil {
		t.Fatal(err)
	}
	if ok, _ := d.UseTOTPStep(ctx, "alice", 1000); ok {
		t.Error("rewriting the same factor reset the replay guard")
	}
	// A new factor (possibly with another period) starts afresh.
	f := testTOTP(2)
	f.Period = 60
	if err := d.PutEnrollment(ctx, "alice", &Enrollment{TOTP: f}, true); err != nil {
		t.Fatal(err)
	}
	if ok, err := d.UseTOTPStep(ctx, "alice", 500); !ok || err != nil {
		t.Errorf("after new factor: UseTOTPStep(500) = %v, %v; want true", ok, err)
	}
	// Deleting removes the guard with the enrollment.
	if err := d.DeleteEnrollment(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(d.root, totpUsedDir, d.keys.fileName("alice"))); !os.IsNotExist(err) {
		t.Errorf("replay guard survives deletion: %v", err)
	}
}
