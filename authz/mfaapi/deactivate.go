package mfaapi

import (
	"context"
	"errors"
	"time"

	"github.com/mfa-authz/mfa-authz/authz"
	"github.com/mfa-authz/mfa-authz/authz/profile"
	"github.com/mfa-authz/mfa-authz/authz/store"
)

// deactivate answers POST multi-factor-auth-type-deactivate: it removes a
// factor, enabled or pending. Removing the last factor removes the
// enrollment with its recovery codes, so the user is unenrolled.
func (a *API) deactivate(ctx context.Context, r *authz.Request, user string) profile.Denial {
	req, bad := a.readFactorRequest(ctx, r, user, TypeDeactivate)
	if bad != nil {
		return *bad
	}
	method := req.method
	failed := func(reason profile.Reason, retry time.Duration) profile.Denial {
		// Glue has one code for every refused deactivation; lockouts and
		// outages keep their own answers.
		if a.glue() && reason != profile.TooManyAttempts && reason != profile.Unavailable {
			reason = profile.DeactivationFailed
		}
		return a.deny(r, reason, retry)
	}
	switch Status(req.enr, method) {
	case StatusDisabled:
		return failed(profile.NotEnrolled, 0)
	case StatusEnabled:
		// Removing a working factor needs a code of an enabled factor (or a
		// recovery code); cancelling an activation in progress does not.
		p := a.o.Engine.Prove(ctx, r, user, req.enr, "", a.o.Now())
		if !p.OK {
			return failed(p.Reason, p.RetryAfter)
		}
	}
	err := a.o.Store.UpdateEnrollment(ctx, user, func(cur *store.Enrollment) (*store.Enrollment, error) {
		if cur == nil || Status(cur, method) == StatusDisabled {
			return nil, errNotEnabled
		}
		return cur.Without(method), nil
	})
	if errors.Is(err, errNotEnabled) {
		return failed(profile.NotEnrolled, 0)
	}
	if err != nil {
		return a.unavailable(r, "remove factor", err)
	}
	if method != store.MethodTOTP {
		// A code sent for the factor must not outlive it.
		_ = a.o.Store.UpdatePendingCode(ctx, user, method, func(*store.PendingCode) (*store.PendingCode, error) { return nil, nil })
	}
	return noContent
}
