// Package oob is the out-of-band factors, e-mail and SMS: a one-time code
// sent to an enrolled destination and checked against the pending code the
// store keeps.
package oob

import (
	"context"
	"fmt"
	"time"

	"github.com/mfa-authz/mfa-authz/authz/factor"
	"github.com/mfa-authz/mfa-authz/authz/otc"
	"github.com/mfa-authz/mfa-authz/authz/store"
)

// Factor is one out-of-band factor; the two differ only in name, which is
// also their delivery method.
type Factor struct{ name string }

// Email is the e-mail factor.
var Email = Factor{name: store.MethodEmail}

// SMS is the SMS factor.
var SMS = Factor{name: store.MethodSMS}

// Name returns the factor's public name, "email" or "sms".
func (f Factor) Name() string { return f.name }

// Delivery returns the delivery method that sends this factor's codes: the
// same name.
func (f Factor) Delivery() string { return f.name }

// Preferred marks the factor as one a bare code may be meant for.
func (Factor) Preferred() {}

// WellFormed accepts ASCII digits.
func (Factor) WellFormed(code string) bool { return factor.Digits(code) }

// Enabled reports an activated destination for this factor.
func (f Factor) Enabled(enr *store.Enrollment) bool { return enr.Has(f.name) }

// Verify consumes the user's pending code for this factor, counting a wrong
// try against the code's attempts.
func (f Factor) Verify(ctx context.Context, env *factor.Env, user string, _ *store.Enrollment, code string, now time.Time) (bool, string, error) {
	out, err := otc.Use(ctx, env.Store, user, f.name, code, now, env.CodeMaxAttempts)
	if err != nil {
		return false, factor.DetailStoreError, fmt.Errorf("checking %s code: %w", f.name, err)
	}
	switch out {
	case otc.OK:
		return true, "", nil
	case otc.Expired:
		return false, factor.DetailExpired, nil
	default:
		return false, factor.DetailWrong, nil
	}
}
