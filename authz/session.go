package authz

import (
	"context"
	"time"

	"github.com/mfa-authz/mfa-authz/authz/regulation"
	"github.com/mfa-authz/mfa-authz/cache"
)

// sessionSource tells the engine, for a protected request's user, whether
// a ban is in force and whether the user holds a verified session. New
// chooses one for the engine's life, so that no request branches on where
// sessions live:
//
//   - sharedSessions, when the Limiter is a SessionLimiter (Redis): the
//     shared store is the truth about bans and sessions, read in one round
//     trip, and a session deleted there ends on every replica at once;
//   - localSessions otherwise: regulation first, then the in-memory cache,
//     then the cache's shared level, if it has one.
type sessionSource interface {
	// lookup returns the user's ban, or else a session verified within
	// grace at now. ttl bounds how long a session read from a shared store
	// is cached here: the longest grace in force.
	lookup(ctx context.Context, user string, now time.Time, grace, ttl time.Duration) sessionLookup
}

// sessionLookup is a sessionSource's answer.
type sessionLookup struct {
	banned  bool
	until   time.Time // the end of the ban
	ok      bool      // session holds a session verified within grace
	session cache.Session
	// err is a failed lookup, which denies the request (fail closed);
	// failed says what failed, for the log line and the decision's detail.
	err    error
	failed string
}

func newSessionSource(reg regulation.Limiter, sessions *cache.Sessions) sessionSource {
	if gate, ok := reg.(SessionLimiter); ok {
		return &sharedSessions{gate: gate, sessions: sessions}
	}
	return &localSessions{reg: reg, sessions: sessions}
}

// localSessions reads bans from regulation and sessions from the cache.
type localSessions struct {
	reg      regulation.Limiter
	sessions *cache.Sessions
}

func (l *localSessions) lookup(ctx context.Context, user string, now time.Time, grace, _ time.Duration) sessionLookup {
	until, banned, err := l.reg.BannedUntil(ctx, user, now)
	switch {
	case err != nil:
		return sessionLookup{err: err, failed: "regulation error"}
	case banned:
		return sessionLookup{banned: true, until: until}
	}
	if s, ok := l.sessions.Get(user); ok && withinGrace(s.VerifiedAt, now, grace) {
		return sessionLookup{ok: true, session: s}
	}
	s, ok, err := l.sessions.GetShared(ctx, user)
	if err != nil {
		return sessionLookup{err: err, failed: "session store error"}
	}
	return sessionLookup{ok: ok && withinGrace(s.VerifiedAt, now, grace), session: s}
}

// sharedSessions reads the ban and the session record from a
// SessionLimiter in one round trip. A record this replica has opened
// before is taken from the cache; another is opened and cached.
type sharedSessions struct {
	gate     SessionLimiter
	sessions *cache.Sessions
}

func (g *sharedSessions) lookup(ctx context.Context, user string, now time.Time, grace, ttl time.Duration) sessionLookup {
	until, banned, rec, err := g.gate.BannedUntilSession(ctx, user, now)
	switch {
	case err != nil:
		return sessionLookup{err: err, failed: "regulation error"}
	case banned:
		return sessionLookup{banned: true, until: until}
	case rec == "":
		return sessionLookup{}
	}
	s, ok := g.sessions.Match(user, rec)
	if !ok {
		if s, ok = g.gate.OpenSession(user, rec); !ok {
			return sessionLookup{}
		}
		g.sessions.Keep(user, s, rec, ttl-now.Sub(s.VerifiedAt))
	}
	return sessionLookup{ok: withinGrace(s.VerifiedAt, now, grace), session: s}
}
