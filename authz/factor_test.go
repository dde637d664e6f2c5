package authz

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/mfa-authz/mfa-authz/authz/factor"
	"github.com/mfa-authz/mfa-authz/authz/factor/oob"
	"github.com/mfa-authz/mfa-authz/authz/factor/recovery"
	ftotp "github.com/mfa-authz/mfa-authz/authz/factor/totp"
	"github.com/mfa-authz/mfa-authz/authz/profile"
	"github.com/mfa-authz/mfa-authz/authz/store"
	"github.com/mfa-authz/mfa-authz/policy"
)

// assertionFactor is a test-only, non-code factor shaped like WebAuthn: the
// client submits a signed assertion ("assert <base64url>") rather than six
// digits. It proves that a factor is one Factor value plus registration.
type assertionFactor struct{ valid string }

func (assertionFactor) Name() string { return "assert" }

func (assertionFactor) WellFormed(s string) bool {
	return s != "" && strings.Trim(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") == ""
}

// Enabled counts any enrollment: the test stands in a registered
// authenticator for the user's TOTP enrollment.
func (assertionFactor) Enabled(enr *store.Enrollment) bool { return enr != nil && enr.TOTP != nil }

func (a assertionFactor) Verify(_ context.Context, _ *factor.Env, _ string, _ *store.Enrollment, s string, _ time.Time) (bool, string, error) {
	if s != a.valid {
		return false, factor.DetailWrong, nil
	}
	return true, "", nil
}

func TestRegisteredFactor(t *testing.T) {
	const assertion = "c2lnbmVk-YXNzZXJ0aW9u"
	reg := factor.MustRegistry(ftotp.Factor{}, oob.Email, oob.SMS, recovery.Factor{}, assertionFactor{valid: assertion})
	f := newFixture(t, func(o *Options, _ *policy.Config) { o.Factors = reg })
	f.enroll("alice")

	if m := f.engine.Methods(); strings.Join(m, ",") != "totp,email,sms,recovery,assert,idp,none" {
		t.Fatalf("Methods() = %v", m)
	}
	d := f.check("POST", "/carts/1", MapHeader{"x-user-id": "alice", "x-mfa-code": "assert not*an*assertion"})
	expectDeny(t, d, profile.MalformedCode, 403, "malformed code")
	d = f.check("POST", "/carts/1", MapHeader{"x-user-id": "alice", "x-mfa-code": "assert d3Jvbmc"})
	expectDeny(t, d, profile.Invalid, 403, factor.DetailWrong)
	d = f.check("POST", "/carts/1", MapHeader{"x-user-id": "alice", "x-mfa-code": "assert " + assertion})
	expectAllow(t, d, "assert")

	// The shipped registry does not know the factor.
	if _, _, ok := ParseCode("assert " + assertion); ok {
		t.Fatal("ParseCode accepted a factor that is not registered")
	}
}
