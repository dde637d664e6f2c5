// Package webauthn is the WebAuthn factor: passkeys and security keys
// registered by API clients, proven with a signed assertion over a
// challenge the server issued, rather than with a code. It is built on
// github.com/go-webauthn/webauthn, which checks the ceremonies (origin,
// relying party id, challenge, signature, flags); this package keeps the
// challenges and credentials in the store and adds the single use of a
// challenge, its binding to the user, and the clone check.
//
// A submission is "webauthn <base64url of the assertion JSON>" in the MFA
// header, the JSON a browser's PublicKeyCredential.toJSON() gives.
package webauthn

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	lib "github.com/go-webauthn/webauthn/webauthn"
	"go.uber.org/zap"

	"github.com/mfa-authz/mfa-authz/authz/factor"
	"github.com/mfa-authz/mfa-authz/authz/store"
)

// MaxAssertionLength bounds a submission (base64url characters): an
// assertion with the longest credential id the specification allows (1023
// bytes, sent twice) and a generous clientDataJSON fits.
const MaxAssertionLength = 8192

// minAssertionLength is below any real assertion: shorter values are
// malformed without decoding.
const minAssertionLength = 64

// Details of a refused submission, for logs and metrics; none holds a
// secret or a value the client chose.
const (
	// DetailMalformed: not base64url of an assertion's JSON.
	DetailMalformed = "malformed assertion"
	// DetailChallenge: the assertion answers a challenge other than the
	// user's outstanding one (another user's, or an older one).
	DetailChallenge = "challenge mismatch"
	// DetailCloned: the signature counter did not increase.
	DetailCloned = "cloned authenticator"
)

// Options are the factor's collaborators.
type Options struct {
	// Logger receives the clone warning; nil logs nothing.
	Logger *zap.Logger
	// UserTag names a user in logs without the id (authz.HashUser); nil
	// leaves the user out.
	UserTag func(user string) string
}

// Factor is the WebAuthn factor of one relying party. It is immutable and
// safe for concurrent use.
type Factor struct {
	cfg Config
	wa  *lib.WebAuthn
	uv  protocol.UserVerificationRequirement
	log *zap.Logger
	tag func(string) string
}

// New returns the factor for c, which must be valid and enabled.
func New(c Config, o Options) (*Factor, error) {
	if !c.Enabled() {
		return nil, errors.New("webauthn: rp_id is not set")
	}
	uv := protocol.UserVerificationRequirement(c.UserVerification)
	wa, err := lib.New(&lib.Config{
		RPID:                  c.RPID,
		RPDisplayName:         c.RPDisplayName,
		RPOrigins:             c.Origins,
		AttestationPreference: protocol.PreferNoAttestation,
		AuthenticatorSelection: protocol.AuthenticatorSelection{
			ResidentKey:      protocol.ResidentKeyRequirementPreferred,
			UserVerification: uv,
		},
		Timeouts: lib.TimeoutsConfig{
			Login:        lib.TimeoutConfig{Timeout: c.ChallengeTTL, TimeoutUVD: c.ChallengeTTL},
			Registration: lib.TimeoutConfig{Timeout: c.ChallengeTTL, TimeoutUVD: c.ChallengeTTL},
		},
	})
	if err != nil {
		return nil, fmt.Errorf("webauthn: %w", err)
	}
	f := &Factor{cfg: c, wa: wa, uv: uv, log: o.Logger, tag: o.UserTag}
	if f.log == nil {
		f.log = zap.NewNop()
	}
	if f.tag == nil {
		f.tag = func(string) string { return "" }
	}
	return f, nil
}

var _ factor.Bounded = (*Factor)(nil)

// Name returns "webauthn", the factor's public name.
func (*Factor) Name() string { return store.MethodWebAuthn }

// Label names the factor for people.
func (*Factor) Label() string { return Passkeys{}.Label() }

// MaxLength implements factor.Bounded.
func (*Factor) MaxLength() int { return MaxAssertionLength }

// WellFormed accepts unpadded base64url of a plausible length; whether it
// decodes to an assertion is Verify's to tell, before any store access.
func (*Factor) WellFormed(s string) bool {
	if len(s) < minAssertionLength || len(s) > MaxAssertionLength {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// Enabled reports a registered credential.
func (*Factor) Enabled(enr *store.Enrollment) bool { return enr.Has(store.MethodWebAuthn) }

// Encode returns the submission of an assertion's JSON, as the MFA header
// carries it (without the "webauthn " prefix).
func Encode(assertionJSON []byte) string { return base64.RawURLEncoding.EncodeToString(assertionJSON) }

// Verify checks an assertion: it must decode, answer the user's
// outstanding challenge (which it uses up, right or wrong), be signed by
// one of the user's credentials for this relying party and an allowed
// origin, and carry a signature counter above the stored one. The counter
// is then stored.
func (f *Factor) Verify(ctx context.Context, env *factor.Env, user string, enr *store.Enrollment, code string, now time.Time) (bool, string, error) {
	raw, err := base64.RawURLEncoding.DecodeString(code)
	if err != nil {
		return false, DetailMalformed, nil
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(raw)
	if err != nil {
		return false, DetailMalformed, nil
	}
	if !enr.WebAuthn.Enabled() {
		return false, factor.DetailWrong, nil
	}
	challenge := parsed.Response.CollectedClientData.Challenge
	if detail, err := useChallenge(ctx, env.Store, user, loginKey, challenge, now); detail != "" || err != nil {
		return false, detail, err
	}
	session := lib.SessionData{
		Challenge:        challenge,
		RelyingPartyID:   f.cfg.RPID,
		UserID:           enr.WebAuthn.UserHandle,
		UserVerification: f.uv,
	}
	cred, err := f.wa.ValidateLogin(account{user: user, w: enr.WebAuthn}, session, parsed)
	if err != nil {
		return false, factor.DetailWrong, nil
	}
	received := parsed.Response.AuthenticatorData.Counter
	if cred.Authenticator.CloneWarning {
		stored := enr.WebAuthn.Credential(cred.ID)
		f.cloned(user, cred.ID, stored.SignCount, received)
		return false, DetailCloned, nil
	}
	return f.recordUse(ctx, env.Store, user, cred.ID, received, now)
}

// recordUse stores the credential's new counter under the user's lock,
// where a concurrent assertion with the same or a higher counter shows as
// a clone too.
func (f *Factor) recordUse(ctx context.Context, lc store.Store, user string, id []byte, received uint32, now time.Time) (bool, string, error) {
	var stored uint32
	errClone, errGone := errors.New("clone"), errors.New("gone")
	err := lc.UpdateEnrollment(ctx, user, func(cur *store.Enrollment) (*store.Enrollment, error) {
		if cur == nil || cur.WebAuthn.Credential(id) == nil {
			return nil, errGone
		}
		next := *cur
		next.WebAuthn = cur.WebAuthn.Clone()
		c := next.WebAuthn.Credential(id)
		if stored = c.SignCount; !counterAdvances(stored, received) {
			return nil, errClone
		}
		c.SignCount, c.LastUsedAt = received, now.UTC()
		return &next, nil
	})
	switch {
	case errors.Is(err, errGone):
		// Removed since the enrollment was read.
		return false, factor.DetailWrong, nil
	case errors.Is(err, errClone):
		f.cloned(user, id, stored, received)
		return false, DetailCloned, nil
	case err != nil:
		return false, factor.DetailStoreError, fmt.Errorf("recording webauthn sign count: %w", err)
	}
	return true, "", nil
}

// counterAdvances is the clone rule of WebAuthn §6.1.1: a counter that is
// non-zero here or there must increase.
func counterAdvances(stored, received uint32) bool {
	return received > stored || received == 0 && stored == 0
}

// cloned logs a refused assertion whose counter did not increase. The
// credential is named by a digest of its id; no key, signature or user id
// is logged.
func (f *Factor) cloned(user string, id []byte, stored, received uint32) {
	sum := sha256.Sum256(id)
	f.log.Warn("webauthn: signature counter did not increase; the authenticator may be cloned, assertion denied",
		zap.String("user_hash", f.tag(user)), zap.String("credential", hex.EncodeToString(sum[:8])),
		zap.Uint32("stored_count", stored), zap.Uint32("received_count", received))
}

// Passkeys is the enrollment side of the WebAuthn factor, which needs no
// relying party: tools without the webauthn section (the CLI) show and
// remove a user's passkeys with it. Passkeys are registered by their own
// endpoints, not activated with a code, so it is Enrollable only.
type Passkeys struct{}

var (
	_ factor.Enrollable = Passkeys{}
	_ factor.Enrollable = (*Factor)(nil)
)

// Name returns "webauthn".
func (Passkeys) Name() string { return store.MethodWebAuthn }

// Label names the factor for people.
func (Passkeys) Label() string { return "Passkeys" }

// Status reports a registered credential as enabled; there is no
// activation in progress.
func (Passkeys) Status(enr *store.Enrollment) int {
	if enr.WebAuthn.Enabled() {
		return factor.StatusEnabled
	}
	return factor.StatusDisabled
}

// Status implements factor.Enrollable, as Passkeys does.
func (*Factor) Status(enr *store.Enrollment) int { return Passkeys{}.Status(enr) }

// Remove removes the factor's record.
func (Passkeys) Remove(enr *store.Enrollment) { enr.WebAuthn = nil }

// Remove implements factor.Enrollable, as Passkeys does.
func (*Factor) Remove(enr *store.Enrollment) { Passkeys{}.Remove(enr) }
