package store

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"path/filepath"
)

// UseTOTPStep records step as the user's last used TOTP time step if it is
// greater than the one recorded; ok=false means replay (step <= last used).
// A user with no record has used no step, so any step is accepted.
//
// The read-compare-write runs under the user's lock, so of any number of
// concurrent calls with the same step, in this process or others, exactly
// one succeeds. The record is fsynced before ok=true is returned, so an
// accepted code stays used after a crash.
//
// The record lives in totp-used/, apart from the enrollment, so that this
// server-side write never rewrites a file the CLI writes. A record that
// fails its MAC yields ErrCorrupt: the code is refused, not accepted.
func (d *Dir) UseTOTPStep(ctx context.Context, user string, step uint64) (bool, error) {
	name, unlock, err := d.lockUser(ctx, user, "use TOTP step")
	if err != nil {
		return false, err
	}
	defer unlock()

	rel := path.Join(totpUsedDir, name)
	p := filepath.Join(d.root, rel)
	rec, err := readRecord(p)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		// No step used yet.
	case errors.Is(err, errTooLarge):
		return false, corrupt(rel, err)
	case err != nil:
		return false, fmt.Errorf("store: read TOTP replay guard %s: %w", rel, err)
	default:
		last, err := d.keys.openStep(name, rec)
		if err != nil {
			return false, corrupt(rel, err)
		}
		if step <= last {
			return false, nil
		}
	}
	if err := writeFile(p, d.keys.sealStep(name, step), false); err != nil {
		return false, fmt.Errorf("store: write TOTP replay guard %s: %w", rel, err)
	}
	return true, nil
}
