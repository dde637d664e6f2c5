package fault

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mfa-authz/mfa-authz/authz"
	"github.com/mfa-authz/mfa-authz/authz/extauthz"
	"github.com/mfa-authz/mfa-authz/authz/profile"
	"github.com/mfa-authz/mfa-authz/test/attack/harness"
)

func extauthzServer(e *env) *extauthz.Server { return extauthz.New(e.s.Svc.Engine, nil) }

// TestCachePressure verifies far more users than cache.max_sessions holds.
// Every user then comes back without a code: one whose session was kept
// is let through, one whose session was evicted must verify again, and a
// user who never verified is never let through. Evicted users get in with
// a new code.
func TestCachePressure(t *testing.T) {
	const (
		maxSessions = 16
		verified    = 200
		never       = 50
	)
	e := newEnv(t, baseConfig+fmt.Sprintf("cache:\n  max_sessions: %d\n", maxSessions), nil)
	users := make([]*harness.User, verified)
	strangers := make([]*harness.User, never)
	for i := range users {
		users[i] = e.s.Enroll(t, fmt.Sprintf("pressure-%d", i))
	}
	for i := range strangers {
		strangers[i] = e.s.Enroll(t, fmt.Sprintf("pressure-%d-never", i))
	}
	// Everyone verifies with the code of step cur and, once evicted, again
	// with that of step cur+1, which the skew of one step admits and the
	// replay guard has not seen.
	harness.AwaitSafeStep(30*time.Second, 5*time.Second)
	cur := users[0].Step(time.Now())
	for i, u := range users {
		if got := e.post(u, "/carts/1", u.CodeAtStep(t, cur)); !got.Allowed {
			t.Fatalf("verify %s: got %s", u.Name, got)
		}
		// Strangers probe in between, while the cache churns.
		if s := strangers[i%never]; true {
			if got := e.post(s, "/carts/1", ""); !got.Denied() || got.Code != harness.Missing {
				t.Fatalf("never-verified %s: got %s, want missing code", s.Name, got)
			}
		}
	}
	kept, evicted := 0, []*harness.User{}
	for _, u := range users {
		got := e.post(u, "/carts/1", "")
		switch {
		case got.Allowed && got.Method == "totp":
			kept++
		case got.Denied() && got.Code == harness.Missing:
			evicted = append(evicted, u)
		default:
			t.Fatalf("verified %s without a code: got %s, want its session or missing code", u.Name, got)
		}
	}
	for _, s := range strangers {
		if got := e.post(s, "/carts/1", ""); got.Allowed {
			t.Fatalf("never-verified %s was let through: %s", s.Name, got)
		}
	}
	t.Logf("%d users verified into a cache of %d sessions: %d kept, %d must verify again",
		verified, maxSessions, kept, len(evicted))
	if kept > maxSessions {
		t.Fatalf("%d sessions answered, more than cache.max_sessions = %d", kept, maxSessions)
	}
	if len(evicted) == 0 {
		t.Fatal("no session was evicted: the test did not put the cache under pressure")
	}
	for _, u := range evicted[:min(len(evicted), 20)] {
		next := u.CodeAtStep(t, cur+1)
		if next == u.CodeAtStep(t, cur) {
			continue // the first code matched step cur+1 too, and used it up
		}
		if got := e.post(u, "/carts/1", next); !got.Allowed {
			t.Fatalf("evicted %s re-verifying: got %s", u.Name, got)
		}
	}
}

// clock is a settable clock for the engine.
type clock struct {
	mu     sync.Mutex
	offset time.Duration
	fixed  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.fixed.IsZero() {
		return c.fixed
	}
	return time.Now().Add(c.offset)
}

func (c *clock) skew(d time.Duration) {
	c.mu.Lock()
	c.offset, c.fixed = d, time.Time{}
	c.mu.Unlock()
}

func (c *clock) set(t time.Time) {
	c.mu.Lock()
	c.fixed = t
	c.mu.Unlock()
}

// TestClockSkew runs the engine on a clock that is off: codes from the
// client's clock beyond the skew are invalid; a clock stepping back cannot
// stretch a session or re-admit a used code; a clock jumping forward ends
// sessions; a clock before the epoch accepts nothing.
func TestClockSkew(t *testing.T) {
	clk := &clock{}
	e := newEnv(t, baseConfig, clk.Now)
	t.Run("server ahead", func(t *testing.T) {
		u := e.user()
		clk.skew(5 * time.Minute)
		defer clk.skew(0)
		harness.AwaitSafeStep(u.Period(), 3*time.Second)
		if got := e.post(u, "/carts/1", u.Code(t)); !got.Denied() || got.Code != harness.Invalid {
			t.Fatalf("client code with the server 5 min ahead: got %s, want invalid code", got)
		}
		// A code of the server's time works: the skew is the clock's, not the engine's.
		if got := e.post(u, "/carts/1", u.CodeAtStep(t, u.Step(clk.Now()))); !got.Allowed {
			t.Fatalf("code of the server's time: got %s, want allowed", got)
		}
	})
	t.Run("server behind", func(t *testing.T) {
		u := e.user()
		clk.skew(-2 * time.Minute)
		defer clk.skew(0)
		harness.AwaitSafeStep(u.Period(), 3*time.Second)
		if got := e.post(u, "/carts/1", u.Code(t)); !got.Denied() || got.Code != harness.Invalid {
			t.Fatalf("client code with the server 2 min behind: got %s, want invalid code", got)
		}
	})
	t.Run("clock steps back after a verification", func(t *testing.T) {
		u := e.user()
		harness.AwaitSafeStep(u.Period(), 3*time.Second)
		now := time.Now()
		clk.set(now)
		defer clk.skew(0)
		if got := e.post(u, "/carts/1", u.CodeAtStep(t, u.Step(now))); !got.Allowed {
			t.Fatalf("verify: %s", got)
		}
		clk.set(now.Add(-90 * time.Second))
		if got := e.post(u, "/carts/1", ""); got.Allowed {
			t.Fatalf("session verified in the clock's future: got %s, want it not to count", got)
		}
		old := u.CodeAtStep(t, u.Step(now.Add(-90*time.Second)))
		if got := e.post(u, "/carts/1", old); !got.Denied() || got.Code != harness.Invalid {
			t.Fatalf("code of the earlier step after a later one was used: got %s, want invalid (replay)", got)
		}
	})
	t.Run("clock jumps past the grace period", func(t *testing.T) {
		u := e.user()
		harness.AwaitSafeStep(u.Period(), 3*time.Second)
		now := time.Now()
		clk.set(now)
		defer clk.skew(0)
		if got := e.post(u, "/carts/1", u.CodeAtStep(t, u.Step(now))); !got.Allowed {
			t.Fatalf("verify: %s", got)
		}
		clk.set(now.Add(31 * time.Minute))
		if got := e.post(u, "/carts/1", ""); !got.Denied() || got.Code != harness.Missing {
			t.Fatalf("31 min after a 30 min grace: got %s, want missing code", got)
		}
	})
	t.Run("clock before the epoch", func(t *testing.T) {
		u := e.user()
		clk.set(time.Unix(-3600, 0))
		defer clk.skew(0)
		for _, code := range []string{u.Code(t), u.CodeAtStep(t, 0), "000000"} {
			if got := e.post(u, "/carts/1", code); !got.Denied() {
				t.Fatalf("clock before 1970, code %s: got %s, want a denial", code, got)
			}
		}
	})
	t.Run("clock far in the future", func(t *testing.T) {
		u := e.user()
		clk.set(time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC))
		defer clk.skew(0)
		if got := e.post(u, "/carts/1", u.Code(t)); !got.Denied() || got.Code != harness.Invalid {
			t.Fatalf("clock in year 3000: got %s, want invalid code", got)
		}
	})
	e.serving()
}

// panicHeader is a transport's header view that panics.
type panicHeader struct{}

func (panicHeader) Lookup(string) (string, int) { panic("injected header panic") }

// TestEnginePanics makes the engine's own inputs panic: the check is a 503
// and the engine goes on deciding.
func TestEnginePanics(t *testing.T) {
	e := newEnv(t, baseConfig, nil)
	eng := e.s.Svc.Engine
	for _, path := range []string{"/carts/1", "/checkout"} {
		d := eng.Check(context.Background(), &authz.Request{Method: "POST", Path: path, Header: panicHeader{}})
		if d.Allowed || d.Reason != profile.Unavailable || d.Answer.Status != 503 || !strings.Contains(d.Detail, "panic") {
			t.Fatalf("panicking headers on %s: allowed=%t reason=%v status=%d detail=%q", path, d.Allowed, d.Reason, d.Answer.Status, d.Detail)
		}
	}
	e.serving()
}
