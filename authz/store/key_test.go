package store

import (
	"bytes"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func TestLoadOrCreateKeyCreatesAndReloads(t *testing.T) {
	path := filepath.Join(t.TempDir(), "secrets", "nested", "store.key")
	key, created, err := LoadOrCreateKey(path)
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	if !created || len(key) != KeySize {
		t.Fatalf("create: created=%v len=%d, want true %d", created, len(key), KeySize)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %04o, want 0600", fi.Mode().Perm())
	}
	di, err := os.Stat(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	if di.Mode().Perm() != 0o700 {
		t.Errorf("key directory mode %04o, want 0700", di.Mode().Perm())
	}
	text, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if want := hex.EncodeToString(key) + "\n"; string(text) != want {
		t.Errorf("key file holds %d bytes, want 64 hex characters and a newline", len(text))
	}

	again, created, err := LoadOrCreateKey(path)
	if err != nil {
		t.Fatalf("reload: %v", err)
	}
	if created || !bytes.Equal(again, key) {
		t.Errorf("reload: created=%v, same key=%v; want false, true", created, bytes.Equal(again, key))
	}
	if entries, _ := os.ReadDir(filepath.Dir(path)); len(entries) != 1 {
		t.Errorf("key directory holds %d entries, want only the key", len(entries))
	}
}

func TestLoadOrCreateKeyAcceptsNewlines(t *testing.T) {
	want := bytes.Repeat([]byte{0xab}, KeySize)
	for name, suffix := range map[string]string{"none": "", "LF": "\n", "CRLF": "\r\n"} {
		path := filepath.Join(t.TempDir(), "key")
		text := strings.ToUpper(hex.EncodeToString(want)) + suffix
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		got, created, err := LoadOrCreateKey(path)
		if err != nil || created || !bytes.Equal(got, want) {
			t.Errorf("%s: created=%v err=%v match=%v", name, created, err, bytes.Equal(got, want))
		}
	}
}

func TestLoadOrCreateKeyBadContent(t *testing.T) {
	valid := strings.Repeat("5a", KeySize)
	for name, text := range map[string]string{
		"empty":      "",
		"short":      valid[:62],
		"long":       valid + "00",
		"not hex":    valid[:60] + "zz" + valid[62:],
		"two lines":  valid + "\n\n",
		"spaces":     " " + valid[1:],
		"raw bytes":  strings.Repeat("\x5a", KeySize),
		"very large": strings.Repeat("5a", 10000),
	} {
		path := filepath.Join(t.TempDir(), "store.key")
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		_, _, err := LoadOrCreateKey(path)
		if err == nil {
			t.Errorf("%s: accepted", name)
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, path) {
			t.Errorf("%s: error does not name the path: %v", name, err)
		}
		if strings.Contains(msg, "5a5a") || strings.Contains(msg, "zz") || strings.Contains(msg, "'z'") {
			t.Errorf("%s: error reveals content: %v", name, err)
		}
		// A bad key file is never silently replaced.
		if got, _ := os.ReadFile(path); string(got) != text {
			t.Errorf("%s: key file was modified", name)
		}
	}
}

func TestLoadOrCreateKeyConcurrentCreators(t *testing.T) {
	for range 20 {
		path := filepath.Join(t.TempDir(), "store.key")
		const n = 8
		keys := make([][]byte, n)
		created := make([]bool, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				var err error
				keys[i], created[i], err = LoadOrCreateKey(path)
				if err != nil {
					t.Errorf("creator %d: %v", i, err)
				}
			})
		}
		wg.Wait()
		creators := 0
		for i := range n {
			if created[i] {
				creators++
			}
			if !bytes.Equal(keys[i], keys[0]) {
				t.Fatalf("creator %d ended with a different key", i)
			}
		}
		if creators != 1 {
			t.Fatalf("%d creators report created=true, want 1", creators)
		}
	}
}

func TestKeyFileWarnings(t *testing.T) {
	root := t.TempDir()
	data := filepath.Join(root, "data")
	if err := os.Mkdir(data, 0o700); err != nil {
		t.Fatal(err)
	}
	outside := filepath.Join(root, "store.key")
	inside := filepath.Join(data, "sub", "store.key")
	sibling := filepath.Join(root, "data-keys", "store.key")
	for _, p := range []string{outside, inside, sibling} {
		if _, _, err := LoadOrCreateKey(p); err != nil {
			t.Fatal(err)
		}
	}

	if w := KeyFileWarnings(outside, data); len(w) != 0 {
		t.Errorf("clean key file: warnings %q", w)
	}
	if w := KeyFileWarnings(sibling, data); len(w) != 0 {
		t.Errorf("key in a sibling directory with a common prefix: warnings %q", w)
	}
	if w := KeyFileWarnings(inside, data); len(w) != 1 || !strings.Contains(w[0], "inside the data directory") {
		t.Errorf("key inside data dir: warnings %q", w)
	}
	// Relative and symlinked spellings of the same place are caught too.
	link := filepath.Join(root, "link")
	if err := os.Symlink(data, link); err != nil {
		t.Fatal(err)
	}
	if w := KeyFileWarnings(inside, link); len(w) != 1 {
		t.Errorf("data dir given through a symlink: warnings %q", w)
	}

	for _, mode := range []os.FileMode{0o640, 0o604, 0o660, 0o644} {
		if err := os.Chmod(outside, mode); err != nil {
			t.Fatal(err)
		}
		w := KeyFileWarnings(outside, data)
		if len(w) != 1 || !strings.Contains(w[0], "mode") {
			t.Errorf("mode %04o: warnings %q", mode, w)
		}
	}
	if err := os.Chmod(outside, 0o400); err != nil {
		t.Fatal(err)
	}
	if w := KeyFileWarnings(outside, data); len(w) != 0 {
		t.Errorf("mode 0400: warnings %q", w)
	}
	if w := KeyFileWarnings(filepath.Join(root, "missing"), data); len(w) != 1 {
		t.Errorf("missing key file: warnings %q", w)
	}
}
