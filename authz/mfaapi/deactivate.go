package mfaapi

import (
	"context"
	"errors"

	"go.uber.org/zap"

	"github.com/mfa-authz/mfa-authz/authz"
	"github.com/mfa-authz/mfa-authz/authz/factor"
	"github.com/mfa-authz/mfa-authz/authz/profile"
	"github.com/mfa-authz/mfa-authz/authz/store"
)

// deactivate answers POST multi-factor-auth-type-deactivate: it removes a
// factor, enabled or pending. Removing the last factor removes the
// enrollment with its recovery codes, so the user is unenrolled.
//
// Removing an enabled factor takes a code; cancelling an activation in
// progress does not. A cancellation without a code therefore removes the
// factor only if it is still in progress under the store's lock: one that
// a concurrent verify enabled meanwhile stays, with the recovery codes that
// verify just showed.
//
// Removing an enabled factor ends the user's verified session (on every
// replica with the Redis store), so the next protected request needs a
// code of a factor the user still has.
func (a *API) deactivate(ctx context.Context, r *authz.Request, user string) profile.Answer {
	req, bad := a.readFactorRequest(ctx, r, user, TypeDeactivate)
	if bad != nil {
		return *bad
	}
	if ans, ok := a.notBanned(ctx, r, user); !ok {
		return ans
	}
	method := req.method
	f := a.enrollable(method)
	proved := false
	switch f.Status(req.enr) {
	case StatusDisabled:
		return a.deny(r, profile.FactorNotActive, 0)
	case StatusEnabled:
		// Removing a working factor needs a code of an enabled factor (or a
		// recovery code), or a step-up of the same credential, judged and
		// answered as on a protected route; cancelling an activation in
		// progress needs none.
		if p := a.proveFactor(ctx, r, user, req.enr, a.o.Now()); !p.ok {
			return a.deny(r, p.reason, p.retry)
		}
		proved = true
	}
	err := a.o.Store.UpdateEnrollment(ctx, user, func(cur *store.Enrollment) (*store.Enrollment, error) {
		switch {
		case cur == nil || f.Status(cur) == StatusDisabled:
			return nil, errNotEnabled
		case !proved && f.Status(cur) != StatusInProgress:
			return nil, errAlreadyEnabled
		}
		return factor.Without(f, cur), nil
	})
	switch {
	case errors.Is(err, errNotEnabled):
		return a.deny(r, profile.FactorNotActive, 0)
	case errors.Is(err, errAlreadyEnabled):
		// Enabled since the read that let the request go without a code.
		return a.deny(r, profile.DeactivationFailed, 0)
	case err != nil:
		return a.unavailable(r, "remove factor", err)
	}
	if proved {
		// A session the removed factor may have started must not outlive
		// it. The factor is gone already, so a failure to reach the shared
		// store is logged, not answered: with Redis, the store removed the
		// session together with the factor anyway.
		if err := a.o.Engine.EndSessions(ctx, user); err != nil {
			a.log.Error("self-service endpoint failed", zap.String("step", "end sessions"), zap.Error(err))
		}
	}
	// What the factor keeps pending under its name (a code sent to it, a
	// WebAuthn challenge) must not outlive it; for a factor keeping
	// nothing there (TOTP) this only reads.
	_ = a.o.Store.UpdatePendingCode(ctx, user, method, dropPending)
	return noContent
}

// dropPending is an update function that removes a pending code, writing
// nothing when there is none.
func dropPending(cur *store.PendingCode) (*store.PendingCode, error) {
	if cur == nil {
		return nil, store.ErrNoChange
	}
	return nil, nil
}
