// Package oob is the out-of-band factors, e-mail and SMS: a one-time code
// sent to an enrolled destination and checked against the pending code the
// store keeps.
package oob

import (
	"context"
	"fmt"
	"time"

	"github.com/mfa-authz/mfa-authz/authz/delivery"
	"github.com/mfa-authz/mfa-authz/authz/factor"
	"github.com/mfa-authz/mfa-authz/authz/otc"
	"github.com/mfa-authz/mfa-authz/authz/profile"
	"github.com/mfa-authz/mfa-authz/authz/store"
)

// Factor is one out-of-band factor. The two differ in name, which is also
// their delivery method, and in the kind of destination they send to.
type Factor struct {
	name string
	// email is true for the factor sending to e-mail addresses, false for
	// the one sending to phone numbers.
	email bool
}

// Email is the e-mail factor.
var Email = Factor{name: store.MethodEmail, email: true}

// SMS is the SMS factor.
var SMS = Factor{name: store.MethodSMS}

var _ factor.Destined = Factor{}

// Name returns the factor's public name, "email" or "sms".
func (f Factor) Name() string { return f.name }

// Label names the factor for people.
func (f Factor) Label() string {
	if f.email {
		return "E-mail codes"
	}
	return "SMS codes"
}

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

// record returns enr's record of this factor, or nil.
func (f Factor) record(enr *store.Enrollment) *store.OOB {
	if f.email {
		return enr.Email
	}
	return enr.SMS
}

// set replaces enr's record of this factor with r.
func (f Factor) set(enr *store.Enrollment, r *store.OOB) {
	if f.email {
		enr.Email = r
	} else {
		enr.SMS = r
	}
}

// Status reports no destination, one awaiting its first code, or an
// enabled one.
func (f Factor) Status(enr *store.Enrollment) int {
	r := f.record(enr)
	switch {
	case r == nil:
		return factor.StatusDisabled
	case !r.Enabled:
		return factor.StatusInProgress
	}
	return factor.StatusEnabled
}

// Started returns when the pending destination was registered.
func (f Factor) Started(enr *store.Enrollment) time.Time { return f.record(enr).CreatedAt }

// SamePending compares the pending destinations and when they were
// registered.
func (f Factor) SamePending(a, b *store.Enrollment) bool {
	x, y := f.record(a), f.record(b)
	return x.Destination == y.Destination && x.CreatedAt.Equal(y.CreatedAt)
}

// Enable enables the pending destination.
func (f Factor) Enable(enr *store.Enrollment) {
	r := *f.record(enr)
	r.Enabled = true
	f.set(enr, &r)
}

// Destination returns the registered destination, "" without one.
func (f Factor) Destination(enr *store.Enrollment) string {
	if r := f.record(enr); r != nil {
		return r.Destination
	}
	return ""
}

// Register registers dest, enabled or pending, replacing an earlier one.
func (f Factor) Register(enr *store.Enrollment, dest string, enabled bool, now time.Time) {
	f.set(enr, &store.OOB{Destination: dest, Enabled: enabled, CreatedAt: now.UTC()})
}

// ValidDestination accepts an e-mail address or an E.164 phone number.
func (f Factor) ValidDestination(dest string) bool {
	if f.email {
		return delivery.ValidEmail(dest)
	}
	return delivery.ValidPhone(dest)
}

// DestinationHint describes a valid destination.
func (f Factor) DestinationHint() string {
	if f.email {
		return "an e-mail address"
	}
	return "an E.164 phone number such as +4915112345678"
}

// Claim returns the e-mail or phone claim.
func (f Factor) Claim(c *factor.Claims) string {
	if f.email {
		return c.Email
	}
	return c.Phone
}

// Mailbox returns the mailbox an e-mail address reaches (delivery.Mailbox)
// or the phone number itself.
func (f Factor) Mailbox(dest string) string {
	if f.email {
		return delivery.Mailbox(dest)
	}
	return dest
}

// Reasons returns the e-mail or SMS answers.
func (f Factor) Reasons() factor.SendReasons {
	if f.email {
		return factor.SendReasons{InvalidDestination: profile.InvalidEmail,
			UserLimit: profile.TooManyEmails, TenantLimit: profile.TooManyEmailsPerTenant}
	}
	return factor.SendReasons{InvalidDestination: profile.InvalidPhoneNumber,
		UserLimit: profile.TooManySMS, TenantLimit: profile.TooManySMSPerTenant}
}

// Remove removes the registered destination.
func (f Factor) Remove(enr *store.Enrollment) { f.set(enr, nil) }
