package regulation

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func fail(t *testing.T, r *Regulator, user string, now time.Time) bool {
	t.Helper()
	a, _, banned := r.Begin(user, now)
	if banned {
		t.Fatalf("%s: attempt refused at %s", user, now)
	}
	return a.Failed(now)
}

func TestBanAfterMaxFailures(t *testing.T) {
	r := New(DefaultConfig())
	for i := 1; i <= 4; i++ {
		if fail(t, r, "alice", t0.Add(time.Duration(i)*time.Second)) {
			t.Fatalf("banned after %d failures", i)
		}
	}
	if !fail(t, r, "alice", t0.Add(5*time.Second)) {
		t.Fatal("5th failure did not ban")
	}
	until, banned := r.BannedUntil("alice", t0.Add(6*time.Second))
	if !banned || !until.Equal(t0.Add(5*time.Second+15*time.Minute)) {
		t.Fatalf("BannedUntil = %s %t", until, banned)
	}
	if _, retry, banned := r.Begin("alice", t0.Add(time.Minute)); !banned || !retry.Equal(until) {
		t.Fatalf("attempt during ban: banned=%t retry=%s", banned, retry)
	}
	if _, banned := r.BannedUntil("bob", t0); banned {
		t.Fatal("ban is not per user")
	}
	after := until.Add(time.Nanosecond)
	if _, banned := r.BannedUntil("alice", after); banned {
		t.Fatal("ban outlived its end")
	}
	if fail(t, r, "alice", after) {
		t.Fatal("failures carried over the ban")
	}
}

func TestWindowExpiresFailures(t *testing.T) {
	r := New(Config{MaxFailures: 2, Window: time.Minute, Ban: time.Hour})
	fail(t, r, "u", t0)
	if fail(t, r, "u", t0.Add(time.Minute)) {
		t.Fatal("failure outside the window counted")
	}
	if !fail(t, r, "u", t0.Add(90*time.Second)) {
		t.Fatal("second failure inside the window did not ban")
	}
}

func TestSuccessForgetsFailures(t *testing.T) {
	r := New(Config{MaxFailures: 2, Window: time.Minute, Ban: time.Hour})
	fail(t, r, "u", t0)
	a, _, _ := r.Begin("u", t0)
	a.Succeeded()
	if fail(t, r, "u", t0) {
		t.Fatal("failure before a success still counted")
	}
}

func TestReleaseDoesNotCount(t *testing.T) {
	r := New(Config{MaxFailures: 1, Window: time.Minute, Ban: time.Hour})
	for i := 0; i < 10; i++ {
		a, _, banned := r.Begin("u", t0)
		if banned {
			t.Fatal("released attempts counted")
		}
		a.Release()
	}
}

// Parallel guesses: no more than MaxFailures may ever be judged.
func TestConcurrentGuessesBounded(t *testing.T) {
	const max = 5
	r := New(Config{MaxFailures: max, Window: time.Minute, Ban: time.Hour})
	var judged atomic.Int32
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := 0; i < 200; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			a, _, banned := r.Begin("victim", t0)
			if banned {
				return
			}
			judged.Add(1)
			time.Sleep(time.Millisecond) // a slow verification widens the race
			a.Failed(t0)
		}()
	}
	close(start)
	wg.Wait()
	if n := judged.Load(); n > max {
		t.Fatalf("%d guesses judged, limit %d", n, max)
	}
	if _, banned := r.BannedUntil("victim", t0); !banned {
		t.Fatal("user not banned")
	}
}

// TestSweep: without a journal, memory is the only record of failures in
// a row, so only users with none are forgotten.
func TestSweep(t *testing.T) {
	r := New(Config{MaxFailures: 3, Window: time.Minute, Ban: time.Hour})
	fail(t, r, "old", t0)
	fail(t, r, "new", t0.Add(50*time.Second))
	a, _, _ := r.Begin("good", t0)
	a.Succeeded()
	if n := r.Sweep(t0.Add(61 * time.Second)); n != 1 {
		t.Fatalf("swept %d, want 1 (the user without failures)", n)
	}
	r.Unban("new")
	if n := r.Sweep(t0.Add(61 * time.Second)); n != 1 {
		t.Fatalf("after unban swept %d, want 1", n)
	}
}

func TestValidate(t *testing.T) {
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{Config{0, time.Minute, time.Minute, time.Hour, 100, time.Hour}, "regulation.max_failures: must be at least 1, got 0"},
		{Config{1, 0, time.Minute, time.Hour, 100, time.Hour}, "regulation.window: must be positive, got 0s"},
		{Config{1, time.Minute, -time.Second, time.Hour, 100, time.Hour}, "regulation.ban: must be positive, got -1s"},
		{Config{1, time.Minute, time.Minute, 0, 100, time.Hour}, "regulation.max_ban: must be positive, got 0s"},
		{Config{1, time.Minute, time.Minute, time.Hour, 0, time.Hour}, "regulation.max_consecutive_failures: must be at least 1, got 0"},
		{Config{1, time.Minute, time.Minute, time.Hour, 100, -time.Hour}, "regulation.lockout: must be positive, got -1h0m0s"},
	} {
		if err := c.cfg.Validate(); err == nil || err.Error() != c.want {
			t.Errorf("%+v: got %v, want %s", c.cfg, err, c.want)
		}
	}
	if err := DefaultConfig().Validate(); err != nil {
		t.Error(err)
	}
}
