package store

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"sync/atomic"
)

// Layout of a store directory. Every per-user file is named by
// keys.fileName, never by the user id.
const (
	enrollmentsDir = "enrollments" // one encrypted enrollment per user
	totpUsedDir    = "totp-used"   // one MACed last-used TOTP step per user
	locksDir       = "locks"       // one empty lock file per user, never removed
	codesDir       = "codes"       // one encrypted set of pending one-time codes per user (made on first use)
	countersDir    = "counters"    // one encrypted send counter per limit key (made on first use)
	keyCheckFile   = "keycheck"    // a sealed constant proving the key matches
)

// lockStripes is the number of in-process mutexes users are spread over.
const lockStripes = 64

// Dir is the embedded store: a directory on local disk. Safe for concurrent
// use by goroutines and by several processes (CLI + server) on the same
// directory.
//
// Nothing is cached: every call reads the files, so a write by another
// process is seen by the next call. Writes to one user's files are
// serialised by an in-process mutex stripe and an flock(2) on that user's
// lock file; reads take no lock, because every file is replaced by an
// atomic rename and so is always either the old or the new version.
//
// The directory must be on a local file system: flock(2) and rename(2)
// semantics over network file systems vary.
type Dir struct {
	root    string
	keys    *keys
	stripes [lockStripes]chan struct{}
	closed  atomic.Bool
	// flushes groups the replay guard's durable writes (groupsync.go).
	flushes groupSync
}

var _ Store = (*Dir)(nil)

// errClosed is returned by calls on a closed Dir.
var errClosed = errors.New("store: closed")

// OpenDir opens the store in dir, creating dir and its subdirectories (mode
// 0700) if needed. key must be KeySize bytes.
//
// The first OpenDir of a directory records a key check; later ones fail
// with an error matching ErrCorrupt if key is not the key it was created
// with, so a misconfigured key file stops the server at start-up instead of
// making every enrolled user's record undecryptable.
func OpenDir(dir string, key []byte) (*Dir, error) {
	if dir == "" {
		return nil, errors.New("store: directory path is empty")
	}
	k, err := deriveKeys(key)
	if err != nil {
		return nil, err
	}
	for _, sub := range []string{"", enrollmentsDir, totpUsedDir, locksDir} {
		p := filepath.Join(dir, sub)
		if err := os.MkdirAll(p, 0o700); err != nil {
			return nil, fmt.Errorf("store: create directory: %w", err)
		}
	}
	d := &Dir{root: dir, keys: k, flushes: groupSync{root: dir}}
	for i := range d.stripes {
		d.stripes[i] = make(chan struct{}, 1)
	}
	if err := d.checkKey(); err != nil {
		return nil, err
	}
	return d, nil
}

// checkKey creates the key check file if it is missing, and otherwise
// verifies that it decrypts under this Dir's key.
func (d *Dir) checkKey() error {
	p := filepath.Join(d.root, keyCheckFile)
	rec, err := readRecord(p)
	if errors.Is(err, fs.ErrNotExist) {
		sealed := d.keys.seal([]byte(keyCheckAAD), []byte(keyCheckPlaintext))
		err = writeFile(p, sealed, true)
		if err == nil {
			return nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("store: create key check %s: %w", p, err)
		}
		// Another process created it first; verify theirs.
		rec, err = readRecord(p)
	}
	if err != nil && !errors.Is(err, errTooLarge) {
		return fmt.Errorf("store: read key check %s: %w", p, err)
	}
	if err == nil {
		var pt []byte
		pt, err = d.keys.open([]byte(keyCheckAAD), rec)
		if err == nil && !bytes.Equal(pt, []byte(keyCheckPlaintext)) {
			err = errors.New("unexpected content")
		}
	}
	if err != nil {
		return fmt.Errorf("%w: %s: the key is not the one this store was created with, or the file is damaged: %v", ErrCorrupt, p, err)
	}
	return nil
}

// Close marks d closed; later calls fail. It holds no other resources.
func (d *Dir) Close() error {
	d.closed.Store(true)
	return nil
}

// begin performs the checks every call starts with.
func (d *Dir) begin(ctx context.Context, user string) error {
	if d.closed.Load() {
		return errClosed
	}
	if user == "" {
		return errors.New("store: user id is empty")
	}
	return ctx.Err()
}

// lockUser starts an operation on user's records and takes their lock,
// returning the records' file name. op names the operation in errors.
func (d *Dir) lockUser(ctx context.Context, user, op string) (name string, unlock func(), err error) {
	if err := d.begin(ctx, user); err != nil {
		return "", nil, err
	}
	name = d.keys.fileName(user)
	if unlock, err = d.lock(ctx, name); err != nil {
		return "", nil, fmt.Errorf("store: %s of record %s: %w", op, name, err)
	}
	return name, unlock, nil
}

// Enrollment returns the user's enrollment, ErrNotFound when none, or
// ErrCorrupt when the record exists but cannot be decrypted.
func (d *Dir) Enrollment(ctx context.Context, user string) (*Enrollment, error) {
	if err := d.begin(ctx, user); err != nil {
		return nil, err
	}
	return d.readEnrollment(user, d.keys.fileName(user))
}

func (d *Dir) readEnrollment(user, name string) (*Enrollment, error) {
	rel := path.Join(enrollmentsDir, name)
	rec, err := readRecord(filepath.Join(d.root, rel))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		// No record, or no store: a directory gone (unmounted, moved,
		// deleted) must not make every user look unenrolled, which
		// mfa.allow_unenrolled would let through.
		if _, serr := os.Stat(filepath.Join(d.root, enrollmentsDir)); serr != nil {
			return nil, fmt.Errorf("store: enrollments directory: %w", serr)
		}
		return nil, fmt.Errorf("%w (record %s)", ErrNotFound, rel)
	case errors.Is(err, errTooLarge):
		return nil, corrupt(rel, err)
	case err != nil:
		return nil, fmt.Errorf("store: read enrollment %s: %w", rel, err)
	}
	pt, err := d.keys.open(enrollmentAAD(name), rec)
	if err != nil {
		return nil, corrupt(rel, err)
	}
	defer clear(pt)
	var e Enrollment
	if err := json.Unmarshal(pt, &e); err != nil {
		// The JSON error could quote plaintext, which holds secrets.
		return nil, corrupt(rel, errors.New("decrypted record is not valid JSON"))
	}
	return &e, nil
}

// corrupt wraps ErrCorrupt with the file, relative to the store. Its name is
// an HMAC of the user id, so the error (which the service logs) names no
// user; an operator who knows the user id can add it.
func corrupt(rel string, why error) error {
	return fmt.Errorf("%w: %s: %v", ErrCorrupt, rel, why)
}

// PutEnrollment stores e as the user's enrollment. With replace false it
// returns ErrExists if the user has an enrollment, even one that cannot be
// decrypted; with replace true it overwrites whatever is there, which is how
// an operator repairs a corrupt record.
//
// When the TOTP factor changes, the user's replay guard is reset: the old
// last-used step belongs to the old secret, and may be counted in another
// period, which would reject every code of the new factor.
func (d *Dir) PutEnrollment(ctx context.Context, user string, e *Enrollment, replace bool) error {
	if err := e.validate(); err != nil {
		return err
	}
	name, unlock, err := d.lockUser(ctx, user, "put enrollment")
	if err != nil {
		return err
	}
	defer unlock()

	resetReplay := true
	if replace {
		old, err := d.readEnrollment(user, name)
		switch {
		case err == nil:
			resetReplay = !sameTOTP(old.TOTP, e.TOTP)
		case errors.Is(err, ErrNotFound), errors.Is(err, ErrCorrupt):
		default:
			return err
		}
	}

	pt, err := marshalEnrollment(user, e)
	if err != nil {
		return fmt.Errorf("store: encode enrollment %s: %w", name, err)
	}
	rec := d.keys.seal(enrollmentAAD(name), pt)
	clear(pt)

	// The enrollment is written before the replay guard is reset: if the
	// process dies in between, the stale guard can only reject codes (fail
	// closed), whereas the other order could re-admit a used code of the
	// old factor. Re-running the enrollment repairs it.
	err = writeFile(filepath.Join(d.root, enrollmentsDir, name), rec, !replace)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("%w (record %s)", ErrExists, path.Join(enrollmentsDir, name))
	}
	if err != nil {
		return fmt.Errorf("store: write enrollment %s: %w", name, err)
	}
	if resetReplay {
		err := removeFile(filepath.Join(d.root, totpUsedDir, name))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("store: reset TOTP replay guard %s: %w", name, err)
		}
	}
	return nil
}

// sameTOTP reports whether a and b are the same factor, comparing the
// secrets in constant time.
func sameTOTP(a, b *TOTP) bool {
	if a == nil || b == nil {
		return a == b
	}
	params := a.Algorithm == b.Algorithm && a.Digits == b.Digits && a.Period == b.Period
	secret := subtle.ConstantTimeCompare([]byte(a.Secret), []byte(b.Secret)) == 1
	return params && secret
}

// DeleteEnrollment removes the user's enrollment and replay guard, or
// returns ErrNotFound when the user has no enrollment.
func (d *Dir) DeleteEnrollment(ctx context.Context, user string) error {
	name, unlock, err := d.lockUser(ctx, user, "delete enrollment")
	if err != nil {
		return err
	}
	defer unlock()

	err = removeFile(filepath.Join(d.root, enrollmentsDir, name))
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w (record %s)", ErrNotFound, path.Join(enrollmentsDir, name))
	}
	if err != nil {
		return fmt.Errorf("store: delete enrollment %s: %w", name, err)
	}
	err = removeFile(filepath.Join(d.root, totpUsedDir, name))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("store: delete TOTP replay guard %s: %w", name, err)
	}
	err = removeFile(filepath.Join(d.root, codesDir, name))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("store: delete pending codes %s: %w", name, err)
	}
	return nil
}

// lock takes the exclusive lock on the user whose files are called name:
// first the in-process stripe, then the flock on locks/<name>. The stripe
// keeps goroutines of one process from polling the file lock against each
// other; the flock excludes other processes.
//
// The lock is a separate file, not the data file, because data files are
// replaced by rename: a lock held on a replaced inode would exclude no one.
// Lock files are never removed for the same reason.
func (d *Dir) lock(ctx context.Context, name string) (unlock func(), err error) {
	stripe := d.stripes[stripeIndex(name)]
	select {
	case stripe <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	f, err := lockFile(ctx, filepath.Join(d.root, locksDir, name))
	if err != nil {
		<-stripe
		return nil, err
	}
	return func() {
		f.Close() // releases the flock
		<-stripe
	}, nil
}

// stripeIndex maps a file name (hex HMAC output, so uniformly distributed)
// to a stripe.
func stripeIndex(name string) int {
	b, err := strconv.ParseUint(name[:2], 16, 8)
	if err != nil {
		return 0
	}
	return int(b) % lockStripes
}

// Ping implements Pinger: the store can still write if a probe file in
// its directory can be written, synced to disk and removed. A disk that
// is full, a file system remounted read-only or a directory gone makes it
// fail, and the server then reports itself not ready and denies protected
// requests as unavailable instead of failing each one on its own
// (service.WatchStoreHealth).
func (d *Dir) Ping(ctx context.Context) error {
	if d.closed.Load() {
		return errClosed
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	f, err := os.CreateTemp(d.root, ".probe-*")
	if err != nil {
		return fmt.Errorf("store: write probe: %w", err)
	}
	name := f.Name()
	defer os.Remove(name)
	_, err = f.Write([]byte("mfa-authz store probe\n"))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("store: write probe: %w", err)
	}
	if err := os.Remove(name); err != nil {
		return fmt.Errorf("store: remove probe: %w", err)
	}
	return nil
}
