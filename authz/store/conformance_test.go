package store_test

import (
	"testing"

	"github.com/mfa-authz/mfa-authz/authz/store"
	"github.com/mfa-authz/mfa-authz/authz/store/storetest"
)

// TestConformance runs the store conformance suite against the Dir: every
// handle is another open of one directory, as a second process (the CLI
// next to the server) or a restart would open it.
func TestConformance(t *testing.T) {
	storetest.Run(t, storetest.Backend{Locking: true, Fresh: func(t *testing.T) storetest.Opener {
		dir := t.TempDir()
		return func(t *testing.T, key []byte) (store.Store, error) { return store.OpenDir(dir, key) }
	}})
}
