package cache

import (
	"fmt"
	"time"

	"github.com/dgraph-io/ristretto/v2"
)

// Enrolled remembers for a short while whether users have an enabled
// factor, so that a protected request without a code, from a user outside
// the grace period, is denied without reading the store: as missing its
// code when the user has a factor, as not enrolled when not.
//
// Both answers are denials, so a stale entry (a factor added or removed by
// the CLI or another replica within the TTL) can only change which of the
// two a code-less request gets; it never lets a request through. Callers
// must not use the "has none" answer where it would allow (with
// mfa.allow_unenrolled), and requests that carry a code always read the
// store. The zero value is not usable: call NewEnrolled.
type Enrolled struct {
	c   *ristretto.Cache[string, bool]
	ttl time.Duration
}

// NewEnrolled returns a cache of at most max users' enrollment state,
// each kept for ttl.
func NewEnrolled(max int, ttl time.Duration) (*Enrolled, error) {
	if max < 1 || ttl <= 0 {
		return nil, fmt.Errorf("cache: enrolled cache of %d users for %s", max, ttl)
	}
	c, err := ristretto.NewCache(&ristretto.Config[string, bool]{
		NumCounters:        int64(max) * 10,
		MaxCost:            int64(max),
		BufferItems:        64,
		IgnoreInternalCost: true,
	})
	if err != nil {
		return nil, fmt.Errorf("cache: %w", err)
	}
	return &Enrolled{c: c, ttl: ttl}, nil
}

// Lookup reports what is remembered of user: enrolled is whether the user
// had an enabled factor, known whether anything is remembered at all.
func (e *Enrolled) Lookup(user string) (enrolled, known bool) {
	return e.c.Get(user)
}

// Set remembers whether user has an enabled factor, for the TTL. The entry
// becomes visible to Lookup shortly after, not at once.
func (e *Enrolled) Set(user string, enrolled bool) {
	e.c.SetWithTTL(user, enrolled, 1, e.ttl)
}

// Forget drops what is remembered of user. If wait, it returns once no
// later Lookup can find the entry: call it so whenever the user's factors
// change in this process.
func (e *Enrolled) Forget(user string, wait bool) {
	e.c.Del(user)
	if wait {
		e.c.Wait()
	}
}

// Close stops the cache's background goroutines.
func (e *Enrolled) Close() { e.c.Close() }
