package authz

import (
	"context"
	"strings"
	"time"

	"github.com/mfa-authz/mfa-authz/authz/factor"

	"go.uber.org/zap"

	"github.com/mfa-authz/mfa-authz/authz/profile"
	"github.com/mfa-authz/mfa-authz/authz/store"
	"github.com/mfa-authz/mfa-authz/cache"
)

// Details of failed code checks that choose a finer denial reason.
const (
	DetailExpired       = factor.DetailExpired
	DetailWrongRecovery = factor.DetailWrongRecovery
)

// API answers the requests mfa-authz serves itself (the MFA self-service
// endpoints) instead of deciding them for the upstream. Handle returns
// ok=false for a request that is not one of them.
type API interface {
	// Serves reports whether method and target name one of the endpoints.
	Serves(method, target string) bool
	Handle(ctx context.Context, r *Request) (answer profile.Answer, ok bool)
}

type apiHolder struct{ api API }

// SetAPI installs the self-service endpoints; Check answers their requests
// before it looks at the policy. nil removes them.
func (e *Engine) SetAPI(a API) {
	if a == nil {
		e.api.Store(nil)
		return
	}
	e.api.Store(&apiHolder{a})
}

// serveAPI answers r if it is an API request. The answer is a Decision that
// is not allowed (the upstream is never called) whose Answer carries the
// endpoint's status and body, success or error: a transport that renders
// denials sends it to the client as is.
func (e *Engine) serveAPI(ctx context.Context, r *Request) (Decision, bool) {
	h := e.api.Load()
	if h == nil {
		return Decision{}, false
	}
	if !h.api.Serves(r.Method, r.Path) {
		return Decision{}, false
	}
	// Handle gets a copy: handing r itself to an interface method would
	// make every request escape to the heap, endpoint or not.
	rc := *r
	ans, ok := h.api.Handle(ctx, &rc)
	if !ok {
		return Decision{}, false
	}
	return Decision{Answer: ans, Detail: "api", API: true}, true
}

// Identity returns the request's user id as Check determines it; detail
// explains an empty user (see identity).
func (e *Engine) Identity(r *Request) (user, detail string) { return e.identity(r) }

// Proof is the outcome of checking the MFA header of a request.
type Proof struct {
	// OK reports a right code; Method is the factor it proved.
	OK     bool
	Method string
	// Reason, Detail and RetryAfter describe a failure.
	Reason     profile.Reason
	Detail     string
	RetryAfter time.Duration
}

// prove is Prove without the observer (see code.go). accepts, when not
// nil, says which factors may prove themselves (a rule's factors): a bare
// code means the user's first enabled factor it accepts, and a code for a
// factor it refuses is invalid without being checked or counted.
func (e *Engine) prove(ctx context.Context, r *Request, user string, enr *store.Enrollment, pending string, accepts func(string) bool, now time.Time) Proof {
	raw, n := lookup(r.Header, e.header)
	if n == 1 && strings.TrimSpace(raw) == "" || n == 0 {
		return Proof{Reason: profile.Missing, Detail: "no code"}
	}
	att, retryAt, banned, err := e.reg.Begin(ctx, user, now)
	if err != nil {
		e.log.Error("regulation failed; request denied", zap.Error(err))
		return Proof{Reason: profile.Unavailable, Detail: "regulation error"}
	}
	if banned {
		return Proof{Reason: profile.TooManyAttempts, Detail: "banned", RetryAfter: retryAt.Sub(now)}
	}
	defer att.Release() // a panic below must not keep the attempt reserved
	fail := func(reason profile.Reason, detail string) Proof {
		if att.Failed(now) {
			e.observeBan()
			e.log.Warn("user banned after too many invalid MFA codes", zap.String("user_hash", HashUser(user)))
		}
		return Proof{Reason: reason, Detail: detail}
	}
	method, code, ok := parseCode(e.factors, raw)
	if n > 1 || !ok {
		return fail(profile.MalformedCode, "malformed code")
	}
	bare := method == "" && pending == ""
	switch {
	case pending != "" && method != "" && method != pending:
		// The verify endpoint judges only the factor being verified: a
		// code of another factor (a recovery code, a TOTP code) is refused
		// unchecked, so it is neither consumed nor proof of this factor.
		return fail(profile.Invalid, "code of another factor")
	case pending != "":
		method = pending
	case bare:
		for _, m := range enr.Methods() {
			if accepts == nil || accepts(m) {
				method = m
				break
			}
		}
	}
	if method != "" && accepts != nil && !accepts(method) {
		// Not checked, so neither consumed nor counted: the code may still
		// serve on a route that accepts its factor.
		att.Release()
		return Proof{Reason: profile.Invalid, Detail: DetailFactorNotAccepted}
	}
	if method == "" || method != pending && !e.enabled(enr, method) {
		att.Release()
		return Proof{Reason: profile.NotEnrolled, Detail: method + " not enrolled"}
	}
	ok, detail, err := e.checkCode(ctx, user, enr, method, code, now)
	if err == nil && !ok && bare {
		// A bare code is what Spryker's clients send after a trigger: it
		// may be the e-mail or SMS code just sent rather than the
		// preferred factor's. One attempt, one failure, however many
		// factors it was tried against.
		var alt string
		if alt, err = e.checkSentCodes(ctx, user, enr, method, code, accepts, now); alt != "" {
			ok, method = true, alt
		}
	}
	if err != nil {
		att.Release()
		e.log.Error("code verification failed; request denied", zap.String("method", method), zap.Error(err))
		return Proof{Reason: profile.Unavailable, Detail: detail}
	}
	if !ok {
		switch detail {
		case DetailExpired:
			return fail(profile.Expired, detail)
		case DetailWrongRecovery:
			return fail(profile.InvalidRecoveryCode, detail)
		}
		return fail(profile.Invalid, detail)
	}
	att.Succeeded()
	return Proof{OK: true, Method: method}
}

// checkSentCodes checks a bare code against the user's enabled factors
// whose codes are sent (e-mail, SMS) other than tried, which was checked
// already, and that accepts (nil: any) lets prove themselves; it returns
// the factor the code is right for, "" when none. A factor without a
// pending code costs one store read and changes nothing.
func (e *Engine) checkSentCodes(ctx context.Context, user string, enr *store.Enrollment, tried, code string, accepts func(string) bool, now time.Time) (string, error) {
	for _, m := range enr.Methods() {
		f, known := e.factors.Lookup(m)
		if _, sent := f.(factor.Sent); !known || !sent || m == tried || accepts != nil && !accepts(m) {
			continue
		}
		ok, _, err := f.Verify(ctx, &e.factorEnv, user, enr, code, now)
		if err != nil {
			return "", err
		}
		if ok {
			return m, nil
		}
	}
	return "", nil
}

func (e *Engine) codeMaxAttempts() int {
	if e.cfg.CodeMaxAttempts > 0 {
		return e.cfg.CodeMaxAttempts
	}
	return 3
}

// AnswerFor renders the active profile's answer for reason, with the
// request's flow id, for the self-service endpoints.
func (e *Engine) AnswerFor(r *Request, reason profile.Reason, retry time.Duration) profile.Answer {
	return e.deny(r, nil, "", reason, "", retry).Answer
}

// Profile returns the active profile.
func (e *Engine) Profile() profile.Profile { return e.profile }

// SteppedUp reports whether user verified a factor within the longer of
// the step-up window and the global grace period, on this replica or (with
// shared state) any other, with any credential: it is the user's session,
// not a step-up bound to a request (see CredentialSteppedUp). A failed
// shared lookup counts as no step-up.
func (e *Engine) SteppedUp(ctx context.Context, user string, now time.Time) bool {
	window := max(e.StepUpWindow(), e.cfg.GracePeriod)
	// A ban or a failed lookup counts as no step-up; with shared state, a
	// session ended there is none either.
	lk := e.sessionSrc.lookup(ctx, user, now, window, e.keepSessionFor())
	return lk.err == nil && lk.ok
}

// StartSession records that user proved method at now, as a step-up on a
// protected route does.
func (e *Engine) StartSession(user, method string, now time.Time) {
	if !e.sessions.Put(user, cache.Session{VerifiedAt: now, Method: method}, e.keepSessionFor()) {
		e.log.Warn("verified session not cached; the user will need a new code", zap.String("method", method))
	}
}
