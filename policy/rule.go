package policy

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Rule is a compiled rule. Rules are shared by every caller of a [Policy] and
// must not be modified.
type Rule struct {
	// Index is the rule's position in Config.Rules (0-based). When several
	// rules admit a request, the one with the lowest Index decides it.
	Index int

	// Name is the optional label from the configuration.
	Name string

	// Path is the pattern as configured.
	Path string

	// Host is the normalized host pattern (lower case, no trailing dot,
	// optionally with a port or a leading "*."); empty means any host.
	Host string

	// Methods are the upper-case methods the rule applies to; ["*"] means
	// every method.
	Methods []string

	// MFARequired is false for an "mfa: none" exception.
	MFARequired bool

	// Grace is the rule's grace period. It is valid only when HasGrace is
	// true; otherwise the global grace period applies.
	Grace time.Duration

	// HasGrace reports whether the rule overrides the global grace period.
	HasGrace bool

	// Factors are the factors whose codes and sessions satisfy the rule, in
	// configuration order; nil means any factor.
	Factors []string

	// IdPStepUp, when not nil, lets a token showing a step-up at the
	// identity provider satisfy the rule without a local code.
	IdPStepUp *IdPStepUp
}

// IdPStepUp is a compiled accept_idp_stepup: the token's acr claim must be
// one of ACRValues (when not empty) and its amr claim must name one of AMR
// (when not empty).
type IdPStepUp struct {
	ACRValues []string
	AMR       []string
}

// Accepts reports whether factor satisfies the rule.
func (r *Rule) Accepts(factor string) bool {
	return r.Factors == nil || slices.Contains(r.Factors, factor)
}

// String describes the rule on one line, for logs and the explain command,
// for example:
//
//	rule 3 "/customer-password/{id}" [POST PATCH DELETE] mfa=required grace=5m0s
//	rule 4 (payments) "/payments" [POST] mfa=required factors=totp idp_stepup=acr:phr
func (r *Rule) String() string {
	if r == nil {
		return "no rule"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "rule %d", r.Index)
	if r.Name != "" {
		fmt.Fprintf(&b, " (%s)", r.Name)
	}
	fmt.Fprintf(&b, " %q", r.Path)
	if r.Host != "" {
		fmt.Fprintf(&b, " host=%s", r.Host)
	}
	fmt.Fprintf(&b, " [%s]", strings.Join(r.Methods, " "))
	if r.MFARequired {
		b.WriteString(" mfa=required")
	} else {
		b.WriteString(" mfa=none")
	}
	if r.HasGrace {
		fmt.Fprintf(&b, " grace=%s", r.Grace)
	}
	if r.Factors != nil {
		fmt.Fprintf(&b, " factors=%s", strings.Join(r.Factors, ","))
	}
	if s := r.IdPStepUp; s != nil {
		b.WriteString(" idp_stepup=")
		if s.ACRValues != nil {
			fmt.Fprintf(&b, "acr:%s", strings.Join(s.ACRValues, ","))
		}
		if s.AMR != nil {
			if s.ACRValues != nil {
				b.WriteByte('+')
			}
			fmt.Fprintf(&b, "amr:%s", strings.Join(s.AMR, ","))
		}
	}
	return b.String()
}

// Stricter returns whichever of two decisions protects more. Either may be
// nil (no rule matched).
//
// A rule that requires MFA beats nil and any "mfa: none" rule. Between two
// rules that require MFA, the one with the shorter grace period wins; a rule
// without its own grace period uses the global one, which counts as longer
// than any override because it is the least specific. Between equal grace
// periods, the rule accepting fewer proofs wins (see compareProofs).
// Remaining ties go to the lower Index. Between an "mfa: none" rule and nil the rule wins, so that
// an explanation names the exception that applied.
func Stricter(a, b *Rule) *Rule {
	switch {
	case a == nil:
		return b
	case b == nil:
		return a
	case a.MFARequired != b.MFARequired:
		if a.MFARequired {
			return a
		}
		return b
	}
	if a.MFARequired {
		switch cmp.Or(compareGrace(a, b), compareProofs(a, b)) {
		case -1:
			return a
		case 1:
			return b
		}
	}
	if b.Index < a.Index {
		return b
	}
	return a
}

// compareGrace compares the effective grace periods of two rules: -1 if a's
// is shorter, 1 if b's is, 0 if they are equal. A rule without an override
// uses the global grace period, which sorts after every override.
func compareGrace(a, b *Rule) int {
	switch {
	case a.HasGrace && b.HasGrace:
		return cmp.Compare(a.Grace, b.Grace)
	case a.HasGrace:
		return -1
	case b.HasGrace:
		return 1
	}
	return 0
}

// compareProofs compares what two rules accept as proof: -1 if a accepts
// less, 1 if b does, 0 if neither is narrower. A factor list is narrower
// than none and a shorter list narrower than a longer one; then a rule
// that does not accept a step-up at the identity provider is narrower than
// one that does.
func compareProofs(a, b *Rule) int {
	switch {
	case a.Factors != nil && b.Factors == nil:
		return -1
	case a.Factors == nil && b.Factors != nil:
		return 1
	}
	if c := cmp.Compare(len(a.Factors), len(b.Factors)); c != 0 {
		return c
	}
	switch {
	case a.IdPStepUp == nil && b.IdPStepUp != nil:
		return -1
	case a.IdPStepUp != nil && b.IdPStepUp == nil:
		return 1
	}
	return 0
}
