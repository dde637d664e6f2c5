// Package regulation limits how many wrong MFA codes a user may try: after
// MaxFailures failures within Window the user is banned, and every attempt
// in that time is refused, even one with a right code.
//
// Bans grow: the first lasts Ban, and each further ban without a right
// code in between lasts twice the one before, up to MaxBan. Failures are
// also counted across windows until a right code: at
// MaxConsecutiveFailures (NIST SP 800-63B 5.2.2 allows at most 100) the
// user is locked out for Lockout, and after that every further wrong code
// locks them out again at once, so slow guessing just under the window's
// limit gains nothing.
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
	// MaxBan caps the growing bans (never below Ban).
	MaxBan time.Duration `yaml:"max_ban"`
	// MaxConsecutiveFailures is how many wrong codes in a row, across
	// windows and bans, lock the user out for Lockout (never shorter than
	// the longest ban).
	MaxConsecutiveFailures int           `yaml:"max_consecutive_failures"`
	Lockout                time.Duration `yaml:"lockout"`
}

// DefaultConfig returns the defaults: 5 failures within 5 minutes ban for
// 15 minutes, doubling per further ban up to a day; 100 failures in a row
// lock out for 30 days.
func DefaultConfig() Config {
	return Config{MaxFailures: 5, Window: 5 * time.Minute, Ban: 15 * time.Minute,
		MaxBan: 24 * time.Hour, MaxConsecutiveFailures: 100, Lockout: 30 * 24 * time.Hour}
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
	case c.MaxBan <= 0:
		return fmt.Errorf("regulation.max_ban: must be positive, got %s", c.MaxBan)
	case c.MaxConsecutiveFailures < 1:
		return fmt.Errorf("regulation.max_consecutive_failures: must be at least 1, got %d", c.MaxConsecutiveFailures)
	case c.Lockout <= 0:
		return fmt.Errorf("regulation.lockout: must be positive, got %s", c.Lockout)
	}
	return nil
}

// BanFor returns how long the user's bans-th ban in a row lasts: Ban,
// doubled for each earlier ban, at most MaxBan (but never less than Ban).
// A Config whose MaxBan is unset does not grow its bans.
func (c Config) BanFor(bans int) time.Duration {
	d, ceil := c.Ban, max(c.MaxBan, c.Ban)
	for i := 1; i < bans && d < ceil; i++ {
		d *= 2
	}
	return min(d, ceil)
}

// LockoutFor returns how long a lockout lasts: Lockout, but never shorter
// than the longest ban.
func (c Config) LockoutFor() time.Duration {
	return max(c.Lockout, c.MaxBan, c.Ban)
}

// consecutiveBudget returns how many more attempts may be in flight for a
// user with consecutive failures in a row: up to MaxConsecutiveFailures,
// and one at a time once it is reached (each of them locks the user out
// again when it fails). 0 MaxConsecutiveFailures (a Config built in code
// without it) sets no such limit.
func (c Config) consecutiveBudget(consecutive int) int {
	if c.MaxConsecutiveFailures <= 0 {
		return int(^uint(0) >> 1)
	}
	return max(c.MaxConsecutiveFailures-consecutive, 1)
}

// State is what regulation knows about one user, as a Journal keeps it.
// The zero State is a user with nothing against them.
type State struct {
	// Failures counts the wrong codes of the window that started at WindowStart.
	Failures    int       `json:"failures,omitempty"`
	WindowStart time.Time `json:"window_start,omitzero"`
	// BannedUntil is the end of the current ban or lockout.
	BannedUntil time.Time `json:"banned_until,omitzero"`
	// Bans counts bans since the last right code; Consecutive counts
	// wrong codes since then.
	Bans        int `json:"bans,omitempty"`
	Consecutive int `json:"consecutive,omitempty"`
}

// IsZero reports whether s holds nothing against the user.
func (s State) IsZero() bool { return s == State{} }

// Journal keeps regulation's state durably, so that failures and bans
// survive a restart (the embedded store). A Regulator with a journal
// saves a user's state whenever an attempt changes it, and reads it back
// when it meets a user it does not hold in memory.
type Journal interface {
	// LoadRegulation returns the user's saved state (zero when none).
	LoadRegulation(user string) (State, error)
	// SaveRegulation saves the user's state; the zero State removes it.
	SaveRegulation(user string, s State) error
	// RegulationStates calls fn with every saved state.
	RegulationStates(fn func(user string, s State)) error
}

const shards = 64

// Regulator tracks failures and bans per user. It is safe for concurrent use.
type Regulator struct {
	cfg     Config
	seed    maphash.Seed
	shards  [shards]shard
	journal Journal
	onError func(error)
}

type shard struct {
	mu    sync.Mutex
	users map[string]*entry
}

type entry struct {
	State
	inflight int // attempts reserved and not yet settled
	// seq counts changes of State; saved is the last one the journal
	// holds (both under the shard's lock). saveMu orders the saves of one
	// user (see persist).
	seq, saved uint64
	saveMu     sync.Mutex
}

// New returns a Regulator. cfg must be valid (see Config.Validate).
func New(cfg Config) *Regulator {
	r := &Regulator{cfg: cfg, seed: maphash.MakeSeed()}
	for i := range r.shards {
		r.shards[i].users = make(map[string]*entry)
	}
	return r
}

// Persist makes j the regulator's journal: the states it holds are loaded
// now, and every change is saved to it from now on. A save that fails is
// reported to onError and leaves the change in memory only (it is lost at
// a restart). An error loading some states still sets the journal: users
// whose state could not be read fail their attempts (BeginErr). Call it
// before the regulator is used.
func (r *Regulator) Persist(j Journal, onError func(error)) error {
	err := j.RegulationStates(func(user string, st State) {
		s := r.shard(user)
		s.mu.Lock()
		s.users[user] = &entry{State: st}
		s.mu.Unlock()
	})
	r.journal, r.onError = j, onError
	if err != nil {
		return fmt.Errorf("regulation: load saved state: %w", err)
	}
	return nil
}

func (r *Regulator) shard(user string) *shard {
	return &r.shards[maphash.String(r.seed, user)%shards]
}

// BannedUntil returns the end of the user's ban, if the user is banned at
// now. It reads memory only: a banned user is never swept from it.
func (r *Regulator) BannedUntil(user string, now time.Time) (time.Time, bool) {
	s := r.shard(user)
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.users[user]
	if e == nil || !now.Before(e.BannedUntil) {
		return time.Time{}, false
	}
	return e.BannedUntil, true
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
// attempts are allowed. A user's saved state that cannot be read refuses
// the attempt (see BeginErr).
func (r *Regulator) Begin(user string, now time.Time) (a Attempt, retryAt time.Time, banned bool) {
	a, retryAt, banned, err := r.BeginErr(user, now)
	if err != nil {
		return Attempt{}, now.Add(r.cfg.Window), true
	}
	return a, retryAt, banned
}

// BeginErr is Begin, reporting a journal that could not be read as err.
func (r *Regulator) BeginErr(user string, now time.Time) (a Attempt, retryAt time.Time, banned bool, err error) {
	s := r.shard(user)
	e, err := r.lockEntry(s, user)
	if err != nil {
		return Attempt{}, time.Time{}, false, err
	}
	defer s.mu.Unlock()
	if now.Before(e.BannedUntil) {
		return Attempt{}, e.BannedUntil, true, nil
	}
	if e.Failures > 0 && now.Sub(e.WindowStart) >= r.cfg.Window {
		e.Failures = 0
	}
	if e.Failures+e.inflight >= r.cfg.MaxFailures || e.inflight >= r.cfg.consecutiveBudget(e.Consecutive) {
		// The in-flight attempts may still all fail and ban the user;
		// refusing now keeps concurrent guesses within the limits.
		return Attempt{}, now.Add(r.cfg.Window), true, nil
	}
	e.inflight++
	return Attempt{r: r, user: user, settled: new(atomic.Bool)}, time.Time{}, false, nil
}

// lockEntry locks s and returns the user's entry in it, made from the
// journal's saved state when the user is not in memory (swept, or not
// seen since the start). The journal is read outside the lock; if another
// attempt made the entry meanwhile, that one is kept.
func (r *Regulator) lockEntry(s *shard, user string) (*entry, error) {
	for {
		s.mu.Lock()
		if e := s.users[user]; e != nil {
			return e, nil
		}
		if r.journal == nil {
			e := &entry{}
			s.users[user] = e
			return e, nil
		}
		s.mu.Unlock()
		st, err := r.journal.LoadRegulation(user)
		if err != nil {
			return nil, fmt.Errorf("regulation: read saved state: %w", err)
		}
		s.mu.Lock()
		if s.users[user] == nil {
			s.users[user] = &entry{State: st}
		}
		s.mu.Unlock()
	}
}

// Succeeded settles the attempt as a right code: the user's failures and
// bans are forgotten.
func (a Attempt) Succeeded() {
	if a.ext != nil {
		if !a.settled.Swap(true) {
			a.ext.Succeeded()
		}
		return
	}
	a.settle(func(e *entry, _ time.Time) bool {
		changed := !e.IsZero()
		e.State = State{}
		return changed
	}, time.Time{})
}

// Failed settles the attempt as a wrong code, banning the user at the
// MaxFailures-th failure in the window (for BanFor the bans in a row) and
// locking them out at the MaxConsecutiveFailures-th in a row. It reports
// whether the user is now banned.
func (a Attempt) Failed(now time.Time) (banned bool) {
	if a.ext != nil {
		return !a.settled.Swap(true) && a.ext.Failed(now)
	}
	cfg := a.r.cfg
	a.settle(func(e *entry, now time.Time) bool {
		if e.Failures == 0 || now.Sub(e.WindowStart) >= cfg.Window {
			e.Failures, e.WindowStart = 0, now
		}
		e.Failures++
		e.Consecutive++
		switch {
		case cfg.MaxConsecutiveFailures > 0 && e.Consecutive >= cfg.MaxConsecutiveFailures:
			e.Bans++
			e.Failures, e.WindowStart = 0, time.Time{}
			e.BannedUntil = now.Add(cfg.LockoutFor())
			banned = true
		case e.Failures >= cfg.MaxFailures:
			e.Bans++
			e.Failures, e.WindowStart = 0, time.Time{}
			e.BannedUntil = now.Add(cfg.BanFor(e.Bans))
			banned = true
		}
		return true
	}, now)
	return banned
}

// settle applies f to the user's entry; f reports whether it changed the
// state, which is then saved to the journal.
func (a Attempt) settle(f func(*entry, time.Time) bool, now time.Time) {
	if a.r == nil || a.settled.Swap(true) {
		return
	}
	s := a.r.shard(a.user)
	s.mu.Lock()
	e := s.users[a.user]
	if e == nil { // swept while in flight cannot happen, but never panic
		e = &entry{}
		s.users[a.user] = e
	}
	e.inflight--
	changed := f(e, now)
	if changed {
		e.seq++
	}
	s.mu.Unlock()
	if changed {
		a.r.persist(a.user, e)
	}
}

// persist saves e's current state, outside the shard's lock so that no
// check waits for the disk. Saves of one user are ordered by e.saveMu, and
// each saves the state as it is when it runs, so the last save holds the
// last change; a save finding its change saved already does nothing.
func (r *Regulator) persist(user string, e *entry) {
	if r.journal == nil {
		return
	}
	e.saveMu.Lock()
	defer e.saveMu.Unlock()
	s := r.shard(user)
	s.mu.Lock()
	st, seq, saved := e.State, e.seq, e.saved
	s.mu.Unlock()
	if seq <= saved {
		return
	}
	if err := r.journal.SaveRegulation(user, st); err != nil {
		if r.onError != nil {
			r.onError(err)
		}
		return
	}
	s.mu.Lock()
	e.saved = max(e.saved, seq)
	s.mu.Unlock()
}

// Sweep forgets users with nothing in flight and no ban. Without a
// journal it keeps those with failures in a live window or in a row,
// which would be lost; with one, they are read back when needed. Call it
// periodically to bound memory.
func (r *Regulator) Sweep(now time.Time) (removed int) {
	for i := range r.shards {
		s := &r.shards[i]
		s.mu.Lock()
		for u, e := range s.users {
			if e.inflight != 0 || now.Before(e.BannedUntil) {
				continue
			}
			if r.journal == nil && (e.Consecutive > 0 || e.Failures > 0 && now.Sub(e.WindowStart) < r.cfg.Window) {
				continue
			}
			if r.journal != nil && e.seq > e.saved {
				continue // a save is due or failed: keep the state in memory
			}
			delete(s.users, u)
			removed++
		}
		s.mu.Unlock()
	}
	return removed
}

// Unban lifts the user's ban and forgets their failures (operator action).
func (r *Regulator) Unban(user string) {
	s := r.shard(user)
	s.mu.Lock()
	e := s.users[user]
	if e != nil {
		e.State = State{}
		e.seq++
	}
	s.mu.Unlock()
	if e != nil {
		r.persist(user, e)
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
	a.settle(func(*entry, time.Time) bool { return false }, time.Time{})
}
