package delivery

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
)

// FileConfig is `delivery.file`: the development outbox.
type FileConfig struct {
	// Path is the outbox file; each message is appended as one JSON line.
	Path string `yaml:"path"`
}

// FileSender appends every message, code included, to a local file. It is
// for development only: the server warns at start when it is configured.
type FileSender struct {
	path string
	mu   sync.Mutex
}

// NewFile returns a sender appending to path, creating its directory.
func NewFile(path string) (*FileSender, error) {
	if path == "" {
		return nil, fmt.Errorf("delivery: file: empty path")
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("delivery: file: %w", err)
	}
	return &FileSender{path: path}, nil
}

// Send implements Sender.
func (f *FileSender) Send(ctx context.Context, m Message) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	line, err := json.Marshal(m)
	if err != nil {
		return err
	}
	line = append(line, '\n')
	f.mu.Lock()
	defer f.mu.Unlock()
	fh, err := os.OpenFile(f.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("delivery: file: %w", err)
	}
	if _, err := fh.Write(line); err != nil {
		fh.Close()
		return fmt.Errorf("delivery: file: %w", err)
	}
	return fh.Close()
}
