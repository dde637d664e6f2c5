package envoytest

import (
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/mfa-authz/mfa-authz/test/testproc"
)

// Require returns the envoy binary for t (see Find) and checks that it is
// the tested release. A missing envoy fails t under CI=true, where
// `make test-deps` must have installed it, and skips t elsewhere; a binary
// of another release fails t.
func Require(t testing.TB) string {
	t.Helper()
	root, err := FindRoot()
	if err != nil {
		t.Fatal(err)
	}
	bin, err := Find(root)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%v (required under CI=true)", err)
		}
		t.Skip(err.Error())
	}
	v, err := BinaryVersion(context.Background(), bin)
	if err != nil {
		t.Fatal(err)
	}
	if v != Version {
		t.Fatalf("%s is Envoy %s; the project is tested with %s (`make envoy-bin`)", bin, v, Version)
	}
	return bin
}

// Start writes b to a temporary directory, serves it with the envoy binary
// bin and waits (at most 30 s) until Envoy's admin interface, which must be
// at admin (see SetAdmin), reports it ready: every cluster initialized,
// mfa-authz's health-checked one included. Envoy is killed when t ends.
func Start(t testing.TB, bin string, b *Bootstrap, admin string) *testproc.Process {
	t.Helper()
	cfg, err := b.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "envoy.yaml")
	if err := os.WriteFile(file, cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	p := testproc.Start(t, "envoy", exec.Command(bin, "--config-path", file,
		"--disable-hot-restart", "--log-level", "warning", "--concurrency", "2"))
	p.WaitHTTP(t, "http://"+admin+"/ready", 30*time.Second, func(r *http.Response) bool { return r.StatusCode == 200 })
	return p
}
