package store

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// A revocation written by one handle (the CLI) is read by another on the
// same directory (the server), sealed so that the user id is not in clear.
func TestRevokeSessions(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	cli := openTestDir(t, dir, testKey(1))
	srv := openTestDir(t, dir, testKey(1))

	if revs, err := srv.Revocations(time.Time{}); err != nil || len(revs) != 0 {
		t.Fatalf("before any revocation: %+v, %v", revs, err)
	}
	before := time.Now().Add(-time.Second)
	const user = "alice@example.com"
	if err := cli.RevokeSessions(ctx, user); err != nil {
		t.Fatal(err)
	}
	revs, err := srv.Revocations(before)
	if err != nil || len(revs) != 1 || revs[0].User != user {
		t.Fatalf("Revocations = %+v, %v; want one of %s", revs, err, user)
	}
	if at := revs[0].At; at.Before(before) || at.After(time.Now().Add(time.Second)) {
		t.Fatalf("revocation time %v, want about now", at)
	}

	name := srv.keys.fileName(user)
	p := filepath.Join(dir, revokedDir, name)
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(data, []byte(user)) || bytes.Contains(data, []byte("alice")) {
		t.Fatal("the revocation file holds the user id in clear")
	}
	if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("revocation file mode: %v, %v", fi, err)
	}

	// Revoking again replaces the file: still one entry.
	if err := cli.RevokeSessions(ctx, user); err != nil {
		t.Fatal(err)
	}
	if revs, err := srv.Revocations(before); err != nil || len(revs) != 1 {
		t.Fatalf("after a second revocation: %+v, %v", revs, err)
	}
	if err := cli.RevokeSessions(ctx, ""); err == nil {
		t.Fatal("RevokeSessions of an empty user id succeeded")
	}
}

// Only files modified after since are returned.
func TestRevocationsSince(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	d := openTestDir(t, dir, testKey(1))
	for _, u := range []string{"old", "new"} {
		if err := d.RevokeSessions(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(filepath.Join(dir, revokedDir, d.keys.fileName("old")), old, old); err != nil {
		t.Fatal(err)
	}
	revs, err := d.Revocations(time.Now().Add(-time.Minute))
	if err != nil || len(revs) != 1 || revs[0].User != "new" {
		t.Fatalf("Revocations(a minute ago) = %+v, %v; want only new", revs, err)
	}
	if revs, err := d.Revocations(time.Now().Add(time.Minute)); err != nil || len(revs) != 0 {
		t.Fatalf("Revocations(in a minute) = %+v, %v; want none", revs, err)
	}
	if revs, err := d.Revocations(old.Add(-time.Second)); err != nil || len(revs) != 2 {
		t.Fatalf("Revocations(before both) = %+v, %v; want both", revs, err)
	}
}

// A revocation copied onto another user's name, or sealed under another
// key, is rejected; the readable ones are still returned.
func TestRevocationsRejectsMisplaced(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	d := openTestDir(t, dir, testKey(1))
	if err := d.RevokeSessions(ctx, "mallory"); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(dir, revokedDir, d.keys.fileName("mallory")))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, revokedDir, d.keys.fileName("bob")), data, 0o600); err != nil {
		t.Fatal(err)
	}
	revs, err := d.Revocations(time.Time{})
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("copied revocation: err = %v, want ErrCorrupt", err)
	}
	if len(revs) != 1 || revs[0].User != "mallory" {
		t.Fatalf("copied revocation: %+v, want only mallory's own", revs)
	}

	other := openTestDir(t, t.TempDir(), testKey(2))
	if err := other.RevokeSessions(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	foreign, err := os.ReadFile(filepath.Join(other.root, revokedDir, other.keys.fileName("bob")))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, revokedDir, d.keys.fileName("bob")), foreign, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Revocations(time.Time{}); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("revocation under another key: err = %v, want ErrCorrupt", err)
	}
}

// PruneRevocations removes only the files older than the cut-off.
func TestPruneRevocations(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	d := openTestDir(t, dir, testKey(1))
	if err := d.PruneRevocations(ctx, time.Now()); err != nil {
		t.Fatalf("prune with no revocations directory: %v", err)
	}
	for _, u := range []string{"old", "new"} {
		if err := d.RevokeSessions(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(filepath.Join(dir, revokedDir, d.keys.fileName("old")), old, old); err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(dir, revokedDir, ".tmp-123")
	if err := os.WriteFile(tmp, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(tmp, old, old); err != nil {
		t.Fatal(err)
	}
	if err := d.PruneRevocations(ctx, time.Now().Add(-time.Minute)); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(filepath.Join(dir, revokedDir))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Name() != d.keys.fileName("new") {
		t.Fatalf("after pruning: %v, want only new's revocation", entries)
	}
	revs, err := d.Revocations(time.Time{})
	if err != nil || len(revs) != 1 || revs[0].User != "new" {
		t.Fatalf("after pruning: %+v, %v", revs, err)
	}
}
