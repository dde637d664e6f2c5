package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// revokedDir holds one sealed revocation per user whose sessions an
// administrator ended (made on first use). A running server polls it (see
// service.WatchRevocations) and ends the sessions it keeps in memory, which
// another process (the CLI) cannot reach.
const revokedDir = "revoked"

// revocationPurpose binds a revocation to its purpose and record name.
const revocationPurpose = "revoked"

// Revocation is a request, written by RevokeSessions, to end every session
// a server granted to User before At.
type Revocation struct {
	User string
	At   time.Time
}

type revocationRecord struct {
	User string    `json:"user"`
	At   time.Time `json:"at"`
}

// RevokeSessions implements RevocationLog: it records that the user's
// sessions must end in a file in revoked/ named by the user's record name,
// sealed with the store key and bound to that name, holding the user id
// and the time. Servers on this directory poll for it (Revocations) and
// drop the user's session.
func (d *Dir) RevokeSessions(ctx context.Context, user string) error {
	name, unlock, err := d.lockUser(ctx, user, "revoke sessions")
	if err != nil {
		return err
	}
	defer unlock()
	pt, err := json.Marshal(revocationRecord{User: user, At: time.Now().UTC()})
	if err != nil {
		return fmt.Errorf("store: encode revocation %s: %w", name, err)
	}
	rec := d.keys.seal(purposeAAD(revocationPurpose, name), pt)
	clear(pt)
	if err := d.mkdir(revokedDir); err != nil {
		return err
	}
	if err := writeFile(filepath.Join(d.root, revokedDir, name), rec, false); err != nil {
		return fmt.Errorf("store: write revocation %s: %w", name, err)
	}
	return nil
}

// Revocations returns the revocations whose files were modified after
// since, in no particular order. A file that cannot be read or decrypted
// is skipped; the error (matching ErrCorrupt, naming record names only)
// then reports how many were, next to the revocations that could be read.
func (d *Dir) Revocations(since time.Time) ([]Revocation, error) {
	if d.closed.Load() {
		return nil, errClosed
	}
	entries, err := os.ReadDir(filepath.Join(d.root, revokedDir))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("store: list revocations: %w", err)
	}
	var (
		out  []Revocation
		bad  int
		last error
	)
	for _, ent := range entries {
		name := ent.Name()
		if !ent.Type().IsRegular() || strings.HasPrefix(name, ".tmp-") {
			continue
		}
		info, err := ent.Info()
		if errors.Is(err, fs.ErrNotExist) {
			continue // pruned meanwhile
		}
		if err == nil && !info.ModTime().After(since) {
			continue
		}
		var r Revocation
		if err == nil {
			r, err = d.readRevocation(name)
		}
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			bad++
			last = err
			continue
		}
		out = append(out, r)
	}
	if bad > 0 {
		return out, fmt.Errorf("%w: %d revocation file(s) could not be read, the last: %v", ErrCorrupt, bad, last)
	}
	return out, nil
}

func (d *Dir) readRevocation(name string) (Revocation, error) {
	r, err := readSealedJSON(d, revokedDir, revocationPurpose, name, "revocation",
		func(r *revocationRecord) bool { return r.User != "" })
	return Revocation(r), err
}

// PruneRevocations removes the revocations whose files were last modified
// before olderThan: once every session they ended would have expired
// anyway, they have no more work to do.
//
// A file is removed under its user's lock and only if it is still old, so a
// revocation written meanwhile is kept.
func (d *Dir) PruneRevocations(ctx context.Context, olderThan time.Time) error {
	if d.closed.Load() {
		return errClosed
	}
	dir := filepath.Join(d.root, revokedDir)
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("store: list revocations: %w", err)
	}
	removed := false
	for _, ent := range entries {
		if err := ctx.Err(); err != nil {
			return err
		}
		info, err := ent.Info()
		if err != nil || !info.Mode().IsRegular() || !info.ModTime().Before(olderThan) {
			continue
		}
		ok, err := d.pruneOne(ctx, dir, ent.Name(), olderThan)
		if err != nil {
			return err
		}
		removed = removed || ok
	}
	if removed {
		return syncDir(dir)
	}
	return nil
}

// pruneOne removes dir/name if it is still older than olderThan. A record
// name (as RevokeSessions writes) is checked and removed under the user's
// lock; anything else (a leftover temporary file) is removed as it is.
func (d *Dir) pruneOne(ctx context.Context, dir, name string, olderThan time.Time) (bool, error) {
	p := filepath.Join(dir, name)
	if isRecordName(name) {
		unlock, err := d.lock(ctx, name)
		if err != nil {
			return false, fmt.Errorf("store: prune revocation %s: %w", name, err)
		}
		defer unlock()
		info, err := os.Lstat(p)
		if err != nil || !info.ModTime().Before(olderThan) {
			return false, nil
		}
	}
	if err := os.Remove(p); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return false, nil
		}
		return false, fmt.Errorf("store: prune revocation %s: %w", name, err)
	}
	return true, nil
}

// isRecordName reports whether name has the shape of keys.fileName's
// output: 64 lower-case hex digits.
func isRecordName(name string) bool {
	if len(name) != 64 {
		return false
	}
	for _, c := range name {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
