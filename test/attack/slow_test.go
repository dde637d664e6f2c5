package attack

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/mfa-authz/mfa-authz/test/attack/harness"
)

// clock is a settable engine clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }

func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }

// wrongAt is a well-formed code that matches none of u's steps within ±3
// of at (the engine's clock, not the wall's).
func wrongAt(t *testing.T, u *harness.User, seed int, at time.Time) string {
	t.Helper()
	near := map[string]bool{}
	for s := u.Step(at) - 3; s <= u.Step(at)+3; s++ {
		near[u.CodeAtStep(t, s)] = true
	}
	for i := seed; ; i++ {
		c := fmt.Sprintf("%06d", (i*7919+104729)%1_000_000)
		if !near[c] {
			return c
		}
	}
}

// guessAt sends one code for u on a protected route.
func guessAt(s *harness.Server, u *harness.User, code string) harness.Outcome {
	return s.Check(harness.Req{Method: "POST", Path: "/carts/1",
		Headers: map[string]string{"x-user-id": u.Name, "x-mfa-code": code}}.Build())
}

// TestSlowGuessing guesses four wrong codes per window, just under the
// window's limit, window after window: the 100th wrong code in a row
// locks the user out for 30 days (NIST SP 800-63B 5.2.2), where before
// the count started over every window and never banned.
func TestSlowGuessing(t *testing.T) {
	clk := &clock{now: time.Now()}
	s := harness.Start(t, harness.Options{Config: serverConfig, Now: clk.Now})
	u := s.Enroll(t, "patient")
	for i := 1; i <= 100; i++ {
		if got := guessAt(s, u, wrongAt(t, u, i, clk.Now())); got.Code != harness.Invalid {
			t.Fatalf("wrong guess %d: got %s, want invalid code", i, got)
		}
		if i%4 == 0 {
			clk.Add(5 * time.Minute)
		}
	}
	got := guessAt(s, u, wrongAt(t, u, 101, clk.Now()))
	if got.Code != harness.TooMany || got.HTTP != 429 {
		t.Fatalf("after 100 wrong codes in a row: got %s, want 429 too many attempts", got)
	}
	resp, err := s.Client.Check(t.Context(), harness.Req{Method: "POST", Path: "/carts/1",
		Headers: map[string]string{"x-user-id": u.Name, "x-mfa-code": "123456"}}.Build())
	if err != nil {
		t.Fatal(err)
	}
	if ra := retryAfter(resp); ra < 30*24*3600-600 || ra > 30*24*3600 { // the clock moved on 5m after the 100th
		t.Fatalf("retry-after %d s, want the 30-day lockout", ra)
	}
}

// TestBansGrow: the second ban in a row lasts twice the first, where
// before every ban lasted regulation.ban.
func TestBansGrow(t *testing.T) {
	clk := &clock{now: time.Now()}
	s := harness.Start(t, harness.Options{Config: serverConfig, Now: clk.Now})
	u := s.Enroll(t, "persistent")
	for ban, want := range []int{15 * 60, 30 * 60, 60 * 60} {
		for i := 0; i < maxFailures; i++ {
			if got := guessAt(s, u, wrongAt(t, u, ban*10+i, clk.Now())); got.Code != harness.Invalid {
				t.Fatalf("ban %d, wrong guess %d: got %s, want invalid code", ban+1, i+1, got)
			}
		}
		resp, err := s.Client.Check(t.Context(), harness.Req{Method: "POST", Path: "/carts/1",
			Headers: map[string]string{"x-user-id": u.Name, "x-mfa-code": "123456"}}.Build())
		if err != nil {
			t.Fatal(err)
		}
		if ra := retryAfter(resp); ra != want {
			t.Fatalf("ban %d: retry-after %d s, want %d", ban+1, ra, want)
		}
		clk.Add(time.Duration(want) * time.Second)
	}
}

// TestBanSurvivesRestart: a server started again on the embedded store
// still bans the user, and still counts the failures of the live window,
// where before a restart forgot both.
func TestBanSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	s := harness.Start(t, harness.Options{Config: serverConfig, Dir: dir})
	banned, slow := s.Enroll(t, "banned-before"), s.Enroll(t, "slow-before")
	for i := 0; i < maxFailures; i++ {
		guessAt(s, banned, banned.WrongCode(t, i))
	}
	for i := 0; i < maxFailures-1; i++ {
		guessAt(s, slow, slow.WrongCode(t, i))
	}
	s.Stop()

	s2 := harness.Start(t, harness.Options{Config: serverConfig, Dir: dir})
	harness.AwaitSafeStep(banned.Period(), 3*time.Second)
	if got := guessAt(s2, banned, banned.Code(t)); got.Code != harness.TooMany {
		t.Fatalf("right code after the restart, during the ban: got %s, want too many attempts", got)
	}
	if got := guessAt(s2, slow, slow.WrongCode(t, 99)); got.Code != harness.Invalid {
		t.Fatalf("fifth wrong code: got %s, want invalid code", got)
	}
	harness.AwaitSafeStep(slow.Period(), 3*time.Second)
	if got := guessAt(s2, slow, slow.Code(t)); got.Code != harness.TooMany {
		t.Fatalf("right code after 4 failures before the restart and 1 after: got %s, want the ban", got)
	}
}
