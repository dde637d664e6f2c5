// Package store keeps per-user MFA enrollments, pending one-time codes,
// send counters and the TOTP replay guard.
//
// The Store interface is what every backend implements; the capability
// interfaces (capability.go) are what only some do. Dir is the embedded
// backend: an encrypted directory on local disk that the server and the
// CLI may use at the same time. Package redisstore is the backend shared
// by replicas. Package storetest is the conformance suite every backend
// passes.
package store

import (
	"context"
	"encoding/base32"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"
)

// Methods a user can enroll, as named in Enrollment.Methods and Has.
const (
	MethodTOTP     = "totp"
	MethodEmail    = "email"
	MethodSMS      = "sms"
	MethodRecovery = "recovery"
)

// Errors returned by Store implementations, possibly wrapped with the user
// id or the record concerned; test for them with errors.Is.
var (
	// ErrNotFound means the user has no enrollment.
	ErrNotFound = errors.New("store: no enrollment")
	// ErrExists means the user already has an enrollment and replacing it
	// was not asked for.
	ErrExists = errors.New("store: enrollment exists")
	// ErrCorrupt means a record exists but cannot be decrypted or
	// authenticated: a wrong key, a damaged file, or a file moved from
	// another user. It is never reported as ErrNotFound, so that a damaged
	// record cannot make an enrolled user look unenrolled.
	ErrCorrupt = errors.New("store: record cannot be decrypted")
)

// TOTP is an enrolled TOTP factor. Its parameters are the ones the user's
// authenticator was set up with; they are kept per factor so that changing
// the configuration later does not break existing enrollments.
type TOTP struct {
	// Secret is the shared key, base32 without padding.
	Secret string `json:"secret"`
	// Algorithm is the HMAC hash: SHA1, SHA256 or SHA512.
	Algorithm string `json:"algorithm"`
	// Digits is the code length: 6 or 8.
	Digits int `json:"digits"`
	// Period is the time step in seconds.
	Period int `json:"period"`
	// CreatedAt is when the factor was generated.
	CreatedAt time.Time `json:"created_at"`
	// Pending marks a factor whose activation was started through the API
	// but not yet verified: it does not count for step-up. Factors written
	// by the CLI, and by versions before the API, are enabled.
	Pending bool `json:"pending,omitempty"`
}

// minSecretBytes is the shortest shared secret accepted: RFC 4226 section 4
// requires at least 128 bits.
const minSecretBytes = 16

// validate checks the parameters a verifier depends on. Its errors never
// contain the secret.
func (t *TOTP) validate() error {
	key, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(t.Secret)
	if err != nil {
		return errors.New("store: totp secret is not unpadded base32")
	}
	if len(key) < minSecretBytes {
		return fmt.Errorf("store: totp secret is %d bits, need at least %d", len(key)*8, minSecretBytes*8)
	}
	switch t.Algorithm {
	case "SHA1", "SHA256", "SHA512":
	default:
		return fmt.Errorf("store: totp algorithm must be SHA1, SHA256 or SHA512, got %q", t.Algorithm)
	}
	if t.Digits != 6 && t.Digits != 8 {
		return fmt.Errorf("store: totp digits must be 6 or 8, got %d", t.Digits)
	}
	if t.Period < 1 {
		return fmt.Errorf("store: totp period must be at least 1 second, got %d", t.Period)
	}
	return nil
}

// Enrollment is everything the store keeps about one user's factors.
//
// An enrollment whose factors this version does not know (written by a newer
// version) has no Methods but is still an enrollment: callers must not treat
// it as "not enrolled".
type Enrollment struct {
	// TOTP is the user's TOTP factor, or nil.
	TOTP *TOTP `json:"totp,omitempty"`
	// Email and SMS are the user's out-of-band factors, or nil.
	Email *OOB `json:"email,omitempty"`
	SMS   *OOB `json:"sms,omitempty"`
	// Recovery holds the user's one-time recovery codes, hashed.
	Recovery []RecoveryCode `json:"recovery,omitempty"`
	// WebAuthn is the user's passkeys and security keys, or nil.
	WebAuthn *WebAuthn `json:"webauthn,omitempty"`
	// Factors holds, by factor name, the records of factors the store has
	// no field of its own for: each such factor encodes and decodes its
	// own record, which the store keeps opaque (encrypted with the rest).
	// The map is never changed in place, only replaced (SetFactor), so a
	// copy of an Enrollment may share it.
	Factors map[string]FactorRecord `json:"factors,omitempty"`
}

// FactorRecord is a factor's record in Enrollment.Factors.
type FactorRecord struct {
	// Enabled reports that the factor counts for step-up: false while its
	// activation is in progress.
	Enabled bool `json:"enabled"`
	// Data is the factor's own record, JSON the store does not read.
	Data json.RawMessage `json:"data,omitempty"`
}

// SetFactor stores rec as the record of the factor called name, or removes
// it when rec is nil, in a new map: copies of e keep the old one.
func (e *Enrollment) SetFactor(name string, rec *FactorRecord) {
	m := maps.Clone(e.Factors)
	if rec == nil {
		delete(m, name)
	} else {
		if m == nil {
			m = map[string]FactorRecord{}
		}
		m[name] = *rec
	}
	if len(m) == 0 {
		m = nil
	}
	e.Factors = m
}

// Factor returns the record of the factor called name, if e holds one.
func (e *Enrollment) Factor(name string) (FactorRecord, bool) {
	if e == nil {
		return FactorRecord{}, false
	}
	r, ok := e.Factors[name]
	return r, ok
}

// Methods returns the enabled methods in preference order: TOTP, email,
// SMS, WebAuthn, then those of Factors by name. Factors whose activation is in progress are not listed, and
// recovery codes are not a method of their own here (see Has).
func (e *Enrollment) Methods() []string {
	if e == nil {
		return nil
	}
	var m []string
	if e.TOTP != nil && !e.TOTP.Pending {
		m = append(m, MethodTOTP)
	}
	if e.Email != nil && e.Email.Enabled {
		m = append(m, MethodEmail)
	}
	if e.SMS != nil && e.SMS.Enabled {
		m = append(m, MethodSMS)
	}
	if e.WebAuthn.Enabled() {
		m = append(m, MethodWebAuthn)
	}
	for _, name := range slices.Sorted(maps.Keys(e.Factors)) {
		if e.Factors[name].Enabled {
			m = append(m, name)
		}
	}
	return m
}

// Has reports whether method is enabled. MethodRecovery is enabled while
// the user has an enabled method and an unused recovery code.
func (e *Enrollment) Has(method string) bool {
	if method == MethodRecovery {
		return len(e.Methods()) > 0 && e.UnusedRecoveryCodes() > 0
	}
	for _, m := range e.Methods() {
		if m == method {
			return true
		}
	}
	return false
}

// validate checks an enrollment before it is written.
func (e *Enrollment) validate() error {
	if e == nil {
		return errors.New("store: enrollment is nil")
	}
	if e.TOTP == nil && e.Email == nil && e.SMS == nil && !e.WebAuthn.Enabled() && len(e.Factors) == 0 {
		return errors.New("store: enrollment has no factor")
	}
	for name := range e.Factors {
		switch name {
		case "", MethodTOTP, MethodEmail, MethodSMS, MethodWebAuthn, MethodRecovery:
			return fmt.Errorf("store: factor record named %q", name)
		}
	}
	if e.WebAuthn != nil {
		if err := e.WebAuthn.validate(); err != nil {
			return err
		}
	}
	if e.TOTP != nil {
		if err := e.TOTP.validate(); err != nil {
			return err
		}
	}
	for _, f := range []*OOB{e.Email, e.SMS} {
		if f != nil && f.Destination == "" {
			return errors.New("store: out-of-band factor has no destination")
		}
	}
	return nil
}

// Store is what every backend implements: the embedded Dir store and the
// Redis store (package redisstore). The engine verifies through it and the
// self-service endpoints and the CLI enroll through it. What only some
// backends do is a capability interface of its own (capability.go),
// found with a type assertion on the store.
//
// The user id may be any non-empty string; implementations must not use it
// as a path or key without encoding it. Every update runs under the user's
// (or counter's) exclusive lock, or as an atomic swap, in this process and
// across processes and replicas; the conformance suite in package
// storetest holds every implementation to the same behaviour.
type Store interface {
	// Enrollment returns the user's enrollment, or ErrNotFound when none.
	Enrollment(ctx context.Context, user string) (*Enrollment, error)
	// PutEnrollment stores e as the user's enrollment. It returns ErrExists
	// if one exists and replace is false.
	PutEnrollment(ctx context.Context, user string, e *Enrollment, replace bool) error
	// DeleteEnrollment removes the user's enrollment, or returns ErrNotFound
	// when none.
	DeleteEnrollment(ctx context.Context, user string) error
	// UseTOTPStep records step as used if it is greater than the last used
	// step; ok=false means replay (step <= last used).
	UseTOTPStep(ctx context.Context, user string, step uint64) (ok bool, err error)

	// UpdateEnrollment reads the user's enrollment (nil when none), calls
	// fn and writes what fn returns: nil deletes the enrollment (and its
	// replay guard and pending codes). fn returning ErrNoChange writes
	// nothing; any other error is returned as is. fn may run more than
	// once (a store that swaps optimistically retries on a newer record)
	// and must not carry results over between calls.
	UpdateEnrollment(ctx context.Context, user string, fn func(cur *Enrollment) (*Enrollment, error)) error
	// UpdatePendingCode does the same for the user's pending code of method
	// (nil when none); nil removes it.
	UpdatePendingCode(ctx context.Context, user, method string, fn func(cur *PendingCode) (*PendingCode, error)) error
	// SecretHash returns HMAC-SHA256, under a key derived from the store's
	// key, of a user's secret (a one-time or recovery code) for purpose.
	SecretHash(user, purpose, secret string) []byte

	// Hit counts one event against the fixed-window counter key if fewer
	// than limit were counted in the window that includes now; ok=false
	// (nothing counted) means the limit is reached until resetAt.
	Hit(ctx context.Context, key string, window time.Duration, limit int, now time.Time) (ok bool, resetAt time.Time, err error)
	// Reserve counts one event against every limit at once, all or none:
	// if any limit's counter has reached its Max in the window that
	// includes now, nothing is counted, and refused is the index of the
	// first such limit, with the end of its window; refused is -1 when
	// every counter was counted. Check and count are one atomic step
	// across processes and replicas, so concurrent callers can neither
	// pass a limit together nor spend one limit's count while another
	// refuses them. Hit is Reserve of one limit, on the same counters.
	Reserve(ctx context.Context, limits []Limit, now time.Time) (refused int, resetAt time.Time, err error)

	// Close releases the store's resources.
	Close() error
}

var _ Store = (*Dir)(nil)
