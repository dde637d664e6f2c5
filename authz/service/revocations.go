package service

import (
	"context"
	"time"

	"go.uber.org/zap"

	"github.com/mfa-authz/mfa-authz/authz"
	"github.com/mfa-authz/mfa-authz/authz/store"
)

// RevocationInterval is how often WatchRevocations polls the store's
// revocation log for sessions an administrator ended (`mfa-authz user disable|reset`).
const RevocationInterval = time.Second

// revocationOverlap is how far back each poll looks before the previous
// one, so that a revocation whose file time is slightly older than its
// rename into place (or than the poll) is not missed. Revocations seen
// before are skipped.
const revocationOverlap = 3 * time.Second

// revocationPruneEvery is how often old revocations are pruned, and
// revocationMargin how long past the longest session they are kept.
const (
	revocationPruneEvery = time.Minute
	revocationMargin     = time.Minute
)

// WatchRevocations ends, every RevocationInterval until ctx ends, the
// in-memory sessions of users whose sessions another process (the CLI)
// revoked in a store.RevocationLog (the embedded store), and prunes
// revocations older than the longest session. It returns at once for
// another store: with shared sessions (Redis) the CLI ends the session
// itself. Checks do no I/O for it: they only find the session gone.
func (s *Service) WatchRevocations(ctx context.Context) {
	rl, ok := s.Store.(store.RevocationLog)
	if !ok {
		return
	}
	t := time.NewTicker(RevocationInterval)
	defer t.Stop()
	last := time.Now()
	seen := map[string]time.Time{} // user → At of the revocation applied
	var pruned time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := time.Now()
		since := last.Add(-revocationOverlap)
		revs, err := rl.Revocations(since)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			s.Log.Warn("reading session revocations", zap.Error(err))
		}
		for _, r := range revs {
			if at, ok := seen[r.User]; ok && at.Equal(r.At) {
				continue
			}
			if err := s.Engine.EndSessions(ctx, r.User); err != nil {
				s.Log.Error("ending a revoked session failed", zap.String("user_hash", authz.HashUser(r.User)), zap.Error(err))
				continue // tried again on the next poll
			}
			seen[r.User] = r.At
			s.Log.Info("session revoked", zap.String("user_hash", authz.HashUser(r.User)))
		}
		for u, at := range seen {
			// Long after the poll window, so a revocation is never applied twice.
			if at.Before(now.Add(-time.Minute)) {
				delete(seen, u)
			}
		}
		last = now
		if now.Sub(pruned) >= revocationPruneEvery {
			pruned = now
			if err := rl.PruneRevocations(ctx, now.Add(-s.longestSession()-revocationMargin)); err != nil && ctx.Err() == nil {
				s.Log.Warn("pruning session revocations", zap.Error(err))
			}
		}
	}
}

// longestSession is the longest a session can last: the global grace
// period, a longer per-rule one, or the step-up window of the self-service
// endpoints.
func (s *Service) longestSession() time.Duration {
	g := max(*s.Config.MFA.GracePeriod, s.Engine.StepUpWindow())
	if rg, ok := s.Engine.Policy().MaxGrace(); ok && rg > g {
		g = rg
	}
	return g
}
