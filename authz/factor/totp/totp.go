// Package totp is the TOTP factor (RFC 6238): codes from the user's
// authenticator, checked against the enrolled secret and the durable replay
// guard so that a code is accepted once.
package totp

import (
	"context"
	"crypto/subtle"
	"fmt"
	"time"

	"github.com/pquerna/otp"

	"github.com/mfa-authz/mfa-authz/authz/factor"
	"github.com/mfa-authz/mfa-authz/authz/store"
	"github.com/mfa-authz/mfa-authz/authz/totp"
)

// Factor is the TOTP factor; its zero value is ready to register.
type Factor struct{}

// Name returns "totp", the factor's public name.
func (Factor) Name() string { return store.MethodTOTP }

// Label names the factor for people: an authenticator app makes its codes.
func (Factor) Label() string { return "Authenticator app" }

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

var _ factor.Generated = Factor{}

// Status reports no TOTP factor, one awaiting its first code, or an
// enabled one.
func (Factor) Status(enr *store.Enrollment) int {
	switch {
	case enr.TOTP == nil:
		return factor.StatusDisabled
	case enr.TOTP.Pending:
		return factor.StatusInProgress
	}
	return factor.StatusEnabled
}

// Started returns when the pending secret was made.
func (Factor) Started(enr *store.Enrollment) time.Time { return enr.TOTP.CreatedAt }

// SamePending compares the pending secrets and their parameters, the secret
// in constant time.
func (Factor) SamePending(a, b *store.Enrollment) bool {
	x, y := a.TOTP, b.TOTP
	return subtle.ConstantTimeCompare([]byte(x.Secret), []byte(y.Secret)) == 1 &&
		x.Algorithm == y.Algorithm && x.Digits == y.Digits && x.Period == y.Period && x.CreatedAt.Equal(y.CreatedAt)
}

// Enable enables the pending secret.
func (Factor) Enable(enr *store.Enrollment) {
	t := *enr.TOTP
	t.Pending = false
	enr.TOTP = &t
}

// Shown is what a new TOTP factor shows its user once: the secret and the
// otpauth:// URI an authenticator app scans, as the activate endpoint's
// attributes.
type Shown struct {
	// Type is the factor's name, "totp".
	Type   string `json:"type"`
	Secret string `json:"secret"`
	URI    string `json:"uri"`
	// Key is the same key, for rendering as a QR code.
	Key *otp.Key `json:"-"`
}

// Generate makes a new secret for user with the configured parameters;
// Shown is a Shown.
func (Factor) Generate(env *factor.EnrollEnv, user string, now time.Time) (factor.Activation, error) {
	f, key, err := totp.Generate(env.TOTP, user, now)
	if err != nil {
		return factor.Activation{}, err
	}
	return factor.Activation{
		Started: f.CreatedAt,
		Shown:   Shown{Type: store.MethodTOTP, Secret: f.Secret, URI: key.URL(), Key: key},
		Put: func(enr *store.Enrollment, pending bool) {
			t := *f
			t.Pending = pending
			enr.TOTP = &t
		},
	}, nil
}

// Remove removes the factor's record.
func (Factor) Remove(enr *store.Enrollment) { enr.TOTP = nil }
