package mfaapi

import (
	"context"
	"crypto/subtle"
	"errors"

	"github.com/mfa-authz/mfa-authz/authz"
	"github.com/mfa-authz/mfa-authz/authz/profile"
	"github.com/mfa-authz/mfa-authz/authz/store"
)

// Statuses of a method in the types list, as Spryker numbers them. The
// endpoints decide on them too: what a request may do depends on whether
// its method is off, being activated, or on.
const (
	StatusDisabled   = 0
	StatusInProgress = 1
	StatusEnabled    = 2
)

// Status returns the status of method for enr, for the types list and for
// tools (the CLI) that show the same numbers.
func Status(enr *store.Enrollment, method string) int {
	switch method {
	case store.MethodTOTP:
		switch {
		case enr.TOTP == nil:
			return StatusDisabled
		case enr.TOTP.Pending:
			return StatusInProgress
		}
		return StatusEnabled
	case store.MethodEmail, store.MethodSMS:
		f := oob(enr, method)
		switch {
		case f == nil:
			return StatusDisabled
		case !f.Enabled:
			return StatusInProgress
		}
		return StatusEnabled
	case store.MethodWebAuthn:
		if enr.WebAuthn.Enabled() {
			return StatusEnabled
		}
	}
	return StatusDisabled
}

// oob returns enr's out-of-band factor of method (email or sms), or nil.
func oob(enr *store.Enrollment, method string) *store.OOB {
	if method == store.MethodEmail {
		return enr.Email
	}
	return enr.SMS
}

// setOOB sets enr's out-of-band factor of method (email or sms) to f.
func setOOB(enr *store.Enrollment, method string, f *store.OOB) {
	if method == store.MethodEmail {
		enr.Email = f
	} else {
		enr.SMS = f
	}
}

// enrollment reads the user's enrollment; none is an empty one.
func (a *API) enrollment(ctx context.Context, user string) (*store.Enrollment, error) {
	enr, err := a.o.Store.Enrollment(ctx, user)
	if errors.Is(err, store.ErrNotFound) {
		return &store.Enrollment{}, nil
	}
	return enr, err
}

// copyEnrollment returns a copy of cur (an empty one for nil) that an
// update function may change: the store hands fn its current record,
// which must not be modified in place because a store may call fn again.
func copyEnrollment(cur *store.Enrollment) *store.Enrollment {
	if cur == nil {
		return &store.Enrollment{}
	}
	next := *cur
	next.Recovery = append([]store.RecoveryCode(nil), cur.Recovery...)
	return &next
}

// samePending reports whether the factor of method in progress in a and
// in b is the same activation: the same TOTP secret and parameters, or the
// same e-mail or SMS destination registered at the same time. A factor
// that is not in progress in either is never the same.
func samePending(a, b *store.Enrollment, method string) bool {
	if Status(a, method) != StatusInProgress || Status(b, method) != StatusInProgress {
		return false
	}
	if method == store.MethodTOTP {
		x, y := a.TOTP, b.TOTP
		return subtle.ConstantTimeCompare([]byte(x.Secret), []byte(y.Secret)) == 1 &&
			x.Algorithm == y.Algorithm && x.Digits == y.Digits && x.Period == y.Period && x.CreatedAt.Equal(y.CreatedAt)
	}
	x, y := oob(a, method), oob(b, method)
	return x.Destination == y.Destination && x.CreatedAt.Equal(y.CreatedAt)
}

// Errors of update functions: the factor's status changed between the
// endpoint's read and the store's locked update (a concurrent request).
var (
	errAlreadyEnabled = errors.New("already enabled")
	errNotEnabled     = errors.New("not enabled")
	// errReplaced: the factor in progress is no longer the one whose
	// code the request proved (a concurrent activate replaced it).
	errReplaced = errors.New("factor in progress replaced")
	// errStepUp: the user gained an enabled factor, so adding another
	// now needs the step-up that the endpoint's read did not call for.
	errStepUp = errors.New("step-up required")
)

// updateFailed answers a failed enrollment update: a concurrent change
// gets the answer the endpoint gives when it reads that state up front,
// anything else is an outage.
func (a *API) updateFailed(r *authz.Request, step string, err error) profile.Answer {
	switch {
	case errors.Is(err, errAlreadyEnabled):
		return a.deny(r, profile.AlreadyEnabled, 0)
	case errors.Is(err, errNotEnabled):
		return a.deny(r, profile.NotEnrolled, 0)
	case errors.Is(err, errReplaced):
		// Read up front, the replacing factor would have made the
		// request's code wrong: answer as for a wrong code.
		return a.deny(r, profile.Invalid, 0)
	case errors.Is(err, errStepUp):
		return a.deny(r, profile.StepUpRequired, 0)
	}
	return a.unavailable(r, step, err)
}
