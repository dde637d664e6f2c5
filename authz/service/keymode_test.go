package service

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/mfa-authz/mfa-authz/authz/config"
)

// A key file its group or other users may read stops the store from
// opening, naming the file, its mode and the way out, unless
// storage.allow_readable_key_file says the file is guarded otherwise; then
// the mode is logged as a warning.
func TestReadableKeyFileRefused(t *testing.T) {
	for _, mode := range []os.FileMode{0o640, 0o604, 0o644, 0o660} {
		dir := t.TempDir()
		key := filepath.Join(dir, "store.key")
		if err := os.WriteFile(key, []byte(strings.Repeat("cd", 32)+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(key, mode); err != nil {
			t.Fatal(err)
		}
		c := config.Default().Storage
		c.Path, c.KeyFile = filepath.Join(dir, "store"), key
		_, err := OpenStore(c, nil)
		want := "store: key file " + key + " has mode 0" + octal(mode) + ": "
		if err == nil || !strings.HasPrefix(err.Error(), want) || !strings.Contains(err.Error(), "storage.allow_readable_key_file: true") {
			t.Fatalf("mode %04o: OpenStore error %v, want %q… naming storage.allow_readable_key_file", mode, err, want)
		}
		c.AllowReadableKeyFile = true
		core, logs := observer.New(zap.WarnLevel)
		st, err := OpenStore(c, zap.New(core))
		if err != nil {
			t.Fatalf("mode %04o, allowed: %v", mode, err)
		}
		st.Close()
		if logs.FilterMessageSnippet("has mode").Len() != 1 {
			t.Errorf("mode %04o, allowed: no warning about the mode: %v", mode, logs.All())
		}
	}
	// 0600 and 0400 open without a word.
	for _, mode := range []os.FileMode{0o600, 0o400} {
		dir := t.TempDir()
		key := filepath.Join(dir, "store.key")
		if err := os.WriteFile(key, []byte(strings.Repeat("cd", 32)+"\n"), mode); err != nil {
			t.Fatal(err)
		}
		c := config.Default().Storage
		c.Path, c.KeyFile = filepath.Join(dir, "store"), key
		st, err := OpenStore(c, nil)
		if err != nil {
			t.Fatalf("mode %04o: %v", mode, err)
		}
		st.Close()
	}
}

func octal(m os.FileMode) string {
	const digits = "01234567"
	p := m.Perm()
	return string([]byte{digits[p>>6&7], digits[p>>3&7], digits[p&7]})
}
