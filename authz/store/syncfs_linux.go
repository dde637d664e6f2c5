package store

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// haveSyncFS reports that syncFS works here: writeFileGrouped then shares
// flushes; elsewhere it falls back to writeFile's own fsyncs.
const haveSyncFS = true

// syncFS flushes the whole file system that holds dir (syncfs(2), whose
// errors Linux reports since 5.8): every write completed before the call,
// file data, renames and directory entries alike, is durable when it
// returns nil.
func syncFS(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := unix.Syncfs(int(d.Fd())); err != nil {
		return fmt.Errorf("syncfs %s: %w", dir, err)
	}
	return nil
}
