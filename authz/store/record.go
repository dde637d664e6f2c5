package store

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
)

// KeySize is the length in bytes of the master key given to OpenDir.
const KeySize = 32

// formatVersion is the first byte of every file the store writes. It is
// also bound into every AAD and MAC, so a record cannot be reinterpreted
// under another version's rules.
const formatVersion byte = 1

// HKDF info strings: one subkey per purpose, so that the naming key (whose
// outputs are visible as file names) and the MAC key never share material
// with the encryption key.
const (
	infoEncryption = "mfa-authz enrollment encryption v1"
	infoNaming     = "mfa-authz enrollment naming v1"
	infoReplayMAC  = "mfa-authz totp replay mac v1"
	infoSecretMAC  = "mfa-authz secret hash v1"
)

// Domain-separation prefixes for the AAD and MAC inputs.
const (
	enrollmentAADPrefix = "mfa-authz/enrollment/v1\x00"
	keyCheckAAD         = "mfa-authz/keycheck/v1"
	keyCheckPlaintext   = "mfa-authz key check"
	replayMACPrefix     = "mfa-authz/totp-used/v1\x00"
)

// replayRecordSize is the size of a totp-used file: version, counter, MAC.
const replayRecordSize = 1 + 8 + sha256.Size

// keys holds the subkeys derived from the master key. The master key itself
// is not kept.
type keys struct {
	aead   cipher.AEAD // AES-256-GCM, random nonce prepended by Seal
	naming []byte      // HMAC-SHA256 key for file names
	mac    []byte      // HMAC-SHA256 key for replay-guard records
	secret []byte      // HMAC-SHA256 key hashing one-time and recovery codes
}

func deriveKeys(master []byte) (*keys, error) {
	if len(master) != KeySize {
		return nil, fmt.Errorf("store: key must be %d bytes, got %d", KeySize, len(master))
	}
	sub := func(info string) ([]byte, error) {
		return hkdf.Key(sha256.New, master, nil, info, 32)
	}
	encKey, err := sub(infoEncryption)
	if err != nil {
		return nil, fmt.Errorf("store: derive encryption key: %w", err)
	}
	naming, err := sub(infoNaming)
	if err != nil {
		return nil, fmt.Errorf("store: derive naming key: %w", err)
	}
	mac, err := sub(infoReplayMAC)
	if err != nil {
		return nil, fmt.Errorf("store: derive replay MAC key: %w", err)
	}
	secret, err := sub(infoSecretMAC)
	if err != nil {
		return nil, fmt.Errorf("store: derive secret hash key: %w", err)
	}
	block, err := aes.NewCipher(encKey)
	if err != nil {
		return nil, fmt.Errorf("store: create cipher: %w", err)
	}
	aead, err := cipher.NewGCMWithRandomNonce(block)
	if err != nil {
		return nil, fmt.Errorf("store: create AEAD: %w", err)
	}
	return &keys{aead: aead, naming: naming, mac: mac, secret: secret}, nil
}

// fileName returns the name of the user's files: hex(HMAC-SHA256(naming,
// user)). User ids never become paths, so they cannot traverse out of the
// store and are not revealed by a directory listing.
func (k *keys) fileName(user string) string {
	m := hmac.New(sha256.New, k.naming)
	m.Write([]byte(user))
	return hex.EncodeToString(m.Sum(nil))
}

// seal encrypts plaintext as version || nonce || ciphertext || tag.
func (k *keys) seal(aad, plaintext []byte) []byte {
	out := make([]byte, 1, 1+len(plaintext)+k.aead.Overhead())
	out[0] = formatVersion
	return k.aead.Seal(out, nil, plaintext, withVersion(aad))
}

// open reverses seal. Its errors describe the record's shape only.
func (k *keys) open(aad, record []byte) ([]byte, error) {
	if len(record) < 1+k.aead.Overhead() {
		return nil, fmt.Errorf("record is %d bytes, too short", len(record))
	}
	if record[0] != formatVersion {
		return nil, fmt.Errorf("unsupported format version %d", record[0])
	}
	pt, err := k.aead.Open(nil, nil, record[1:], withVersion(aad))
	if err != nil {
		return nil, errors.New("authentication failed (wrong key, damaged, or another user's record)")
	}
	return pt, nil
}

// withVersion prefixes aad with the format version byte.
func withVersion(aad []byte) []byte {
	return append([]byte{formatVersion}, aad...)
}

func enrollmentAAD(name string) []byte {
	return []byte(enrollmentAADPrefix + name)
}

// sealStep encodes the last used TOTP step of the user whose files are
// called name. The step is not secret, so it is stored in the clear, but it
// is MACed and bound to name: a file copied from another user, or a
// forged large value that would lock the user out, is rejected.
func (k *keys) sealStep(name string, step uint64) []byte {
	rec := make([]byte, 1+8, replayRecordSize)
	rec[0] = formatVersion
	binary.BigEndian.PutUint64(rec[1:], step)
	return append(rec, k.stepMAC(name, rec)...)
}

// openStep reverses sealStep.
func (k *keys) openStep(name string, rec []byte) (uint64, error) {
	if len(rec) != replayRecordSize {
		return 0, fmt.Errorf("record is %d bytes, want %d", len(rec), replayRecordSize)
	}
	if rec[0] != formatVersion {
		return 0, fmt.Errorf("unsupported format version %d", rec[0])
	}
	if !hmac.Equal(rec[9:], k.stepMAC(name, rec[:9])) {
		return 0, errors.New("authentication failed (wrong key, damaged, or another user's record)")
	}
	return binary.BigEndian.Uint64(rec[1:9]), nil
}

func (k *keys) stepMAC(name string, versionAndStep []byte) []byte {
	m := hmac.New(sha256.New, k.mac)
	m.Write([]byte(replayMACPrefix))
	m.Write([]byte(name))
	m.Write([]byte{0})
	m.Write(versionAndStep)
	return m.Sum(nil)
}
