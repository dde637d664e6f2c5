package mfaapi

import (
	"context"
	"errors"

	"github.com/mfa-authz/mfa-authz/authz"
	"github.com/mfa-authz/mfa-authz/authz/factor"
	"github.com/mfa-authz/mfa-authz/authz/factor/builtin"
	"github.com/mfa-authz/mfa-authz/authz/profile"
	"github.com/mfa-authz/mfa-authz/authz/store"
)

// Statuses of a method in the types list, as Spryker numbers them. The
// endpoints decide on them too: what a request may do depends on whether
// its method is off, being activated, or on.
const (
	StatusDisabled   = factor.StatusDisabled
	StatusInProgress = factor.StatusInProgress
	StatusEnabled    = factor.StatusEnabled
)

// Status returns the status of method for enr, for the types list and for
// tools (the CLI) that show the same numbers. Every factor mfa-authz ships
// is known, configured or not.
func Status(enr *store.Enrollment, method string) int {
	return factor.StatusOf(builtin.Enrollable(), enr, method)
}

// enrollable returns the listed factor called method, nil when there is none
// (parse admits only listed ones).
func (a *API) enrollable(method string) factor.Enrollable {
	for _, f := range a.listed {
		if f.Name() == method {
			return f
		}
	}
	return nil
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

// samePending reports whether f's activation in progress in a and in b is
// the same one (factor.Activatable.SamePending). A factor that is not in
// progress in either is never the same.
func samePending(f factor.Activatable, a, b *store.Enrollment) bool {
	if f.Status(a) != StatusInProgress || f.Status(b) != StatusInProgress {
		return false
	}
	return f.SamePending(a, b)
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
