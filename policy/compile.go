package policy

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"time"
)

// Policy is a compiled, immutable set of rules, safe for concurrent use.
type Policy struct {
	rules            []*Rule
	root             *node
	strict           []*entry // rules requiring MFA, strictest first
	anonymousAllowed bool
	caseInsensitive  bool
	frontControllers []string // folded names
	fcMask           uint64   // lengthMask(frontControllers)
	maxGrace         time.Duration
	hasMaxGrace      bool
}

// Compile validates cfg and compiles it into a Policy. It reports every
// problem it finds, one per line, each naming the offending rule, as in
//
//	policy.rules[3] (path "/x/{"): unterminated parameter "{"
func Compile(cfg Config) (*Policy, error) {
	p := &Policy{
		caseInsensitive: cfg.CaseInsensitive == nil || *cfg.CaseInsensitive,
		root:            newNode(),
	}
	var errs []error
	switch cfg.Anonymous {
	case "", "deny":
	case "allow":
		p.anonymousAllowed = true
	default:
		errs = append(errs, fmt.Errorf(`policy.anonymous: invalid value %q (want "deny" or "allow")`, cfg.Anonymous))
	}

	fc, fcErrs := compileFrontControllers(cfg.FrontControllers)
	p.frontControllers, p.fcMask = fc, lengthMask(fc)
	errs = append(errs, fcErrs...)

	entries := make([]entry, len(cfg.Rules))
	patterns := make([][]patternSeg, len(cfg.Rules))
	for i, rc := range cfg.Rules {
		var ruleErrs []error
		entries[i], patterns[i], ruleErrs = compileRule(i, rc, p.caseInsensitive)
		for _, err := range ruleErrs {
			errs = append(errs, fmt.Errorf("%s: %w", ruleRef(i, rc), err))
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}

	p.rules = make([]*Rule, len(entries))
	for i := range entries {
		e := &entries[i]
		p.rules[i] = e.rule
		p.root.insert(patterns[i], e)
		if e.rule.MFARequired {
			p.strict = append(p.strict, e)
		}
		if e.rule.HasGrace && (!p.hasMaxGrace || e.rule.Grace > p.maxGrace) {
			p.maxGrace, p.hasMaxGrace = e.rule.Grace, true
		}
	}
	slices.SortStableFunc(p.strict, func(a, b *entry) int {
		return cmp.Or(compareGrace(a.rule, b.rule), compareProofs(a.rule, b.rule), cmp.Compare(a.rule.Index, b.rule.Index))
	})
	return p, nil
}

// ruleRef names rule i in error messages.
func ruleRef(i int, rc RuleConfig) string {
	if rc.Name != "" {
		return fmt.Sprintf("policy.rules[%d] (name %q, path %q)", i, rc.Name, rc.Path)
	}
	return fmt.Sprintf("policy.rules[%d] (path %q)", i, rc.Path)
}

// compileRule validates one rule and compiles it, returning every problem
// found.
func compileRule(i int, rc RuleConfig, fold bool) (entry, []patternSeg, []error) {
	var errs []error
	r := &Rule{Index: i, Name: rc.Name, Path: rc.Path}

	segs, err := parsePattern(rc.Path, fold)
	if err != nil {
		errs = append(errs, err)
	}

	host, norm, err := parseHostPattern(rc.Host)
	if err != nil {
		errs = append(errs, fmt.Errorf("host %q: %w", rc.Host, err))
	}
	r.Host = norm

	var ferrs []error
	methods, list, merrs := parseMethods(rc.Methods)
	errs = append(errs, merrs...)
	r.Methods = list

	switch rc.MFA {
	case "", "required":
		r.MFARequired = true
	case "none":
	default:
		errs = append(errs, fmt.Errorf(`mfa: invalid value %q (want "required" or "none")`, rc.MFA))
	}

	if g := rc.GracePeriod; g != nil {
		switch {
		case *g < 0:
			errs = append(errs, fmt.Errorf("grace_period: must not be negative, got %s", *g))
		case rc.MFA == "none":
			errs = append(errs, errors.New(`grace_period: set on an "mfa: none" rule, which never asks for a code`))
		default:
			r.Grace, r.HasGrace = *g, true
		}
	}
	r.Factors, ferrs = compileFactors(rc)
	errs = append(errs, ferrs...)
	r.IdPStepUp, ferrs = compileIdPStepUp(rc)
	errs = append(errs, ferrs...)
	e := entry{rule: r, methods: methods, host: host}
	if !r.MFARequired {
		// An exception exempts exactly what it names, never a variant that
		// only folding makes equal: see entry.exact and hostPattern.exact.
		e.host.exact = true
		if fold && hasLiteral(segs) {
			// The same pattern again, its literals as written: it parsed
			// above, so it cannot fail now.
			e.exact, _ = parsePattern(rc.Path, false)
		}
	}
	return e, segs, errs
}

// hasLiteral reports whether a pattern has a literal segment.
func hasLiteral(segs []patternSeg) bool {
	for _, s := range segs {
		if s.kind == segLiteral {
			return true
		}
	}
	return false
}

// Rules returns the compiled rules in configuration order. The slice is a
// copy; the rules themselves are shared and must not be modified.
func (p *Policy) Rules() []*Rule { return slices.Clone(p.rules) }

// AnonymousAllowed reports whether requests without an authenticated subject
// may pass rules requiring MFA ("anonymous: allow").
func (p *Policy) AnonymousAllowed() bool { return p.anonymousAllowed }

// CaseInsensitive reports whether paths are matched regardless of case by
// rules that require MFA; "mfa: none" exceptions always match case-exactly.
func (p *Policy) CaseInsensitive() bool { return p.caseInsensitive }

// FrontControllers returns the script names (folded) whose segments the
// readings of a path also consider removed; see Config.FrontControllers.
func (p *Policy) FrontControllers() []string { return slices.Clone(p.frontControllers) }

// MaxGrace returns the longest per-rule grace period override, and false if
// no rule overrides the global grace period. Session caches use it to keep
// verifications long enough for every rule.
func (p *Policy) MaxGrace() (time.Duration, bool) { return p.maxGrace, p.hasMaxGrace }
