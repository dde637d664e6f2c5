// Package totp is the TOTP factor (RFC 6238): codes from the user's
// authenticator, checked against the enrolled secret and the durable replay
// guard so that a code is accepted once.
package totp

import (
	"context"
	"fmt"
	"time"

	"github.com/mfa-authz/mfa-authz/authz/factor"
	"github.com/mfa-authz/mfa-authz/authz/store"
	"github.com/mfa-authz/mfa-authz/authz/totp"
)

// Factor is the TOTP factor; its zero value is ready to register.
type Factor struct{}

// Name returns "totp", the factor's public name.
func (Factor) Name() string { return store.MethodTOTP }

// Preferred marks TOTP as a factor a bare code may be meant for.
func (Factor) Preferred() {}

// WellFormed accepts ASCII digits.
func (Factor) WellFormed(code string) bool { return factor.Digits(code) }

// Enabled reports an activated TOTP factor.
func (Factor) Enabled(enr *store.Enrollment) bool { return enr.Has(store.MethodTOTP) }

// Verify checks code against the enrolled secret, then records its time
// step so that the same code cannot be replayed on any replica.
func (Factor) Verify(ctx context.Context, env *factor.Env, user string, enr *store.Enrollment, code string, now time.Time) (bool, string, error) {
	step, ok := totp.Verify(enr.TOTP, code, now, env.TOTPSkew)
	if !ok {
		return false, factor.DetailWrong, nil
	}
	fresh, err := env.Store.UseTOTPStep(ctx, user, step)
	if err != nil {
		return false, factor.DetailStoreError, fmt.Errorf("recording used TOTP step: %w", err)
	}
	if !fresh {
		return false, factor.DetailReplay, nil
	}
	return true, "", nil
}
