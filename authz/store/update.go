package store

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"time"
)

// OOB is an out-of-band factor (email or SMS): codes are sent to
// Destination. A factor whose activation is in progress is not Enabled and
// does not count for step-up.
type OOB struct {
	// Destination is the e-mail address or E.164 phone number codes go to.
	Destination string `json:"destination"`
	// Enabled is false while the activation waits for its code.
	Enabled bool `json:"enabled"`
	// CreatedAt is when the activation started.
	CreatedAt time.Time `json:"created_at"`
}

// RecoveryCode is one hashed one-time recovery code (see Store.SecretHash).
type RecoveryCode struct {
	Hash []byte `json:"hash"`
	Used bool   `json:"used,omitempty"`
}

// UnusedRecoveryCodes counts the recovery codes not used yet.
func (e *Enrollment) UnusedRecoveryCodes() int {
	if e == nil {
		return 0
	}
	n := 0
	for _, c := range e.Recovery {
		if !c.Used {
			n++
		}
	}
	return n
}

// Without returns a copy of e without method's factor, enabled or in
// activation. Recovery codes go too once no enabled factor is left, since
// they stand in for one. It returns nil when no factor is left at all, the
// value for an update that deletes the enrollment.
func (e *Enrollment) Without(method string) *Enrollment {
	if e == nil {
		return nil
	}
	next := *e
	switch method {
	case MethodTOTP:
		next.TOTP = nil
	case MethodEmail:
		next.Email = nil
	case MethodSMS:
		next.SMS = nil
	case MethodWebAuthn:
		next.WebAuthn = nil
	default:
		next.SetFactor(method, nil)
	}
	if len(next.Methods()) == 0 {
		next.Recovery = nil
	}
	if next.TOTP == nil && next.Email == nil && next.SMS == nil && !next.WebAuthn.Enabled() && len(next.Factors) == 0 {
		return nil
	}
	next.Recovery = append([]RecoveryCode(nil), next.Recovery...)
	return &next
}

// PendingCode is a one-time code sent out of band, kept only as a hash.
type PendingCode struct {
	// Hash is Store.SecretHash(user, "code:"+method, code).
	Hash []byte `json:"hash"`
	// Destination is where the code was sent.
	Destination string `json:"destination"`
	// SentAt and ExpiresAt bound the code's life.
	SentAt    time.Time `json:"sent_at"`
	ExpiresAt time.Time `json:"expires_at"`
	// Attempts counts wrong tries; Used marks the code consumed.
	Attempts int  `json:"attempts"`
	Used     bool `json:"used,omitempty"`
}

// Counter is a fixed-window send counter.
type Counter struct {
	WindowStart time.Time `json:"window_start"`
	Count       int       `json:"count"`
}

// Limit is one fixed-window counter a Reserve must stay within: at most
// Max events per Window under Key.
type Limit struct {
	Key    string
	Window time.Duration
	Max    int
}

// ErrNoChange, returned by an update function, ends the update without
// writing anything; the update call then returns nil.
var ErrNoChange = errors.New("store: no change")

const (
	codesAADPrefix   = "mfa-authz/codes/v1\x00"
	counterAADPrefix = "mfa-authz/counter/v1\x00"
	counterNameSalt  = "mfa-authz counter\x00"
)

// SecretHash implements Store.
func (d *Dir) SecretHash(user, purpose, secret string) []byte {
	m := hmac.New(sha256.New, d.keys.secret)
	for _, s := range []string{user, purpose, secret} {
		m.Write([]byte(s))
		m.Write([]byte{0})
	}
	return m.Sum(nil)
}

// UpdateEnrollment implements Store.
func (d *Dir) UpdateEnrollment(ctx context.Context, user string, fn func(cur *Enrollment) (*Enrollment, error)) error {
	name, unlock, err := d.lockUser(ctx, user, "update enrollment")
	if err != nil {
		return err
	}
	defer unlock()
	cur, err := d.readEnrollment(user, name)
	switch {
	case errors.Is(err, ErrNotFound):
		cur = nil
	case err != nil:
		return err
	}
	next, err := fn(cur)
	if errors.Is(err, ErrNoChange) {
		return nil
	}
	if err != nil {
		return err
	}
	if next == nil {
		if cur == nil {
			return nil
		}
		for _, p := range []string{
			filepath.Join(d.root, enrollmentsDir, name),
			filepath.Join(d.root, totpUsedDir, name),
			filepath.Join(d.root, codesDir, name),
		} {
			if err := removeFile(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("store: delete enrollment %s: %w", name, err)
			}
		}
		return nil
	}
	if err := next.validate(); err != nil {
		return err
	}
	pt, err := marshalEnrollment(user, next)
	if err != nil {
		return fmt.Errorf("store: encode enrollment %s: %w", name, err)
	}
	rec := d.keys.seal(enrollmentAAD(name), pt)
	clear(pt)
	if err := writeFile(filepath.Join(d.root, enrollmentsDir, name), rec, false); err != nil {
		return fmt.Errorf("store: write enrollment %s: %w", name, err)
	}
	if cur == nil || !sameTOTP(cur.TOTP, next.TOTP) {
		err := removeFile(filepath.Join(d.root, totpUsedDir, name))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("store: reset TOTP replay guard %s: %w", name, err)
		}
	}
	return nil
}

// UpdatePendingCode implements Store. The user's pending codes live in
// one encrypted file, bound to the user like the enrollment.
func (d *Dir) UpdatePendingCode(ctx context.Context, user, method string, fn func(cur *PendingCode) (*PendingCode, error)) error {
	name, unlock, err := d.lockUser(ctx, user, "update pending code")
	if err != nil {
		return err
	}
	defer unlock()
	rel := path.Join(codesDir, name)
	p := filepath.Join(d.root, rel)
	aad := []byte(codesAADPrefix + name)
	codes := map[string]*PendingCode{}
	rec, err := readRecord(p)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case errors.Is(err, errTooLarge):
		return corrupt(rel, err)
	case err != nil:
		return fmt.Errorf("store: read pending codes %s: %w", rel, err)
	default:
		pt, err := d.keys.open(aad, rec)
		if err != nil {
			return corrupt(rel, err)
		}
		err = json.Unmarshal(pt, &codes)
		clear(pt)
		if err != nil {
			return corrupt(rel, errors.New("decrypted record is not valid JSON"))
		}
	}
	next, err := fn(codes[method])
	if errors.Is(err, ErrNoChange) {
		return nil
	}
	if err != nil {
		return err
	}
	if next == nil {
		delete(codes, method)
	} else {
		codes[method] = next
	}
	if len(codes) == 0 {
		if err := removeFile(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("store: remove pending codes %s: %w", rel, err)
		}
		return nil
	}
	pt, err := json.Marshal(codes)
	if err != nil {
		return fmt.Errorf("store: encode pending codes %s: %w", rel, err)
	}
	sealed := d.keys.seal(aad, pt)
	if err := d.mkdir(codesDir); err != nil {
		return err
	}
	if err := writeFile(p, sealed, false); err != nil {
		return fmt.Errorf("store: write pending codes %s: %w", rel, err)
	}
	return nil
}

// Hit implements Store.
func (d *Dir) Hit(ctx context.Context, key string, window time.Duration, limit int, now time.Time) (bool, time.Time, error) {
	refused, reset, err := d.Reserve(ctx, []Limit{{Key: key, Window: window, Max: limit}}, now)
	if err != nil {
		return false, time.Time{}, err
	}
	return refused < 0, reset, nil
}

// sendLockName names the one lock every counter update takes, so that a
// Reserve reads and writes all its counters as one step (in this process
// and others). Sends are few; one lock costs nothing there.
const sendLockName = "send-limits"

// Reserve implements Store. Counters are files named by an HMAC of the
// key, encrypted and bound to that name; all of them are read and written
// under one lock.
func (d *Dir) Reserve(ctx context.Context, limits []Limit, now time.Time) (int, time.Time, error) {
	if len(limits) == 0 {
		return 0, time.Time{}, errors.New("store: reserve: no limit")
	}
	names := make([]string, len(limits))
	for i, l := range limits {
		if err := d.begin(ctx, l.Key); err != nil {
			return 0, time.Time{}, err
		}
		names[i] = d.keys.fileName(counterNameSalt + l.Key)
		if l.Window <= 0 || l.Max < 1 {
			// The key holds a user id or destination: name the record instead.
			return 0, time.Time{}, fmt.Errorf("store: counter %s: window and limit must be positive", path.Join(countersDir, names[i]))
		}
	}
	unlock, err := d.lock(ctx, sendLockName)
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("store: counter: %w", err)
	}
	defer unlock()
	counters := make([]Counter, len(limits))
	resets := make([]time.Time, len(limits))
	for i, l := range limits {
		c, err := d.readCounter(names[i])
		if err != nil {
			return 0, time.Time{}, err
		}
		switch {
		case now.Sub(c.WindowStart) >= l.Window:
			c = Counter{WindowStart: now}
		case c.WindowStart.After(now):
			// A window from the future: the clock stepped back, or a
			// request that read the clock earlier got here later. The
			// window moves back to now, so it never lasts longer than
			// one, and keeps its count, so concurrent requests cannot
			// restart it.
			c.WindowStart = now
		}
		resets[i] = c.WindowStart.Add(l.Window)
		if c.Count >= l.Max {
			return i, resets[i], nil
		}
		c.Count++
		counters[i] = c
	}
	if err := d.mkdir(countersDir); err != nil {
		return 0, time.Time{}, err
	}
	for i, c := range counters {
		pt, err := json.Marshal(c)
		if err != nil {
			return 0, time.Time{}, err
		}
		aad := []byte(counterAADPrefix + names[i])
		if err := writeFile(filepath.Join(d.root, countersDir, names[i]), d.keys.seal(aad, pt), false); err != nil {
			return 0, time.Time{}, fmt.Errorf("store: write counter: %w", err)
		}
	}
	return -1, resets[0], nil
}

// readCounter reads the counter name, zero when there is none.
func (d *Dir) readCounter(name string) (Counter, error) {
	var c Counter
	rec, err := readRecord(filepath.Join(d.root, countersDir, name))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return c, nil
	case err != nil:
		return c, fmt.Errorf("store: read counter: %w", err)
	}
	pt, err := d.keys.open([]byte(counterAADPrefix+name), rec)
	if err != nil {
		return c, fmt.Errorf("%w: %s: %v", ErrCorrupt, path.Join(countersDir, name), err)
	}
	if err := json.Unmarshal(pt, &c); err != nil {
		return c, fmt.Errorf("%w: %s: not valid JSON", ErrCorrupt, path.Join(countersDir, name))
	}
	return c, nil
}

// mkdir creates a subdirectory of the store that is made on first use.
func (d *Dir) mkdir(sub string) error {
	if err := os.MkdirAll(filepath.Join(d.root, sub), 0o700); err != nil {
		return fmt.Errorf("store: create directory: %w", err)
	}
	return nil
}
