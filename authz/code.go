package authz

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/mfa-authz/mfa-authz/authz/factor"
	"github.com/mfa-authz/mfa-authz/authz/factor/builtin"
	"github.com/mfa-authz/mfa-authz/authz/profile"
	"github.com/mfa-authz/mfa-authz/authz/store"
)

// MaxCodeHeaderLength bounds the MFA header value; longer values are
// malformed, except for a factor that declares its own bound
// (factor.Bounded).
const MaxCodeHeaderLength = 64

// ParseCode splits an MFA header value into a method and a code, for the
// shipped factors (package factor/builtin). The value is either a bare code
// ("123456": the user's preferred factor, method "") or "<method> <code>"
// with method the name of a factor, as in "email 123456". ok is false for
// anything else: unknown methods, codes not in the factor's syntax (a bare
// code: ASCII digits), several spaces, and values over MaxCodeHeaderLength
// (or, for a factor.Bounded factor, codes over its MaxLength).
func ParseCode(value string) (method, code string, ok bool) {
	return parseCode(builtin.Registry(), value)
}

// parseCode is ParseCode over the factors of reg.
func parseCode(reg *factor.Registry, value string) (method, code string, ok bool) {
	value = strings.Trim(value, " \t")
	if len(value) == 0 || len(value) > max(MaxCodeHeaderLength, reg.Longest()) {
		return "", "", false
	}
	method, code, found := strings.Cut(value, " ")
	if !found {
		// A bare code is for a preferred factor, all of which take digits.
		if len(value) > MaxCodeHeaderLength || !factor.Digits(value) {
			return "", "", false
		}
		return "", value, true
	}
	method = strings.ToLower(method)
	f, known := reg.Lookup(method)
	if !known || !withinBound(f, value, code) || !f.WellFormed(code) {
		return "", "", false
	}
	return method, code, true
}

// withinBound reports whether a value of f is short enough: a Bounded
// factor's code within its MaxLength, any other's value within
// MaxCodeHeaderLength.
func withinBound(f factor.Factor, value, code string) bool {
	if b, ok := f.(factor.Bounded); ok {
		return len(code) <= b.MaxLength()
	}
	return len(value) <= MaxCodeHeaderLength
}

// checkCode verifies code for method. ok=false with a detail is a wrong
// code; err is a failure to decide, which the caller denies as unavailable.
func (e *Engine) checkCode(ctx context.Context, user string, enr *store.Enrollment, method, code string, now time.Time) (ok bool, detail string, err error) {
	f, known := e.factors.Lookup(method)
	if !known {
		// The enrollment admitted a method this engine cannot verify.
		return false, "unsupported method", fmt.Errorf("no verifier for method %q", method)
	}
	return f.Verify(ctx, &e.factorEnv, user, enr, code, now)
}

// enabled reports whether the user may verify with method now.
func (e *Engine) enabled(enr *store.Enrollment, method string) bool {
	f, known := e.factors.Lookup(method)
	return known && f.Enabled(enr)
}

// Prove checks the MFA header of r for user, whose enrollment is enr,
// under regulation: wrong codes count towards the lockout, a banned user
// is refused. A bare code is checked against the preferred factor and then
// against pending e-mail and SMS codes, as one attempt. pending names a
// factor whose activation is in progress (the verify endpoint): then only
// that factor is judged, a bare code means it, and a code named for
// another factor is refused without being checked. A right code is
// consumed (TOTP step, one-time code, recovery code); a malformed value is
// MalformedCode. The outcome is reported to the observer, if one is
// installed.
func (e *Engine) Prove(ctx context.Context, r *Request, user string, enr *store.Enrollment, pending string, now time.Time) Proof {
	return e.observeProof(r, enr, pending, e.prove(ctx, r, user, enr, pending, nil, now))
}

// observeProof reports p, the outcome of checking r's code, to the
// observer, if one is installed, and returns it.
func (e *Engine) observeProof(r *Request, enr *store.Enrollment, pending string, p Proof) Proof {
	h := e.obs.Load()
	if h == nil || p.Reason == profile.Missing {
		return p
	}
	method := p.Method
	if method == "" {
		method = e.codeMethod(r, enr, pending)
	}
	h.o.ObserveVerification(method, p)
	return p
}

// codeMethod tells which factor r's code was for, the way prove resolves
// it, for observing failed verifications; "" when it cannot be told.
func (e *Engine) codeMethod(r *Request, enr *store.Enrollment, pending string) string {
	raw, n := lookup(r.Header, e.header)
	if n != 1 {
		return ""
	}
	method, _, ok := parseCode(e.factors, raw)
	if !ok || method != "" {
		return method
	}
	if pending != "" {
		return pending
	}
	if enr != nil {
		if m := enr.Methods(); len(m) > 0 {
			return m[0]
		}
	}
	return ""
}
