package store

import (
	"context"
	"time"

	"github.com/mfa-authz/mfa-authz/authz/regulation"
	"github.com/mfa-authz/mfa-authz/cache"
)

// What only some backends do. Each capability is an interface of its own,
// found with a type assertion on the Store the service opened (never on a
// backend's concrete type), so that a new backend gains a behaviour by
// implementing its methods and the wiring needs no change. A store
// wrapped by another type (a test's fault injector) has only the
// capabilities the wrapper implements.

// SharedSessions is a store that keeps verified sessions where every
// replica reads them, so that a code verified on one replica is a session
// on all of them and ending it on one ends it everywhere. The Redis store
// implements it; the Dir does not (a server on it keeps sessions in its
// own memory, and the CLI ends them through RevocationLog).
type SharedSessions interface {
	// Sessions returns the shared sessions, for cache.Sessions.SetShared.
	Sessions() cache.Shared
}

// SharedLimiter is a store that keeps regulation (failures, in-flight
// attempts, bans) where every replica counts against the same numbers.
// The Redis store implements it; the Dir does not: a server on it
// regulates in memory and journals to the store (RegulationJournal).
type SharedLimiter interface {
	// Limiter returns the shared regulation with cfg's limits (cfg must
	// be valid).
	Limiter(cfg regulation.Config) regulation.Limiter
}

// RegulationJournal is a store that keeps the in-memory regulator's
// failures and bans across restarts (regulation.Regulator.Persist), so
// that an attacker gets no fresh count by waiting for one. The Dir
// implements it; the Redis store keeps regulation in Redis itself
// (SharedLimiter) and has nothing to journal.
type RegulationJournal interface {
	regulation.Journal
}

// RevocationLog is a store that records, for a server to poll, that an
// administrator ended a user's sessions: the server keeps its sessions
// in its own memory, out of the reach of another process such as the CLI.
// The Dir implements it; with the Redis store sessions are shared
// (SharedSessions) and the CLI deletes the session itself.
type RevocationLog interface {
	// RevokeSessions records that every session granted to user before
	// now must end.
	RevokeSessions(ctx context.Context, user string) error
	// Revocations returns the revocations recorded after since, in no
	// particular order. An unreadable record is skipped and reported in
	// the error (matching ErrCorrupt) next to the readable ones.
	Revocations(since time.Time) ([]Revocation, error)
	// PruneRevocations removes the revocations recorded before olderThan.
	PruneRevocations(ctx context.Context, olderThan time.Time) error
}

// Exporter is a store whose enrollments can be walked, user by user, to
// copy them into another store (`mfa-authz migrate`). The Dir implements
// it; the Redis store is the destination of a migration, not its source.
type Exporter interface {
	// Export calls fn for every enrollment in the store; see Dir.Export.
	Export(ctx context.Context, users []string, fn func(Exported) error) error
}

// Pinger is a store that can tell whether it still works: the Redis store
// whether its server answers, the Dir whether its directory can still be
// written and synced. A store that is not a Pinger is taken to be always
// healthy (a backend with nothing that can fail apart from the process).
type Pinger interface {
	Ping(ctx context.Context) error
}

var (
	_ RegulationJournal = (*Dir)(nil)
	_ RevocationLog     = (*Dir)(nil)
	_ Exporter          = (*Dir)(nil)
	_ Pinger            = (*Dir)(nil)
)
