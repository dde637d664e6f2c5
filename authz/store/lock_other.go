//go:build !unix

package store

import (
	"context"
	"errors"
	"os"
)

// errNoLocking is returned where flock(2) is unavailable. Writes then fail
// rather than run without cross-process exclusion.
var errNoLocking = errors.New("file locking is not supported on this platform")

func lockFile(ctx context.Context, path string) (*os.File, error) {
	return nil, errNoLocking
}

func syncDir(dir string) error {
	return errNoLocking
}
