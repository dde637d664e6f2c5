package cache

import (
	"context"
	"time"
)

// Shared is a second level of sessions that every replica sees (the Redis
// store's). Get never reaches Shared. Where Shared is the truth (the
// engine reads the user's record there with the ban, in one round trip),
// the in-memory cache only saves opening a record again: see Match and
// Keep. Deleting the record there ends the session on every replica.
type Shared interface {
	// GetSession returns the user's session and how long it has left.
	GetSession(ctx context.Context, user string) (sess Session, ttl time.Duration, ok bool, err error)
	// PutSession stores the user's session for ttl.
	PutSession(ctx context.Context, user string, sess Session, ttl time.Duration) error
	// DeleteSession forgets the user's session.
	DeleteSession(ctx context.Context, user string) error
}

// sharedTimeout bounds the writes to Shared that Put makes, and Revoke's
// without a deadline of the caller's.
const sharedTimeout = 2 * time.Second

// SetShared makes l2 the second level behind s: Put and Delete write
// through to it, and GetShared reads it on a miss. Call it before s is used.
func (s *Sessions) SetShared(l2 Shared) { s.l2 = l2 }

// GetShared is for a Get that missed: it reads the user's session from the
// shared level, and fills this replica's cache with it for no longer than
// the session has left there. ok=false with a nil error means no session;
// without a shared level it returns at once.
func (s *Sessions) GetShared(ctx context.Context, user string) (Session, bool, error) {
	if s.l2 == nil {
		return Session{}, false, nil
	}
	sess, ttl, ok, err := s.l2.GetSession(ctx, user)
	if err != nil || !ok || ttl <= 0 {
		return Session{}, false, err
	}
	if e, ok := newEntry(sess, ""); ok {
		s.c.SetWithTTL(user, e, 1, ttl)
		s.c.Wait() // visible to the user's next request
	}
	return sess, true, nil
}

func (s *Sessions) putShared(user string, sess Session, ttl time.Duration) bool {
	ctx, cancel := context.WithTimeout(context.Background(), sharedTimeout)
	defer cancel()
	return s.l2.PutSession(ctx, user, sess, ttl) == nil
}
