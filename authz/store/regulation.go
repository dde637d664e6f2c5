package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/mfa-authz/mfa-authz/authz/regulation"
)

// regulationDir holds one sealed regulation state per user with failures
// or bans against them (made on first use), so that a restart forgets
// neither: an attacker must not get a fresh count by waiting for one.
const regulationDir = "regulation"

// regulationPurpose binds a state to its purpose and record name.
const regulationPurpose = "regulation"

type regulationRecord struct {
	User  string           `json:"user"`
	State regulation.State `json:"state"`
}

// LoadRegulation implements regulation.Journal: the user's saved state,
// zero when none. A record that cannot be read is an error (ErrCorrupt),
// never a clean slate.
func (d *Dir) LoadRegulation(user string) (regulation.State, error) {
	if d.closed.Load() {
		return regulation.State{}, errClosed
	}
	r, err := d.readRegulation(d.keys.fileName(user))
	if errors.Is(err, fs.ErrNotExist) {
		return regulation.State{}, nil
	}
	if err != nil {
		return regulation.State{}, err
	}
	if r.User != user {
		return regulation.State{}, corrupt(path.Join(regulationDir, d.keys.fileName(user)), errors.New("record of another user"))
	}
	return r.State, nil
}

// SaveRegulation implements regulation.Journal: the state is written
// durably (synced before it returns); the zero state removes the record.
// The regulator orders the saves of one user; no other process writes them.
func (d *Dir) SaveRegulation(user string, s regulation.State) error {
	if d.closed.Load() {
		return errClosed
	}
	name := d.keys.fileName(user)
	p := filepath.Join(d.root, regulationDir, name)
	if s.IsZero() {
		if err := removeFile(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("store: remove regulation state %s: %w", name, err)
		}
		return nil
	}
	pt, err := json.Marshal(regulationRecord{User: user, State: s})
	if err != nil {
		return fmt.Errorf("store: encode regulation state %s: %w", name, err)
	}
	rec := d.keys.seal(purposeAAD(regulationPurpose, name), pt)
	clear(pt)
	if err := d.mkdir(regulationDir); err != nil {
		return err
	}
	if err := writeFile(p, rec, false); err != nil {
		return fmt.Errorf("store: write regulation state %s: %w", name, err)
	}
	return nil
}

// RegulationStates implements regulation.Journal. A record that cannot be
// read is skipped; the error (matching ErrCorrupt, naming record names
// only) then says how many were, after fn has seen every readable one.
func (d *Dir) RegulationStates(fn func(user string, s regulation.State)) error {
	if d.closed.Load() {
		return errClosed
	}
	entries, err := os.ReadDir(filepath.Join(d.root, regulationDir))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("store: list regulation states: %w", err)
	}
	bad, last := 0, error(nil)
	for _, ent := range entries {
		name := ent.Name()
		if !ent.Type().IsRegular() || strings.HasPrefix(name, ".tmp-") {
			continue
		}
		r, err := d.readRegulation(name)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			continue // removed meanwhile
		case err == nil && d.keys.fileName(r.User) != name:
			err = corrupt(path.Join(regulationDir, name), errors.New("record of another user"))
		}
		if err != nil {
			bad++
			last = err
			continue
		}
		fn(r.User, r.State)
	}
	if bad > 0 {
		return fmt.Errorf("%w: %d regulation state file(s) could not be read, the last: %v", ErrCorrupt, bad, last)
	}
	return nil
}

func (d *Dir) readRegulation(name string) (regulationRecord, error) {
	return readSealedJSON(d, regulationDir, regulationPurpose, name, "regulation state",
		func(r *regulationRecord) bool { return r.User != "" })
}
