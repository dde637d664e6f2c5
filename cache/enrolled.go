package cache

import (
	"fmt"
	"time"

	"github.com/dgraph-io/ristretto/v2"
)

// Enrolled remembers for a short while which users have an enabled factor,
// so that a protected request without a code, from such a user outside the
// grace period, is denied as missing its code without reading the store.
// Only "has a factor" is remembered, never "has none": a new enrollment is
// seen at once, and an entry made stale by a removal elsewhere can only give
// a code-less request the missing-code denial instead of the not-enrolled
// one, for at most the TTL; it never lets a request through. Requests that
// carry a code always read the store. The zero value is not usable: call
// NewEnrolled.
type Enrolled struct {
	c   *ristretto.Cache[string, struct{}]
	ttl time.Duration
}

// NewEnrolled returns a cache of at most max users' enrollment state,
// each kept for ttl.
func NewEnrolled(max int, ttl time.Duration) (*Enrolled, error) {
	if max < 1 || ttl <= 0 {
		return nil, fmt.Errorf("cache: enrolled cache of %d users for %s", max, ttl)
	}
	c, err := ristretto.NewCache(&ristretto.Config[string, struct{}]{
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

// Has reports whether user is remembered as having an enabled factor.
func (e *Enrolled) Has(user string) bool {
	_, ok := e.c.Get(user)
	return ok
}

// Set remembers that user has an enabled factor, for the TTL. The entry
// becomes visible to Has shortly after, not at once.
func (e *Enrolled) Set(user string) {
	e.c.SetWithTTL(user, struct{}{}, 1, e.ttl)
}

// Forget drops what is remembered of user. If wait, it returns once no
// later Has can find the entry: call it so whenever the user's factors are
// removed in this process.
func (e *Enrolled) Forget(user string, wait bool) {
	e.c.Del(user)
	if wait {
		e.c.Wait()
	}
}

// Close stops the cache's background goroutines.
func (e *Enrolled) Close() { e.c.Close() }
