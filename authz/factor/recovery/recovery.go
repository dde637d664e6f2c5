// Package recovery is the recovery-code factor: one-time codes, stored
// hashed, that stand in for a lost device. They count only while the user
// has another enabled factor, and are always named ("recovery <code>").
package recovery

import (
	"context"
	"fmt"
	"time"

	"github.com/mfa-authz/mfa-authz/authz/factor"
	"github.com/mfa-authz/mfa-authz/authz/otc"
	"github.com/mfa-authz/mfa-authz/authz/store"
)

// Factor is the recovery-code factor; its zero value is ready to register.
type Factor struct{}

// Name returns "recovery", the factor's public name.
func (Factor) Name() string { return store.MethodRecovery }

// WellFormed accepts ASCII letters, digits and '-', the alphabet recovery
// codes are printed in.
func (Factor) WellFormed(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '-') {
			return false
		}
	}
	return true
}

// Enabled reports an unused recovery code alongside an enabled factor: a
// recovery code alone is not a second factor.
func (Factor) Enabled(enr *store.Enrollment) bool { return enr.Has(store.MethodRecovery) }

// Verify uses up code if it is one of the user's unused recovery codes.
func (Factor) Verify(ctx context.Context, env *factor.Env, user string, _ *store.Enrollment, code string, _ time.Time) (bool, string, error) {
	used, err := otc.UseRecovery(ctx, env.Store, user, code)
	if err != nil {
		return false, factor.DetailStoreError, fmt.Errorf("using recovery code: %w", err)
	}
	if !used {
		return false, factor.DetailWrongRecovery, nil
	}
	return true, "", nil
}
