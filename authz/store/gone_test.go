package store

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A store whose directory is gone is an error, not a store without users:
// otherwise every user would look unenrolled, which mfa.allow_unenrolled
// lets through. Ping, which the server's readiness follows, fails too.
func TestStoreDirectoryGone(t *testing.T) {
	dir := t.TempDir()
	d := openTestDir(t, filepath.Join(dir, "store"), testKey(9))
	ctx := context.Background()
	if err := d.Ping(ctx); err != nil {
		t.Fatalf("Ping of a healthy store: %v", err)
	}
	if _, err := d.Enrollment(ctx, "nobody"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown user: %v, want ErrNotFound", err)
	}
	if err := os.Rename(filepath.Join(dir, "store"), filepath.Join(dir, "away")); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Enrollment(ctx, "nobody"); err == nil || errors.Is(err, ErrNotFound) {
		t.Fatalf("store gone: Enrollment error %v, want a store error", err)
	}
	if err := d.Ping(ctx); err == nil {
		t.Fatal("store gone: Ping succeeded")
	}
	if err := os.Rename(filepath.Join(dir, "away"), filepath.Join(dir, "store")); err != nil {
		t.Fatal(err)
	}
	if err := d.Ping(ctx); err != nil {
		t.Fatalf("store back: Ping: %v", err)
	}
	entries, err := os.ReadDir(filepath.Join(dir, "store"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".probe-") {
			t.Errorf("probe file %s left behind", e.Name())
		}
	}
}
