package redisstore

import (
	"context"
	"testing"
	"time"

	"github.com/mfa-authz/mfa-authz/authz/regulation"
	"github.com/mfa-authz/mfa-authz/test/redistest"
)

// failOnce reserves and fails one attempt on l; it reports whether the
// failure banned the user.
func failOnce(t *testing.T, l regulation.Limiter, user string, now time.Time) bool {
	t.Helper()
	att, _, banned, err := l.Begin(context.Background(), user, now)
	if banned || err != nil {
		t.Fatalf("Begin at %s: banned=%v err=%v", now, banned, err)
	}
	return att.Failed(now)
}

func bannedFor(t *testing.T, l regulation.Limiter, user string, now time.Time) time.Duration {
	t.Helper()
	until, banned, err := l.BannedUntil(context.Background(), user, now)
	if !banned || err != nil {
		t.Fatalf("BannedUntil = %v, %v, %v; want banned", until, banned, err)
	}
	return until.Sub(time.UnixMilli(now.UnixMilli()))
}

// TestLimiterBansGrow: on two replicas, each ban in a row doubles up to
// max_ban, and a right code starts the schedule over.
func TestLimiterBansGrow(t *testing.T) {
	srv := redistest.Start(t)
	cfg := regulation.DefaultConfig()
	ls := []regulation.Limiter{open(t, srv, key(1)).Limiter(cfg), open(t, srv, key(1)).Limiter(cfg)}
	now := time.Now()
	for i, want := range []time.Duration{15 * time.Minute, 30 * time.Minute, time.Hour, 2 * time.Hour,
		4 * time.Hour, 8 * time.Hour, 16 * time.Hour, 24 * time.Hour, 24 * time.Hour} {
		for j := 1; j <= cfg.MaxFailures; j++ {
			if banned := failOnce(t, ls[j%2], "gina", now); banned != (j == cfg.MaxFailures) {
				t.Fatalf("ban %d, failure %d: banned=%t", i+1, j, banned)
			}
		}
		if got := bannedFor(t, ls[i%2], "gina", now); got != want {
			t.Fatalf("ban %d lasts %s, want %s", i+1, got, want)
		}
		now = now.Add(want)
	}
	att, _, _, err := ls[0].Begin(context.Background(), "gina", now)
	if err != nil {
		t.Fatal(err)
	}
	att.Succeeded()
	for j := 1; j <= cfg.MaxFailures; j++ {
		failOnce(t, ls[1], "gina", now)
	}
	if got := bannedFor(t, ls[0], "gina", now); got != 15*time.Minute {
		t.Fatalf("first ban after a right code lasts %s, want 15m", got)
	}
}

// TestLimiterSlowGuessingLockedOut: four wrong codes per window never ban,
// but the 100th in a row locks out for 30 days, and after that one attempt
// at a time is judged and each failure locks out again.
func TestLimiterSlowGuessingLockedOut(t *testing.T) {
	srv := redistest.Start(t)
	cfg := regulation.DefaultConfig()
	ls := []regulation.Limiter{open(t, srv, key(1)).Limiter(cfg), open(t, srv, key(1)).Limiter(cfg)}
	now := time.Now()
	for i := 1; i < cfg.MaxConsecutiveFailures; i++ {
		if failOnce(t, ls[i%2], "hank", now) {
			t.Fatalf("failure %d banned (4 per window)", i)
		}
		if i%4 == 0 {
			now = now.Add(cfg.Window)
		}
	}
	if !failOnce(t, ls[0], "hank", now) {
		t.Fatal("the 100th failure in a row did not lock out")
	}
	if got := bannedFor(t, ls[1], "hank", now); got != 30*24*time.Hour {
		t.Fatalf("lockout lasts %s, want 30 days", got)
	}
	after := now.Add(30*24*time.Hour + time.Second)
	att, _, banned, err := ls[0].Begin(context.Background(), "hank", after)
	if banned || err != nil {
		t.Fatalf("no attempt after the lockout: banned=%v err=%v", banned, err)
	}
	if _, _, banned, _ := ls[1].Begin(context.Background(), "hank", after); !banned {
		t.Fatal("a second attempt in flight past the consecutive limit")
	}
	if !att.Failed(after) {
		t.Fatal("a wrong code past the consecutive limit did not lock out again")
	}
}
