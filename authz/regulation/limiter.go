package regulation

import (
	"context"
	"sync/atomic"
	"time"
)

// Limiter is the regulation the engine consults: the in-memory Regulator
// (through Local) or one whose state is shared by replicas (the Redis
// store's). A shared limiter can fail; the engine then denies the request
// as unavailable, never lets it through unregulated.
type Limiter interface {
	// BannedUntil returns the end of the user's ban, if banned at now.
	BannedUntil(ctx context.Context, user string, now time.Time) (until time.Time, banned bool, err error)
	// Begin reserves an attempt as Regulator.Begin does.
	Begin(ctx context.Context, user string, now time.Time) (a Attempt, retryAt time.Time, banned bool, err error)
}

// Settler settles an attempt reserved by a Limiter other than Regulator.
// Attempt calls at most one of its methods, once.
type Settler interface {
	Succeeded()
	Failed(now time.Time) (banned bool)
	Release()
}

// NewAttempt wraps s as an Attempt, with Attempt's settle-once guarantee.
func NewAttempt(s Settler) Attempt {
	return Attempt{ext: s, settled: new(atomic.Bool)}
}

// Local returns r as a Limiter. BannedUntil reads memory only; Begin may
// read a user's saved state from r's journal, and fails when it cannot.
func Local(r *Regulator) Limiter { return local{r} }

type local struct{ r *Regulator }

func (l local) BannedUntil(_ context.Context, user string, now time.Time) (time.Time, bool, error) {
	until, banned := l.r.BannedUntil(user, now)
	return until, banned, nil
}

func (l local) Begin(_ context.Context, user string, now time.Time) (Attempt, time.Time, bool, error) {
	return l.r.BeginErr(user, now)
}
