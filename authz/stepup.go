package authz

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"time"

	"go.uber.org/zap"
	"google.golang.org/protobuf/proto"

	"github.com/mfa-authz/mfa-authz/cache"
)

// A step-up lets a user change their factors (add, remove or replace one,
// regenerate recovery codes) without a code in that very request. A
// session alone is not enough for that: it belongs to the user, so anyone
// else holding the user's first factor (another token, the same cookie
// session on another device) could ride it. A step-up is therefore bound
// to what the request proved its identity with, and lasts only
// Config.StepUpWindow:
//
//   - the credential: the jwt_authn payload's claims (one token), or the
//     bearer token itself when its fingerprint is the user id. An identity
//     taken from a plain header carries no credential: such requests need
//     a code in the request itself.
//   - an activation: activate, after the user proved a factor, binds the
//     step-up to the factor it started, so that verify (whose MFA header
//     carries the new factor's code) can finish exactly that activation.
//
// Both are records in the session cache (and its shared level) under keys
// no user id can spell (user ids never hold control characters), and
// count only while the user's own session of the same verification is
// live: ending the user's sessions ends their step-ups too.

// ManageWindow is the default step-up window (api.step_up_window).
const ManageWindow = 5 * time.Minute

// StepUpWindow returns how long a step-up lasts.
func (e *Engine) StepUpWindow() time.Duration {
	if e.cfg.StepUpWindow > 0 {
		return e.cfg.StepUpWindow
	}
	return ManageWindow
}

// keepSessionFor is how long a verified session is cached: the longest
// grace in force, and at least the step-up window, so that a verification
// on a route without grace still counts as a step-up. Check compares a
// session's age with the grace that applies, so keeping it longer never
// lets a request through.
func (e *Engine) keepSessionFor() time.Duration {
	return max(time.Duration(e.sessionTTL.Load()), e.StepUpWindow())
}

// credential returns what r's identity rests on, to bind a step-up to: ""
// when nothing can be bound (identity from a header, or none). It follows
// identity's order of sources, and is called only for a request identity
// named a user.
func (e *Engine) credential(r *Request) string {
	ic := &e.cfg.Identity
	if ns := r.Metadata[ic.Namespace]; ns != nil {
		payload := ns.GetFields()[ic.PayloadKey].GetStructValue()
		if payload == nil {
			return ""
		}
		// Deterministic marshalling sorts the claims, so every replica
		// reads the same token the same way. Two tokens with identical
		// claims (iat, exp, jti…) are one credential.
		b, err := proto.MarshalOptions{Deterministic: true}.Marshal(payload)
		if err != nil {
			return ""
		}
		sum := sha256.Sum256(b)
		return "jwt:" + hex.EncodeToString(sum[:16])
	}
	if e.idHeader != "" {
		if _, n := lookup(r.Header, e.idHeader); n > 0 {
			return ""
		}
	}
	if ic.BearerFingerprint {
		if _, n := lookup(r.Header, "authorization"); n == 1 {
			// The user id is the token's fingerprint: the identity is the
			// credential.
			return "bearer"
		}
	}
	return ""
}

func stepUpKey(user, cred string) string { return user + "\x00step-up\x00" + cred }

func activationKey(user, method string, started time.Time) string {
	return user + "\x00activation\x00" + method + "\x00" + strconv.FormatInt(started.UnixNano(), 10)
}

// fresh reports whether key holds a record written within the step-up
// window. A ban of the user is checked by the callers; a failed lookup
// counts as no record.
func (e *Engine) fresh(ctx context.Context, key string, now time.Time) bool {
	w := e.StepUpWindow()
	lk := e.sessionSrc.lookup(ctx, key, now, w, w)
	return lk.err == nil && lk.ok
}

// put writes a step-up record, for the step-up window.
func (e *Engine) put(key, method string, now time.Time) {
	if !e.sessions.Put(key, cache.Session{VerifiedAt: now, Method: method}, e.StepUpWindow()) {
		e.log.Warn("step-up not recorded; the user will need a code to change factors", zap.String("method", method))
	}
}

// bindStepUp records that r's user proved method at now with r's
// credential, if it has one.
func (e *Engine) bindStepUp(r *Request, user, method string, now time.Time) {
	if cred := e.credential(r); cred != "" {
		e.put(stepUpKey(user, cred), method, now)
	}
}

// RecordStepUp records that r's user proved method at now: a session, as a
// step-up on a protected route starts, and a step-up bound to r's
// credential.
func (e *Engine) RecordStepUp(r *Request, user, method string, now time.Time) {
	e.StartSession(user, method, now)
	e.bindStepUp(r, user, method, now)
}

// CredentialSteppedUp reports whether r's user proved a factor within the
// step-up window with the credential r carries, and the session of that
// proof has not been ended since. It is false for a request whose identity
// carries no credential (see credential).
func (e *Engine) CredentialSteppedUp(ctx context.Context, r *Request, user string, now time.Time) bool {
	cred := e.credential(r)
	return cred != "" && e.fresh(ctx, stepUpKey(user, cred), now) && e.fresh(ctx, user, now)
}

// RecordActivation records that the user proved a factor before starting,
// at started, the activation of method (its CreatedAt), so that verifying
// the factor within the step-up window needs no further proof.
func (e *Engine) RecordActivation(user, method string, started, now time.Time) {
	e.put(activationKey(user, method, started), method, now)
}

// ActivationSteppedUp reports whether the activation of method started at
// started was recorded by RecordActivation within the step-up window, and
// the user's session has not been ended since.
func (e *Engine) ActivationSteppedUp(ctx context.Context, user, method string, started, now time.Time) bool {
	return e.fresh(ctx, activationKey(user, method, started), now) && e.fresh(ctx, user, now)
}
