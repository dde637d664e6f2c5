package mfaapi

import (
	"context"
	"errors"

	"github.com/mfa-authz/mfa-authz/authz"
	"github.com/mfa-authz/mfa-authz/authz/otc"
	"github.com/mfa-authz/mfa-authz/authz/profile"
	"github.com/mfa-authz/mfa-authz/authz/store"
)

// recoveryCodes answers POST multi-factor-auth-recovery-codes: it replaces
// the user's recovery codes with new ones, shown once, after a code of an
// enabled factor (or a recovery code), or a step-up of the same
// credential, proves the request is the user's.
func (a *API) recoveryCodes(ctx context.Context, r *authz.Request, user string) profile.Answer {
	if ans, ok := a.notBanned(ctx, r, user); !ok {
		return ans
	}
	enr, err := a.enrollment(ctx, user)
	if err != nil {
		return a.unavailable(r, "read enrollment", err)
	}
	if len(enr.Methods()) == 0 {
		return a.deny(r, profile.NotEnrolled, 0)
	}
	if p := a.proveFactor(ctx, r, user, enr, a.o.Now()); !p.ok {
		return a.deny(r, p.reason, p.retry)
	}
	codes, err := Regenerate(ctx, a.o.Store, user)
	if err != nil {
		return a.updateFailed(r, "regenerate recovery codes", err)
	}
	return a.recoveryDocument(codes)
}

// Regenerate replaces the user's recovery codes with new ones and returns
// them; the user must have an enabled method (IsNotEnabled otherwise),
// since recovery codes stand in for a factor. The endpoint and the CLI
// share it so both make codes the same way.
func Regenerate(ctx context.Context, st store.Store, user string) ([]string, error) {
	codes, err := otc.GenerateRecovery(otc.RecoveryCount)
	if err != nil {
		return nil, err
	}
	err = st.UpdateEnrollment(ctx, user, func(cur *store.Enrollment) (*store.Enrollment, error) {
		if cur == nil || len(cur.Methods()) == 0 {
			return nil, errNotEnabled
		}
		next := copyEnrollment(cur)
		next.Recovery = otc.HashRecovery(st, user, codes)
		return next, nil
	})
	if err != nil {
		return nil, err
	}
	return codes, nil
}

// IsNotEnabled reports whether err, from Regenerate, says the user has no
// enabled method, which callers report as such rather than as a failure.
func IsNotEnabled(err error) bool { return errors.Is(err, errNotEnabled) }
