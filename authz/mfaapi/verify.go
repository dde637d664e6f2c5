package mfaapi

import (
	"context"
	"errors"

	"github.com/mfa-authz/mfa-authz/authz"
	"github.com/mfa-authz/mfa-authz/authz/factor"
	"github.com/mfa-authz/mfa-authz/authz/profile"
	"github.com/mfa-authz/mfa-authz/authz/store"
)

// verify answers POST multi-factor-auth-type-verify: a code of the pending
// factor in the MFA header enables it, and the answer is empty (204), as
// Spryker's. Recovery codes are not part of it: the client fetches them
// with their own request (POST multi-factor-auth-recovery-codes).
//
// Only the factor being verified is judged: a code of another factor, a
// recovery code among them, is refused without being checked, so verify
// never consumes it (Engine.Prove with pending set).
//
// The code proves the factor in progress as first read, so the locked
// update enables it only if it is still that factor (a concurrent activate
// may have replaced the secret or destination: errReplaced), and asks for
// the step-up the first read did not need if the user has gained an
// enabled factor meanwhile (errStepUp).
func (a *API) verify(ctx context.Context, r *authz.Request, user string) profile.Answer {
	req, bad := a.readFactorRequest(ctx, r, user, TypeVerify)
	if bad != nil {
		return *bad
	}
	if ans, ok := a.notBanned(ctx, r, user); !ok {
		return ans
	}
	method, enr := req.method, req.enr
	f, ok := a.enrollable(method).(factor.Activatable)
	if !ok {
		// Only Activatable factors are offered.
		return a.deny(r, profile.TypeNotFound, 0)
	}
	d, sent := f.(factor.Destined)
	switch f.Status(enr) {
	case StatusEnabled:
		return a.deny(r, profile.AlreadyEnabled, 0)
	case StatusDisabled:
		return a.deny(r, profile.FactorNotActive, 0)
	}
	if !a.steppedUpFor(ctx, r, user, method, enr, a.o.Now()) {
		return a.deny(r, profile.StepUpRequired, 0)
	}
	sentTo, err := a.sentTo(ctx, user, d)
	if err != nil {
		return a.unavailable(r, "read pending code", err)
	}
	p := a.o.Engine.Prove(ctx, r, user, enr, method, a.o.Now())
	if !p.OK {
		return a.deny(r, p.Reason, p.RetryAfter)
	}
	if p.Method != method {
		// Another factor's code cannot activate this one.
		return a.deny(r, profile.Invalid, 0)
	}
	if sent && sentTo != d.Destination(enr) {
		// The code went to another destination than the one in
		// progress: activate registers a new destination before it
		// replaces the code sent to the old one (and keeps the old code
		// when storing the new one fails). That code proves the old
		// destination, not this one.
		return a.deny(r, profile.Invalid, 0)
	}
	hadFactor := len(enr.Methods()) > 0
	err = a.o.Store.UpdateEnrollment(ctx, user, func(cur *store.Enrollment) (*store.Enrollment, error) {
		next := copyEnrollment(cur)
		switch f.Status(next) {
		case StatusEnabled:
			return nil, errAlreadyEnabled
		case StatusDisabled:
			return nil, errNotEnabled
		}
		if !samePending(f, next, enr) {
			return nil, errReplaced
		}
		first := len(next.Methods()) == 0
		if !first && !hadFactor && !a.steppedUpFor(ctx, r, user, method, next, a.o.Now()) {
			return nil, errStepUp
		}
		f.Enable(next)
		return next, nil
	})
	switch {
	case errors.Is(err, errNotEnabled):
		// Cancelled since the read: as if read up front.
		return a.deny(r, profile.FactorNotActive, 0)
	case err != nil:
		return a.updateFailed(r, "enable factor", err)
	}
	return noContent
}

// sentTo returns the destination of the user's pending code of d, read
// before the code is checked (a right code is consumed); "" when there is
// none, or when d is nil (a factor whose codes are not sent).
func (a *API) sentTo(ctx context.Context, user string, d factor.Destined) (string, error) {
	if d == nil {
		return "", nil
	}
	var dest string
	err := a.o.Store.UpdatePendingCode(ctx, user, d.Name(), func(cur *store.PendingCode) (*store.PendingCode, error) {
		if cur != nil {
			dest = cur.Destination
		}
		return nil, store.ErrNoChange
	})
	return dest, err
}
