package mfaapi

import (
	"context"
	"strings"
	"time"

	"github.com/mfa-authz/mfa-authz/authz"
	"github.com/mfa-authz/mfa-authz/authz/factor"
	"github.com/mfa-authz/mfa-authz/authz/profile"
	"github.com/mfa-authz/mfa-authz/authz/store"
)

// Changing a user's factors (adding, removing or replacing one,
// regenerating recovery codes) is guarded by the factors the user already
// has: without that, whoever holds the first factor alone (a stolen
// token) could enroll a factor of their own and pass every step-up after
// it. The user's session is not enough, because it is the user's, not the
// request's: it proves that someone verified, not that this client did.
// What counts is a code of an enabled factor in the request's MFA header,
// or a step-up bound to the request's credential (see
// authz.Engine.CredentialSteppedUp), at most api.step_up_window old. A
// user with no enabled factor has nothing to prove.

// proof is how a request proved an enabled factor for a change.
type proof struct {
	// reason and retry are the failure to answer when ok is false.
	ok     bool
	reason profile.Reason
	retry  time.Duration
}

// proveFactor checks that r proves an enabled factor of the user's: the
// code in its MFA header, which records a step-up (the user's session and,
// with a credential, one bound to it) so that the next change needs no
// second code; without a code, a step-up bound to its credential. A code
// that is sent is always judged: a wrong one fails even within a step-up.
func (a *API) proveFactor(ctx context.Context, r *authz.Request, user string, enr *store.Enrollment, now time.Time) proof {
	if !hasCode(r, a.o.Engine.HeaderName()) && a.o.Engine.CredentialSteppedUp(ctx, r, user, now) {
		return proof{ok: true}
	}
	p := a.o.Engine.Prove(ctx, r, user, enr, "", now)
	if !p.OK {
		return proof{reason: p.Reason, retry: p.RetryAfter}
	}
	a.o.Engine.RecordStepUp(r, user, p.Method, now)
	return proof{ok: true}
}

// hasCode reports whether r carries a code: an MFA header that is not
// blank, or several (which Prove refuses).
func hasCode(r *authz.Request, header string) bool {
	if r.Header == nil {
		return false
	}
	v, n := r.Header.Lookup(header)
	return n > 1 || n == 1 && strings.TrimSpace(v) != ""
}

// requireStepUp lets a user with an enabled factor add another only after
// proving an enabled one (proveFactor); stepped reports that the user
// did, so that the activation it starts is bound to that proof. A missing
// code is answered with StepUpRequired (5919) rather than Missing, to tell
// the client why.
func (a *API) requireStepUp(ctx context.Context, r *authz.Request, user string, enr *store.Enrollment, now time.Time) (ans profile.Answer, stepped, ok bool) {
	if len(enr.Methods()) == 0 {
		return profile.Answer{}, false, true
	}
	switch p := a.proveFactor(ctx, r, user, enr, now); {
	case p.ok:
		return profile.Answer{}, true, true
	case p.reason == profile.Missing:
		return a.deny(r, profile.StepUpRequired, 0), false, false
	default:
		return a.deny(r, p.reason, p.retry), false, false
	}
}

// steppedUpFor reports whether the activation of method in enr may be
// completed: enr has no other enabled factor, or activate bound a step-up
// to exactly this activation, or the request's credential stepped up.
// Verify cannot ask for a code of an enabled factor: the code in its MFA
// header is the new factor's.
func (a *API) steppedUpFor(ctx context.Context, r *authz.Request, user, method string, enr *store.Enrollment, now time.Time) bool {
	if len(enr.Methods()) == 0 {
		return true
	}
	if started, ok := a.activationStarted(enr, method); ok && a.o.Engine.ActivationSteppedUp(ctx, user, method, started, now) {
		return true
	}
	return a.o.Engine.CredentialSteppedUp(ctx, r, user, now)
}

// activationStarted returns when the activation of method in progress in
// enr started.
func (a *API) activationStarted(enr *store.Enrollment, method string) (time.Time, bool) {
	f, ok := a.enrollable(method).(factor.Activatable)
	if !ok || f.Status(enr) != StatusInProgress {
		return time.Time{}, false
	}
	return f.Started(enr), true
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
