// Package authz is mfa-authz's decision engine: given one HTTP request, it
// decides whether the request may reach the upstream, and if not, which
// documented denial the client gets. It is plain Go with no transport:
// the gRPC ext_authz adapter (authz/extauthz) and tests call Engine.Check.
//
// The engine fails closed: on a protected route every error, timeout,
// ambiguity or panic is a denial.
package authz

import (
	"context"
	"errors"
	"fmt"
	"github.com/mfa-authz/mfa-authz/authz/factor"
	"github.com/mfa-authz/mfa-authz/authz/factor/builtin"
	"strings"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/mfa-authz/mfa-authz/authz/profile"
	"github.com/mfa-authz/mfa-authz/authz/regulation"
	"github.com/mfa-authz/mfa-authz/authz/store"
	"github.com/mfa-authz/mfa-authz/cache"
	"github.com/mfa-authz/mfa-authz/policy"
)

// MethodHeader is the upstream header naming the factor that verified the
// user ("totp", …, or "none" when a protected route let an unverified user
// through by configuration). Client-sent values never reach the upstream.
const MethodHeader = "x-mfa-method"

// MethodNone is MethodHeader's value when no factor verified the user.
const MethodNone = "none"

// DetailNoSelfService is the Detail of the denial of a self-service
// endpoint's request that came with Request.NoSelfService set.
const DetailNoSelfService = "self-service endpoint over HTTP ext_authz"

// Config is the engine's part of the config file.
type Config struct {
	// Header is the MFA header's name as configured (texts show it so).
	Header string
	// GracePeriod is how long a verified user is trusted (mfa.grace_period).
	GracePeriod time.Duration
	// AllowUnenrolled lets users with no factor at all through protected routes.
	AllowUnenrolled bool
	// Identity says where a request's user id comes from.
	Identity IdentityConfig
	// TOTPSkew is how many time steps before and after now a TOTP code may be from.
	TOTPSkew uint
	// CodeMaxAttempts is how many wrong tries an e-mail or SMS code
	// allows (codes.max_attempts); 0 means 3.
	CodeMaxAttempts int
}

// Options are an engine's configuration and collaborators.
type Options struct {
	Config
	Policy    *policy.Policy
	Profile   profile.Profile
	Store     store.Store
	Sessions  *cache.Sessions
	Regulator *regulation.Regulator
	// Limiter, when set, regulates instead of Regulator (which may then be
	// nil): the shared regulation of a Redis store. A Limiter that is also a
	// SessionLimiter is the truth about sessions too (see SessionLimiter).
	Limiter regulation.Limiter
	// Enrolled, when set, remembers briefly who has a factor, so that a
	// code-less request is denied without reading the store (see
	// codelessDenial); nil reads the store for every such request.
	Enrolled *cache.Enrolled
	// Logger receives debug-level decision lines and errors; nil logs nothing.
	Logger *zap.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Factors are the factors the engine verifies; nil means the shipped
	// ones (factor/builtin).
	Factors *factor.Registry
}

// SessionLimiter is a shared Limiter whose store also holds the verified
// sessions that Sessions writes through to (the Redis store's Limiter,
// with its Sessions as the cache's shared level). With one, every
// protected request reads the user's ban and session record together in
// one round trip, and only a session the store still holds counts: the
// in-memory cache merely skips opening a record it has already opened
// (cache.Sessions.Match). Deleting the record in the store ends the
// session on every replica at once.
type SessionLimiter interface {
	regulation.Limiter
	// BannedUntilSession returns the end of the user's ban, if banned at
	// now, and otherwise the user's session record ("" when none).
	BannedUntilSession(ctx context.Context, user string, now time.Time) (until time.Time, banned bool, rec string, err error)
	// OpenSession decodes rec; ok=false when it is not a valid session of the user.
	OpenSession(user, rec string) (s cache.Session, ok bool)
}

// Engine decides requests. It is safe for concurrent use; SetPolicy swaps
// the policy atomically while checks run.
type Engine struct {
	cfg        Config
	header     string // lower-case MFA header name
	idHeader   string // lower-case identity header name, or ""
	policy     atomic.Pointer[policy.Policy]
	profile    profile.Profile
	store      store.Store
	sessions   *cache.Sessions
	reg        regulation.Limiter
	sessionSrc sessionSource
	enrolled   *cache.Enrolled // nil: no enrollment cache
	log        *zap.Logger
	now        func() time.Time
	sessionTTL atomic.Int64 // how long sessions are cached: the longest grace in force
	api        atomic.Pointer[apiHolder]
	obs        atomic.Pointer[observerHolder]
	tracer     atomic.Pointer[tracerHolder]
	factors    *factor.Registry
	factorEnv  factor.Env // built once; factors verify with a pointer to it
}

// Methods returns every value MethodHeader can carry on an allow: the
// registered factors' names, in preference order, then MethodNone. Adapters
// prebuild their allow answers for exactly these. The slice is fresh.
func (e *Engine) Methods() []string {
	return append(append([]string(nil), e.factors.Names()...), MethodNone)
}

// New returns an engine. Every collaborator is required.
func New(o Options) (*Engine, error) {
	switch {
	case o.Header == "":
		return nil, errors.New("authz: empty MFA header name")
	case o.Policy == nil, o.Profile == nil, o.Store == nil, o.Sessions == nil, o.Regulator == nil && o.Limiter == nil:
		return nil, errors.New("authz: policy, profile, store, sessions and regulator are all required")
	case o.GracePeriod < 0:
		return nil, fmt.Errorf("authz: negative grace period %s", o.GracePeriod)
	}
	e := &Engine{
		cfg:      o.Config,
		header:   strings.ToLower(o.Header),
		idHeader: strings.ToLower(o.Identity.Header),
		profile:  o.Profile,
		store:    o.Store,
		sessions: o.Sessions,
		reg:      o.Limiter,
		enrolled: o.Enrolled,
		log:      o.Logger,
		now:      o.Now,
		factors:  o.Factors,
	}
	if e.factors == nil {
		e.factors = builtin.Registry()
	}
	e.factorEnv = factor.Env{Store: e.store, TOTPSkew: e.cfg.TOTPSkew, CodeMaxAttempts: e.codeMaxAttempts()}
	if e.reg == nil {
		e.reg = regulation.Local(o.Regulator)
	}
	e.sessionSrc = newSessionSource(e.reg, e.sessions)
	if e.log == nil {
		e.log = zap.NewNop()
	}
	if e.now == nil {
		e.now = time.Now
	}
	e.SetPolicy(o.Policy)
	return e, nil
}

// SetPolicy atomically replaces the policy; checks already running finish
// with the old one.
func (e *Engine) SetPolicy(p *policy.Policy) {
	ttl := e.cfg.GracePeriod
	if g, ok := p.MaxGrace(); ok && g > ttl {
		ttl = g
	}
	e.sessionTTL.Store(int64(ttl))
	e.policy.Store(p)
}

// Policy returns the policy in force.
func (e *Engine) Policy() *policy.Policy { return e.policy.Load() }

// HeaderName returns the MFA header's name in lower case, as transports
// must strip it from requests sent upstream.
func (e *Engine) HeaderName() string { return e.header }

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
	// Denial is the rendered answer for the client when denied.
	Denial profile.Denial
	// Detail says more about the outcome for logs and metrics ("session",
	// "replay", "store error", …). It never holds a code or secret.
	Detail string
	// User is the identity the decision was made for, "" when none.
	User string
	// API reports that mfa-authz answered the request itself (a
	// self-service endpoint): Denial holds the answer, success or error,
	// and the request must not go upstream.
	API bool
}

// check is Check without the observer (see observe.go).
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
				Denial: e.profile.Deny(profile.Unavailable, profile.Details{FlowID: flow})}
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
	case lk.ok:
		return Decision{Allowed: true, Rule: rule, Method: lk.session.Method, Detail: "session", User: user}
	}
	return e.verify(ctx, r, rule, user, now)
}

// codelessDenial denies as missing its code, without reading the store, a
// request that carries no code from a user the enrollment cache remembers
// as having a factor. The user would be denied whatever the store said:
// missing code, or not enrolled if a factor was removed elsewhere (the CLI,
// another replica) within the cache's TTL; removals in this process drop
// the entry at once (ForgetEnrollment). Users without a factor are never
// taken from the cache, so a new enrollment is seen at once, and with
// mfa.allow_unenrolled nothing is allowed from it. ok=false: read the store.
func (e *Engine) codelessDenial(r *Request, rule *policy.Rule, user string) (Decision, bool) {
	if e.enrolled == nil {
		return Decision{}, false
	}
	if raw, n := lookup(r.Header, e.header); n > 1 || n == 1 && strings.TrimSpace(raw) != "" {
		return Decision{}, false
	}
	if !e.enrolled.Has(user) {
		return Decision{}, false
	}
	return e.deny(r, rule, user, profile.Missing, "no code", 0), true
}

// ForgetEnrollment drops what the engine remembers of user's enrollment,
// before it returns: call it when the user's factors change in this
// process.
func (e *Engine) ForgetEnrollment(user string) {
	if e.enrolled != nil {
		e.enrolled.Forget(user, true)
	}
}

// EndSessions ends the user's verified session, on this replica and in
// the shared store when there is one (then on every replica), so that the
// user's next protected request needs a code. Call it when a factor of the
// user's is removed. An error means the shared store may still hold the
// session; this replica's copy is gone regardless.
func (e *Engine) EndSessions(ctx context.Context, user string) error {
	e.ForgetEnrollment(user)
	if err := e.sessions.Revoke(ctx, user); err != nil {
		return fmt.Errorf("authz: end sessions: %w", err)
	}
	return nil
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
		if len(methods) > 0 {
			e.enrolled.Set(user)
		} else {
			e.enrolled.Forget(user, false)
		}
	}
	if len(methods) == 0 {
		if e.cfg.AllowUnenrolled {
			return Decision{Allowed: true, Rule: rule, Method: MethodNone, Detail: "unenrolled", User: user}
		}
		return e.deny(r, rule, user, profile.NotEnrolled, "no factor enrolled", 0)
	}
	p := e.Prove(ctx, r, user, enr, "", now)
	if !p.OK {
		return e.deny(r, rule, user, p.Reason, p.Detail, p.RetryAfter)
	}
	method := p.Method
	if !e.sessions.Put(user, cache.Session{VerifiedAt: now, Method: method}, time.Duration(e.sessionTTL.Load())) {
		e.log.Warn("verified session not cached; the user will need a new code", zap.String("method", method))
	}
	return Decision{Allowed: true, Rule: rule, Method: method, Detail: "verified", User: user}
}

// Denial renders the active profile's denial for reason, for transports
// that must deny a request they cannot hand to Check.
func (e *Engine) Denial(reason profile.Reason, flowID string) profile.Denial {
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
	return Decision{
		Rule:   rule,
		Reason: reason,
		Denial: e.profile.Deny(reason, profile.Details{FlowID: flow, RetryAfter: retry}),
		Detail: detail,
		User:   user,
	}
}
