package store

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mfa-authz/mfa-authz/authz/regulation"
)

// restartRegulator stands for a server start on the store in dir: a new
// Dir and a new regulator that reads its saved state back.
func restartRegulator(t *testing.T, dir string) (*Dir, *regulation.Regulator) {
	t.Helper()
	d := openTestDir(t, dir, testKey(1))
	r := regulation.New(regulation.DefaultConfig())
	if err := r.Persist(d, func(err error) { t.Errorf("save: %v", err) }); err != nil {
		t.Fatal(err)
	}
	return d, r
}

func failN(t *testing.T, r *regulation.Regulator, user string, n int, now time.Time) (banned bool) {
	t.Helper()
	for range n {
		a, _, refused := r.Begin(user, now)
		if refused {
			t.Fatalf("%s: attempt refused", user)
		}
		banned = a.Failed(now)
	}
	return banned
}

// TestRegulationSurvivesRestart: bans, the failures of the live window and
// the bans and failures in a row survive closing and reopening the
// embedded store; a right code removes the user's record.
func TestRegulationSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	d, r := restartRegulator(t, dir)
	if !failN(t, r, "banned", 5, now) {
		t.Fatal("5 failures did not ban")
	}
	failN(t, r, "slow", 3, now)
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}

	d, r = restartRegulator(t, dir)
	if until, banned := r.BannedUntil("banned", now.Add(time.Minute)); !banned || !until.Equal(now.Add(15*time.Minute)) {
		t.Fatalf("after restart: banned=%t until %s, want the 15m ban", banned, until)
	}
	if failN(t, r, "slow", 1, now) || !failN(t, r, "slow", 1, now) {
		t.Fatal("after restart: the window's failures before it were forgotten")
	}
	later := now.Add(15 * time.Minute)
	if !failN(t, r, "banned", 5, later) {
		t.Fatal("5 more failures did not ban")
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}

	d, r = restartRegulator(t, dir)
	if until, _ := r.BannedUntil("banned", later); !until.Equal(later.Add(30 * time.Minute)) {
		t.Fatalf("second ban until %s, want 30m: the bans in a row were forgotten", until)
	}
	a, _, _ := r.Begin("banned", later.Add(time.Hour))
	a.Succeeded()
	if _, err := os.Stat(filepath.Join(dir, regulationDir, d.keys.fileName("banned"))); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a right code left the record: %v", err)
	}
	if st, err := d.LoadRegulation("banned"); err != nil || !st.IsZero() {
		t.Fatalf("LoadRegulation after success = %+v, %v", st, err)
	}
}

// TestRegulationRecordBound: a user's record moved to another user's name
// is corrupt, and an attempt for that user fails rather than starting from
// nothing.
func TestRegulationRecordBound(t *testing.T) {
	dir := t.TempDir()
	d, r := restartRegulator(t, dir)
	failN(t, r, "mallory", 3, time.Now())
	src := filepath.Join(dir, regulationDir, d.keys.fileName("mallory"))
	if err := os.Rename(src, filepath.Join(dir, regulationDir, d.keys.fileName("victim"))); err != nil {
		t.Fatal(err)
	}
	if _, err := d.LoadRegulation("victim"); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("LoadRegulation of a moved record: %v, want ErrCorrupt", err)
	}
	r2 := regulation.New(regulation.DefaultConfig())
	if err := r2.Persist(d, nil); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Persist over a moved record: %v, want ErrCorrupt", err)
	}
	if _, _, _, err := r2.BeginErr("victim", time.Now()); err == nil {
		t.Fatal("an attempt for a user with an unreadable record was let through")
	}
}
