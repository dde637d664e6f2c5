package envoy

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mfa-authz/mfa-authz/test/envoytest"
)

// Every shipped Envoy file is accepted by the real Envoy the project is
// tested with (`envoy --mode validate`, which builds every listener,
// filter and cluster without serving), beside the schema checks of
// validate_test.go. Its relative paths (the test JWKS) are read from the
// repository root, where `make envoy` runs it.
func TestEnvoyValidatesShippedConfigs(t *testing.T) {
	bin := envoytest.Require(t)
	root := repoRoot(t)
	for _, f := range shipped(t) {
		t.Run(f, func(t *testing.T) {
			t.Parallel()
			out, err := envoytest.Validate(context.Background(), bin, root, filepath.Join("envoy", f))
			if err != nil || !strings.Contains(out, "OK") {
				t.Fatalf("%v\n%s", err, out)
			}
		})
	}
}

// The real Envoy refuses broken copies of each shipped file, and says why:
// so a passing validation above means something.
func TestEnvoyRejectsBrokenCopies(t *testing.T) {
	bin := envoytest.Require(t)
	root := repoRoot(t)
	for _, f := range shipped(t) {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		src := string(data)
		for _, c := range []struct{ name, old, new, want string }{
			{"unknown field", "merge_slashes: true", "merge_slashes: true\n                merge_slashez: true", "merge_slashez"},
			{"wrong type", "port_value: 10000", "port_value: ten-thousand", "ten-thousand"},
			{"bad enum", "path_with_escaped_slashes_action: UNESCAPE_AND_REDIRECT", "path_with_escaped_slashes_action: DECODE_EVERYTHING", "DECODE_EVERYTHING"},
			{"route to a cluster that does not exist", "cluster: upstream", "cluster: upstreem", "upstreem"},
			{"required field missing", "stat_prefix: ingress\n", "", "StatPrefix"},
			{"value out of range", "port_value: 10000", "port_value: 70000", "70000"},
		} {
			t.Run(f+"/"+c.name, func(t *testing.T) {
				t.Parallel()
				broken := strings.Replace(src, c.old, c.new, 1)
				if broken == src {
					t.Fatalf("test edit %q not applied", c.old)
				}
				file := filepath.Join(t.TempDir(), f)
				if err := os.WriteFile(file, []byte(broken), 0o644); err != nil {
					t.Fatal(err)
				}
				out, err := envoytest.Validate(context.Background(), bin, root, file)
				if err == nil {
					t.Fatalf("envoy accepted the broken copy:\n%s", out)
				}
				if !strings.Contains(out, c.want) {
					t.Fatalf("envoy refused it without naming %q:\n%s", c.want, out)
				}
			})
		}
	}
}

// repoRoot is the repository root, where the shipped files' relative paths
// start.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := envoytest.FindRoot()
	if err != nil {
		t.Fatal(err)
	}
	return root
}
