package mfaapi

import (
	"context"
	"time"

	"github.com/mfa-authz/mfa-authz/authz"
	"github.com/mfa-authz/mfa-authz/authz/profile"
	"github.com/mfa-authz/mfa-authz/authz/store"
)

// Adding a factor is guarded by the factors the user already has: without
// that, whoever holds the first factor alone (a stolen session token)
// could enroll a factor of their own and pass every step-up after it.
// A user with no enabled factor has nothing to prove.

// requireStepUp lets a user with an enabled factor add another only after
// proving an enabled one: within a recent step-up, or with its code in the
// MFA header now (which starts a session). A missing code is answered with
// StepUpRequired (5919) rather than Missing, to tell the client why.
func (a *API) requireStepUp(ctx context.Context, r *authz.Request, user string, enr *store.Enrollment, now time.Time) (profile.Answer, bool) {
	if len(enr.Methods()) == 0 || a.o.Engine.SteppedUp(ctx, user, now) {
		return profile.Answer{}, true
	}
	p := a.o.Engine.Prove(ctx, r, user, enr, "", now)
	switch {
	case p.OK:
		a.o.Engine.StartSession(user, p.Method, now)
		return profile.Answer{}, true
	case p.Reason == profile.Missing:
		return a.deny(r, profile.StepUpRequired, 0), false
	default:
		return a.deny(r, p.Reason, p.RetryAfter), false
	}
}

// steppedUpStill reports whether the step-up that activate demanded is
// still fresh when the new factor is verified. Verify cannot ask for it
// again: the code in its MFA header is the new factor's.
func (a *API) steppedUpStill(ctx context.Context, user string, enr *store.Enrollment, now time.Time) bool {
	return len(enr.Methods()) == 0 || a.o.Engine.SteppedUp(ctx, user, now)
}

// notBanned refuses a user whom regulation bans, as Check refuses one on a
// protected route (429, too many attempts, with Retry-After), before an
// endpoint acts on a factor: a ban must not be sidestepped through a path
// that needs no code (a live step-up session, cancelling an activation, a
// trigger, a first factor). A failed lookup is an outage.
func (a *API) notBanned(ctx context.Context, r *authz.Request, user string) (profile.Answer, bool) {
	now := a.o.Now()
	until, banned, err := a.o.Engine.BannedUntil(ctx, user, now)
	switch {
	case err != nil:
		return a.unavailable(r, "regulation lookup", err), false
	case banned:
		return a.deny(r, profile.TooManyAttempts, until.Sub(now)), false
	}
	return profile.Answer{}, true
}
