// Package servicetest builds real mfa-authz services for tests: the
// config parsed from YAML, a store and key in a temporary directory.
package servicetest

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/mfa-authz/mfa-authz/authz/config"
	"github.com/mfa-authz/mfa-authz/authz/service"
	"github.com/mfa-authz/mfa-authz/authz/store"
	"github.com/mfa-authz/mfa-authz/authz/totp"
)

// New parses yaml (which must not set storage), adds a store and key in a
// temporary directory, and returns the running service, closed when the
// test ends.
func New(t testing.TB, yaml string) *service.Service {
	t.Helper()
	dir := t.TempDir()
	cfg, err := config.Parse([]byte(yaml +
		"\nstorage:\n  path: " + filepath.Join(dir, "store") + "\n  key_file: " + filepath.Join(dir, "secrets", "key") + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	svc, err := service.New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(svc.Close)
	return svc
}

// EnrollTOTP gives user an enabled TOTP factor and returns it, so tests
// can compute its codes with totp.Code.
func EnrollTOTP(t testing.TB, svc *service.Service, user string) *store.TOTP {
	t.Helper()
	f, _, err := totp.Generate(svc.Config.TOTP, user, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Store.PutEnrollment(context.Background(), user, &store.Enrollment{TOTP: f}, false); err != nil {
		t.Fatal(err)
	}
	return f
}
