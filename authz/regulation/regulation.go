// Package regulation limits how many wrong MFA codes a user may try: after
// MaxFailures failures within Window the user is banned for Ban, and every
// attempt in that time is refused, even one with a right code.
//
// Attempts are reserved before a code is checked, so parallel guesses
// cannot exceed MaxFailures: the (MaxFailures+1)th concurrent attempt is
// refused while the others are still being verified.
package regulation

import (
	"fmt"
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"
)

// Config is the `regulation` config section.
type Config struct {
	MaxFailures int           `yaml:"max_failures"`
	Window      time.Duration `yaml:"window"`
	Ban         time.Duration `yaml:"ban"`
}

// DefaultConfig returns the defaults: 5 failures within 5 minutes ban for 15 minutes.
func DefaultConfig() Config {
	return Config{MaxFailures: 5, Window: 5 * time.Minute, Ban: 15 * time.Minute}
}

// Validate reports the first invalid field, naming its config key.
func (c Config) Validate() error {
	switch {
	case c.MaxFailures < 1:
		return fmt.Errorf("regulation.max_failures: must be at least 1, got %d", c.MaxFailures)
	case c.Window <= 0:
		return fmt.Errorf("regulation.window: must be positive, got %s", c.Window)
	case c.Ban <= 0:
		return fmt.Errorf("regulation.ban: must be positive, got %s", c.Ban)
	}
	return nil
}

const shards = 64

// Regulator tracks failures and bans per user. It is safe for concurrent use.
type Regulator struct {
	cfg    Config
	seed   maphash.Seed
	shards [shards]shard
}

type shard struct {
	mu    sync.Mutex
	users map[string]*entry
}

type entry struct {
	failures    int       // failures counted in the current window
	inflight    int       // attempts reserved and not yet settled
	windowStart time.Time // when the first failure of the window happened
	bannedUntil time.Time
}

// New returns a Regulator. cfg must be valid (see Config.Validate).
func New(cfg Config) *Regulator {
	r := &Regulator{cfg: cfg, seed: maphash.MakeSeed()}
	for i := range r.shards {
		r.shards[i].users = make(map[string]*entry)
	}
	return r
}

func (r *Regulator) shard(user string) *shard {
	return &r.shards[maphash.String(r.seed, user)%shards]
}

// BannedUntil returns the end of the user's ban, if the user is banned at now.
func (r *Regulator) BannedUntil(user string, now time.Time) (time.Time, bool) {
	s := r.shard(user)
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.users[user]
	if e == nil || !now.Before(e.bannedUntil) {
		return time.Time{}, false
	}
	return e.bannedUntil, true
}

// Attempt is a reserved verification attempt. One of Succeeded, Failed or
// Release must be called; the first call settles the attempt and later
// ones do nothing, so a deferred Release safely covers every path that
// does not settle it otherwise, panics included.
type Attempt struct {
	r       *Regulator
	user    string
	settled *atomic.Bool
	ext     Settler // a shared regulator's attempt (see NewAttempt); nil for r's own
}

// Begin reserves an attempt for user. It returns banned=true and the time
// the ban ends (or, while attempts are in flight, now+Window) when no more
// attempts are allowed.
func (r *Regulator) Begin(user string, now time.Time) (a Attempt, retryAt time.Time, banned bool) {
	s := r.shard(user)
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.users[user]
	if e == nil {
		e = &entry{}
		s.users[user] = e
	}
	if now.Before(e.bannedUntil) {
		return Attempt{}, e.bannedUntil, true
	}
	if e.failures > 0 && now.Sub(e.windowStart) >= r.cfg.Window {
		e.failures = 0
	}
	if e.failures+e.inflight >= r.cfg.MaxFailures {
		// The in-flight attempts may still all fail and ban the user;
		// refusing now keeps concurrent guesses within the limit.
		return Attempt{}, now.Add(r.cfg.Window), true
	}
	e.inflight++
	return Attempt{r: r, user: user, settled: new(atomic.Bool)}, time.Time{}, false
}

// Succeeded settles the attempt as a right code: the user's failures are forgotten.
func (a Attempt) Succeeded() {
	if a.ext != nil {
		if !a.settled.Swap(true) {
			a.ext.Succeeded()
		}
		return
	}
	a.settle(func(e *entry, _ time.Time) { e.failures = 0 }, time.Time{})
}

// Failed settles the attempt as a wrong code, banning the user at the
// MaxFailures-th failure in the window. It reports whether the user is now banned.
func (a Attempt) Failed(now time.Time) (banned bool) {
	if a.ext != nil {
		return !a.settled.Swap(true) && a.ext.Failed(now)
	}
	a.settle(func(e *entry, now time.Time) {
		if e.failures == 0 {
			e.windowStart = now
		}
		e.failures++
		if e.failures >= a.r.cfg.MaxFailures {
			e.failures = 0
			e.bannedUntil = now.Add(a.r.cfg.Ban)
			banned = true
		}
	}, now)
	return banned
}

func (a Attempt) settle(f func(*entry, time.Time), now time.Time) {
	if a.r == nil || a.settled.Swap(true) {
		return
	}
	s := a.r.shard(a.user)
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.users[a.user]
	if e == nil { // swept while in flight cannot happen, but never panic
		e = &entry{}
		s.users[a.user] = e
	}
	e.inflight--
	f(e, now)
}

// Sweep forgets users with nothing in flight, no ban and no failures in a
// live window. Call it periodically to bound memory.
func (r *Regulator) Sweep(now time.Time) (removed int) {
	for i := range r.shards {
		s := &r.shards[i]
		s.mu.Lock()
		for u, e := range s.users {
			if e.inflight == 0 && !now.Before(e.bannedUntil) &&
				(e.failures == 0 || now.Sub(e.windowStart) >= r.cfg.Window) {
				delete(s.users, u)
				removed++
			}
		}
		s.mu.Unlock()
	}
	return removed
}

// Unban lifts the user's ban and forgets their failures (operator action).
func (r *Regulator) Unban(user string) {
	s := r.shard(user)
	s.mu.Lock()
	defer s.mu.Unlock()
	if e := s.users[user]; e != nil {
		e.bannedUntil = time.Time{}
		e.failures = 0
	}
}

// Release settles the attempt without counting it: no code was judged
// (the method was not enrolled, or the service could not decide).
func (a Attempt) Release() {
	if a.ext != nil {
		if !a.settled.Swap(true) {
			a.ext.Release()
		}
		return
	}
	a.settle(func(*entry, time.Time) {}, time.Time{})
}
