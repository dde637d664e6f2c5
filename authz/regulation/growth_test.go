package regulation

import (
	"errors"
	"sync"
	"testing"
	"time"
)

// banAfter fails max codes for user at now, the last of which must ban,
// and returns how long the ban lasts.
func banAfter(t *testing.T, r *Regulator, user string, max int, now time.Time) time.Duration {
	t.Helper()
	for i := 1; i <= max; i++ {
		if banned := fail(t, r, user, now); banned != (i == max) {
			t.Fatalf("failure %d of %d: banned=%t", i, max, banned)
		}
	}
	until, banned := r.BannedUntil(user, now)
	if !banned {
		t.Fatal("not banned")
	}
	return until.Sub(now)
}

// TestBansGrow: each ban in a row lasts twice the one before, up to
// max_ban; a right code starts the schedule over.
func TestBansGrow(t *testing.T) {
	r := New(DefaultConfig())
	now := t0
	for i, want := range []time.Duration{15 * time.Minute, 30 * time.Minute, time.Hour, 2 * time.Hour,
		4 * time.Hour, 8 * time.Hour, 16 * time.Hour, 24 * time.Hour, 24 * time.Hour} {
		if got := banAfter(t, r, "u", 5, now); got != want {
			t.Fatalf("ban %d lasts %s, want %s", i+1, got, want)
		}
		now = now.Add(want)
	}
	a, _, banned := r.Begin("u", now)
	if banned {
		t.Fatal("refused after the ban ended")
	}
	a.Succeeded()
	if got := banAfter(t, r, "u", 5, now); got != 15*time.Minute {
		t.Fatalf("first ban after a right code lasts %s, want 15m", got)
	}
}

// TestSlowGuessingLockedOut guesses just under the window's limit, window
// after window: nothing bans, until the 100th failure in a row locks the
// user out for the lockout; after it, each wrong code locks out again and
// only one attempt at a time is judged.
func TestSlowGuessingLockedOut(t *testing.T) {
	cfg := DefaultConfig()
	r := New(cfg)
	now := t0
	for i := 1; i < cfg.MaxConsecutiveFailures; i++ {
		if fail(t, r, "u", now) {
			t.Fatalf("failure %d banned (4 per window)", i)
		}
		if i%4 == 0 {
			now = now.Add(cfg.Window)
		}
	}
	if !fail(t, r, "u", now) {
		t.Fatal("the 100th failure in a row did not lock out")
	}
	until, banned := r.BannedUntil("u", now)
	if !banned || until.Sub(now) != 30*24*time.Hour {
		t.Fatalf("lockout until %s (banned=%t), want 30 days", until, banned)
	}
	after := until.Add(time.Second)
	a, _, banned := r.Begin("u", after)
	if banned {
		t.Fatal("no attempt after the lockout ended")
	}
	if _, _, banned := r.Begin("u", after); !banned {
		t.Fatal("a second attempt in flight past the consecutive limit")
	}
	if !a.Failed(after) {
		t.Fatal("a wrong code past the consecutive limit did not lock out again")
	}
	if until, _ := r.BannedUntil("u", after); until.Sub(after) != 30*24*time.Hour {
		t.Fatalf("second lockout until %s, want 30 days", until)
	}
}

// TestConsecutiveLimitHoldsInParallel: with 98 failures in a row, at most
// two of many parallel guesses are judged.
func TestConsecutiveLimitHoldsInParallel(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxFailures = 1000 // the window does not limit here
	r := New(cfg)
	for i := 0; i < 98; i++ {
		fail(t, r, "u", t0)
	}
	var mu sync.Mutex
	judged := 0
	var wg sync.WaitGroup
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a, _, banned := r.Begin("u", t0)
			if banned {
				return
			}
			mu.Lock()
			judged++
			mu.Unlock()
			time.Sleep(time.Millisecond)
			a.Failed(t0)
		}()
	}
	wg.Wait()
	if judged > 2 {
		t.Fatalf("%d guesses judged at 98 of 100 in a row, want at most 2", judged)
	}
}

// memJournal is a Journal in memory, standing for a store across a restart.
type memJournal struct {
	mu     sync.Mutex
	states map[string]State
	loads  int
	fail   error
}

func (j *memJournal) LoadRegulation(user string) (State, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.loads++
	return j.states[user], j.fail
}

func (j *memJournal) SaveRegulation(user string, s State) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.fail != nil {
		return j.fail
	}
	if s.IsZero() {
		delete(j.states, user)
	} else {
		j.states[user] = s
	}
	return nil
}

func (j *memJournal) RegulationStates(fn func(string, State)) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	for u, s := range j.states {
		fn(u, s)
	}
	return nil
}

// TestJournalSurvivesRestart: a new regulator on the same journal knows
// the ban, the failures of the live window and the bans in a row; a swept
// user is read back; a right code removes the saved state.
func TestJournalSurvivesRestart(t *testing.T) {
	j := &memJournal{states: map[string]State{}}
	r := New(DefaultConfig())
	if err := r.Persist(j, func(err error) { t.Error(err) }); err != nil {
		t.Fatal(err)
	}
	banAfter(t, r, "banned", 5, t0)
	fail(t, r, "slow", t0)
	fail(t, r, "slow", t0)

	r2 := New(DefaultConfig())
	if err := r2.Persist(j, nil); err != nil {
		t.Fatal(err)
	}
	if until, banned := r2.BannedUntil("banned", t0.Add(time.Minute)); !banned || until != t0.Add(15*time.Minute) {
		t.Fatalf("after restart: banned=%t until %s, want the 15m ban", banned, until)
	}
	later := t0.Add(15 * time.Minute)
	if got := banAfter(t, r2, "banned", 5, later); got != 30*time.Minute {
		t.Fatalf("second ban after restart lasts %s, want 30m", got)
	}
	if n := r2.Sweep(t0.Add(time.Minute)); n != 1 {
		t.Fatalf("swept %d, want 1 (slow, not banned)", n)
	}
	fail(t, r2, "slow", t0.Add(time.Minute))
	fail(t, r2, "slow", t0.Add(time.Minute))
	if !fail(t, r2, "slow", t0.Add(time.Minute)) {
		t.Fatal("failures before the restart and the sweep were forgotten")
	}
	a, _, _ := r2.Begin("banned", later.Add(31*time.Minute))
	a.Succeeded()
	if _, ok := j.states["banned"]; ok {
		t.Fatal("a right code left the saved state")
	}
}

// TestJournalUnreadableFailsClosed: a state that cannot be read refuses
// the attempt rather than starting the user from nothing.
func TestJournalUnreadableFailsClosed(t *testing.T) {
	j := &memJournal{states: map[string]State{}}
	r := New(DefaultConfig())
	if err := r.Persist(j, nil); err != nil {
		t.Fatal(err)
	}
	j.fail = errors.New("disk gone")
	if _, _, _, err := r.BeginErr("u", t0); err == nil {
		t.Fatal("BeginErr: no error from an unreadable journal")
	}
	if _, _, banned := r.Begin("u", t0); !banned {
		t.Fatal("Begin let an attempt through with an unreadable journal")
	}
}
