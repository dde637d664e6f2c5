// Package cache keeps verified MFA sessions: who passed a second factor,
// when, and with which method. With the embedded store it is the only
// state the Check hot path reads for users inside their grace period, so
// it is in memory, bounded and lock-free for readers. With a shared level
// that is the truth (Redis), it caches what was decoded from there.
package cache

import (
	"context"
	"fmt"
	"time"

	"github.com/dgraph-io/ristretto/v2"
)

// DefaultMaxSessions is the number of sessions kept when Config.MaxSessions is zero.
const DefaultMaxSessions = 100_000

// Session is one user's most recent successful verification.
type Session struct {
	// VerifiedAt is when the user last presented a valid second factor.
	VerifiedAt time.Time
	// Method is the factor that verified the user ("totp", "email", …).
	Method string
}

// Sessions is a bounded, concurrency-safe map from user id to Session.
// Entries expire after the TTL given to Put; Get never returns an entry
// past its TTL. The zero value is not usable: call New.
type Sessions struct {
	c  *ristretto.Cache[string, entry]
	l2 Shared // sessions shared by replicas, nil when none (see SetShared)
}

// New returns a session cache holding at most maxSessions users
// (DefaultMaxSessions when maxSessions is zero).
func New(maxSessions int) (*Sessions, error) {
	if maxSessions < 0 {
		return nil, fmt.Errorf("cache: max_sessions must not be negative, got %d", maxSessions)
	}
	if maxSessions == 0 {
		maxSessions = DefaultMaxSessions
	}
	c, err := ristretto.NewCache(&ristretto.Config[string, entry]{
		// Ristretto suggests ten admission counters per item for the best
		// hit ratio under churn; four keep a million sessions within 256 MiB
		// (TestMillionSessionsMemory). Sessions are admitted until the cache
		// is full; after that, a session refused or evicted costs its user a
		// code prompt, never a wrong allow.
		NumCounters: int64(maxSessions) * 4,
		MaxCost:     int64(maxSessions),
		BufferItems: 64,
		// Every session costs 1, so MaxCost is a count of sessions.
		IgnoreInternalCost: true,
		Metrics:            true,
	})
	if err != nil {
		return nil, fmt.Errorf("cache: %w", err)
	}
	return &Sessions{c: c}, nil
}

// Get returns the user's session if one is cached and unexpired.
func (s *Sessions) Get(user string) (Session, bool) {
	e, ok := s.c.Get(user)
	if !ok {
		return Session{}, false
	}
	return e.session(), true
}

// Match returns the user's cached session only if it was decoded from rec
// (see Keep): with a shared level that is the truth (the Redis store),
// the caller reads the record there and uses this cache only to skip
// opening it again. A session the shared level no longer holds, or holds
// in another version, never matches.
func (s *Sessions) Match(user, rec string) (Session, bool) {
	e, ok := s.c.Get(user)
	if !ok || rec == "" || e.rec() != recHash(rec) {
		return Session{}, false
	}
	return e.session(), true
}

// Keep caches sess, decoded from the shared level's record rec, for ttl,
// in this replica only; Match finds it while the shared level still holds
// rec.
func (s *Sessions) Keep(user string, sess Session, rec string, ttl time.Duration) {
	if ttl <= 0 || rec == "" {
		return
	}
	if e, ok := newEntry(sess, rec); ok {
		s.c.SetWithTTL(user, e, 1, ttl)
		s.c.Wait()
	}
}

// Put records that user verified with method at verifiedAt, kept for ttl.
// It returns only once the entry is visible to Get, so the user's very next
// request finds it. It reports false when the cache declined the entry
// (for example under memory pressure); the user must then verify again,
// which is the safe side.
func (s *Sessions) Put(user string, sess Session, ttl time.Duration) bool {
	if ttl <= 0 {
		return false
	}
	e, ok := newEntry(sess, "")
	if !ok {
		return false
	}
	ok = s.c.SetWithTTL(user, e, 1, ttl)
	s.c.Wait()
	if !ok {
		return false
	}
	_, found := s.c.Get(user)
	if s.l2 != nil {
		return s.putShared(user, sess, ttl) && found
	}
	return found
}

// Delete forgets the user's session, in this replica and in the shared
// level, so the user's next protected request needs a code. It is Revoke
// without a caller's context, ignoring a failure to reach the shared level.
func (s *Sessions) Delete(user string) {
	_ = s.Revoke(context.Background(), user)
}

// Revoke forgets the user's session, in this replica and in the shared
// level, so the user's next protected request needs a code. The local
// entry is gone whatever the error says; an error means the shared level
// may still hold the session. Without a deadline in ctx, the shared level
// gets a few seconds.
func (s *Sessions) Revoke(ctx context.Context, user string) error {
	s.c.Del(user)
	s.c.Wait()
	if s.l2 == nil {
		return nil
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, sharedTimeout)
		defer cancel()
	}
	return s.l2.DeleteSession(ctx, user)
}

// Stats reports cache counters for metrics.
type Stats struct {
	Hits, Misses, Evictions, Rejections uint64
}

// Stats returns the cache's counters since start.
func (s *Sessions) Stats() Stats {
	m := s.c.Metrics
	return Stats{Hits: m.Hits(), Misses: m.Misses(), Evictions: m.KeysEvicted(), Rejections: m.SetsRejected()}
}

// Close stops the cache's background goroutines.
func (s *Sessions) Close() { s.c.Close() }
