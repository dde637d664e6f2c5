// Package webauthntest is a software WebAuthn authenticator for tests: a
// P-256 key generated per authenticator, attestation objects and COSE keys
// in real CBOR, and real ECDSA signatures over authenticatorData ||
// SHA-256(clientDataJSON), so that the tests exercise the verifier as a
// browser and a security key would, not a mock of it.
package webauthntest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"testing"

	"github.com/fxamacker/cbor/v2"
)

// Authenticator flags (WebAuthn §6.1).
const (
	flagUP = 0x01 // user present
	flagUV = 0x04 // user verified
	flagAT = 0x40 // attested credential data included
)

// Authenticator holds one credential. Tests change RPID and Origin to
// act as a phishing page or a misconfigured client, and Counter to act as
// a clone.
type Authenticator struct {
	// RPID is hashed into the authenticator data; Origin goes into the
	// client data. Both start as the relying party's.
	RPID, Origin string
	// Counter is the signature counter the next assertion reports after
	// adding one; registration reports it as is.
	Counter uint32
	// ID is the credential id, UserHandle the user.id registered with.
	ID, UserHandle []byte

	key *ecdsa.PrivateKey
}

// New returns an authenticator with a fresh key and credential id.
func New(t testing.TB, rpID, origin string) *Authenticator {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id := make([]byte, 32)
	if _, err := rand.Read(id); err != nil {
		t.Fatal(err)
	}
	return &Authenticator{RPID: rpID, Origin: origin, ID: id, key: key}
}

var b64 = base64.RawURLEncoding

// Options are the fields of creation or request options ({"publicKey":
// {...}}, as the options and challenge endpoints put them in
// data.attributes) that an authenticator answers.
type Options struct {
	Challenge string
	UserID    string
}

// ParseOptions reads a JSON:API document of the options or challenge
// endpoint.
func ParseOptions(t testing.TB, doc string) Options {
	t.Helper()
	var d struct {
		Data struct {
			Attributes struct {
				PublicKey struct {
					Challenge string `json:"challenge"`
					User      struct {
						ID string `json:"id"`
					} `json:"user"`
				} `json:"publicKey"`
			} `json:"attributes"`
		} `json:"data"`
	}
	if err := json.Unmarshal([]byte(doc), &d); err != nil || d.Data.Attributes.PublicKey.Challenge == "" {
		t.Fatalf("no options in %s: %v", doc, err)
	}
	pk := d.Data.Attributes.PublicKey
	return Options{Challenge: pk.Challenge, UserID: pk.User.ID}
}

// clientData is the clientDataJSON of a ceremony of typ.
func (a *Authenticator) clientData(typ, challenge string) []byte {
	b, _ := json.Marshal(map[string]any{"type": typ, "challenge": challenge, "origin": a.Origin, "crossOrigin": false})
	return b
}

// authData is rpIdHash || flags || counter, then attested credential data.
func (a *Authenticator) authData(flags byte, attested []byte) []byte {
	h := sha256.Sum256([]byte(a.RPID))
	out := append(h[:], flags)
	out = binary.BigEndian.AppendUint32(out, a.Counter)
	return append(out, attested...)
}

// coseKey is the credential public key as a COSE_Key (EC2, ES256, P-256).
func (a *Authenticator) coseKey(t testing.TB) []byte {
	t.Helper()
	pub, err := a.key.PublicKey.Bytes() // 0x04 || X || Y
	if err != nil {
		t.Fatal(err)
	}
	b, err := cbor.Marshal(map[int]any{1: 2, 3: -7, -1: 1, -2: pub[1:33], -3: pub[33:65]})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Register answers creation options o with the registration JSON that
// PublicKeyCredential.toJSON() gives, with "none" attestation.
func (a *Authenticator) Register(t testing.TB, o Options) []byte {
	t.Helper()
	handle, err := b64.DecodeString(o.UserID)
	if err != nil {
		t.Fatalf("user.id %q: %v", o.UserID, err)
	}
	a.UserHandle = handle
	attested := make([]byte, 16) // AAGUID: zero, as a software authenticator
	attested = binary.BigEndian.AppendUint16(attested, uint16(len(a.ID)))
	attested = append(attested, a.ID...)
	attested = append(attested, a.coseKey(t)...)
	obj, err := cbor.Marshal(map[string]any{"fmt": "none", "attStmt": map[string]any{}, "authData": a.authData(flagUP|flagUV|flagAT, attested)})
	if err != nil {
		t.Fatal(err)
	}
	return mustJSON(t, map[string]any{
		"id": b64.EncodeToString(a.ID), "rawId": b64.EncodeToString(a.ID), "type": "public-key",
		"response": map[string]any{
			"clientDataJSON":    b64.EncodeToString(a.clientData("webauthn.create", o.Challenge)),
			"attestationObject": b64.EncodeToString(obj),
			"transports":        []string{"internal"},
		},
		"clientExtensionResults": map[string]any{},
	})
}

// Assert answers a challenge with the assertion JSON that
// PublicKeyCredential.toJSON() gives, the counter one up.
func (a *Authenticator) Assert(t testing.TB, challenge string) []byte {
	t.Helper()
	a.Counter++
	cd := a.clientData("webauthn.get", challenge)
	ad := a.authData(flagUP|flagUV, nil)
	cdHash := sha256.Sum256(cd)
	digest := sha256.Sum256(append(append([]byte(nil), ad...), cdHash[:]...))
	sig, err := ecdsa.SignASN1(rand.Reader, a.key, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	return mustJSON(t, map[string]any{
		"id": b64.EncodeToString(a.ID), "rawId": b64.EncodeToString(a.ID), "type": "public-key",
		"response": map[string]any{
			"clientDataJSON":    b64.EncodeToString(cd),
			"authenticatorData": b64.EncodeToString(ad),
			"signature":         b64.EncodeToString(sig),
			"userHandle":        b64.EncodeToString(a.UserHandle),
		},
		"clientExtensionResults": map[string]any{},
	})
}

// Header is the MFA header value of an assertion.
func Header(assertion []byte) string { return "webauthn " + b64.EncodeToString(assertion) }

// Body is the JSON:API body of the registration or verify endpoint
// (resource type typ) carrying credential.
func Body(typ string, credential []byte) string {
	return `{"data":{"type":"` + typ + `","attributes":{"credential":` + string(credential) + `}}}`
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
