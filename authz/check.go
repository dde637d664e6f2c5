package authz

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/mfa-authz/mfa-authz/authz/profile"
	"github.com/mfa-authz/mfa-authz/authz/store"
	"github.com/mfa-authz/mfa-authz/policy"
)

// Check decides r. It never panics and never allows a protected request
// on an error: a panic inside is recovered as an Unavailable denial. The
// decision is reported to the observer, if one is installed.
func (e *Engine) Check(ctx context.Context, r *Request) Decision {
	h, t := e.obs.Load(), e.tracer.Load()
	if h == nil && t == nil {
		return e.check(ctx, r)
	}
	start := time.Now()
	d := e.check(ctx, r)
	elapsed := time.Since(start)
	if h != nil {
		flow := ""
		if r != nil {
			if flow = r.ID; flow == "" {
				flow, _ = lookup(r.Header, "x-request-id")
			}
		}
		h.o.ObserveCheck(d, flow, elapsed)
	}
	if t != nil {
		t.t.TraceCheck(traceContext(r), d, start, elapsed)
	}
	return d
}

// Decision is the outcome of a check.
type Decision struct {
	// Allowed reports whether the request may go upstream.
	Allowed bool
	// Rule is the rule that decided, nil when no rule matched.
	Rule *policy.Rule
	// Method is the factor that verified the user (or MethodNone) on an
	// allowed protected request; empty on an unprotected one.
	Method string
	// Reason is why the request was denied; zero when allowed.
	Reason profile.Reason
	// Answer is the rendered answer for the client when denied or
	// answered by a self-service endpoint.
	Answer profile.Answer
	// Detail says more about the outcome for logs and metrics ("session",
	// "replay", "store error", …). It never holds a code or secret.
	Detail string
	// User is the identity the decision was made for, "" when none.
	User string
	// API reports that mfa-authz answered the request itself (a
	// self-service endpoint): Answer holds it, success or error,
	// and the request must not go upstream.
	API bool
}

// check is Check without the observer and the tracer.
func (e *Engine) check(ctx context.Context, r *Request) (d Decision) {
	defer func() {
		if p := recover(); p != nil {
			e.log.Error("check panicked; request denied", zap.String("panic", fmt.Sprint(p)), zap.Stack("stack"))
			// Rendered without reading the request's headers (deny looks up
			// x-request-id): they may be what panicked.
			flow := ""
			if r != nil {
				flow = r.ID
			}
			d = Decision{Rule: d.Rule, User: d.User, Reason: profile.Unavailable, Detail: "panic",
				Answer: e.profile.Deny(profile.Unavailable, profile.Details{FlowID: flow})}
		}
	}()
	if r == nil {
		r = &Request{}
	}
	if r.Path == "" {
		// No path means no way to tell whether the route is protected.
		return e.deny(r, nil, "", profile.Unavailable, "no path", 0)
	}
	if r.NoSelfService {
		// Refused before the endpoint could act: its answer (a secret,
		// recovery codes, a 2xx) would never reach the client.
		if h := e.api.Load(); h != nil && h.api.Serves(r.Method, r.Path) {
			return e.deny(r, nil, "", profile.Unavailable, DetailNoSelfService, 0)
		}
	} else if d, ok := e.serveAPI(ctx, r); ok {
		return d
	}
	pol := e.policy.Load()
	rule := e.match(pol, r)
	if rule == nil || !rule.MFARequired {
		return Decision{Allowed: true, Rule: rule}
	}
	d.Rule = rule
	user, detail := e.identity(r)
	if user == "" {
		if detail == "" && pol.AnonymousAllowed() {
			return Decision{Allowed: true, Rule: rule, Method: MethodNone, Detail: "anonymous"}
		}
		if detail == "" {
			detail = "no identity"
		}
		return e.deny(r, rule, "", profile.NoIdentity, detail, 0)
	}
	d.User = user
	now := e.now()
	grace := e.cfg.GracePeriod
	if rule.HasGrace {
		grace = rule.Grace
	}
	lk := e.sessionSrc.lookup(ctx, user, now, grace, time.Duration(e.sessionTTL.Load()))
	switch {
	case lk.err != nil:
		e.log.Error("ban and session lookup failed; request denied", zap.String("failed", lk.failed), zap.Error(lk.err))
		return e.deny(r, rule, user, profile.Unavailable, lk.failed, 0)
	case lk.banned:
		return e.deny(r, rule, user, profile.TooManyAttempts, "banned", lk.until.Sub(now))
	case lk.ok && rule.Accepts(lk.session.Method):
		// A session verified with a factor the rule does not accept is
		// as good as none here: the user needs a code of one it accepts.
		return Decision{Allowed: true, Rule: rule, Method: lk.session.Method, Detail: "session", User: user}
	}
	if rule.IdPStepUp != nil {
		switch ok, malformed := e.idpStepUp(r, rule, now, grace); {
		case malformed:
			return e.deny(r, rule, user, profile.NoIdentity, DetailMalformedIdPClaims, 0)
		case ok:
			return Decision{Allowed: true, Rule: rule, Method: MethodIdP, Detail: "idp step-up", User: user}
		}
	}
	return e.verify(ctx, r, rule, user, now)
}

// codelessDenial denies, without reading the store, a request that
// carries no code from a user the enrollment cache remembers: as missing
// its code when the user has a factor, as not enrolled when not. The user
// would be denied whatever the store said, but for which of the two: a
// factor added or removed elsewhere (the CLI, another replica) shows
// within the cache's TTL; changes made in this process drop the entry at
// once (ForgetEnrollment). With mfa.allow_unenrolled "has no factor" is an
// allow and is never taken from the cache. ok=false: read the store.
func (e *Engine) codelessDenial(r *Request, rule *policy.Rule, user string) (Decision, bool) {
	if e.enrolled == nil {
		return Decision{}, false
	}
	if raw, n := lookup(r.Header, e.header); n > 1 || n == 1 && strings.TrimSpace(raw) != "" {
		return Decision{}, false
	}
	switch enrolled, known := e.enrolled.Lookup(user); {
	case !known:
		return Decision{}, false
	case enrolled:
		return e.deny(r, rule, user, profile.Missing, "no code", 0), true
	case e.cfg.AllowUnenrolled:
		return Decision{}, false
	default:
		return e.deny(r, rule, user, profile.NotEnrolled, "no factor enrolled", 0), true
	}
}

// withinGrace reports whether a verification at verifiedAt still counts at
// now. A verification from the future (the clock stepped back) counts only
// within a second, so a clock jump cannot stretch a session.
func withinGrace(verifiedAt, now time.Time, grace time.Duration) bool {
	age := now.Sub(verifiedAt)
	return grace > 0 && age < grace && age > -time.Second
}

// verify handles a protected request of an identified user with no session:
// it needs a valid code now.
func (e *Engine) verify(ctx context.Context, r *Request, rule *policy.Rule, user string, now time.Time) Decision {
	if err := ctx.Err(); err != nil {
		return e.deny(r, rule, user, profile.Unavailable, "deadline: "+err.Error(), 0)
	}
	if d, ok := e.codelessDenial(r, rule, user); ok {
		return d
	}
	enr, err := e.store.Enrollment(ctx, user)
	if errors.Is(err, store.ErrNotFound) {
		enr, err = &store.Enrollment{}, nil
	}
	if err != nil {
		e.log.Error("enrollment lookup failed; request denied", zap.Error(err))
		return e.deny(r, rule, user, profile.Unavailable, "store error", 0)
	}
	methods := enr.Methods()
	if e.enrolled != nil {
		switch {
		case len(methods) > 0:
			e.enrolled.Set(user, true)
		case e.cfg.AllowUnenrolled:
			e.enrolled.Forget(user, false)
		default:
			e.enrolled.Set(user, false)
		}
	}
	if len(methods) == 0 {
		if e.cfg.AllowUnenrolled {
			return Decision{Allowed: true, Rule: rule, Method: MethodNone, Detail: "unenrolled", User: user}
		}
		return e.deny(r, rule, user, profile.NotEnrolled, "no factor enrolled", 0)
	}
	var accepts func(string) bool
	if rule.Factors != nil {
		accepts = rule.Accepts
	}
	p := e.observeProof(r, enr, "", e.prove(ctx, r, user, enr, "", accepts, now))
	if !p.OK {
		return e.deny(r, rule, user, p.Reason, p.Detail, p.RetryAfter)
	}
	method := p.Method
	e.StartSession(user, method, now)
	e.bindStepUp(r, user, method, now)
	return Decision{Allowed: true, Rule: rule, Method: method, Detail: "verified", User: user}
}

// Answer renders the active profile's denial for reason, for transports
// that must deny a request they cannot hand to Check.
func (e *Engine) Answer(reason profile.Reason, flowID string) profile.Answer {
	return e.profile.Deny(reason, profile.Details{FlowID: flowID})
}

// deny renders a denial with the active profile.
func (e *Engine) deny(r *Request, rule *policy.Rule, user string, reason profile.Reason, detail string, retry time.Duration) Decision {
	flow := r.ID
	if flow == "" {
		flow, _ = lookup(r.Header, "x-request-id")
	}
	if retry > 0 && retry < time.Second {
		retry = time.Second
	}
	idp := rule != nil && rule.IdPStepUp != nil
	ans := e.profile.Deny(reason, profile.Details{FlowID: flow, RetryAfter: retry, IdPStepUp: idp})
	if rule != nil && rule.Factors != nil && profile.NamesFactors(reason) {
		ans = profile.WithFactors(ans, profile.FactorsJSON(rule.Factors))
	}
	// Only a protected route's denial is challenged: a self-service
	// endpoint's answer (rule nil) keeps the profile's.
	if e.challenge && rule != nil && profile.Challenged(reason, idp) {
		ans.Challenge = e.challengeFor(rule, reason)
	}
	return Decision{
		Rule:   rule,
		Reason: reason,
		Answer: ans,
		Detail: detail,
		User:   user,
	}
}
