// Package builtin registers the factors mfa-authz ships. It is the one
// list of methods: the engine verifies, and the adapters prebuild their
// answers for, exactly these factors, in this preference order.
package builtin

import (
	"github.com/mfa-authz/mfa-authz/authz/factor"
	"github.com/mfa-authz/mfa-authz/authz/factor/oob"
	"github.com/mfa-authz/mfa-authz/authz/factor/recovery"
	"github.com/mfa-authz/mfa-authz/authz/factor/totp"
)

// registry is built once at package initialization and never modified.
var registry = factor.MustRegistry(totp.Factor{}, oob.Email, oob.SMS, recovery.Factor{})

// Registry returns the shipped factors, in preference order: TOTP, e-mail,
// SMS, recovery codes.
func Registry() *factor.Registry { return registry }
