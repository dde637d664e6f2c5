package page

import (
	"crypto/hmac"
	"crypto/sha256"
	"strings"
	"testing"
	"time"
)

// testHasher is an HMAC under a fixed key, as the store's SecretHash is.
type testHasher []byte

func (h testHasher) SecretHash(user, purpose, secret string) []byte {
	m := hmac.New(sha256.New, h)
	for _, s := range []string{user, purpose, secret} {
		m.Write([]byte(s))
		m.Write([]byte{0})
	}
	return m.Sum(nil)
}

// A form token is valid for its user until it expires, and for nobody
// else; a token from another key, a changed one and one that claims to
// outlive the form TTL are refused.
func TestFormToken(t *testing.T) {
	h, other := testHasher("key one"), testHasher("key two")
	now := time.Unix(1_800_000_000, 0)
	ttl := 30 * time.Minute
	tok := issueToken(h, "alice", now.Add(ttl))
	if !validToken(h, "alice", tok, now, ttl) || !validToken(h, "alice", tok, now.Add(ttl-time.Second), ttl) {
		t.Fatal("a fresh token of alice's is refused")
	}
	flip := []byte(tok)
	flip[len(flip)-3] ^= 1
	for name, ok := range map[string]bool{
		"expired":            validToken(h, "alice", tok, now.Add(ttl), ttl),
		"another user":       validToken(h, "bob", tok, now, ttl),
		"no user":            validToken(h, "", tok, now, ttl),
		"another key":        validToken(other, "alice", tok, now, ttl),
		"changed":            validToken(h, "alice", string(flip), now, ttl),
		"empty":              validToken(h, "alice", "", now, ttl),
		"cut short":          validToken(h, "alice", tok[:len(tok)-1], now, ttl),
		"not base64":         validToken(h, "alice", strings.Repeat("!", len(tok)), now, ttl),
		"beyond the ttl":     validToken(h, "alice", issueToken(h, "alice", now.Add(2*ttl)), now, ttl),
		"issued for bob":     validToken(h, "alice", issueToken(h, "bob", now.Add(ttl)), now, ttl),
		"expiry in the past": validToken(h, "alice", issueToken(h, "alice", now.Add(-time.Second)), now, ttl),
	} {
		if ok {
			t.Errorf("%s: token accepted", name)
		}
	}
}
