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
	gate       SessionLimiter // reg as a SessionLimiter, nil when it is not one
	log        *zap.Logger
	now        func() time.Time
	sessionTTL atomic.Int64 // how long sessions are cached: the longest grace in force
	api        atomic.Pointer[apiHolder]
	obs        atomic.Pointer[observerHolder]
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
	e.gate, _ = e.reg.(SessionLimiter)
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
	if e.gate != nil {
		until, banned, s, ok, err := e.sharedSession(ctx, user, now, time.Duration(e.sessionTTL.Load()))
		switch {
		case err != nil:
			e.log.Error("regulation and session lookup failed; request denied", zap.Error(err))
			return e.deny(r, rule, user, profile.Unavailable, "regulation error", 0)
		case banned:
			return e.deny(r, rule, user, profile.TooManyAttempts, "banned", until.Sub(now))
		case ok && withinGrace(s.VerifiedAt, now, grace):
			return Decision{Allowed: true, Rule: rule, Method: s.Method, Detail: "session", User: user}
		}
		return e.verify(ctx, r, rule, user, now)
	}
	if until, banned, err := e.reg.BannedUntil(ctx, user, now); err != nil {
		e.log.Error("regulation lookup failed; request denied", zap.Error(err))
		return e.deny(r, rule, user, profile.Unavailable, "regulation error", 0)
	} else if banned {
		return e.deny(r, rule, user, profile.TooManyAttempts, "banned", until.Sub(now))
	}
	if s, ok := e.sessions.Get(user); ok && withinGrace(s.VerifiedAt, now, grace) {
		return Decision{Allowed: true, Rule: rule, Method: s.Method, Detail: "session", User: user}
	}
	if s, ok, err := e.sessions.GetShared(ctx, user); err != nil {
		e.log.Error("shared session lookup failed; request denied", zap.Error(err))
		return e.deny(r, rule, user, profile.Unavailable, "session store error", 0)
	} else if ok && withinGrace(s.VerifiedAt, now, grace) {
		return Decision{Allowed: true, Rule: rule, Method: s.Method, Detail: "session", User: user}
	}
	return e.verify(ctx, r, rule, user, now)
}

// sharedSession reads the user's ban and session from the SessionLimiter
// in one round trip. A record this replica has opened before is taken
// from the cache; another is opened and cached for at most ttl after it
// was verified.
func (e *Engine) sharedSession(ctx context.Context, user string, now time.Time, ttl time.Duration) (until time.Time, banned bool, s cache.Session, ok bool, err error) {
	until, banned, rec, err := e.gate.BannedUntilSession(ctx, user, now)
	if err != nil || banned || rec == "" {
		return until, banned, cache.Session{}, false, err
	}
	if s, ok := e.sessions.Match(user, rec); ok {
		return until, false, s, true, nil
	}
	if s, ok = e.gate.OpenSession(user, rec); !ok {
		return until, false, cache.Session{}, false, nil
	}
	e.sessions.Keep(user, s, rec, ttl-now.Sub(s.VerifiedAt))
	return until, false, s, true, nil
}

// EndSessions ends the user's verified session, on this replica and in
// the shared store when there is one (then on every replica), so that the
// user's next protected request needs a code. Call it when a factor of the
// user's is removed. An error means the shared store may still hold the
// session; this replica's copy is gone regardless.
func (e *Engine) EndSessions(ctx context.Context, user string) error {
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
	enr, err := e.store.Enrollment(ctx, user)
	if errors.Is(err, store.ErrNotFound) {
		enr, err = &store.Enrollment{}, nil
	}
	if err != nil {
		e.log.Error("enrollment lookup failed; request denied", zap.Error(err))
		return e.deny(r, rule, user, profile.Unavailable, "store error", 0)
	}
	methods := enr.Methods()
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
