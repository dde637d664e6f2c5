// Package redisstore keeps mfa-authz's shared state in Redis, so that any
// number of replicas agree: enrollments (encrypted with the store key, in
// the embedded store's record format), pending one-time codes, the TOTP
// replay guard, send counters, regulation (failures, in-flight attempts,
// bans) and verified sessions.
//
// Every key starts with the configured prefix and carries the user's
// record name (an HMAC of the user id, never the id) as a hash tag, so one
// user's keys share a Redis Cluster slot and every script touches one slot:
//
//	<prefix>:keycheck                    sealed constant proving the key
//	<prefix>:{<name>}:enrollment         sealed enrollment
//	<prefix>:{<name>}:totp-used          last used TOTP step (decimal)
//	<prefix>:{<name>}:codes              sealed pending one-time codes (PX)
//	<prefix>:{<name>}:session            sealed verified session (PX)
//	<prefix>:{<name>}:reg:fail           failures in the window (hash, PX)
//	<prefix>:{<name>}:reg:inflight       reserved attempts (zset, PX)
//	<prefix>:{<name>}:reg:ban            ban end (PX = ban length)
//	<prefix>:{<counter name>}:counter    send counter (hash, PX = window)
//
// Updates that must not race (using a code, consuming a recovery code,
// counting a failure) are Lua scripts (scripts.go).
package redisstore

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/mfa-authz/mfa-authz/authz/store"
)

// Store is the Redis store. It implements store.Store and the capabilities
// of a store replicas share: store.SharedLimiter and store.SharedSessions
// (the regulation and the verified sessions on the same connection), and
// store.Pinger. Safe for concurrent use.
type Store struct {
	rdb    redis.UniversalClient
	keys   *store.Keys
	prefix string
	log    *zap.Logger
}

var (
	_ store.Store          = (*Store)(nil)
	_ store.SharedLimiter  = (*Store)(nil)
	_ store.SharedSessions = (*Store)(nil)
	_ store.Pinger         = (*Store)(nil)
)

// Open connects to the Redis c describes, with master the store key
// (store.KeySize bytes), and checks that the data there was written under
// the same key: the first store to open a database records a key check,
// later ones with another key fail with an error matching store.ErrCorrupt.
// log may be nil.
func Open(ctx context.Context, c Config, master []byte, log *zap.Logger) (*Store, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if !c.Enabled() {
		return nil, errors.New("storage.redis: neither url nor addresses is set")
	}
	keys, err := store.DeriveKeys(master)
	if err != nil {
		return nil, err
	}
	opts, err := c.universalOptions()
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = zap.NewNop()
	} else {
		// The client's logger is process-wide: the first store's wins.
		setLogger.Do(func() { redis.SetLogger(zapLogging{log}) })
	}
	s := &Store{rdb: redis.NewUniversalClient(opts), keys: keys, prefix: c.KeyPrefix, log: log}
	if err := s.checkKey(ctx); err != nil {
		_ = s.rdb.Close()
		return nil, err
	}
	return s, nil
}

func (s *Store) checkKey(ctx context.Context) error {
	k := s.prefix + ":keycheck"
	if _, err := s.rdb.SetNX(ctx, k, s.keys.KeyCheck(), 0).Result(); err != nil {
		return fmt.Errorf("storage.redis: %w", err)
	}
	rec, err := s.rdb.Get(ctx, k).Bytes()
	if err != nil {
		return fmt.Errorf("storage.redis: read key check: %w", err)
	}
	if err := s.keys.CheckKey(rec); err != nil {
		return fmt.Errorf("storage.redis: %s: %w", k, err)
	}
	return nil
}

// Ping implements store.Pinger: it reports whether Redis answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.rdb.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redis: %w", err)
	}
	return nil
}

// Close closes the connections.
func (s *Store) Close() error { return s.rdb.Close() }

// userKey returns the key of one of the user's records of kind.
func (s *Store) userKey(name, kind string) string {
	return s.prefix + ":{" + name + "}:" + kind
}

func checkUser(ctx context.Context, user string) error {
	if user == "" {
		return errors.New("store: user id is empty")
	}
	return ctx.Err()
}

// maxSwaps bounds the retries of an optimistic update that keeps losing
// to concurrent writers of the same user.
const maxSwaps = 16

// update runs an optimistic read-modify-write of key: read returns the
// raw value ("" absent), fn computes the new raw value ("" deletes) and
// the keys to delete with it; the swap retries when the key changed.
func (s *Store) update(ctx context.Context, key, what, user string, fn func(cur []byte) (next []byte, px time.Duration, also []string, err error)) error {
	for range maxSwaps {
		cur, err := s.rdb.Get(ctx, key).Bytes()
		if errors.Is(err, redis.Nil) {
			cur, err = nil, nil
		}
		if err != nil {
			return fmt.Errorf("store: read %s %s: %w", what, key, err)
		}
		next, px, also, err := fn(cur)
		if errors.Is(err, store.ErrNoChange) {
			return nil
		}
		if err != nil {
			return err
		}
		ok, err := casScript.Run(ctx, s.rdb, append([]string{key}, also...), cur, next, px.Milliseconds()).Int()
		if err != nil {
			return fmt.Errorf("store: write %s %s: %w", what, key, err)
		}
		if ok == 1 {
			return nil
		}
	}
	return fmt.Errorf("store: %s %s changed %d times while being updated; try again", what, key, maxSwaps)
}

// zapLogging routes the Redis client's own messages (connection pool
// trouble) to the service's logger instead of stderr.
type zapLogging struct{ log *zap.Logger }

func (z zapLogging) Printf(_ context.Context, format string, v ...any) {
	z.log.Warn("redis client: " + fmt.Sprintf(format, v...))
}

var setLogger sync.Once
