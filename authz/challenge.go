package authz

import (
	"github.com/mfa-authz/mfa-authz/authz/profile"
	"github.com/mfa-authz/mfa-authz/policy"
)

// challengeKey names one rendered step-up challenge: a rule's, for one
// reason (the error_description differs by reason).
type challengeKey struct {
	rule   *policy.Rule
	reason profile.Reason
}

// challengedReasons are the reasons profile.Challenged may accept.
var challengedReasons = []profile.Reason{profile.Missing, profile.Invalid, profile.MalformedCode,
	profile.Expired, profile.InvalidRecoveryCode, profile.NotEnrolled}

// renderChallenges renders the step-up challenge of every protected rule
// of p for every reason that carries one, once per policy, so that a
// denial only looks its challenge up.
func (e *Engine) renderChallenges(p *policy.Policy) *map[challengeKey]string {
	m := make(map[challengeKey]string)
	for _, rule := range p.Rules() {
		if !rule.MFARequired {
			continue
		}
		for _, r := range challengedReasons {
			if profile.Challenged(r, rule.IdPStepUp != nil) {
				m[challengeKey{rule, r}] = e.renderChallenge(rule, r)
			}
		}
	}
	return &m
}

// renderChallenge renders rule's step-up challenge for reason: the acr
// values of its accept_idp_stepup, when it names some, and its grace
// period (or the global one) as max_age, the age an authentication at the
// identity provider may have to pass the route.
func (e *Engine) renderChallenge(rule *policy.Rule, reason profile.Reason) string {
	grace := e.cfg.GracePeriod
	if rule.HasGrace {
		grace = rule.Grace
	}
	var acr []string
	if rule.IdPStepUp != nil {
		acr = rule.IdPStepUp.ACRValues
	}
	return profile.Challenge(reason, acr, grace)
}

// challengeFor returns rule's step-up challenge for reason. A rule of a
// policy swapped in since the request matched it is rendered afresh.
func (e *Engine) challengeFor(rule *policy.Rule, reason profile.Reason) string {
	if m := e.challenges.Load(); m != nil {
		if c, ok := (*m)[challengeKey{rule, reason}]; ok {
			return c
		}
	}
	return e.renderChallenge(rule, reason)
}
