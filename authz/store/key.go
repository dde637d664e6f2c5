package store

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// maxKeyFileSize bounds how much of a key file is read; a valid one is 64
// or 65 bytes.
const maxKeyFileSize = 4096

// LoadOrCreateKey reads the store's master key from path: KeySize random
// bytes written as 64 hex characters, optionally followed by a newline.
//
// If path does not exist, a new key is generated with crypto/rand and
// written there (mode 0600, parent directories 0700), and created is true;
// the caller should warn, since data encrypted under a previous key becomes
// unreadable. Creation is race-free: the key is written completely to a
// temporary file and then linked into place, so of two concurrent creators
// one wins and the other reads the winner's complete key.
//
// Errors name the path, never the file's content.
func LoadOrCreateKey(path string) (key []byte, created bool, err error) {
	if path == "" {
		return nil, false, errors.New("store: key file path is empty")
	}
	key, err = readKey(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return key, false, err
	}

	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, false, fmt.Errorf("store: create key file directory: %w", err)
	}
	fresh := make([]byte, KeySize)
	if _, err := io.ReadFull(rand.Reader, fresh); err != nil {
		return nil, false, fmt.Errorf("store: generate key: %w", err)
	}
	text := []byte(hex.EncodeToString(fresh) + "\n")
	err = writeFile(path, text, true)
	clear(text)
	switch {
	case err == nil:
		return fresh, true, nil
	case errors.Is(err, fs.ErrExist):
		// Another process created the key first: use theirs.
		clear(fresh)
		key, err = readKey(path)
		return key, false, err
	default:
		clear(fresh)
		return nil, false, fmt.Errorf("store: create key file %s: %w", path, err)
	}
}

// readKey reads and decodes the key file at path. A missing file yields an
// error matching fs.ErrNotExist.
func readKey(path string) ([]byte, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("store: open key file: %w", err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("store: key file %s is not a regular file", path)
	}
	text, err := io.ReadAll(io.LimitReader(f, maxKeyFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("store: read key file %s: %w", path, err)
	}
	defer clear(text)
	if len(text) > maxKeyFileSize {
		return nil, fmt.Errorf("store: key file %s is too large: want %d hex characters", path, 2*KeySize)
	}
	trimmed := bytes.TrimSuffix(text, []byte("\n"))
	trimmed = bytes.TrimSuffix(trimmed, []byte("\r"))
	if len(trimmed) != 2*KeySize {
		return nil, fmt.Errorf("store: key file %s holds %d characters, want %d hex characters and an optional newline", path, len(trimmed), 2*KeySize)
	}
	key := make([]byte, KeySize)
	// hex's errors quote the offending byte, which is key material.
	if _, err := hex.Decode(key, trimmed); err != nil {
		return nil, fmt.Errorf("store: key file %s is not hex: want %d hex characters and an optional newline", path, 2*KeySize)
	}
	return key, nil
}

// KeyFileWarnings returns the problems an operator should hear about with
// the key file at path used for the store in dataDir: permissions that let
// the group or others read or write it, and a key file stored inside the
// data directory, where a copy or backup of the data also copies the key
// that protects it. It returns nil when there is nothing to say.
func KeyFileWarnings(path, dataDir string) []string {
	return keyFileWarnings(path, dataDir)
}

// CheckKeyFileMode refuses a key file that its group or other users may
// read or write: whoever can read the key can decrypt every enrollment.
// A missing file is no error here (LoadOrCreateKey creates it 0600).
func CheckKeyFileMode(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("store: check key file %s: %w", path, err)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return fmt.Errorf("store: key file %s has mode %04o: its group or other users may read it, and whoever reads it can decrypt every enrollment; "+
			"chmod 600 it, or set storage.allow_readable_key_file: true if the file is guarded otherwise", path, perm)
	}
	return nil
}

func keyFileWarnings(path, dataDir string) []string {
	var warnings []string
	fi, err := os.Stat(path)
	if err != nil {
		warnings = append(warnings, fmt.Sprintf("cannot check key file permissions: %v", err))
	} else if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		warnings = append(warnings, fmt.Sprintf("key file %s has mode %04o: it should be accessible to its owner only (0600)", path, perm))
	}
	if within(path, dataDir) {
		warnings = append(warnings, fmt.Sprintf("key file %s is inside the data directory %s: keep the key apart from the data it protects", path, dataDir))
	}
	return warnings
}

// within reports whether path is dir or lies beneath it, after resolving
// symbolic links where possible.
func within(path, dir string) bool {
	p, err := resolve(path)
	if err != nil {
		return false
	}
	d, err := resolve(dir)
	if err != nil {
		return false
	}
	rel, err := filepath.Rel(d, p)
	if err != nil {
		return false
	}
	return rel == "." || (rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)))
}

// resolve makes path absolute and resolves symbolic links in it; if it does
// not exist, its cleaned absolute form is used.
func resolve(path string) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	if real, err := filepath.EvalSymlinks(abs); err == nil {
		return real, nil
	}
	return abs, nil
}
