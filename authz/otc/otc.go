// Package otc makes and checks one-time codes: the numeric codes sent by
// e-mail or SMS and the recovery codes a user keeps for a lost factor.
//
// Codes come from crypto/rand with a uniform distribution; only their
// hashes are stored (store.Store.SecretHash). A code is good once,
// until it expires, and only for a bounded number of wrong tries.
package otc

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/mfa-authz/mfa-authz/authz/store"
)

// Code lengths accepted by Generate.
const (
	MinLength = 4
	MaxLength = 10
)

// Generate returns a code of length decimal digits, each uniform.
func Generate(length int) (string, error) {
	if length < MinLength || length > MaxLength {
		return "", fmt.Errorf("otc: code length must be %d to %d, got %d", MinLength, MaxLength, length)
	}
	return randomString("0123456789", length)
}

// recoveryAlphabet leaves out characters that are easily confused (0/O,
// 1/I/L, U/V): 30 symbols, so a XXXX-XXXX code holds over 39 bits.
const recoveryAlphabet = "ABCDEFGHJKMNPQRSTWXYZ23456789"

// RecoveryCount is how many recovery codes a user gets at a time.
const RecoveryCount = 10

// GenerateRecovery returns n recovery codes of the form XXXX-XXXX.
func GenerateRecovery(n int) ([]string, error) {
	out := make([]string, 0, n)
	seen := map[string]bool{}
	for len(out) < n {
		s, err := randomString(recoveryAlphabet, 8)
		if err != nil {
			return nil, err
		}
		c := s[:4] + "-" + s[4:]
		if !seen[c] {
			seen[c] = true
			out = append(out, c)
		}
	}
	return out, nil
}

// normalizeRecovery brings a recovery code as typed into its canonical
// form: upper case, with the dash; "" when it cannot be one.
func normalizeRecovery(code string) string {
	c := strings.ToUpper(strings.ReplaceAll(code, "-", ""))
	if len(c) != 8 {
		return ""
	}
	for i := 0; i < len(c); i++ {
		if !strings.ContainsRune(recoveryAlphabet, rune(c[i])) {
			return ""
		}
	}
	return c[:4] + "-" + c[4:]
}

func randomString(alphabet string, n int) (string, error) {
	max := big.NewInt(int64(len(alphabet)))
	b := make([]byte, n)
	for i := range b {
		v, err := rand.Int(rand.Reader, max)
		if err != nil {
			return "", fmt.Errorf("otc: random: %w", err)
		}
		b[i] = alphabet[v.Int64()]
	}
	return string(b), nil
}

// Outcome is the result of checking a code.
type Outcome uint8

const (
	// OK: the code matched and is now used.
	OK Outcome = iota + 1
	// Wrong: the code did not match (one attempt spent).
	Wrong
	// Expired: the code's time is over, it was used, or its attempts are
	// spent; a new code must be requested.
	Expired
	// None: no code was sent.
	None
)

func (o Outcome) String() string {
	switch o {
	case OK:
		return "ok"
	case Wrong:
		return "wrong code"
	case Expired:
		return "expired"
	case None:
		return "no code sent"
	}
	return "unknown"
}

// check judges hash (the SecretHash of the code given) against the pending
// code p at now, allowing maxAttempts wrong tries, and returns the outcome
// with the record to store: p updated (attempt counted, or marked used),
// or nil when nothing is left to keep.
func check(p *store.PendingCode, hash []byte, now time.Time, maxAttempts int) (Outcome, *store.PendingCode) {
	if p == nil {
		return None, nil
	}
	if p.Used || p.Attempts >= maxAttempts || !now.Before(p.ExpiresAt) {
		return Expired, nil
	}
	if subtle.ConstantTimeCompare(p.Hash, hash) == 1 && len(hash) > 0 {
		return OK, nil
	}
	next := *p
	next.Attempts++
	if next.Attempts >= maxAttempts {
		// The last try is spent: drop the code.
		return Wrong, nil
	}
	return Wrong, &next
}

// Use checks code for the user's pending code of method in st and records
// the outcome, all under the user's lock.
func Use(ctx context.Context, st store.Store, user, method, code string, now time.Time, maxAttempts int) (Outcome, error) {
	hash := st.SecretHash(user, Purpose(method), code)
	var out Outcome
	err := st.UpdatePendingCode(ctx, user, method, func(cur *store.PendingCode) (*store.PendingCode, error) {
		var next *store.PendingCode
		out, next = check(cur, hash, now, maxAttempts)
		if cur == nil {
			return nil, store.ErrNoChange
		}
		return next, nil
	})
	if err != nil {
		return 0, err
	}
	if out == 0 {
		return 0, errors.New("otc: no outcome")
	}
	return out, nil
}

// Purpose is the SecretHash purpose of a method's one-time codes.
func Purpose(method string) string { return "code:" + method }

// RecoveryPurpose is the SecretHash purpose of recovery codes.
const RecoveryPurpose = "recovery"

// HashRecovery hashes recovery codes for storage.
func HashRecovery(st store.Store, user string, codes []string) []store.RecoveryCode {
	out := make([]store.RecoveryCode, len(codes))
	for i, c := range codes {
		out[i] = store.RecoveryCode{Hash: st.SecretHash(user, RecoveryPurpose, c)}
	}
	return out
}

// FirstRecovery gives next, an enrollment about to be written, the user's
// recovery codes when first (the user had no enabled factor before this
// write) and next holds no unused ones, and returns the codes to show the
// user once; nil otherwise. It is the one rule for the verify endpoint and
// the enroll commands, so a user's first factor always comes with codes.
func FirstRecovery(st store.Store, user string, next *store.Enrollment, first bool) ([]string, error) {
	if !first || next.UnusedRecoveryCodes() > 0 {
		return nil, nil
	}
	codes, err := GenerateRecovery(RecoveryCount)
	if err != nil {
		return nil, err
	}
	next.Recovery = HashRecovery(st, user, codes)
	return codes, nil
}

// UseRecovery marks the user's recovery code used if it is one of theirs
// and unused; ok=false otherwise. It compares against every stored hash.
func UseRecovery(ctx context.Context, st store.Store, user, code string) (bool, error) {
	norm := normalizeRecovery(code)
	if norm == "" {
		return false, nil
	}
	hash := st.SecretHash(user, RecoveryPurpose, norm)
	ok := false
	err := st.UpdateEnrollment(ctx, user, func(cur *store.Enrollment) (*store.Enrollment, error) {
		ok = false // a store may call fn again after a conflicting write
		if cur == nil {
			return nil, store.ErrNoChange
		}
		match := -1
		for i, c := range cur.Recovery {
			if subtle.ConstantTimeCompare(c.Hash, hash) == 1 && !c.Used {
				match = i
			}
		}
		if match < 0 {
			return nil, store.ErrNoChange
		}
		next := *cur
		next.Recovery = append([]store.RecoveryCode(nil), cur.Recovery...)
		next.Recovery[match].Used = true
		ok = true
		return &next, nil
	})
	return ok, err
}
