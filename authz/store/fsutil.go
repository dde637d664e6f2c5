package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
)

// maxRecordSize bounds what is read from any store file, so that a planted
// huge file costs an error rather than memory. Real records are far smaller.
const maxRecordSize = 64 << 10

// errTooLarge reports a file over maxRecordSize.
var errTooLarge = errors.New("file is larger than any record")

// readRecord reads the whole file at path, up to maxRecordSize bytes.
// A missing file yields an error matching fs.ErrNotExist.
func readRecord(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxRecordSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxRecordSize {
		return nil, errTooLarge
	}
	return data, nil
}

// writeFile replaces path with data so that readers see either the old
// content or the new one, never a mix, and the new content survives a crash
// once writeFile returns: a temporary file (mode 0600) in the same
// directory is written and synced, then moved into place, then the
// directory is synced.
//
// If exclusive, the move is a link(2), which fails atomically with an error
// matching fs.ErrExist when path already exists; this is what makes
// create-if-absent race-free between processes without relying on a lock.
func writeFile(path string, data []byte, exclusive bool) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return fmt.Errorf("create temporary file: %w", err)
	}
	tmp := f.Name()
	renamed := false
	defer func() {
		// Once renamed, the temporary name may already belong to another
		// writer's file; only remove it while it is still ours.
		if !renamed {
			os.Remove(tmp)
		}
	}()
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("sync %s: %w", tmp, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", tmp, err)
	}
	if exclusive {
		err = os.Link(tmp, path)
	} else {
		err = os.Rename(tmp, path)
		renamed = err == nil
	}
	if err != nil {
		return err
	}
	return syncDir(dir)
}

// removeFile removes path and syncs its directory, so that the removal
// survives a crash. A missing file yields an error matching fs.ErrNotExist.
func removeFile(path string) error {
	if err := os.Remove(path); err != nil {
		return err
	}
	return syncDir(filepath.Dir(path))
}

// readSealedJSON reads the record name in the store's directory dir, opens
// it under purpose and decodes its JSON. A record too large, that does not
// open (another key, another name, damage), that is not JSON, or that
// valid refuses is ErrCorrupt naming it; what says what it should hold.
// A missing record is fs.ErrNotExist, as readRecord returns it.
func readSealedJSON[T any](d *Dir, dir, purpose, name, what string, valid func(*T) bool) (T, error) {
	var v T
	rel := path.Join(dir, name)
	rec, err := readRecord(filepath.Join(d.root, dir, name))
	if errors.Is(err, errTooLarge) {
		return v, corrupt(rel, err)
	}
	if err != nil {
		return v, err
	}
	pt, err := d.keys.open(purposeAAD(purpose, name), rec)
	if err != nil {
		return v, corrupt(rel, err)
	}
	defer clear(pt)
	if err := json.Unmarshal(pt, &v); err != nil || !valid(&v) {
		var zero T
		return zero, corrupt(rel, fmt.Errorf("decrypted %s is not valid", what))
	}
	return v, nil
}
