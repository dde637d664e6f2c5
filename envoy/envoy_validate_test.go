package envoy

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

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
	for _, f := range bootstraps(t) {
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
	for _, f := range bootstraps(t) {
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

// bootstraps are the Envoy bootstrap files shipped in this directory: every
// *.yaml whose single document is a mapping with static_resources, so a new
// bootstrap is validated without editing this test and another YAML file
// (a Kubernetes manifest, a snippet) is not fed to Envoy. Finding none fails
// t: the test must never pass by validating nothing.
func bootstraps(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if isBootstrap(data) {
			out = append(out, f)
		}
	}
	if len(out) == 0 {
		t.Fatalf("no Envoy bootstrap among %v", files)
	}
	return out
}

// isBootstrap reports whether data is one YAML document with a top-level
// static_resources mapping, as every static Envoy bootstrap has.
func isBootstrap(data []byte) bool {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc map[string]any
	if err := dec.Decode(&doc); err != nil {
		return false
	}
	if err := dec.Decode(new(any)); !errors.Is(err, io.EOF) {
		return false // several documents: a manifest, not a bootstrap
	}
	_, ok := doc["static_resources"].(map[string]any)
	return ok
}

// The discovery picks both shipped bootstraps and none of the Kubernetes
// manifests beside them.
func TestBootstrapDiscovery(t *testing.T) {
	got := bootstraps(t)
	for _, want := range []string{"envoy.yaml", "envoy-http.yaml"} {
		if !slices.Contains(got, want) {
			t.Errorf("bootstraps() = %v, missing %s", got, want)
		}
	}
	for _, f := range []string{"istio/deployment.yaml", "istio/mesh-config.yaml", "gateway/gateway.yaml"} {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if isBootstrap(data) {
			t.Errorf("%s taken for an Envoy bootstrap", f)
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
