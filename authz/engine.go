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
	"strings"
	"sync/atomic"
	"time"

	"github.com/mfa-authz/mfa-authz/authz/factor"
	"github.com/mfa-authz/mfa-authz/authz/factor/builtin"

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
	// StepUpWindow is how long a proof of a factor lets the user change
	// factors without a code (api.step_up_window); 0 means ManageWindow.
	StepUpWindow time.Duration
	// StepUpChallenge adds an RFC 9470 step-up challenge (WWW-Authenticate)
	// to the denials on protected routes that an authentication cures
	// (mfa.step_up_challenge). The rfc9470 profile adds it whatever this says.
	StepUpChallenge bool
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
	// challenge reports that denials carry the route's step-up challenge;
	// challenges holds them, rendered by SetPolicy for the policy in force.
	challenge  bool
	challenges atomic.Pointer[map[challengeKey]string]
}

// Methods returns every value MethodHeader can carry on an allow: the
// registered factors' names, in preference order, then MethodIdP and
// MethodNone. Adapters prebuild their allow answers for exactly these. The
// slice is fresh.
func (e *Engine) Methods() []string {
	return append(append([]string(nil), e.factors.Names()...), MethodIdP, MethodNone)
}

// Factors returns the registry of the factors the engine verifies, for the
// self-service endpoints to offer and manage exactly these.
func (e *Engine) Factors() *factor.Registry { return e.factors }

// New returns an engine. Every collaborator is required.
func New(o Options) (*Engine, error) {
	switch {
	case o.Header == "":
		return nil, errors.New("authz: empty MFA header name")
	case o.Policy == nil, o.Profile == nil, o.Store == nil, o.Sessions == nil, o.Regulator == nil && o.Limiter == nil:
		return nil, errors.New("authz: policy, profile, store, sessions and regulator are all required")
	case o.GracePeriod < 0:
		return nil, fmt.Errorf("authz: negative grace period %s", o.GracePeriod)
	case o.Identity.ClockSkew < 0 || o.Identity.ClockSkew > MaxClockSkew:
		return nil, fmt.Errorf("authz: clock skew %s outside 0 to %s", o.Identity.ClockSkew, MaxClockSkew)
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
		// The rfc9470 profile's 401 answers are the challenge.
		challenge: o.StepUpChallenge || o.Profile.Name() == profile.RFC9470,
	}
	if e.factors == nil {
		e.factors = builtin.Registry()
	}
	if err := o.Policy.CheckFactors(func(name string) bool { _, ok := e.factors.Lookup(name); return ok }, e.factors.Names()); err != nil {
		return nil, fmt.Errorf("authz: %w", err)
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
	if e.challenge {
		e.challenges.Store(e.renderChallenges(p))
	}
	e.policy.Store(p)
}

// Policy returns the policy in force.
func (e *Engine) Policy() *policy.Policy { return e.policy.Load() }

// HeaderName returns the MFA header's name in lower case, as transports
// must strip it from requests sent upstream.
func (e *Engine) HeaderName() string { return e.header }

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
