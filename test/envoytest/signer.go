package envoytest

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// The publicly known test key that envoy/envoy.yaml's jwt_authn trusts,
// and the issuer and audience it requires, relative to the module root.
const (
	JWKSFile = "envoy/test-jwks.json"
	KeyFile  = "envoy/test-jwt-key.pem"
	Issuer   = "https://issuer.mfa-authz.test"
	Audience = "shop"
)

// Signer mints RS256 tokens with the test key.
type Signer struct {
	key *rsa.PrivateKey
	kid string
}

// NewSigner reads the test key and its key id from the module at root.
func NewSigner(root string) (*Signer, error) {
	data, err := os.ReadFile(filepath.Join(root, KeyFile))
	if err != nil {
		return nil, err
	}
	blk, _ := pem.Decode(data)
	if blk == nil {
		return nil, fmt.Errorf("%s: no PEM block", KeyFile)
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", KeyFile, err)
	}
	key, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%s: not an RSA key", KeyFile)
	}
	var jwks struct {
		Keys []struct {
			Kid string `json:"kid"`
		} `json:"keys"`
	}
	data, err = os.ReadFile(filepath.Join(root, JWKSFile))
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(data, &jwks); err != nil || len(jwks.Keys) != 1 {
		return nil, fmt.Errorf("%s: want one key (%v)", JWKSFile, err)
	}
	return &Signer{key: key, kid: jwks.Keys[0].Kid}, nil
}

// Claims returns the claims of a token for user that the shipped jwt_authn
// accepts from now on for two hours.
func Claims(user string, now time.Time) map[string]any {
	return map[string]any{
		"iss":   Issuer,
		"sub":   user,
		"aud":   []any{Audience},
		"iat":   now.Unix(),
		"exp":   now.Add(2 * time.Hour).Unix(),
		"scope": "openid profile customer",
	}
}

// Token signs claims as a compact JWS (RS256, with the test key's kid).
func (s *Signer) Token(claims map[string]any) (string, error) {
	enc := base64.RawURLEncoding
	hdr, _ := json.Marshal(map[string]string{"alg": "RS256", "kid": s.kid, "typ": "JWT"})
	body, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	signing := enc.EncodeToString(hdr) + "." + enc.EncodeToString(body)
	sum := sha256.Sum256([]byte(signing))
	sig, err := rsa.SignPKCS1v15(rand.Reader, s.key, crypto.SHA256, sum[:])
	if err != nil {
		return "", err
	}
	return signing + "." + enc.EncodeToString(sig), nil
}
