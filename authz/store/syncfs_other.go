//go:build !linux

package store

import "errors"

// haveSyncFS is false where syncfs(2) is missing: writeFileGrouped falls
// back to writeFile's own fsyncs.
const haveSyncFS = false

func syncFS(string) error { return errors.New("store: syncfs is not available on this system") }
