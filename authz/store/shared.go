package store

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// This file exports what other Store implementations (the Redis store) and
// the migrate command need to keep records in the Dir's format: the key
// derivation, the record names and the encryption of enrollments and
// pending codes. Records sealed here open in a Dir with the same key, and
// the other way round.

// recordEnvelope is an enrollment as it is encrypted: the enrollment's own
// fields plus the user id it belongs to. The user id is what lets a store
// named by HMACs be enumerated (migrate); records written before it was
// added have none and still open.
type recordEnvelope struct {
	*Enrollment
	UserID string `json:"user_id,omitempty"`
}

// marshalEnrollment encodes e with user embedded.
func marshalEnrollment(user string, e *Enrollment) ([]byte, error) {
	return json.Marshal(recordEnvelope{Enrollment: e, UserID: user})
}

// unmarshalEnrollment decodes a plaintext record; user is "" for records
// written before user ids were embedded.
func unmarshalEnrollment(pt []byte) (*Enrollment, string, error) {
	e := &Enrollment{}
	env := recordEnvelope{Enrollment: e}
	if err := json.Unmarshal(pt, &env); err != nil {
		return nil, "", errors.New("decrypted record is not valid JSON")
	}
	return e, env.UserID, nil
}

// Keys is the key material derived from a store's master key, for stores
// that keep records in the Dir's format elsewhere.
type Keys struct{ k *keys }

// DeriveKeys derives the subkeys of master (KeySize bytes).
func DeriveKeys(master []byte) (*Keys, error) {
	k, err := deriveKeys(master)
	if err != nil {
		return nil, err
	}
	return &Keys{k: k}, nil
}

// Name returns the user's record name: hex(HMAC-SHA256(naming key, user)),
// the Dir's file name. It reveals nothing about the user id.
func (k *Keys) Name(user string) string { return k.k.fileName(user) }

// CounterName returns the record name of a send counter key (Store.Hit).
func (k *Keys) CounterName(key string) string { return k.k.fileName(counterNameSalt + key) }

// SecretHash is Store.SecretHash under these keys.
func (k *Keys) SecretHash(user, purpose, secret string) []byte {
	m := hmac.New(sha256.New, k.k.secret)
	for _, s := range []string{user, purpose, secret} {
		m.Write([]byte(s))
		m.Write([]byte{0})
	}
	return m.Sum(nil)
}

// SealEnrollment validates e and encrypts it, with user embedded, bound to
// name (Name(user)).
func (k *Keys) SealEnrollment(user, name string, e *Enrollment) ([]byte, error) {
	if err := e.validate(); err != nil {
		return nil, err
	}
	pt, err := marshalEnrollment(user, e)
	if err != nil {
		return nil, fmt.Errorf("store: encode enrollment %s: %w", name, err)
	}
	defer clear(pt)
	return k.k.seal(enrollmentAAD(name), pt), nil
}

// OpenEnrollment decrypts an enrollment record bound to name. It returns
// the user id embedded in it ("" for older records); errors match ErrCorrupt.
func (k *Keys) OpenEnrollment(name string, rec []byte) (*Enrollment, string, error) {
	if len(rec) > maxRecordSize {
		return nil, "", fmt.Errorf("%w: enrollment %s: %v", ErrCorrupt, name, errTooLarge)
	}
	pt, err := k.k.open(enrollmentAAD(name), rec)
	if err != nil {
		return nil, "", fmt.Errorf("%w: enrollment %s: %v", ErrCorrupt, name, err)
	}
	defer clear(pt)
	e, user, err := unmarshalEnrollment(pt)
	if err != nil {
		return nil, "", fmt.Errorf("%w: enrollment %s: %v", ErrCorrupt, name, err)
	}
	return e, user, nil
}

// SealPendingCodes encrypts a user's pending codes (by method) bound to name.
func (k *Keys) SealPendingCodes(name string, codes map[string]*PendingCode) ([]byte, error) {
	pt, err := json.Marshal(codes)
	if err != nil {
		return nil, fmt.Errorf("store: encode pending codes: %w", err)
	}
	defer clear(pt)
	return k.k.seal([]byte(codesAADPrefix+name), pt), nil
}

// OpenPendingCodes reverses SealPendingCodes; errors match ErrCorrupt.
func (k *Keys) OpenPendingCodes(name string, rec []byte) (map[string]*PendingCode, error) {
	pt, err := k.k.open([]byte(codesAADPrefix+name), rec)
	if err != nil {
		return nil, fmt.Errorf("%w: pending codes %s: %v", ErrCorrupt, name, err)
	}
	defer clear(pt)
	codes := map[string]*PendingCode{}
	if err := json.Unmarshal(pt, &codes); err != nil {
		return nil, fmt.Errorf("%w: pending codes %s: not valid JSON", ErrCorrupt, name)
	}
	return codes, nil
}

// Seal encrypts plaintext for another purpose (such as "session"), bound
// to purpose and name. Open reverses it; its errors match ErrCorrupt.
func (k *Keys) Seal(purpose, name string, plaintext []byte) []byte {
	return k.k.seal(purposeAAD(purpose, name), plaintext)
}

// Open reverses Seal.
func (k *Keys) Open(purpose, name string, rec []byte) ([]byte, error) {
	pt, err := k.k.open(purposeAAD(purpose, name), rec)
	if err != nil {
		return nil, fmt.Errorf("%w: %s %s: %v", ErrCorrupt, purpose, name, err)
	}
	return pt, nil
}

func purposeAAD(purpose, name string) []byte {
	return []byte("mfa-authz/" + purpose + "/v1\x00" + name)
}

// KeyCheck returns a sealed constant that proves a key (see CheckKey).
func (k *Keys) KeyCheck() []byte { return k.k.seal([]byte(keyCheckAAD), []byte(keyCheckPlaintext)) }

// CheckKey reports whether rec is a KeyCheck of these keys.
func (k *Keys) CheckKey(rec []byte) error {
	pt, err := k.k.open([]byte(keyCheckAAD), rec)
	if err == nil && !bytes.Equal(pt, []byte(keyCheckPlaintext)) {
		err = errors.New("unexpected content")
	}
	if err != nil {
		return fmt.Errorf("%w: the key is not the one this store was created with: %v", ErrCorrupt, err)
	}
	return nil
}

// SameTOTP reports whether a and b are the same factor (constant-time on
// the secret); a store resets the replay guard when it changes.
func SameTOTP(a, b *TOTP) bool { return sameTOTP(a, b) }

// Exported is one enrollment read from a Dir for migration.
type Exported struct {
	// User is the user id, "" when the record predates embedded ids and
	// no --users list named it.
	User string
	// Name is the record's name (Keys.Name of the user).
	Name       string
	Enrollment *Enrollment
	// LastStep is the last used TOTP step; HasStep is false when none.
	LastStep uint64
	HasStep  bool
	// Err is why the record could not be read (it matches ErrCorrupt).
	Err error
}

// Export implements Exporter: it calls fn for every enrollment in the
// store, in name order. Users lists user ids to look for in records that
// do not embed one (records written before this version); other ids in
// users are ignored. fn's error stops the walk and is returned.
func (d *Dir) Export(ctx context.Context, users []string, fn func(Exported) error) error {
	if d.closed.Load() {
		return errClosed
	}
	known := make(map[string]string, len(users))
	for _, u := range users {
		if u != "" {
			known[d.keys.fileName(u)] = u
		}
	}
	entries, err := os.ReadDir(filepath.Join(d.root, enrollmentsDir))
	if err != nil {
		return fmt.Errorf("store: list enrollments: %w", err)
	}
	for _, ent := range entries {
		if err := ctx.Err(); err != nil {
			return err
		}
		name := ent.Name()
		if !ent.Type().IsRegular() || strings.HasPrefix(name, ".tmp-") {
			continue
		}
		x := Exported{Name: name}
		rec, err := readRecord(filepath.Join(d.root, enrollmentsDir, name))
		switch {
		case errors.Is(err, fs.ErrNotExist):
			continue // deleted meanwhile
		case err != nil:
			x.Err = fmt.Errorf("%w: enrollment %s: %v", ErrCorrupt, name, err)
		default:
			x.Enrollment, x.User, x.Err = (&Keys{k: d.keys}).OpenEnrollment(name, rec)
		}
		if x.User == "" {
			x.User = known[name]
		}
		if x.Err == nil {
			last, found, err := d.lastStep(name)
			switch {
			case err != nil:
				x.Err = fmt.Errorf("%w: totp-used %s: %v", ErrCorrupt, name, err)
			case found:
				x.LastStep, x.HasStep = last, true
			}
		}
		if err := fn(x); err != nil {
			return err
		}
	}
	return nil
}

// LoadKey reads the master key from path like LoadOrCreateKey, but never
// creates one: a store shared by replicas needs the one key they all use.
func LoadKey(path string) ([]byte, error) {
	key, err := readKey(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("store: key file %s does not exist; a shared store needs the key every replica uses (create one with `openssl rand -hex 32 > %s`, mode 0600)", path, path)
	}
	return key, err
}
