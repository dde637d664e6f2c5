package load

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/mfa-authz/mfa-authz/test/envoytest"
)

// EnvoySkipped is the line the table prints when the caller runs no
// Envoy stage.
const EnvoySkipped = "envoy: no envoy binary, Envoy stage skipped"

// extAuthzName is the ext_authz HTTP filter's name in Envoy files.
const extAuthzName = "envoy.filters.http.ext_authz"

// envoyConfig derives the Envoy stage's bootstrap from envoy/envoy.yaml.
// Its one listener becomes three, on the given loopback addresses, with
// the shipped filters (header mutation, jwt_authn, router) unchanged:
//
//   - plain: the ext_authz filter removed;
//   - noop: ext_authz asking a cluster "baseline", the no-op gRPC server;
//   - mfa: ext_authz as shipped, asking cluster "mfa-authz".
//
// The clusters point at mfaGRPC, baseGRPC and the upstream; the admin
// interface at admin; the JWKS path is made absolute.
func envoyConfig(root string, listeners [3]string, admin, mfaGRPC, baseGRPC, upstream string) ([]byte, error) {
	b, err := envoytest.Load(root, envoytest.ShippedConfig)
	if err != nil {
		return nil, err
	}
	if err := b.SetAdmin(admin); err != nil {
		return nil, err
	}
	for _, c := range [][2]string{{"mfa-authz", mfaGRPC}, {"upstream", upstream}} {
		if err := b.SetCluster(c[0], c[1]); err != nil {
			return nil, err
		}
	}
	w := &envoytest.Walk{}
	static := w.M(b.Doc, "static_resources")
	shipped := w.L(static, "listeners")
	if w.Err == nil && len(shipped) != 1 {
		return nil, fmt.Errorf("%s: %d listeners, want 1", b.File, len(shipped))
	}
	var out []any
	for i, name := range []string{"plain", "noop", "mfa-authz"} {
		if w.Err != nil {
			break
		}
		l := envoytest.DeepCopy(shipped[0]).(map[string]any)
		l["name"] = "ingress-" + name
		if err := envoytest.SetSocket(w.M(l, "address"), listeners[i], w); err != nil {
			return nil, fmt.Errorf("%s: %w", b.File, err)
		}
		hcm := envoytest.HCM(w, l)
		var kept []any
		found := false
		for _, f := range w.L(hcm, "http_filters") {
			fm, _ := f.(map[string]any)
			if fm["name"] == extAuthzName {
				found = true
				switch name {
				case "plain":
					continue
				case "noop":
					w.M(w.M(w.M(fm, "typed_config"), "grpc_service"), "envoy_grpc")["cluster_name"] = "baseline"
				}
			}
			kept = append(kept, f)
		}
		if w.Err == nil && !found {
			return nil, fmt.Errorf("%s: no %s filter", b.File, extAuthzName)
		}
		if w.Err == nil {
			hcm["http_filters"] = kept
		}
		if name == "plain" && w.Err == nil {
			// No per-route settings for a filter the chain no longer has.
			for _, vh := range w.L(w.M(hcm, "route_config"), "virtual_hosts") {
				for _, r := range w.L(vh.(map[string]any), "routes") {
					if pf, ok := r.(map[string]any)["typed_per_filter_config"].(map[string]any); ok {
						delete(pf, extAuthzName)
						if len(pf) == 0 {
							delete(r.(map[string]any), "typed_per_filter_config")
						}
					}
				}
			}
		}
		out = append(out, l)
	}
	if w.Err != nil {
		return nil, fmt.Errorf("%s: %w", b.File, w.Err)
	}
	static["listeners"] = out

	var mfa map[string]any
	clusters := w.L(static, "clusters")
	for _, c := range clusters {
		if cm, _ := c.(map[string]any); cm["name"] == "mfa-authz" {
			mfa = cm
		}
	}
	if mfa == nil {
		return nil, fmt.Errorf("%s: no cluster mfa-authz", b.File)
	}
	base := envoytest.DeepCopy(mfa).(map[string]any)
	base["name"] = "baseline"
	w.M(base, "load_assignment")["cluster_name"] = "baseline"
	if err := envoytest.SetSocket(w.Endpoint(base), baseGRPC, w); err != nil {
		return nil, fmt.Errorf("%s: %w", b.File, err)
	}
	static["clusters"] = append(clusters, base)
	return b.Marshal()
}

// startEnvoy starts o.Envoy with the stage's bootstrap and waits (at most
// 30 s) until it is ready and its three listeners answer.
func startEnvoy(ctx context.Context, o Options, work, mfaGRPC, baseGRPC, upstream string) (*proxyStage, error) {
	version, err := envoytest.BinaryVersion(ctx, o.Envoy)
	if err != nil {
		return nil, err
	}
	signer, err := envoytest.NewSigner(o.Root)
	if err != nil {
		return nil, err
	}
	tokens := map[string]string{}
	for _, u := range []string{VerifiedUser, UnverifiedUser} {
		if tokens[u], err = signer.Token(envoytest.Claims(u, time.Now())); err != nil {
			return nil, err
		}
	}
	var addrs [3]string
	for i := range addrs {
		if addrs[i], err = freePort(); err != nil {
			return nil, err
		}
	}
	admin, err := freePort()
	if err != nil {
		return nil, err
	}
	cfg, err := envoyConfig(o.Root, addrs, admin, mfaGRPC, baseGRPC, upstream)
	if err != nil {
		return nil, err
	}
	file := filepath.Join(work, "envoy.yaml")
	if err := os.WriteFile(file, cfg, 0o644); err != nil {
		return nil, err
	}
	p, err := start(ctx, "envoy", filepath.Join(work, "envoy.log"), o.Envoy,
		"--config-path", file, "--disable-hot-restart", "--log-level", "warning")
	if err != nil {
		return nil, err
	}
	st := &proxyStage{name: "envoy", version: version, p: p, token: func(u string) string { return tokens[u] }}
	// Ready (200 LIVE) once the clusters, mfa-authz's health-checked one
	// included, have initialized.
	if err := waitHTTP(ctx, p, "http://"+admin+"/ready", 200, 30*time.Second); err != nil {
		p.stop()
		return nil, err
	}
	for i, a := range addrs {
		st.urls[i] = "http://" + a
		if err := waitHTTP(ctx, p, st.urls[i]+"/", 0, 15*time.Second); err != nil {
			p.stop()
			return nil, err
		}
	}
	return st, nil
}
