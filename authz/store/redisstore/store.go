package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/mfa-authz/mfa-authz/authz/store"
)

// Enrollment implements store.Store.
func (s *Store) Enrollment(ctx context.Context, user string) (*store.Enrollment, error) {
	if err := checkUser(ctx, user); err != nil {
		return nil, err
	}
	name := s.keys.Name(user)
	rec, err := s.rdb.Get(ctx, s.userKey(name, "enrollment")).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("%w (record %s)", store.ErrNotFound, name)
	}
	if err != nil {
		return nil, fmt.Errorf("store: read enrollment %s: %w", name, err)
	}
	e, _, err := s.keys.OpenEnrollment(name, rec)
	if err != nil {
		return nil, err
	}
	return e, nil
}

// PutEnrollment implements store.Store, with the Dir's semantics: the
// replay guard is reset unless the TOTP factor stays the same.
func (s *Store) PutEnrollment(ctx context.Context, user string, e *store.Enrollment, replace bool) error {
	if err := checkUser(ctx, user); err != nil {
		return err
	}
	name := s.keys.Name(user)
	rec, err := s.keys.SealEnrollment(user, name, e)
	if err != nil {
		return err
	}
	exists := false
	err = s.update(ctx, s.userKey(name, "enrollment"), "enrollment", user, func(cur []byte) ([]byte, time.Duration, []string, error) {
		var also []string
		if cur != nil {
			if !replace {
				exists = true
				return nil, 0, nil, store.ErrNoChange
			}
			if old, _, err := s.keys.OpenEnrollment(name, cur); err == nil && store.SameTOTP(old.TOTP, e.TOTP) {
				return rec, 0, nil, nil
			}
		}
		also = append(also, s.userKey(name, "totp-used"))
		return rec, 0, also, nil
	})
	if err == nil && exists {
		return fmt.Errorf("%w (record %s)", store.ErrExists, name)
	}
	return err
}

// DeleteEnrollment implements store.Store: the enrollment, its replay
// guard, pending codes and the user's verified session go (the session
// even when there is no enrollment), so the user's next protected request
// on any replica needs a code.
func (s *Store) DeleteEnrollment(ctx context.Context, user string) error {
	if err := checkUser(ctx, user); err != nil {
		return err
	}
	name := s.keys.Name(user)
	n, err := deleteScript.Run(ctx, s.rdb, []string{
		s.userKey(name, "enrollment"), s.userKey(name, "session"), s.userKey(name, "totp-used"), s.userKey(name, "codes"),
	}).Int()
	if err != nil {
		return fmt.Errorf("store: delete enrollment %s: %w", name, err)
	}
	if n == 0 {
		return fmt.Errorf("%w (record %s)", store.ErrNotFound, name)
	}
	return nil
}

// UseTOTPStep implements store.Store atomically (useStepScript): of any
// number of concurrent calls with the same step, on any replica, exactly
// one succeeds.
func (s *Store) UseTOTPStep(ctx context.Context, user string, step uint64) (bool, error) {
	if err := checkUser(ctx, user); err != nil {
		return false, err
	}
	key := s.userKey(s.keys.Name(user), "totp-used")
	n, err := useStepScript.Run(ctx, s.rdb, []string{key}, strconv.FormatUint(step, 10)).Int()
	if err != nil {
		return false, fmt.Errorf("store: use TOTP step %s: %w", key, err)
	}
	return n == 1, nil
}

// SecretHash implements store.Store; it equals the Dir's under the
// same key.
func (s *Store) SecretHash(user, purpose, secret string) []byte {
	return s.keys.SecretHash(user, purpose, secret)
}

// UpdateEnrollment implements store.Store as an optimistic swap: fn
// may be called more than once when another replica writes the user's
// enrollment meanwhile, and must not carry results over between calls.
// An update that removes an enabled factor (or the whole enrollment)
// deletes the user's verified session in the same swap: it ends on every
// replica at once.
func (s *Store) UpdateEnrollment(ctx context.Context, user string, fn func(cur *store.Enrollment) (*store.Enrollment, error)) error {
	if err := checkUser(ctx, user); err != nil {
		return err
	}
	name := s.keys.Name(user)
	guard, codes, session := s.userKey(name, "totp-used"), s.userKey(name, "codes"), s.userKey(name, "session")
	return s.update(ctx, s.userKey(name, "enrollment"), "enrollment", user, func(raw []byte) ([]byte, time.Duration, []string, error) {
		var cur *store.Enrollment
		if raw != nil {
			var err error
			if cur, _, err = s.keys.OpenEnrollment(name, raw); err != nil {
				return nil, 0, nil, err
			}
		}
		next, err := fn(cur)
		if err != nil {
			return nil, 0, nil, err
		}
		if next == nil {
			if cur == nil {
				return nil, 0, nil, store.ErrNoChange
			}
			return nil, 0, []string{guard, codes, session}, nil
		}
		rec, err := s.keys.SealEnrollment(user, name, next)
		if err != nil {
			return nil, 0, nil, err
		}
		var also []string
		if cur == nil || !store.SameTOTP(cur.TOTP, next.TOTP) {
			also = append(also, guard)
		}
		if removesFactor(cur, next) {
			also = append(also, session)
		}
		return rec, 0, also, nil
	})
}

// removesFactor reports whether next lacks an enabled factor cur has.
func removesFactor(cur, next *store.Enrollment) bool {
	for _, m := range cur.Methods() {
		if !next.Has(m) {
			return true
		}
	}
	return false
}

// pendingSlack keeps a pending code past its expiry, so that using it
// late answers "expired" rather than "no code".
const pendingSlack = 24 * time.Hour

// UpdatePendingCode implements store.Store like UpdateEnrollment: a
// code checked on two replicas at once is consumed by one of them only.
func (s *Store) UpdatePendingCode(ctx context.Context, user, method string, fn func(cur *store.PendingCode) (*store.PendingCode, error)) error {
	if err := checkUser(ctx, user); err != nil {
		return err
	}
	name := s.keys.Name(user)
	return s.update(ctx, s.userKey(name, "codes"), "pending codes", user, func(raw []byte) ([]byte, time.Duration, []string, error) {
		codes := map[string]*store.PendingCode{}
		if raw != nil {
			var err error
			if codes, err = s.keys.OpenPendingCodes(name, raw); err != nil {
				return nil, 0, nil, err
			}
		}
		next, err := fn(codes[method])
		if err != nil {
			return nil, 0, nil, err
		}
		if next == nil {
			delete(codes, method)
		} else {
			codes[method] = next
		}
		if len(codes) == 0 {
			if raw == nil {
				return nil, 0, nil, store.ErrNoChange
			}
			return nil, 0, nil, nil
		}
		var last time.Time
		for _, c := range codes {
			if c.ExpiresAt.After(last) {
				last = c.ExpiresAt
			}
		}
		px := max(time.Until(last), 0) + pendingSlack
		rec, err := s.keys.SealPendingCodes(name, codes)
		if err != nil {
			return nil, 0, nil, err
		}
		return rec, px, nil, nil
	})
}

// Hit implements store.Store.
func (s *Store) Hit(ctx context.Context, key string, window time.Duration, limit int, now time.Time) (bool, time.Time, error) {
	refused, reset, err := s.Reserve(ctx, []store.Limit{{Key: key, Window: window, Max: limit}}, now)
	if err != nil {
		return false, time.Time{}, err
	}
	return refused < 0, reset, nil
}

// sendLimitsTag is the hash tag of every send counter: one Lua script
// checks and counts all the limits of a send at once, and a script's keys
// must share a Redis Cluster slot. Sends are few; one slot carries them.
const sendLimitsTag = "{send-limits}"

// Reserve implements store.Store with reserveScript, atomically.
func (s *Store) Reserve(ctx context.Context, limits []store.Limit, now time.Time) (int, time.Time, error) {
	if len(limits) == 0 {
		return 0, time.Time{}, errors.New("store: reserve: no limit")
	}
	keys := make([]string, len(limits))
	args := make([]any, 0, 1+2*len(limits))
	args = append(args, now.UnixMilli())
	for i, l := range limits {
		if err := checkUser(ctx, l.Key); err != nil {
			return 0, time.Time{}, err
		}
		name := s.keys.CounterName(l.Key)
		if l.Window <= 0 || l.Max < 1 {
			return 0, time.Time{}, fmt.Errorf("store: counter %s: window and limit must be positive", name)
		}
		keys[i] = s.prefix + ":" + sendLimitsTag + ":counter:" + name
		args = append(args, l.Window.Milliseconds(), l.Max)
	}
	res, err := reserveScript.Run(ctx, s.rdb, keys, args...).Int64Slice()
	if err != nil || len(res) != 2 {
		return 0, time.Time{}, fmt.Errorf("store: counter: %w", errOr(err, "unexpected reply"))
	}
	return int(res[0]) - 1, time.UnixMilli(res[1]), nil
}

func errOr(err error, msg string) error {
	if err != nil {
		return err
	}
	return errors.New(msg)
}
