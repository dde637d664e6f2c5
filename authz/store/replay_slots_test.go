package store

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// The replay guard keeps the step in force in one of two slots and
// overwrites the other: a slot damaged or cut short, as a write torn by a
// crash leaves it, never takes the step in force with it; a file with no
// valid slot refuses every code; a file from before the slots (one record)
// is read as slot 0.
func TestReplaySlots(t *testing.T) {
	ctx := context.Background()
	key := testKey(3)
	d := openTestDir(t, t.TempDir(), key)
	name := d.keys.fileName("alice")
	p := filepath.Join(d.root, totpUsedDir, name)
	use := func(step uint64) (bool, error) { return d.UseTOTPStep(ctx, "alice", step) }
	must := func(step uint64, want bool) {
		t.Helper()
		if ok, err := use(step); err != nil || ok != want {
			t.Fatalf("step %d: ok=%t err=%v, want ok=%t", step, ok, err, want)
		}
	}
	size := func() int64 {
		t.Helper()
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	damage := func(off int64) {
		t.Helper()
		f, err := os.OpenFile(p, os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		b := make([]byte, 1)
		f.ReadAt(b, off+20)
		b[0] ^= 0xff
		if _, err := f.WriteAt(b, off+20); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}

	must(10, true) // a new file: slot 0 only, as files were before slots
	if s := size(); s != replayRecordSize {
		t.Fatalf("first record: file of %d bytes, want %d", s, replayRecordSize)
	}
	must(10, false)
	must(11, true) // into slot 1
	if s := size(); s != replaySlot1+replayRecordSize {
		t.Fatalf("second record: file of %d bytes, want %d", s, replaySlot1+replayRecordSize)
	}
	must(11, false)
	must(10, false)
	must(12, true) // over slot 0, which held 10
	must(12, false)
	must(11, false)

	// Slot 1 (11, the older) torn: 12 stays in force.
	damage(replaySlot1)
	must(12, false)
	must(13, true) // written over the damaged slot 1
	must(13, false)

	// Slot 0 (12, now the older) torn: 13 stays in force.
	damage(0)
	must(13, false)
	must(14, true)

	// Both slots damaged: no code is accepted, the error says corrupt.
	damage(0)
	damage(replaySlot1)
	for _, step := range []uint64{14, 15, 1 << 40} {
		if ok, err := use(step); ok || !errors.Is(err, ErrCorrupt) {
			t.Fatalf("both slots damaged, step %d: ok=%t err=%v, want ErrCorrupt", step, ok, err)
		}
	}

	// A file from before the slots: one record, step 50.
	if err := os.WriteFile(p, d.keys.sealStep(name, 50), 0o600); err != nil {
		t.Fatal(err)
	}
	must(50, false)
	must(51, true)
	must(51, false)

	// A slot 1 cut short by a torn write at the end of the file.
	if err := os.Truncate(p, replaySlot1+10); err != nil {
		t.Fatal(err)
	}
	must(50, false) // slot 0 holds 50, in force
	must(52, true)
	must(52, false)
}
