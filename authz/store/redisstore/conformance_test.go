package redisstore

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/mfa-authz/mfa-authz/authz/store"
	"github.com/mfa-authz/mfa-authz/authz/store/storetest"
	"github.com/mfa-authz/mfa-authz/test/redistest"
)

// TestConformance runs the store conformance suite against the Redis store
// on a real redis-server: every case gets keys of its own under a fresh
// prefix on the one server, and every handle is another connection to it,
// as another replica or a restart would open it.
func TestConformance(t *testing.T) {
	srv := redistest.Start(t)
	var n atomic.Int32
	storetest.Run(t, storetest.Backend{Fresh: func(t *testing.T) storetest.Opener {
		c := DefaultConfig()
		c.URL = srv.URL
		c.KeyPrefix = fmt.Sprintf("conformance%d", n.Add(1))
		return func(t *testing.T, key []byte) (store.Store, error) {
			s, err := Open(context.Background(), c, key, nil)
			if err != nil {
				// A nil *Store must not become a non-nil store.Store.
				return nil, err
			}
			return s, nil
		}
	}})
}
