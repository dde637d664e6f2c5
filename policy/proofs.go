package policy

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// MaxProofValues bounds the entries of a rule's factors, acr_values and
// amr lists: a route accepts a handful of proofs, and each denial may name
// them all.
const MaxProofValues = 16

// maxProofValueLength bounds one factor name, acr value or amr value.
const maxProofValueLength = 128

// compileFactors validates a rule's factors list. Names are checked for
// syntax here; whether a factor exists is the engine's to say (see
// CheckFactors), since the policy knows no factors.
func compileFactors(rc RuleConfig) ([]string, []error) {
	if rc.Factors == nil {
		return nil, nil
	}
	if rc.MFA == "none" {
		return nil, []error{errors.New(`factors: set on an "mfa: none" rule, which never asks for a code`)}
	}
	list, err := proofList(rc.Factors, true)
	if err != nil {
		return nil, []error{fmt.Errorf("factors: %w", err)}
	}
	return list, nil
}

// compileIdPStepUp validates a rule's accept_idp_stepup.
func compileIdPStepUp(rc RuleConfig) (*IdPStepUp, []error) {
	c := rc.AcceptIdPStepUp
	if c == nil {
		return nil, nil
	}
	var errs []error
	switch {
	case rc.MFA == "none":
		return nil, []error{errors.New(`accept_idp_stepup: set on an "mfa: none" rule, which never asks for a code`)}
	case len(c.ACRValues) == 0 && len(c.AMR) == 0:
		// Any token would do, whatever its authentication: that is no step-up.
		return nil, []error{errors.New("accept_idp_stepup: name acr_values, amr or both")}
	case rc.GracePeriod != nil && *rc.GracePeriod == 0:
		errs = append(errs, errors.New("accept_idp_stepup: set on a rule with grace_period 0, which no auth_time can be within"))
	}
	s := &IdPStepUp{}
	var err error
	if len(c.ACRValues) > 0 {
		if s.ACRValues, err = proofList(c.ACRValues, false); err != nil {
			errs = append(errs, fmt.Errorf("accept_idp_stepup.acr_values: %w", err))
		}
	}
	if len(c.AMR) > 0 {
		if s.AMR, err = proofList(c.AMR, false); err != nil {
			errs = append(errs, fmt.Errorf("accept_idp_stepup.amr: %w", err))
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return s, nil
}

// proofList checks a list of factor names (lower is true: compared as
// lower-case names) or claim values (compared exactly, as OpenID Connect
// does): not empty, not too long, printable ASCII without spaces, no
// repeats.
func proofList(values []string, lower bool) ([]string, error) {
	if len(values) == 0 {
		return nil, errors.New("must not be an empty list")
	}
	if len(values) > MaxProofValues {
		return nil, fmt.Errorf("at most %d entries, got %d", MaxProofValues, len(values))
	}
	out := make([]string, 0, len(values))
	for _, v := range values {
		if v == "" || len(v) > maxProofValueLength || strings.IndexFunc(v, func(c rune) bool { return c <= ' ' || c >= 0x7f }) >= 0 {
			return nil, fmt.Errorf("invalid entry %q (want 1 to %d printable ASCII characters, no spaces)", v, maxProofValueLength)
		}
		if lower {
			v = strings.ToLower(v)
		}
		if slices.Contains(out, v) {
			return nil, fmt.Errorf("%q is listed twice", v)
		}
		out = append(out, v)
	}
	return out, nil
}

// CheckFactors reports every rule naming a factor for which known returns
// false, one per line, each naming the rule, as in
//
//	policy.rules[2] (path "/payments"): factors: unknown factor "webauthn" (known: totp, email, sms, recovery)
//
// Compile cannot tell, because the factors are the engine's: call this
// with the engine's factor registry. names lists the known factors for the
// message.
func (p *Policy) CheckFactors(known func(name string) bool, names []string) error {
	var errs []error
	for _, r := range p.rules {
		for _, f := range r.Factors {
			if !known(f) {
				ref := ruleRef(r.Index, RuleConfig{Name: r.Name, Path: r.Path})
				errs = append(errs, fmt.Errorf("%s: factors: unknown factor %q (known: %s)", ref, f, strings.Join(names, ", ")))
			}
		}
	}
	return errors.Join(errs...)
}
