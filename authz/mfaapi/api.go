// Package mfaapi serves the MFA self-service endpoints of Spryker's Glue
// API (types, activate, verify, deactivate, trigger) plus recovery-code
// regeneration, in front of a service that has none of them.
//
// One implementation, two transports: API.Handle answers an authz.Request
// (the engine calls it before the policy, and the gRPC ext_authz adapter
// sends the answer to the client as a denied response carrying the real
// status and body), and API.Handler serves the same over plain HTTP
// (http.go). The HTTP ext_authz transports (forward-auth, Envoy's HTTP
// mode) cannot deliver a success answer, so they mark their requests
// authz.Request.NoSelfService and the engine refuses an endpoint's request
// before Handle runs; proxies route the endpoints' paths to Handler.
//
// Requests are routed on the request target as received, the path matched
// exactly (case, escaping and all) and the query ignored, by the same
// route function in Serves, Handle and Handler.
//
// The files follow the request: api.go routes it and checks the identity,
// body.go reads the JSON:API body, one file per endpoint answers it
// (types.go, activate.go, verify.go, deactivate.go, trigger.go,
// recovery.go), stepup.go and send.go hold what several endpoints share,
// enrollment.go reads and edits enrollments, respond.go renders answers.
package mfaapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/mfa-authz/mfa-authz/authz"
	"github.com/mfa-authz/mfa-authz/authz/delivery"
	"github.com/mfa-authz/mfa-authz/authz/factor"
	"github.com/mfa-authz/mfa-authz/authz/factor/webauthn"
	"github.com/mfa-authz/mfa-authz/authz/profile"
	"github.com/mfa-authz/mfa-authz/authz/store"
	"github.com/mfa-authz/mfa-authz/authz/totp"
)

// JSON:API resource types of the endpoints' bodies, as Spryker names them:
// a POST body must carry its endpoint's type in data.type, so a document
// meant for one endpoint is never acted on by another.
const (
	TypeTypes         = "multi-factor-auth-types"
	TypeActivate      = "multi-factor-auth-type-activate"
	TypeVerify        = "multi-factor-auth-type-verify"
	TypeDeactivate    = "multi-factor-auth-type-deactivate"
	TypeTrigger       = "multi-factor-auth-trigger"
	TypeRecoveryCodes = "multi-factor-auth-recovery-codes"
)

// Paths are the endpoints' exact paths (the query is ignored). They are
// configurable because a shop may mount the Glue API under a prefix.
type Paths struct {
	// Types answers GET; the others answer POST.
	Types, Activate, Verify, Deactivate, Trigger, RecoveryCodes string
}

// Limits bound how many codes are sent, because every code costs money
// (SMS) and can be abused to flood a victim's inbox or phone. Zero
// disables a limit.
type Limits struct {
	// UserMax codes per method per user within UserWindow. Activations
	// also count per destination (all users together) against the same
	// numbers, so rotating identities cannot flood one address or phone.
	UserMax    int
	UserWindow time.Duration
	// TenantMax codes per method for all users within TenantWindow.
	TenantMax    int
	TenantWindow time.Duration
	// Cooldown is the least time between two codes to one user and method.
	Cooldown time.Duration
}

// Options configure an API.
type Options struct {
	// Engine identifies users, checks MFA codes, keeps step-up sessions
	// and renders errors in the active profile; Store keeps enrollments,
	// pending codes and send counters. Both are required.
	Engine *authz.Engine
	Store  store.Store
	// Senders deliver codes per method ("email", "sms"); a method without
	// a sender is not offered.
	Senders map[string]delivery.Sender
	Paths   Paths
	// MaxBodyBytes bounds a body on the HTTP transport.
	MaxBodyBytes int
	// UserSubject answers identity-less requests with 5909 (back-office
	// users) instead of 5905 (customers).
	UserSubject bool
	// CodeLength and CodeTTL shape one-time codes.
	CodeLength int
	CodeTTL    time.Duration
	Limits     Limits
	// EmailClaim and PhoneClaim name JWT claims with verified destinations.
	EmailClaim, PhoneClaim string
	// JWTNamespace and JWTPayloadKey locate the JWT payload in metadata.
	JWTNamespace, JWTPayloadKey string
	// TOTP shapes new TOTP factors.
	TOTP totp.Config
	// WebAuthn, when set, offers passkeys on the WebAuthnPaths endpoints.
	WebAuthn      *webauthn.Factor
	WebAuthnPaths WebAuthnPaths
	// Logger defaults to a no-op logger, Now to time.Now (tests set it).
	Logger *zap.Logger
	Now    func() time.Time
}

// API serves the endpoints. It is immutable after New and safe for
// concurrent use; all state lives in the store and the engine.
type API struct {
	o Options
	// methods are the factors offered for activation, in order.
	methods []string
	// listed are the factors the types list shows, in order: the offered
	// ones, then those registered by their own endpoints (WebAuthn),
	// which deactivate removes too.
	listed []factor.Enrollable
	env    factor.EnrollEnv
	claims factor.Claims
	log    *zap.Logger
}

// New returns an API, filling in the defaults of unset options. It offers
// the engine's Activatable factors (factor.Activatable): a factor whose
// secret the server generates always (TOTP), a factor whose codes are sent
// (e-mail, SMS) only with a sender. The engine's other Enrollable factors
// are listed and removable.
func New(o Options) (*API, error) {
	if o.Engine == nil || o.Store == nil {
		return nil, errors.New("mfaapi: engine and store are required")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	if o.CodeLength == 0 {
		o.CodeLength = 6
	}
	if o.CodeTTL == 0 {
		o.CodeTTL = 5 * time.Minute
	}
	if o.MaxBodyBytes == 0 {
		o.MaxBodyBytes = 16 << 10
	}
	a := &API{o: o, log: o.Logger, env: factor.EnrollEnv{TOTP: o.TOTP},
		claims: factor.Claims{Email: o.EmailClaim, Phone: o.PhoneClaim}}
	var others []factor.Enrollable
	for _, f := range o.Engine.Factors().Factors() {
		e, ok := f.(factor.Enrollable)
		if !ok {
			continue
		}
		switch f := f.(type) {
		case factor.Generated:
		case factor.Destined:
			if o.Senders[f.Delivery()] == nil {
				continue
			}
		default:
			if _, ok := f.(factor.Activatable); !ok {
				others = append(others, e)
			}
			continue
		}
		a.methods = append(a.methods, f.Name())
		a.listed = append(a.listed, e)
	}
	a.listed = append(a.listed, others...)
	return a, nil
}

// Methods returns the offered methods, in the order the types list shows
// them. The slice is a copy: callers may keep or change it.
func (a *API) Methods() []string { return append([]string(nil), a.methods...) }

func (a *API) offered(m string) bool {
	for _, x := range a.methods {
		if x == m {
			return true
		}
	}
	return false
}

// removable reports whether deactivate takes method although activate
// does not: a listed factor registered by its own endpoints (WebAuthn).
func (a *API) removable(want, method string) bool {
	return want == TypeDeactivate && !a.offered(method) && a.enrollable(method) != nil
}

// handler answers one endpoint for an identified user.
type handler func(ctx context.Context, r *authz.Request, user string) profile.Answer

// route returns the handler of method and target, nil when target names
// no endpoint. allow is the method the endpoint answers; when method is
// another, the handler is nil and allow is set: the caller answers 405.
func (a *API) route(method, target string) (h handler, allow string) {
	p, _, _ := strings.Cut(target, "?")
	if p == "" {
		return nil, ""
	}
	switch p {
	case a.o.Paths.Types:
		h, allow = a.types, http.MethodGet
	case a.o.Paths.Activate:
		h, allow = a.activate, http.MethodPost
	case a.o.Paths.Verify:
		h, allow = a.verify, http.MethodPost
	case a.o.Paths.Deactivate:
		h, allow = a.deactivate, http.MethodPost
	case a.o.Paths.Trigger:
		h, allow = a.trigger, http.MethodPost
	case a.o.Paths.RecoveryCodes:
		h, allow = a.recoveryCodes, http.MethodPost
	default:
		if h = a.webauthnRoute(p); h == nil {
			return nil, ""
		}
		allow = http.MethodPost
	}
	if strings.ToUpper(method) != allow {
		return nil, allow
	}
	return h, allow
}

// Serves implements authz.API: the engine asks it first, so that a request
// that is no endpoint's costs no copy of the request. Every method on an
// endpoint's path is served: the wrong ones with 405.
func (a *API) Serves(method, target string) bool {
	_, allow := a.route(method, target)
	return allow != ""
}

// Handle implements authz.API: it answers r when it is one of the
// endpoints' (ok=false otherwise), success or error alike, or 405 with an
// Allow header when r names an endpoint's path with another method, as a
// profile.Answer carrying the status and body to send. Every endpoint
// needs the user's identity, so its absence is answered here; a panic in
// an endpoint is answered as an outage rather than taking the process down.
func (a *API) Handle(ctx context.Context, r *authz.Request) (ans profile.Answer, ok bool) {
	h, allow := a.route(r.Method, r.Path)
	switch {
	case allow == "":
		return profile.Answer{}, false
	case h == nil:
		// The endpoint's path with another method: nothing to act on,
		// so no identity is needed to say which method to use.
		ans := a.deny(r, profile.MethodNotAllowed, 0)
		ans.Allow = allow
		return ans, true
	}
	defer func() {
		if p := recover(); p != nil {
			a.log.Error("self-service endpoint panicked", zap.String("panic", fmt.Sprint(p)), zap.Stack("stack"))
			ans, ok = a.deny(r, profile.Unavailable, 0), true
		}
	}()
	user, _ := a.o.Engine.Identity(r)
	if user == "" {
		if a.o.UserSubject {
			return a.deny(r, profile.NoUserIdentifier, 0), true
		}
		return a.deny(r, profile.NoIdentity, 0), true
	}
	return h(ctx, r, user), true
}

// deny renders reason in the active profile, with the request's flow id.
func (a *API) deny(r *authz.Request, reason profile.Reason, retry time.Duration) profile.Answer {
	return a.o.Engine.AnswerFor(r, reason, retry)
}

// unavailable logs what failed (the client only learns that something
// did) and answers with the profile's outage error.
func (a *API) unavailable(r *authz.Request, what string, err error) profile.Answer {
	a.log.Error("self-service endpoint failed", zap.String("step", what), zap.Error(err))
	return a.deny(r, profile.Unavailable, 0)
}
