package page

import (
	"crypto/hmac"
	"encoding/base64"
	"encoding/binary"
	"strconv"
	"time"
)

// Every state-changing request of the page carries a form token: without
// one, another site could make the user's browser post to the page (the
// proxy's cookie or header comes along) and start an activation, fetch new
// recovery codes or cancel a factor in progress. A token is bound to the
// user and expires; it is an HMAC under a key derived from the store's
// key, so every replica accepts the tokens of every other and nothing is
// kept per token.

// formPurpose separates the form tokens' HMAC from the store's other uses
// of its secret hash (codes, recovery codes).
const formPurpose = "mfa-authz page form v1"

// tokenLen is a token's length before base64: the expiry (Unix seconds,
// big-endian) and the HMAC-SHA256.
const tokenLen = 8 + 32

// Hasher is the store's keyed hash (store.Store.SecretHash).
type Hasher interface {
	SecretHash(user, purpose, secret string) []byte
}

// issueToken returns a form token for user that expires at exp.
func issueToken(h Hasher, user string, exp time.Time) string {
	var b [tokenLen]byte
	binary.BigEndian.PutUint64(b[:8], uint64(exp.Unix()))
	copy(b[8:], h.SecretHash(user, formPurpose, strconv.FormatInt(exp.Unix(), 10)))
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// validToken reports whether tok was issued for user by issueToken, has
// not expired at now, and expires no later than ttl after now (a token
// from the future is no token of this page's).
func validToken(h Hasher, user, tok string, now time.Time, ttl time.Duration) bool {
	if user == "" || len(tok) != base64.RawURLEncoding.EncodedLen(tokenLen) {
		return false
	}
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || len(b) != tokenLen {
		return false
	}
	exp := int64(binary.BigEndian.Uint64(b[:8]))
	if exp <= now.Unix() || exp > now.Add(ttl).Unix()+1 {
		return false
	}
	want := h.SecretHash(user, formPurpose, strconv.FormatInt(exp, 10))
	return hmac.Equal(b[8:], want)
}
