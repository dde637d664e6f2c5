package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/mfa-authz/mfa-authz/cache"
)

// Sessions implements store.SharedSessions: the verified sessions shared
// by every replica, for cache.Sessions.SetShared. Sessions are sealed with the store key and
// bound to the user, so write access to Redis alone cannot forge one.
func (s *Store) Sessions() cache.Shared { return sessions{s} }

type sessions struct{ s *Store }

// sessionRecord is a session as sealed in Redis.
type sessionRecord struct {
	VerifiedAt int64  `json:"v"` // Unix nanoseconds
	Method     string `json:"m"`
}

func (ss sessions) GetSession(ctx context.Context, user string) (cache.Session, time.Duration, bool, error) {
	name := ss.s.keys.Name(user)
	key := ss.s.userKey(name, "session")
	var get *redis.StringCmd
	var ttl *redis.DurationCmd
	_, err := ss.s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		get = p.Get(ctx, key)
		ttl = p.PTTL(ctx, key)
		return nil
	})
	if errors.Is(err, redis.Nil) || errors.Is(get.Err(), redis.Nil) {
		return cache.Session{}, 0, false, nil
	}
	if err != nil {
		return cache.Session{}, 0, false, fmt.Errorf("sessions: read: %w", err)
	}
	rec, _ := get.Bytes()
	pt, err := ss.s.keys.Open("session", name, rec)
	if err != nil {
		// A forged or damaged session is no session; say so once.
		ss.s.log.Warn("sessions: ignoring a session record that does not authenticate")
		return cache.Session{}, 0, false, nil
	}
	var r sessionRecord
	if err := json.Unmarshal(pt, &r); err != nil {
		return cache.Session{}, 0, false, nil
	}
	left := ttl.Val()
	if left <= 0 {
		return cache.Session{}, 0, false, nil
	}
	return cache.Session{VerifiedAt: time.Unix(0, r.VerifiedAt), Method: r.Method}, left, true, nil
}

func (ss sessions) PutSession(ctx context.Context, user string, sess cache.Session, ttl time.Duration) error {
	if ttl < time.Millisecond {
		return nil
	}
	name := ss.s.keys.Name(user)
	pt, err := json.Marshal(sessionRecord{VerifiedAt: sess.VerifiedAt.UnixNano(), Method: sess.Method})
	if err != nil {
		return err
	}
	if err := ss.s.rdb.Set(ctx, ss.s.userKey(name, "session"), ss.s.keys.Seal("session", name, pt), ttl).Err(); err != nil {
		return fmt.Errorf("sessions: write: %w", err)
	}
	return nil
}

func (ss sessions) DeleteSession(ctx context.Context, user string) error {
	name := ss.s.keys.Name(user)
	if err := ss.s.rdb.Del(ctx, ss.s.userKey(name, "session")).Err(); err != nil {
		return fmt.Errorf("sessions: delete: %w", err)
	}
	return nil
}

// openSession decodes the sealed session record rec of the user whose
// record name is name; ok=false when it does not authenticate or parse.
func (s *Store) openSession(name string, rec []byte) (cache.Session, bool) {
	pt, err := s.keys.Open("session", name, rec)
	if err != nil {
		s.log.Warn("sessions: ignoring a session record that does not authenticate")
		return cache.Session{}, false
	}
	var r sessionRecord
	if err := json.Unmarshal(pt, &r); err != nil {
		return cache.Session{}, false
	}
	return cache.Session{VerifiedAt: time.Unix(0, r.VerifiedAt), Method: r.Method}, true
}
