package mfaapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/mfa-authz/mfa-authz/authz"
	"github.com/mfa-authz/mfa-authz/authz/factor"
	"github.com/mfa-authz/mfa-authz/authz/factor/webauthn"
	"github.com/mfa-authz/mfa-authz/authz/profile"
	"github.com/mfa-authz/mfa-authz/authz/store"
)

// The WebAuthn endpoints. A passkey is registered in two steps (options
// with a challenge, then the authenticator's attestation) and proven in
// two (a challenge, then the assertion in the MFA header of any request,
// or in a body here). They exist only when the webauthn section is
// configured; the types list then shows webauthn, and deactivate removes
// it (every credential at once). Activate, verify and trigger do not take
// it: its ceremonies are not codes.

// JSON:API resource types of the WebAuthn endpoints' documents.
const (
	TypeWebAuthnRegistrationOptions = "multi-factor-auth-webauthn-registration-options"
	TypeWebAuthnRegistration        = "multi-factor-auth-webauthn-registration"
	TypeWebAuthnChallenge           = "multi-factor-auth-webauthn-challenge"
	TypeWebAuthnVerify              = "multi-factor-auth-webauthn-verify"
)

// WebAuthnPaths are the WebAuthn endpoints' exact paths (all POST).
type WebAuthnPaths struct {
	RegistrationOptions, Registration, Challenge, Verify string
}

// webauthnRoute returns the handler of a POST to p, nil when p is no
// WebAuthn endpoint's or the factor is off.
func (a *API) webauthnRoute(p string) handler {
	if a.o.WebAuthn == nil {
		return nil
	}
	switch p {
	case a.o.WebAuthnPaths.RegistrationOptions:
		return a.webauthnRegistrationOptions
	case a.o.WebAuthnPaths.Registration:
		return a.webauthnRegistration
	case a.o.WebAuthnPaths.Challenge:
		return a.webauthnChallenge
	case a.o.WebAuthnPaths.Verify:
		return a.webauthnVerify
	}
	return nil
}

// webauthnRegistrationOptions answers the registration options endpoint:
// a new registration challenge (replacing an outstanding one) and the
// options for navigator.credentials.create. Adding a passkey is adding a
// factor, so a user with an enabled factor must prove it first, as for
// activate.
func (a *API) webauthnRegistrationOptions(ctx context.Context, r *authz.Request, user string) profile.Answer {
	if ans, ok := a.notBanned(ctx, r, user); !ok {
		return ans
	}
	enr, err := a.enrollment(ctx, user)
	if err != nil {
		return a.unavailable(r, "read enrollment", err)
	}
	if enr.WebAuthn != nil && len(enr.WebAuthn.Credentials) >= store.MaxWebAuthnCredentials {
		return a.deny(r, profile.AlreadyEnabled, 0)
	}
	now := a.o.Now()
	ans, stepped, ok := a.requireStepUp(ctx, r, user, enr, now)
	if !ok {
		return ans
	}
	opts, err := a.o.WebAuthn.BeginRegistration(ctx, a.o.Store, user, enr, now)
	if err != nil {
		return a.unavailable(r, "webauthn registration options", err)
	}
	if stepped {
		// The registration that follows may rely on this proof, as verify
		// relies on activate's. A registration challenge is single-use and
		// the next options call needs its own proof, so the step-up is
		// bound to the user's passkey registration, not to one challenge.
		a.o.Engine.RecordActivation(user, store.MethodWebAuthn, time.Time{}, now)
	}
	return a.document(http.StatusOK, resource{Type: TypeWebAuthnRegistrationOptions, ID: store.MethodWebAuthn, Attributes: opts})
}

// webauthnRegistration answers the registration endpoint: the
// attestation in the body, for the user's outstanding registration
// challenge, registers the credential. Like verify, it answers 204 (the
// recovery codes of a first factor are fetched with their own request),
// and needs the step-up that the options asked for to be still fresh.
func (a *API) webauthnRegistration(ctx context.Context, r *authz.Request, user string) profile.Answer {
	cred, bad := a.credentialBody(r, TypeWebAuthnRegistration)
	if bad != nil {
		return *bad
	}
	if ans, ok := a.notBanned(ctx, r, user); !ok {
		return ans
	}
	enr, err := a.enrollment(ctx, user)
	if err != nil {
		return a.unavailable(r, "read enrollment", err)
	}
	now := a.o.Now()
	if !a.registrationSteppedUp(ctx, r, user, enr, now) {
		return a.deny(r, profile.StepUpRequired, 0)
	}
	c, handle, detail, err := a.o.WebAuthn.FinishRegistration(ctx, a.o.Store, user, enr, cred, now)
	switch {
	case err != nil:
		return a.unavailable(r, "webauthn registration", err)
	case detail == webauthn.DetailMalformed:
		return a.deny(r, profile.InvalidBody, 0)
	case detail == factor.DetailExpired:
		return a.deny(r, profile.Expired, 0)
	case detail != "":
		return a.deny(r, profile.Invalid, 0)
	}
	hadFactor := len(enr.Methods()) > 0
	err = a.o.Store.UpdateEnrollment(ctx, user, func(cur *store.Enrollment) (*store.Enrollment, error) {
		if !hadFactor && len(cur.Methods()) > 0 && !a.registrationSteppedUp(ctx, r, user, cur, a.o.Now()) {
			return nil, errStepUp
		}
		next, err := webauthn.Add(cur, c, handle)
		if errors.Is(err, webauthn.ErrRegistered) || errors.Is(err, webauthn.ErrTooMany) {
			return nil, errAlreadyEnabled
		}
		return next, err
	})
	if err != nil {
		return a.updateFailed(r, "register webauthn credential", err)
	}
	return noContent
}

// webauthnChallenge answers the challenge endpoint: a new login challenge
// (replacing an outstanding one) and the options for
// navigator.credentials.get, for a user with a registered passkey.
func (a *API) webauthnChallenge(ctx context.Context, r *authz.Request, user string) profile.Answer {
	if ans, ok := a.notBanned(ctx, r, user); !ok {
		return ans
	}
	enr, err := a.enrollment(ctx, user)
	if err != nil {
		return a.unavailable(r, "read enrollment", err)
	}
	if !enr.Has(store.MethodWebAuthn) {
		return a.deny(r, profile.NotEnrolled, 0)
	}
	opts, err := a.o.WebAuthn.BeginLogin(ctx, a.o.Store, user, enr, a.o.Now())
	if err != nil {
		return a.unavailable(r, "webauthn challenge", err)
	}
	return a.document(http.StatusOK, resource{Type: TypeWebAuthnChallenge, ID: store.MethodWebAuthn, Attributes: opts})
}

// webauthnVerify answers the verify endpoint: the assertion in the body
// is checked exactly as if it came in the MFA header (the same answers,
// the same lockout), and a right one starts the user's step-up session
// (204), for clients that cannot add a header to the request they make
// next. A request with both an MFA header and a body is refused.
func (a *API) webauthnVerify(ctx context.Context, r *authz.Request, user string) profile.Answer {
	cred, bad := a.credentialBody(r, TypeWebAuthnVerify)
	if bad != nil {
		return *bad
	}
	if _, n := r.Header.Lookup(a.o.Engine.HeaderName()); n > 0 {
		return a.deny(r, profile.InvalidBody, 0)
	}
	enr, err := a.enrollment(ctx, user)
	if err != nil {
		return a.unavailable(r, "read enrollment", err)
	}
	rc := *r
	rc.Header = withCode{Header: r.Header, name: a.o.Engine.HeaderName(), value: store.MethodWebAuthn + " " + webauthn.Encode(cred)}
	now := a.o.Now()
	p := a.o.Engine.Prove(ctx, &rc, user, enr, "", now)
	if !p.OK {
		return a.deny(r, p.Reason, p.RetryAfter)
	}
	a.o.Engine.RecordStepUp(r, user, p.Method, now)
	return noContent
}

// withCode is a request's headers with the MFA header set to value.
type withCode struct {
	authz.Header
	name, value string
}

// Lookup implements authz.Header.
func (h withCode) Lookup(name string) (string, int) {
	if strings.EqualFold(name, h.name) {
		return h.value, 1
	}
	return h.Header.Lookup(name)
}

// credentialBody reads r's body as a JSON:API document of resource type
// want whose data.attributes.credential is a JSON object (the
// PublicKeyCredential's toJSON()); a failure is the answer to send.
func (a *API) credentialBody(r *authz.Request, want string) (json.RawMessage, *profile.Answer) {
	var doc struct {
		Data *struct {
			Type       string `json:"type"`
			Attributes *struct {
				Credential json.RawMessage `json:"credential"`
			} `json:"attributes"`
		} `json:"data"`
	}
	ok := !r.BodyTruncated && len(r.Body) > 0 && len(r.Body) <= a.o.MaxBodyBytes
	if ok {
		dec := json.NewDecoder(bytes.NewReader(r.Body))
		ok = dec.Decode(&doc) == nil && !dec.More() && doc.Data != nil && doc.Data.Type == want &&
			doc.Data.Attributes != nil && bytes.HasPrefix(doc.Data.Attributes.Credential, []byte("{"))
	}
	if !ok {
		d := a.deny(r, profile.InvalidBody, 0)
		return nil, &d
	}
	return doc.Data.Attributes.Credential, nil
}

// registrationSteppedUp reports whether a passkey may be registered for a
// user with enr: one with no enabled factor needs no proof; otherwise the
// options call proved a factor within the step-up window, or the
// request's credential stepped up.
func (a *API) registrationSteppedUp(ctx context.Context, r *authz.Request, user string, enr *store.Enrollment, now time.Time) bool {
	if len(enr.Methods()) == 0 {
		return true
	}
	if a.o.Engine.ActivationSteppedUp(ctx, user, store.MethodWebAuthn, time.Time{}, now) {
		return true
	}
	return a.o.Engine.CredentialSteppedUp(ctx, r, user, now)
}
