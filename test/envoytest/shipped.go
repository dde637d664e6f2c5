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
// running Envoy once it is ready (see Start); Envoy is killed when t ends.
func StartShipped(t testing.TB, bin, root, file string, clusters map[string]string) *Shipped {
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
	return &Shipped{Ingress: ingress, Admin: admin, Process: Start(t, bin, b, admin)}
}

// Shipped is an Envoy serving a shipped bootstrap, started by StartShipped.
type Shipped struct {
	// Ingress is the address of the "ingress" listener clients talk to.
	Ingress string
	// Admin is the address of Envoy's admin interface (/clusters, /stats).
	Admin string
	*testproc.Process
}
