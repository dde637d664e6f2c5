package policy

import (
	"cmp"
	"fmt"
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
}

// String describes the rule on one line, for logs and the explain command,
// for example:
//
//	rule 3 "/customer-password/{id}" [POST PATCH DELETE] mfa=required grace=5m0s
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
	return b.String()
}

// Stricter returns whichever of two decisions protects more. Either may be
// nil (no rule matched).
//
// A rule that requires MFA beats nil and any "mfa: none" rule. Between two
// rules that require MFA, the one with the shorter grace period wins; a rule
// without its own grace period uses the global one, which counts as longer
// than any override because it is the least specific. Remaining ties go to
// the lower Index. Between an "mfa: none" rule and nil the rule wins, so that
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
		switch compareGrace(a, b) {
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
