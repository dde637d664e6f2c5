package envoytest

import (
	"path/filepath"
	"testing"

	"github.com/mfa-authz/mfa-authz/test/testproc"
)

// StartShipped serves the shipped bootstrap file (relative to root, such as
// ShippedConfig) with the envoy binary bin, changing nothing but addresses:
// the admin interface and the "ingress" listener on free loopback ports,
// and each cluster named in clusters pointed at its address (every cluster
// of the file that talks to a local process must be named). It returns the
// listener's address once Envoy is ready (see Start); Envoy is killed when
// t ends.
func StartShipped(t testing.TB, bin, root, file string, clusters map[string]string) (ingress string, p *testproc.Process) {
	t.Helper()
	b, err := Load(root, filepath.ToSlash(file))
	if err != nil {
		t.Fatal(err)
	}
	admin, ingress := testproc.FreeAddr(t), testproc.FreeAddr(t)
	if err := b.SetAdmin(admin); err != nil {
		t.Fatal(err)
	}
	if err := b.SetListener("ingress", ingress); err != nil {
		t.Fatal(err)
	}
	for name, addr := range clusters {
		if err := b.SetCluster(name, addr); err != nil {
			t.Fatal(err)
		}
	}
	return ingress, Start(t, bin, b, admin)
}
