package envoytest

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The tokens Signer mints verify against envoy/test-jwks.json.
func TestJWTSigner(t *testing.T) {
	root, err := FindRoot()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	s, err := NewSigner(root)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := s.Token(Claims("alice", now))
	if err != nil {
		t.Fatal(err)
	}
	var jwks struct {
		Keys []struct{ Kid, N, E string }
	}
	data, err := os.ReadFile(filepath.Join(root, JWKSFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &jwks); err != nil {
		t.Fatal(err)
	}
	enc := base64.RawURLEncoding
	n, _ := enc.DecodeString(jwks.Keys[0].N)
	e, _ := enc.DecodeString(jwks.Keys[0].E)
	pub := &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("token %q", tok)
	}
	sig, _ := enc.DecodeString(parts[2])
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sig); err != nil {
		t.Fatalf("signature: %v", err)
	}
	var hdr struct{ Alg, Kid string }
	var claims struct {
		Iss, Sub string
		Aud      []string
		Exp      int64
	}
	h, _ := enc.DecodeString(parts[0])
	c, _ := enc.DecodeString(parts[1])
	if json.Unmarshal(h, &hdr) != nil || json.Unmarshal(c, &claims) != nil {
		t.Fatalf("header %s, claims %s", h, c)
	}
	if hdr.Alg != "RS256" || hdr.Kid != jwks.Keys[0].Kid || claims.Iss != Issuer || claims.Sub != "alice" ||
		strings.Join(claims.Aud, ",") != "shop" || claims.Exp <= now.Add(time.Hour).Unix() {
		t.Errorf("header %s, claims %s", h, c)
	}
}
