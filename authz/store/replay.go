package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
)

// The replay guard's file holds the user's last used TOTP step in one of two
// slots: slot 0 at offset 0 and slot 1 at offset replaySlot1, each a sealed
// step (sealStep) or empty. The step in force is the greater of the valid
// slots. An update overwrites, in place, the slot that does not hold it, so
// that a write torn by a crash can only damage the older step, never the
// one in force; the two slots lie in different 4 KiB blocks, so no device
// block holds both. A file written before slots existed is slot 0 alone.
//
// Overwriting in place costs no file creation, rename or directory update,
// which would serialize concurrent verifications on the directory; and a
// flush of the whole file system (groupSync) is shared by every write
// waiting for one, instead of an fsync each.
const replaySlot1 = 4096

// UseTOTPStep records step as the user's last used TOTP time step if it is
// greater than the one recorded; ok=false means replay (step <= last used).
// A user with no record has used no step, so any step is accepted.
//
// The read-compare-write runs under the user's lock, so of any number of
// concurrent calls with the same step, in this process or others, exactly
// one succeeds. The record is durable before ok=true is returned, so an
// accepted code stays used after a crash; concurrent calls for different
// users share one flush of the file system (group commit, groupsync.go).
//
// The record lives in totp-used/, apart from the enrollment, so that this
// server-side write never rewrites a file the CLI writes. A record none of
// whose slots passes its MAC yields ErrCorrupt: the code is refused, not
// accepted.
func (d *Dir) UseTOTPStep(ctx context.Context, user string, step uint64) (bool, error) {
	name, unlock, err := d.lockUser(ctx, user, "use TOTP step")
	if err != nil {
		return false, err
	}
	defer unlock()

	rel := path.Join(totpUsedDir, name)
	p := filepath.Join(d.root, rel)
	// One open serves the read and, in place, the write.
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if errors.Is(err, fs.ErrNotExist) {
		// The first step of this user: a new file, written whole and
		// synced, once.
		if err := writeFile(p, d.keys.sealStep(name, step), false); err != nil {
			return false, fmt.Errorf("store: write TOTP replay guard %s: %w", rel, err)
		}
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("store: open TOTP replay guard %s: %w", rel, err)
	}
	defer f.Close()
	last, older, err := d.readSteps(name, f)
	switch {
	case err != nil:
		return false, err
	case step <= last:
		return false, nil
	}
	if err := d.overwriteSlot(f, older, d.keys.sealStep(name, step)); err != nil {
		return false, fmt.Errorf("store: write TOTP replay guard %s: %w", rel, err)
	}
	return true, nil
}

// readSteps reads the replay guard file f of the user whose record name is
// name: last is the step in force, older the offset of the slot to
// overwrite next. A damaged slot beside a valid one is what a torn write
// leaves, and the valid one is in force; a file with no valid slot yields
// ErrCorrupt.
func (d *Dir) readSteps(name string, f *os.File) (last uint64, older int64, err error) {
	rel := path.Join(totpUsedDir, name)
	var slots [2][replayRecordSize]byte
	var valid [2]bool
	var steps [2]uint64
	var errs [2]error
	for i, off := range []int64{0, replaySlot1} {
		n, err := f.ReadAt(slots[i][:], off)
		switch {
		case n == 0 && err == io.EOF:
			continue // an empty slot
		case err != nil && err != io.EOF:
			return 0, 0, fmt.Errorf("store: read TOTP replay guard %s: %w", rel, err)
		}
		steps[i], errs[i] = d.keys.openStep(name, slots[i][:n])
		valid[i] = errs[i] == nil
	}
	switch {
	case valid[0] && valid[1]:
		if steps[1] > steps[0] {
			return steps[1], 0, nil
		}
		return steps[0], replaySlot1, nil
	case valid[0]:
		return steps[0], replaySlot1, nil
	case valid[1]:
		return steps[1], 0, nil
	}
	return 0, 0, corrupt(rel, errors.Join(errs[0], errs[1], errors.New("no valid slot")))
}

// overwriteSlot writes rec into the slot at offset off of f and waits for
// a shared flush to make it durable.
func (d *Dir) overwriteSlot(f *os.File, off int64, rec []byte) error {
	if _, err := f.WriteAt(rec, off); err != nil {
		return err
	}
	if !haveSyncFS {
		return f.Sync() // no shared flush on this system: the file's own
	}
	return d.flushes.wait()
}

// lastStep returns the step in force in the replay guard of the user whose
// record name is name; found=false when the user has used none.
func (d *Dir) lastStep(name string) (last uint64, found bool, err error) {
	f, err := os.Open(filepath.Join(d.root, totpUsedDir, name))
	if errors.Is(err, fs.ErrNotExist) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	defer f.Close()
	last, _, err = d.readSteps(name, f)
	return last, err == nil, err
}
