// Package builtin registers the factors mfa-authz ships. It is the one
// list of methods: the engine verifies, and the adapters prebuild their
// answers for, exactly these factors, in this preference order.
package builtin

import (
	"github.com/mfa-authz/mfa-authz/authz/factor"
	"github.com/mfa-authz/mfa-authz/authz/factor/oob"
	"github.com/mfa-authz/mfa-authz/authz/factor/recovery"
	"github.com/mfa-authz/mfa-authz/authz/factor/totp"
	"github.com/mfa-authz/mfa-authz/authz/factor/webauthn"
)

// registry is built once at package initialization and never modified.
var registry = factor.MustRegistry(codeFactors()...)

// codeFactors are the factors every server offers.
func codeFactors() []factor.Factor {
	return []factor.Factor{totp.Factor{}, oob.Email, oob.SMS, recovery.Factor{}}
}

// Registry returns the shipped factors that need no configuration, in
// preference order: TOTP, e-mail, SMS, recovery codes.
func Registry() *factor.Registry { return registry }

// New returns the factors a server offers: Registry's, then WebAuthn when
// wa is not nil (the webauthn section is configured).
func New(wa *webauthn.Factor) *factor.Registry {
	if wa == nil {
		return registry
	}
	return factor.MustRegistry(append(codeFactors(), wa)...)
}

// Names returns the name of every factor mfa-authz ships, configured or
// not, in preference order: the bounded set of method labels in metrics.
func Names() []string {
	return append(append([]string(nil), registry.Names()...), webauthn.Passkeys{}.Name())
}

// enrollable is every shipped factor an enrollment holds, in preference
// order; WebAuthn as its configuration-free enrollment side.
var enrollable = []factor.Enrollable{totp.Factor{}, oob.Email, oob.SMS, webauthn.Passkeys{}}

// Enrollable returns every factor mfa-authz ships that an enrollment can
// hold, configured or not, in preference order: for tools that show or
// change enrollments without a running server (the CLI). The slice is
// shared: callers must not modify it.
func Enrollable() []factor.Enrollable { return enrollable }
