package redisstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/mfa-authz/mfa-authz/authz/regulation"
	"github.com/mfa-authz/mfa-authz/cache"
)

// attemptLease is how long a reserved attempt counts as in flight when its
// replica never settles it (it died): longer than any verification.
const attemptLease = 30 * time.Second

// settleTimeout bounds the write that settles an attempt; it runs after
// the request's own deadline may have passed.
const settleTimeout = 2 * time.Second

// Limiter implements store.SharedLimiter: the regulation shared by every
// replica on this Redis, with cfg's limits (cfg must be valid). Its
// scripts are beginScript, failScript and succeedScript.
func (s *Store) Limiter(cfg regulation.Config) regulation.Limiter {
	return &limiter{s: s, cfg: cfg}
}

type limiter struct {
	s   *Store
	cfg regulation.Config
}

func (l *limiter) regKeys(user string) []string {
	name := l.s.keys.Name(user)
	return []string{l.s.userKey(name, "reg:ban"), l.s.userKey(name, "reg:fail"), l.s.userKey(name, "reg:inflight"),
		l.s.userKey(name, "reg:streak")}
}

// BannedUntil implements regulation.Limiter with one GET.
func (l *limiter) BannedUntil(ctx context.Context, user string, now time.Time) (time.Time, bool, error) {
	name := l.s.keys.Name(user)
	v, err := l.s.rdb.Get(ctx, l.s.userKey(name, "reg:ban")).Result()
	if errors.Is(err, redis.Nil) {
		return time.Time{}, false, nil
	}
	if err != nil {
		return time.Time{}, false, fmt.Errorf("regulation: read ban: %w", err)
	}
	ms, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		// Fail closed on a damaged value: the user stays banned until it expires.
		return now.Add(l.cfg.Ban), true, nil
	}
	until := time.UnixMilli(ms)
	if !now.Before(until) {
		return time.Time{}, false, nil
	}
	return until, true, nil
}

// Begin implements regulation.Limiter with beginScript.
func (l *limiter) Begin(ctx context.Context, user string, now time.Time) (regulation.Attempt, time.Time, bool, error) {
	var b [12]byte
	_, _ = rand.Read(b[:])
	id := hex.EncodeToString(b[:])
	keys := l.regKeys(user)
	res, err := beginScript.Run(ctx, l.s.rdb, keys, now.UnixMilli(), l.cfg.Window.Milliseconds(),
		l.cfg.MaxFailures, id, attemptLease.Milliseconds(), l.maxConsecutive()).Int64Slice()
	if err != nil || len(res) != 2 {
		return regulation.Attempt{}, time.Time{}, false, fmt.Errorf("regulation: reserve attempt: %w", errOr(err, "unexpected reply"))
	}
	if res[0] == 1 {
		return regulation.Attempt{}, time.UnixMilli(res[1]), true, nil
	}
	return regulation.NewAttempt(&attempt{l: l, keys: keys, id: id}), time.Time{}, false, nil
}

// attempt settles one reservation. A settle that cannot reach Redis is
// logged: the reservation lapses with its lease, and a failure it should
// have counted is lost (the request itself was already denied).
type attempt struct {
	l    *limiter
	keys []string
	id   string
}

func (a *attempt) run(script *redis.Script, args ...any) int {
	ctx, cancel := context.WithTimeout(context.Background(), settleTimeout)
	defer cancel()
	n, err := script.Run(ctx, a.l.s.rdb, a.keys, args...).Int()
	if err != nil {
		a.l.s.log.Error("regulation: settling an attempt failed; it lapses with its lease", zap.Error(err))
	}
	return n
}

func (a *attempt) Succeeded() { a.run(succeedScript, a.id) }

func (a *attempt) Release() {
	ctx, cancel := context.WithTimeout(context.Background(), settleTimeout)
	defer cancel()
	if err := a.l.s.rdb.ZRem(ctx, a.keys[2], a.id).Err(); err != nil {
		a.l.s.log.Error("regulation: releasing an attempt failed; it lapses with its lease", zap.Error(err))
	}
}

func (a *attempt) Failed(now time.Time) bool {
	c := a.l.cfg
	return a.run(failScript, now.UnixMilli(), c.Window.Milliseconds(), c.MaxFailures, a.id,
		c.Ban.Milliseconds(), a.l.maxConsecutive(), max(c.MaxBan, c.Ban).Milliseconds(), c.LockoutFor().Milliseconds()) == 1
}

// maxConsecutive is the configured limit of wrong codes in a row; a
// Config built in code without one sets none.
func (l *limiter) maxConsecutive() int64 {
	if l.cfg.MaxConsecutiveFailures <= 0 {
		return 1 << 53 // beyond any count, and exact in Lua's numbers
	}
	return int64(l.cfg.MaxConsecutiveFailures)
}

// BannedUntilSession reads the user's ban and sealed session record with
// one MGET (both keys carry the user's hash tag, so they share a slot):
// the engine's whole per-request read on a protected route. rec is "" when
// the user is banned or has no session; OpenSession decodes it. Because
// every protected request reads the session here, deleting the session
// key (DeleteEnrollment, an UpdateEnrollment removing a factor,
// Sessions().DeleteSession) ends it on every replica at once.
func (l *limiter) BannedUntilSession(ctx context.Context, user string, now time.Time) (time.Time, bool, string, error) {
	name := l.s.keys.Name(user)
	vals, err := l.s.rdb.MGet(ctx, l.s.userKey(name, "reg:ban"), l.s.userKey(name, "session")).Result()
	if err == nil && len(vals) != 2 {
		err = errors.New("unexpected reply")
	}
	if err != nil {
		return time.Time{}, false, "", fmt.Errorf("regulation: read ban and session: %w", err)
	}
	if v, ok := vals[0].(string); ok {
		ms, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			// Fail closed on a damaged value, as BannedUntil does.
			return now.Add(l.cfg.Ban), true, "", nil
		}
		if until := time.UnixMilli(ms); now.Before(until) {
			return until, true, "", nil
		}
	}
	rec, _ := vals[1].(string)
	return time.Time{}, false, rec, nil
}

// OpenSession decodes a session record BannedUntilSession returned;
// ok=false when it does not authenticate as the user's.
func (l *limiter) OpenSession(user, rec string) (cache.Session, bool) {
	return l.s.openSession(l.s.keys.Name(user), []byte(rec))
}
