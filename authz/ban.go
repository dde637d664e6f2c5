package authz

import (
	"context"
	"time"
)

// BannedUntil reports whether regulation bans user at now and until when,
// as Check judges it before anything else on a protected route, so that
// the self-service endpoints can refuse a banned user the same way. err
// is a failed lookup of shared regulation (Redis), which callers answer
// as an outage.
func (e *Engine) BannedUntil(ctx context.Context, user string, now time.Time) (until time.Time, banned bool, err error) {
	return e.reg.BannedUntil(ctx, user, now)
}
