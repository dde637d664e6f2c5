package authz

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"hash"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/protobuf/types/known/structpb"
)

// IdentityConfig says where a request's user id comes from. Sources are
// tried in order: the jwt_authn payload claim, the trusted header, the
// bearer token's fingerprint. A jwt_authn payload, when present, decides
// alone: one without a usable claim leaves the request with no identity.
type IdentityConfig struct {
	// Header is a header the mesh sets to the authenticated user id
	// (identity.header). Trust it only if Envoy strips it from clients.
	Header string
	// Namespace, PayloadKey and Claim locate the user id in Envoy's
	// jwt_authn metadata: filter_metadata[Namespace][PayloadKey][Claim].
	Namespace, PayloadKey, Claim string
	// BearerFingerprint uses the SHA-256 of the bearer token as the user id
	// when nothing else names the user.
	BearerFingerprint bool
	// ClockSkew is how far the identity provider's clock may be from this
	// one when a token's auth_time is judged (accept_idp_stepup): an
	// auth_time up to ClockSkew in the future counts, and one up to the
	// rule's grace period plus ClockSkew in the past.
	ClockSkew time.Duration
}

// MaxUserIDLength bounds user ids; a longer id is refused as ambiguous.
const MaxUserIDLength = 512

// identity returns the request's user id. An empty user with an empty
// detail means no source named a user; an empty user with a detail means a
// source was present but unusable (ambiguous or malformed), which is
// denied even when anonymous requests are allowed.
func (e *Engine) identity(r *Request) (user, detail string) {
	ic := &e.cfg.Identity
	if ns := r.Metadata[ic.Namespace]; ns != nil {
		// jwt_authn writes its namespace only for a token it verified, and
		// that token decides the identity: one without the claim names no
		// user, and neither does a payload that is missing or not an
		// object; a client-sent header must never name one in its place.
		payload := ns.GetFields()[ic.PayloadKey].GetStructValue()
		if payload == nil {
			return "", "malformed jwt_authn metadata"
		}
		return checkUser(stringValue(payload.GetFields()[ic.Claim]), "jwt claim "+ic.Claim)
	}
	if e.idHeader != "" {
		switch v, n := lookup(r.Header, e.idHeader); {
		case n > 1:
			return "", "repeated identity header"
		case n == 1:
			return checkUser(v, "identity header")
		}
	}
	if ic.BearerFingerprint {
		switch v, n := lookup(r.Header, "authorization"); {
		case n > 1:
			return "", "repeated authorization header"
		case n == 1:
			scheme, token, _ := strings.Cut(strings.TrimSpace(v), " ")
			token = strings.TrimSpace(token)
			if !strings.EqualFold(scheme, "bearer") || token == "" {
				// Present but unusable (no token, another scheme): like an
				// unusable identity header, never anonymous.
				return "", "unusable authorization header"
			}
			sum := sha256.Sum256([]byte(token))
			return "sha256:" + hex.EncodeToString(sum[:]), ""
		}
	}
	return "", ""
}

func stringValue(v *structpb.Value) string {
	if s, ok := v.GetKind().(*structpb.Value_StringValue); ok {
		return s.StringValue
	}
	return ""
}

// checkUser accepts a user id of printable characters, not too long.
func checkUser(user, source string) (string, string) {
	if user == "" || len(user) > MaxUserIDLength {
		return "", "unusable " + source
	}
	for i := 0; i < len(user); i++ {
		if user[i] < ' ' || user[i] == 0x7f {
			return "", "unusable " + source
		}
	}
	return user, ""
}

// UserHashPurpose is the purpose under which the user-hash key is derived
// from the store's key: KeyUserHash(st) sets the key to
// st.SecretHash("", UserHashPurpose, "").
const UserHashPurpose = "mfa-authz log user hash v1"

// userHashKey is the HMAC key of HashUser. It starts as a random key of this
// process, so that hashes are never unkeyed (and so never reversible by
// hashing guesses); KeyUserHash replaces it with one derived from the
// store's key, which is the same on every replica and after a restart.
var userHashKey atomic.Pointer[userHasher]

// userHasher holds HMAC-SHA256 states keyed with one key; a pool keeps
// HashUser from allocating more than its result.
type userHasher struct{ pool sync.Pool }

// userHashState is one reusable HMAC computation.
type userHashState struct {
	mac hash.Hash
	buf [128]byte
	sum [sha256.Size]byte
}

func newUserHasher(key []byte) *userHasher {
	key = bytes.Clone(key)
	return &userHasher{pool: sync.Pool{New: func() any {
		return &userHashState{mac: hmac.New(sha256.New, key)}
	}}}
}

func init() {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		panic("authz: no randomness for the user hash key: " + err.Error())
	}
	userHashKey.Store(newUserHasher(key))
}

// setUserHashKey sets the key of HashUser for the whole process. Call it
// once at start-up, before logging; a key of fewer than 16 bytes is refused
// (the key stays as it was).
func setUserHashKey(key []byte) error {
	if len(key) < 16 {
		return errors.New("authz: user hash key is shorter than 16 bytes")
	}
	userHashKey.Store(newUserHasher(key))
	return nil
}

// SecretHasher is the part of store.Store KeyUserHash needs.
type SecretHasher interface {
	SecretHash(user, purpose, secret string) []byte
}

// KeyUserHash keys HashUser with a key derived from st's key (see
// UserHashPurpose), so that every replica sharing the store logs the same
// hash for a user, and nobody without the store key can link a hash to a
// user id.
func KeyUserHash(st SecretHasher) error {
	return setUserHashKey(st.SecretHash("", UserHashPurpose, ""))
}

// HashUser returns a short, stable tag for a user id, for logs that must
// correlate a user's events without naming the user: the first 64 bits of
// HMAC-SHA256 under the user-hash key (see KeyUserHash), as 16 hex digits.
// Without the key it cannot be reversed, even for guessable ids such as
// e-mail addresses.
func HashUser(user string) string {
	h := userHashKey.Load()
	s := h.pool.Get().(*userHashState)
	s.mac.Reset()
	for len(user) > 0 {
		n := copy(s.buf[:], user)
		s.mac.Write(s.buf[:n])
		user = user[n:]
	}
	sum := s.mac.Sum(s.sum[:0])
	var out [16]byte
	hex.Encode(out[:], sum[:8])
	h.pool.Put(s)
	return string(out[:])
}
