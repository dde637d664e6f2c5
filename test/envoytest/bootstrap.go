package envoytest

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"

	"go.yaml.in/yaml/v3"
)

// Bootstrap is a shipped Envoy file, decoded, being fitted to a test
// machine. Its methods change addresses only; Doc is there for a caller
// (the load harness) that derives more from it, such as a copy of the
// listener without the ext_authz filter.
type Bootstrap struct {
	// File is the shipped file's path relative to the module root.
	File string
	// Doc is the decoded YAML document.
	Doc map[string]any
}

// Load reads file (relative to root, such as "envoy/envoy.yaml") and makes
// the paths of its local JWKS files absolute, so that the bootstrap can be
// served from any directory.
func Load(root, file string) (*Bootstrap, error) {
	data, err := os.ReadFile(filepath.Join(root, file))
	if err != nil {
		return nil, err
	}
	var doc map[string]any
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	b := &Bootstrap{File: file, Doc: doc}
	w := &Walk{}
	for _, l := range w.L(w.M(doc, "static_resources"), "listeners") {
		for _, f := range HTTPFilters(w, l) {
			fm, _ := f.(map[string]any)
			if fm["name"] != "envoy.filters.http.jwt_authn" {
				continue
			}
			for _, p := range w.M(w.M(fm, "typed_config"), "providers") {
				pm, _ := p.(map[string]any)
				if jwks, ok := pm["local_jwks"].(map[string]any); ok {
					if name, ok := jwks["filename"].(string); ok && !filepath.IsAbs(name) {
						jwks["filename"] = filepath.Join(root, name)
					}
				}
			}
		}
	}
	return b, b.wrap(w.Err)
}

// SetAdmin sets the admin interface's address (host:port).
func (b *Bootstrap) SetAdmin(addr string) error {
	w := &Walk{}
	return b.wrap(SetSocket(w.M(w.M(b.Doc, "admin"), "address"), addr, w))
}

// SetListener sets the address of the listener called name.
func (b *Bootstrap) SetListener(name, addr string) error {
	w := &Walk{}
	for _, l := range w.L(w.M(b.Doc, "static_resources"), "listeners") {
		if lm, _ := l.(map[string]any); lm["name"] == name {
			return b.wrap(SetSocket(w.M(lm, "address"), addr, w))
		}
	}
	return b.wrap(errors.Join(w.Err, fmt.Errorf("no listener %q", name)))
}

// SetCluster points the one endpoint of the cluster called name at addr.
func (b *Bootstrap) SetCluster(name, addr string) error {
	w := &Walk{}
	for _, c := range w.L(w.M(b.Doc, "static_resources"), "clusters") {
		if cm, _ := c.(map[string]any); cm["name"] == name {
			return b.wrap(SetSocket(w.Endpoint(cm), addr, w))
		}
	}
	return b.wrap(errors.Join(w.Err, fmt.Errorf("no cluster %q", name)))
}

// Marshal encodes the bootstrap as YAML, for `envoy -c`.
func (b *Bootstrap) Marshal() ([]byte, error) { return yaml.Marshal(b.Doc) }

func (b *Bootstrap) wrap(err error) error {
	if err != nil {
		return fmt.Errorf("%s: %w", b.File, err)
	}
	return nil
}

// HTTPFilters returns the HTTP filters of a listener's one HTTP connection
// manager, or nil with w.Err set.
func HTTPFilters(w *Walk, listener any) []any {
	return w.L(HCM(w, listener), "http_filters")
}

// HCM returns the typed_config of a listener's one HTTP connection
// manager, or nil with w.Err set.
func HCM(w *Walk, listener any) map[string]any {
	lm, ok := listener.(map[string]any)
	if !ok && w.Err == nil {
		w.Err = errors.New("listener is not a mapping")
	}
	chains := w.L(lm, "filter_chains")
	if w.Err == nil && len(chains) != 1 {
		w.Err = fmt.Errorf("listener %v: %d filter chains, want 1", lm["name"], len(chains))
	}
	return w.M(w.At(w.L(w.At(chains, 0), "filters"), 0), "typed_config")
}

// Walk steps through a decoded YAML document, keeping the first error:
// after one, every step returns nil, so a chain of steps needs one check.
type Walk struct{ Err error }

// M returns the mapping in[key].
func (w *Walk) M(in map[string]any, key string) map[string]any {
	if w.Err != nil {
		return nil
	}
	v, ok := in[key].(map[string]any)
	if !ok {
		w.Err = fmt.Errorf("no mapping %q", key)
	}
	return v
}

// L returns the list in[key].
func (w *Walk) L(in map[string]any, key string) []any {
	if w.Err != nil {
		return nil
	}
	v, ok := in[key].([]any)
	if !ok {
		w.Err = fmt.Errorf("no list %q", key)
	}
	return v
}

// At returns the mapping l[i].
func (w *Walk) At(l []any, i int) map[string]any {
	if w.Err != nil {
		return nil
	}
	if i >= len(l) {
		w.Err = fmt.Errorf("list of %d has no item %d", len(l), i)
		return nil
	}
	v, ok := l[i].(map[string]any)
	if !ok {
		w.Err = fmt.Errorf("list item %d is not a mapping", i)
	}
	return v
}

// Endpoint returns the address mapping of a cluster's first endpoint.
func (w *Walk) Endpoint(cluster map[string]any) map[string]any {
	lb := w.At(w.L(w.At(w.L(w.M(cluster, "load_assignment"), "endpoints"), 0), "lb_endpoints"), 0)
	return w.M(w.M(lb, "endpoint"), "address")
}

// SetSocket sets an Envoy address mapping to host:port. It returns w.Err
// if the walk to addr failed.
func SetSocket(addr map[string]any, hostport string, w *Walk) error {
	if w.Err != nil {
		return w.Err
	}
	if addr == nil {
		return errors.New("no address mapping")
	}
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		return err
	}
	p, err := strconv.Atoi(port)
	if err != nil {
		return fmt.Errorf("port of %q: %w", hostport, err)
	}
	addr["socket_address"] = map[string]any{"address": host, "port_value": p}
	return nil
}

// DeepCopy copies a decoded YAML value, mappings and lists included.
func DeepCopy(v any) any {
	switch t := v.(type) {
	case map[string]any:
		c := make(map[string]any, len(t))
		for k, x := range t {
			c[k] = DeepCopy(x)
		}
		return c
	case []any:
		c := make([]any, len(t))
		for i, x := range t {
			c[i] = DeepCopy(x)
		}
		return c
	}
	return v
}
