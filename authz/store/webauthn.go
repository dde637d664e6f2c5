package store

import (
	"bytes"
	"errors"
	"fmt"
	"time"
)

// MethodWebAuthn is the method of passkeys and security keys (WebAuthn).
const MethodWebAuthn = "webauthn"

// MaxWebAuthnCredentials bounds the credentials one user may register, so
// that an enrollment record stays small.
const MaxWebAuthnCredentials = 10

// WebAuthn is a user's WebAuthn factor: the registered credentials, and
// the user handle the authenticators know the user by. The handle is
// random bytes, never the user id, so an authenticator does not carry
// who the user is at this service.
type WebAuthn struct {
	// UserHandle is the user.id of every registration (1 to 64 bytes).
	UserHandle []byte `json:"user_handle"`
	// Credentials are the registered public keys; the factor is enabled
	// while there is at least one.
	Credentials []WebAuthnCredential `json:"credentials,omitempty"`
}

// WebAuthnCredential is one registered public-key credential.
type WebAuthnCredential struct {
	// ID is the credential id the authenticator returned.
	ID []byte `json:"id"`
	// PublicKey is the credential public key, COSE-encoded.
	PublicKey []byte `json:"public_key"`
	// AttestationType, AttestationFormat and AAGUID describe the
	// authenticator as registered.
	AttestationType   string `json:"attestation_type,omitempty"`
	AttestationFormat string `json:"attestation_format,omitempty"`
	AAGUID            []byte `json:"aaguid,omitempty"`
	// SignCount is the last signature counter seen; an assertion whose
	// counter does not exceed it (when either is non-zero) comes from a
	// cloned authenticator.
	SignCount uint32 `json:"sign_count"`
	// Flags at registration: user verified, backup eligible, backed up.
	UserVerified   bool `json:"user_verified,omitempty"`
	BackupEligible bool `json:"backup_eligible,omitempty"`
	BackupState    bool `json:"backup_state,omitempty"`
	// Transports are the authenticator's hints (usb, nfc, internal, …).
	Transports []string `json:"transports,omitempty"`
	// CreatedAt is when the credential was registered, LastUsedAt when it
	// last verified the user (zero: never).
	CreatedAt  time.Time `json:"created_at"`
	LastUsedAt time.Time `json:"last_used_at,omitzero"`
}

// Enabled reports whether w has a registered credential.
func (w *WebAuthn) Enabled() bool { return w != nil && len(w.Credentials) > 0 }

// Credential returns the credential with id, or nil.
func (w *WebAuthn) Credential(id []byte) *WebAuthnCredential {
	if w == nil {
		return nil
	}
	for i := range w.Credentials {
		if bytes.Equal(w.Credentials[i].ID, id) {
			return &w.Credentials[i]
		}
	}
	return nil
}

// Clone returns a deep copy of w that an update function may change.
func (w *WebAuthn) Clone() *WebAuthn {
	if w == nil {
		return nil
	}
	c := &WebAuthn{UserHandle: bytes.Clone(w.UserHandle), Credentials: make([]WebAuthnCredential, len(w.Credentials))}
	for i, cr := range w.Credentials {
		cr.ID, cr.PublicKey, cr.AAGUID = bytes.Clone(cr.ID), bytes.Clone(cr.PublicKey), bytes.Clone(cr.AAGUID)
		cr.Transports = append([]string(nil), cr.Transports...)
		c.Credentials[i] = cr
	}
	return c
}

// validate checks what the verifier depends on.
func (w *WebAuthn) validate() error {
	if n := len(w.UserHandle); n < 1 || n > 64 {
		return fmt.Errorf("store: webauthn user handle is %d bytes, want 1 to 64", n)
	}
	if len(w.Credentials) > MaxWebAuthnCredentials {
		return fmt.Errorf("store: %d webauthn credentials, at most %d", len(w.Credentials), MaxWebAuthnCredentials)
	}
	for i, c := range w.Credentials {
		if len(c.ID) == 0 || len(c.PublicKey) == 0 {
			return errors.New("store: webauthn credential without id or public key")
		}
		for _, d := range w.Credentials[:i] {
			if bytes.Equal(d.ID, c.ID) {
				return errors.New("store: webauthn credential registered twice")
			}
		}
	}
	return nil
}
