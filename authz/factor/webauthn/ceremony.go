package webauthn

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	lib "github.com/go-webauthn/webauthn/webauthn"

	"github.com/mfa-authz/mfa-authz/authz/factor"
	"github.com/mfa-authz/mfa-authz/authz/store"
)

// Challenges are kept server-side as the user's pending codes (one
// registration and one login challenge at a time; a new one replaces the
// old), only as a keyed hash, and are used up by the first answer, right
// or wrong. The login challenge's key is the method's name, so removing
// the factor removes it too.
const (
	loginKey    = store.MethodWebAuthn
	registerKey = store.MethodWebAuthn + "-registration"
)

// challengePurpose is the SecretHash purpose of a challenge of key.
func challengePurpose(key string) string { return "challenge:" + key }

// handlePurpose is the SecretHash purpose of the user handle a first
// registration derives (later ones reuse the enrollment's).
const handlePurpose = "webauthn user handle"

// account is a user as the library sees it.
type account struct {
	user   string
	handle []byte
	w      *store.WebAuthn
}

func (a account) WebAuthnID() []byte {
	if a.handle != nil {
		return a.handle
	}
	return a.w.UserHandle
}
func (a account) WebAuthnName() string        { return a.user }
func (a account) WebAuthnDisplayName() string { return a.user }

func (a account) WebAuthnCredentials() []lib.Credential {
	if a.w == nil {
		return nil
	}
	out := make([]lib.Credential, len(a.w.Credentials))
	for i, c := range a.w.Credentials {
		tr := make([]protocol.AuthenticatorTransport, len(c.Transports))
		for j, t := range c.Transports {
			tr[j] = protocol.AuthenticatorTransport(t)
		}
		out[i] = lib.Credential{
			ID: c.ID, PublicKey: c.PublicKey, AttestationType: c.AttestationType, AttestationFormat: c.AttestationFormat,
			Transport:     tr,
			Flags:         lib.CredentialFlags{UserPresent: true, UserVerified: c.UserVerified, BackupEligible: c.BackupEligible, BackupState: c.BackupState},
			Authenticator: lib.Authenticator{AAGUID: c.AAGUID, SignCount: c.SignCount},
		}
	}
	return out
}

// handle returns the user handle of user's registrations: the
// enrollment's, or for a first registration one derived from the store key
// (stable until the registration completes, then kept in the enrollment).
func handle(lc store.Store, user string, enr *store.Enrollment) []byte {
	if enr != nil && enr.WebAuthn != nil && len(enr.WebAuthn.UserHandle) > 0 {
		return enr.WebAuthn.UserHandle
	}
	return lc.SecretHash(user, handlePurpose, "")
}

// keepChallenge stores challenge as the user's outstanding one of key.
func (f *Factor) keepChallenge(ctx context.Context, lc store.Store, user, key, challenge string, now time.Time) error {
	return lc.UpdatePendingCode(ctx, user, key, func(*store.PendingCode) (*store.PendingCode, error) {
		return &store.PendingCode{Hash: lc.SecretHash(user, challengePurpose(key), challenge),
			SentAt: now.UTC(), ExpiresAt: now.Add(f.cfg.ChallengeTTL).UTC()}, nil
	})
}

// useChallenge uses up the user's outstanding challenge of key and
// reports "" when it was challenge: DetailExpired when there is none (never
// issued, used already, or expired), DetailChallenge when it is another.
func useChallenge(ctx context.Context, lc store.Store, user, key, challenge string, now time.Time) (string, error) {
	detail := ""
	err := lc.UpdatePendingCode(ctx, user, key, func(cur *store.PendingCode) (*store.PendingCode, error) {
		switch {
		case cur == nil || cur.Used:
			detail = factor.DetailExpired
			return nil, store.ErrNoChange
		case !now.Before(cur.ExpiresAt):
			detail = factor.DetailExpired
		case subtle.ConstantTimeCompare(cur.Hash, lc.SecretHash(user, challengePurpose(key), challenge)) != 1:
			detail = DetailChallenge
		default:
			detail = ""
		}
		return nil, nil
	})
	if err != nil {
		return factor.DetailStoreError, fmt.Errorf("using webauthn challenge: %w", err)
	}
	return detail, nil
}

// BeginRegistration issues a registration challenge for user and returns
// the creation options for navigator.credentials.create ({"publicKey":
// {...}}), which exclude the user's registered credentials.
func (f *Factor) BeginRegistration(ctx context.Context, lc store.Store, user string, enr *store.Enrollment, now time.Time) (json.RawMessage, error) {
	acct := account{user: user, handle: handle(lc, user, enr), w: enr.WebAuthn}
	var exclude []protocol.CredentialDescriptor
	for _, c := range acct.WebAuthnCredentials() {
		exclude = append(exclude, c.Descriptor())
	}
	creation, session, err := f.wa.BeginRegistration(acct, lib.WithExclusions(exclude))
	if err != nil {
		return nil, fmt.Errorf("webauthn registration options: %w", err)
	}
	if err := f.keepChallenge(ctx, lc, user, registerKey, session.Challenge, now); err != nil {
		return nil, err
	}
	return json.Marshal(creation)
}

// FinishRegistration checks a registration (the attestation JSON that
// PublicKeyCredential.toJSON() gives) against the user's outstanding
// registration challenge, which it uses up, and returns the new
// credential and the user handle it was made for. ok=false with a detail
// is a refused registration; err a failure to decide.
func (f *Factor) FinishRegistration(ctx context.Context, lc store.Store, user string, enr *store.Enrollment, attestation []byte, now time.Time) (cred store.WebAuthnCredential, userHandle []byte, detail string, err error) {
	parsed, err := protocol.ParseCredentialCreationResponseBytes(attestation)
	if err != nil {
		return cred, nil, DetailMalformed, nil
	}
	challenge := parsed.Response.CollectedClientData.Challenge
	if detail, err := useChallenge(ctx, lc, user, registerKey, challenge, now); detail != "" || err != nil {
		return cred, nil, detail, err
	}
	acct := account{user: user, handle: handle(lc, user, enr), w: enr.WebAuthn}
	session := lib.SessionData{
		Challenge:        challenge,
		RelyingPartyID:   f.cfg.RPID,
		UserID:           acct.handle,
		UserVerification: f.uv,
		CredParams:       lib.CredentialParametersDefault(),
	}
	c, err := f.wa.CreateCredential(acct, session, parsed)
	if err != nil {
		return cred, nil, factor.DetailWrong, nil
	}
	if len(c.ID) > 1023 {
		return cred, nil, DetailMalformed, nil
	}
	tr := make([]string, len(c.Transport))
	for i, t := range c.Transport {
		tr[i] = string(t)
	}
	return store.WebAuthnCredential{
		ID: c.ID, PublicKey: c.PublicKey, AttestationType: c.AttestationType, AttestationFormat: c.AttestationFormat,
		AAGUID: c.Authenticator.AAGUID, SignCount: c.Authenticator.SignCount,
		UserVerified: c.Flags.UserVerified, BackupEligible: c.Flags.BackupEligible, BackupState: c.Flags.BackupState,
		Transports: tr, CreatedAt: now.UTC(),
	}, acct.handle, "", nil
}

// Add returns a copy of enr with cred registered under userHandle. It
// fails with ErrRegistered when the credential is registered already and
// ErrTooMany at store.MaxWebAuthnCredentials.
func Add(enr *store.Enrollment, cred store.WebAuthnCredential, userHandle []byte) (*store.Enrollment, error) {
	next := store.Enrollment{}
	if enr != nil {
		next = *enr
		next.Recovery = append([]store.RecoveryCode(nil), enr.Recovery...)
	}
	w := next.WebAuthn.Clone()
	if w == nil {
		w = &store.WebAuthn{UserHandle: bytes.Clone(userHandle)}
	}
	switch {
	case w.Credential(cred.ID) != nil:
		return nil, ErrRegistered
	case len(w.Credentials) >= store.MaxWebAuthnCredentials:
		return nil, ErrTooMany
	case !bytes.Equal(w.UserHandle, userHandle):
		// Registered for a handle this enrollment does not have.
		return nil, ErrRegistered
	}
	w.Credentials = append(w.Credentials, cred)
	next.WebAuthn = w
	return &next, nil
}

// Errors of Add.
var (
	ErrRegistered = errors.New("webauthn: credential already registered")
	ErrTooMany    = errors.New("webauthn: too many credentials")
)

// BeginLogin issues a login challenge for user, who must have a
// registered credential, and returns the request options for
// navigator.credentials.get ({"publicKey":{...}}), which allow the user's
// credentials only.
func (f *Factor) BeginLogin(ctx context.Context, lc store.Store, user string, enr *store.Enrollment, now time.Time) (json.RawMessage, error) {
	if !enr.WebAuthn.Enabled() {
		return nil, errors.New("webauthn: no registered credential")
	}
	assertion, session, err := f.wa.BeginLogin(account{user: user, w: enr.WebAuthn})
	if err != nil {
		return nil, fmt.Errorf("webauthn request options: %w", err)
	}
	if err := f.keepChallenge(ctx, lc, user, loginKey, session.Challenge, now); err != nil {
		return nil, err
	}
	return json.Marshal(assertion)
}
