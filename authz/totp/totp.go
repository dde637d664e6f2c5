// Package totp generates and verifies RFC 6238 time-based one-time
// passwords for the factors kept by package store, computing codes with
// github.com/pquerna/otp.
//
// Verify only says whether a code matches and at which time step; refusing
// a replayed code is the caller's job, through store.Store.UseTOTPStep with
// the returned step.
package totp

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base32"
	"errors"
	"fmt"
	"image/png"
	"io"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/hotp"
	pqtotp "github.com/pquerna/otp/totp"

	"github.com/mfa-authz/mfa-authz/authz/store"
)

// Generate creates a new factor for user with the parameters of c and a
// random secret as long as the algorithm's hash output, and returns it with
// the otpauth:// key to show the user (as a URI or with QRPNG).
//
// Both results contain the secret: store the factor through a Store and
// show the key only to the user enrolling.
func Generate(c Config, user string, now time.Time) (*store.TOTP, *otp.Key, error) {
	if err := c.Validate(); err != nil {
		return nil, nil, err
	}
	if user == "" {
		return nil, nil, errors.New("totp: user id is empty")
	}
	alg, algName, _ := parseAlgorithm(c.Algorithm)
	period := int(c.Period / time.Second)
	key, err := pqtotp.Generate(pqtotp.GenerateOpts{
		Issuer:      c.Issuer,
		AccountName: user,
		Period:      uint(period),
		SecretSize:  secretSize(alg),
		Digits:      otp.Digits(c.Digits),
		Algorithm:   alg,
		Rand:        rand.Reader,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("totp: generate key for user %q: %w", user, err)
	}
	f := &store.TOTP{
		Secret:    key.Secret(),
		Algorithm: algName,
		Digits:    c.Digits,
		Period:    period,
		CreatedAt: now.UTC(),
	}
	return f, key, nil
}

// params is a factor's parameters, checked.
type params struct {
	opts   hotp.ValidateOpts
	period uint64
	digits int
}

// factorParams checks f. Its errors never include the secret.
func factorParams(f *store.TOTP) (params, error) {
	if f == nil {
		return params{}, errors.New("totp: factor is nil")
	}
	alg, _, ok := parseAlgorithm(f.Algorithm)
	if !ok {
		return params{}, fmt.Errorf("totp: factor has unsupported algorithm %q", f.Algorithm)
	}
	if f.Digits != 6 && f.Digits != 8 {
		return params{}, fmt.Errorf("totp: factor has %d digits, want 6 or 8", f.Digits)
	}
	if f.Period < 1 {
		return params{}, fmt.Errorf("totp: factor has period %d, want at least 1 second", f.Period)
	}
	// An empty or short secret would still produce codes (HMAC accepts any
	// key), so it is refused here rather than trusted to have been checked
	// when stored.
	if n, ok := secretLen(f.Secret); !ok || n < minSecretBytes {
		return params{}, errors.New("totp: factor secret is not base32 of at least 128 bits")
	}
	return params{
		opts:   hotp.ValidateOpts{Digits: otp.Digits(f.Digits), Algorithm: alg},
		period: uint64(f.Period),
		digits: f.Digits,
	}, nil
}

// minSecretBytes is the shortest secret accepted: RFC 4226 section 4
// requires at least 128 bits.
const minSecretBytes = 16

// secretLen returns the decoded length of a base32 secret, normalised the
// way pquerna/otp normalises it (trimmed, upper-cased, padding optional).
func secretLen(secret string) (int, bool) {
	s := strings.TrimRight(strings.ToUpper(strings.TrimSpace(secret)), "=")
	b, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(s)
	if err != nil {
		return 0, false
	}
	return len(b), true
}

// counter returns the RFC 6238 time step of t. Times before the Unix epoch
// have no step.
func (p params) counter(t time.Time) (uint64, bool) {
	s := t.Unix()
	if s < 0 {
		return 0, false
	}
	// Integer division: pquerna's totp package goes through float64, which
	// is exact today but not for every int64.
	return uint64(s) / p.period, true
}

// Code returns the code for f at time t (used by tests and the CLI's
// self-check).
func Code(f *store.TOTP, t time.Time) (string, error) {
	p, err := factorParams(f)
	if err != nil {
		return "", err
	}
	step, ok := p.counter(t)
	if !ok {
		return "", fmt.Errorf("totp: time %s is before the Unix epoch", t.UTC().Format(time.RFC3339))
	}
	code, err := hotp.GenerateCodeCustom(f.Secret, step, p.opts)
	if err != nil {
		return "", fmt.Errorf("totp: compute code: %w", err)
	}
	return code, nil
}

// Verify checks code against f at time now, accepting the steps from
// skew before to skew after the current one. It returns the matched time
// step, counted in f's own period, for the caller's replay guard; ok=false
// means no match.
//
// Only strings of exactly f.Digits ASCII digits are considered; anything
// else is refused before any code is computed. Every candidate step is
// computed and compared in constant time, with no early exit, so timing
// reveals neither whether nor where a code matched. If the code matches
// several steps (a collision), the latest is returned: recording it as used
// covers the earlier ones too.
//
// Verify fails closed: a factor with invalid parameters or secret, a time
// before the epoch, or skew above MaxSkew yields ok=false.
func Verify(f *store.TOTP, code string, now time.Time, skew uint) (step uint64, ok bool) {
	p, err := factorParams(f)
	if err != nil || skew > MaxSkew || !isDigits(code, p.digits) {
		return 0, false
	}
	cur, valid := p.counter(now)
	if !valid {
		return 0, false
	}
	lo := cur - min(cur, uint64(skew))
	hi := cur + uint64(skew)
	given := []byte(code)
	var matched int
	for s := lo; s <= hi; s++ {
		want, err := hotp.GenerateCodeCustom(f.Secret, s, p.opts)
		if err != nil {
			// A bad secret fails on every step alike, so leaving early
			// reveals nothing about the code.
			return 0, false
		}
		eq := subtle.ConstantTimeCompare([]byte(want), given)
		mask := -uint64(eq) // all ones when eq == 1
		step = step&^mask | s&mask
		matched |= eq
	}
	if matched != 1 {
		return 0, false
	}
	return step, true
}

// isDigits reports whether s is exactly n ASCII digits. Unicode digits such
// as '٣' or '１', signs and spaces are refused: strconv and unicode would
// accept some of them, and a code must have one spelling only.
func isDigits(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// maxQRSize bounds the QR image side, in pixels.
const maxQRSize = 4096

// QRPNG writes key as a size×size PNG QR code. The image contains the
// secret: send it only to the user enrolling, and do not cache or log it.
func QRPNG(w io.Writer, key *otp.Key, size int) error {
	if key == nil {
		return errors.New("totp: key is nil")
	}
	if size < 1 || size > maxQRSize {
		return fmt.Errorf("totp: QR code size must be from 1 to %d pixels, got %d", maxQRSize, size)
	}
	img, err := key.Image(size, size)
	if err != nil {
		return fmt.Errorf("totp: render %dx%d QR code: %w", size, size, err)
	}
	if err := png.Encode(w, img); err != nil {
		return fmt.Errorf("totp: encode QR code as PNG: %w", err)
	}
	return nil
}
