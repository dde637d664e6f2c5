// Package service assembles a running mfa-authz from its config: the
// store, the session cache, the regulator and the engine, served over gRPC
// (ext_authz, health, reflection) and HTTP (health endpoints).
package service

import (
	"context"
	"time"

	"go.uber.org/zap"

	"github.com/mfa-authz/mfa-authz/authz"
	"github.com/mfa-authz/mfa-authz/authz/config"
	"github.com/mfa-authz/mfa-authz/authz/factor/builtin"
	"github.com/mfa-authz/mfa-authz/authz/internal/tracing"
	"github.com/mfa-authz/mfa-authz/authz/mfaapi"
	"github.com/mfa-authz/mfa-authz/authz/page"
	"github.com/mfa-authz/mfa-authz/authz/profile"
	"github.com/mfa-authz/mfa-authz/authz/regulation"
	"github.com/mfa-authz/mfa-authz/authz/store"
	"github.com/mfa-authz/mfa-authz/cache"
	"github.com/mfa-authz/mfa-authz/policy"
)

// NewLogger builds the zap logger the log section asks for.
func NewLogger(c config.Log) (*zap.Logger, error) {
	l, _, err := NewLoggerWithLevel(c)
	return l, err
}

// logWarning logs a risky setting of the config (config.Warning) at WARN,
// naming its key.
func logWarning(log *zap.Logger, w config.Warning) {
	log.Warn(w.String(), zap.String("key", w.Key))
}

// Service is everything a running server decides with.
type Service struct {
	Config    *config.Config
	Log       *zap.Logger
	Engine    *authz.Engine
	Store     store.Store
	Sessions  *cache.Sessions
	Regulator *regulation.Regulator
	// API is the self-service endpoints, nil when api.enabled is false.
	API *mfaapi.API
	// Page is the enrollment page, nil when page.enabled is false.
	Page *page.Page
	// Level is the logger's level, changed by a config reload when set
	// (see NewLoggerWithLevel); nil leaves log.level to a restart.
	Level *zap.AtomicLevel

	// Tracer exports a span per decision (tracing.otlp_endpoint); nil when
	// tracing is off.
	Tracer *tracing.Tracer

	ops        *ops          // metrics, decision log, readiness (ops.go)
	engineOpts authz.Options // what New built Engine with
}

// engineConfig is the engine's part of a validated config.
func engineConfig(c *config.Config) authz.Config {
	return authz.Config{
		Header:          c.MFA.Header,
		GracePeriod:     *c.MFA.GracePeriod,
		AllowUnenrolled: c.MFA.AllowUnenrolled,
		TOTPSkew:        c.TOTP.Skew,
		CodeMaxAttempts: c.Codes.MaxAttempts,
		StepUpWindow:    c.API.StepUpWindow,
		StepUpChallenge: c.MFA.StepUpChallenge,
		Identity: authz.IdentityConfig{
			Header:            c.Identity.Header,
			Namespace:         c.Identity.JWTMetadata.Namespace,
			PayloadKey:        c.Identity.JWTMetadata.PayloadKey,
			Claim:             c.Identity.JWTMetadata.Claim,
			BearerFingerprint: c.Identity.BearerFingerprint,
			ClockSkew:         *c.Identity.ClockSkew,
		},
	}
}

// EngineOptions returns the options New built the engine with (the policy
// as it was before any reload), so that a test can build an engine like it
// around a wrapped store or another clock.
func (s *Service) EngineOptions() authz.Options { return s.engineOpts }

// Close sends the spans still batched (for at most the tracing timeout)
// and releases the store and the cache.
func (s *Service) Close() {
	if s.Tracer != nil {
		ctx, cancel := context.WithTimeout(context.Background(), s.Config.Tracing.Timeout)
		if err := s.Tracer.Shutdown(ctx); err != nil {
			s.Log.Warn("tracing: spans not sent at shutdown", zap.Error(err))
		}
		cancel()
	}
	s.Sessions.Close()
	if s.engineOpts.Enrolled != nil {
		s.engineOpts.Enrolled.Close()
	}
	_ = s.Store.Close()
}

// The engine's enrollment cache (cache.Enrolled): how long it remembers
// that a user has a factor, for denying a code-less request without
// reading the store, and for how many users at most. A new enrollment is
// seen at once; a removal made in this process too, one made by the CLI
// or another replica within enrolledTTL, and then only in which of two
// denials a code-less request gets.
const (
	enrolledTTL   = time.Second
	enrolledUsers = 1 << 16
)

// New wires a service from a validated config. log may be nil.
func New(c *config.Config, log *zap.Logger) (*Service, error) {
	if log == nil {
		log = zap.NewNop()
	}
	for _, w := range c.Warnings() {
		logWarning(log, w)
	}
	pol, err := policy.Compile(c.Policy)
	if err != nil {
		return nil, err
	}
	prof, err := profile.New(c.MFA.Profile, c.MFA.Header, c.MFA.ProblemBaseURL, profile.WithGlueContentType(c.MFA.GlueContentType))
	if err != nil {
		return nil, err
	}
	st, err := OpenStore(c.Storage, log)
	if err != nil {
		return nil, err
	}
	// Logs name users by an HMAC keyed from the store key: the same on
	// every replica and after a restart, and not reversible by guessing.
	if err := authz.KeyUserHash(st); err != nil {
		_ = st.Close()
		return nil, err
	}
	sessions, err := cache.New(c.Cache.MaxSessions)
	if err != nil {
		_ = st.Close()
		return nil, err
	}
	enrolled, err := cache.NewEnrolled(enrolledUsers, enrolledTTL)
	if err != nil {
		sessions.Close()
		_ = st.Close()
		return nil, err
	}
	reg := regulation.New(c.Regulation)
	persistRegulation(st, reg, log)
	shareSessions(st, sessions)
	wa, err := newWebAuthn(c, log)
	if err != nil {
		enrolled.Close()
		sessions.Close()
		_ = st.Close()
		return nil, err
	}
	opts := authz.Options{
		Factors:   builtin.New(wa),
		Enrolled:  enrolled,
		Config:    engineConfig(c),
		Policy:    pol,
		Profile:   prof,
		Store:     st,
		Sessions:  sessions,
		Regulator: reg,
		Limiter:   sharedLimiter(st, c.Regulation),
		Logger:    log,
	}
	eng, err := authz.New(opts)
	if err != nil {
		sessions.Close()
		_ = st.Close()
		return nil, err
	}
	svc := &Service{Config: c, Log: log, Engine: eng, Store: st, Sessions: sessions, Regulator: reg, engineOpts: opts}
	svc.initOps()
	if svc.API, err = newAPI(c, log, eng, st, svc.ops.metrics, wa); err != nil {
		sessions.Close()
		_ = st.Close()
		return nil, err
	}
	if svc.Page, err = svc.newPage(c, st); err != nil {
		sessions.Close()
		_ = st.Close()
		return nil, err
	}
	if c.Tracing.Enabled() {
		// Settings take effect at start; a reload keeps the tracer.
		if svc.Tracer, err = tracing.New(c.Tracing, Version); err != nil {
			sessions.Close()
			_ = st.Close()
			return nil, err
		}
		eng.SetTracer(svc.Tracer)
		log.Info("tracing: exporting a span per decision over OTLP", zap.String("endpoint", c.Tracing.Endpoint),
			zap.Float64("sample_rate", c.Tracing.SampleRate))
	}
	return svc, nil
}
