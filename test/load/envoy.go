package load

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// EnvoySkipped is the line the table prints when envoy is not on PATH.
// Envoy is not packaged by Debian, so CI machines have none: the stage is
// optional everywhere.
const EnvoySkipped = "envoy: not on PATH, Envoy stage skipped"

// The shipped Envoy bootstrap and its test-only JWT key, relative to the
// module root.
const (
	envoyYAML    = "envoy/envoy.yaml"
	envoyJWKS    = "envoy/test-jwks.json"
	envoyJWTKey  = "envoy/test-jwt-key.pem"
	extAuthzName = "envoy.filters.http.ext_authz"
)

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
	data, err := os.ReadFile(filepath.Join(root, envoyYAML))
	if err != nil {
		return nil, err
	}
	var doc map[string]any
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", envoyYAML, err)
	}
	e := &yamlEdit{}
	if err := setSocket(e.m(e.m(doc, "admin"), "address"), admin); err != nil {
		return nil, err
	}
	static := e.m(doc, "static_resources")
	shipped := e.l(static, "listeners")
	if e.err == nil && len(shipped) != 1 {
		return nil, fmt.Errorf("%s: %d listeners, want 1", envoyYAML, len(shipped))
	}
	var out []any
	for i, name := range []string{"plain", "noop", "mfa-authz"} {
		if e.err != nil {
			break
		}
		l := deepCopy(shipped[0]).(map[string]any)
		l["name"] = "ingress-" + name
		if err := setSocket(e.m(l, "address"), listeners[i]); err != nil {
			return nil, err
		}
		chains := e.l(l, "filter_chains")
		if e.err == nil && len(chains) != 1 {
			return nil, fmt.Errorf("%s: %d filter chains, want 1", envoyYAML, len(chains))
		}
		var hcm map[string]any
		if e.err == nil {
			hcm = e.m(e.at(e.l(chains[0].(map[string]any), "filters"), 0), "typed_config")
		}
		filters := e.l(hcm, "http_filters")
		var kept []any
		found := false
		for _, f := range filters {
			fm, _ := f.(map[string]any)
			switch fm["name"] {
			case "envoy.filters.http.jwt_authn":
				for _, p := range e.m(e.m(fm, "typed_config"), "providers") {
					pm, _ := p.(map[string]any)
					if jwks, ok := pm["local_jwks"].(map[string]any); ok {
						jwks["filename"] = filepath.Join(root, envoyJWKS)
					}
				}
			case extAuthzName:
				found = true
				switch name {
				case "plain":
					continue
				case "noop":
					e.m(e.m(e.m(fm, "typed_config"), "grpc_service"), "envoy_grpc")["cluster_name"] = "baseline"
				}
			}
			kept = append(kept, f)
		}
		if e.err == nil && !found {
			return nil, fmt.Errorf("%s: no %s filter", envoyYAML, extAuthzName)
		}
		if e.err == nil {
			hcm["http_filters"] = kept
		}
		if name == "plain" && e.err == nil {
			// No per-route settings for a filter the chain no longer has.
			for _, vh := range e.l(e.m(hcm, "route_config"), "virtual_hosts") {
				for _, r := range e.l(vh.(map[string]any), "routes") {
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
	if e.err != nil {
		return nil, fmt.Errorf("%s: %w", envoyYAML, e.err)
	}
	static["listeners"] = out

	clusters := e.l(static, "clusters")
	var mfa map[string]any
	for _, c := range clusters {
		cm, _ := c.(map[string]any)
		switch cm["name"] {
		case "mfa-authz":
			mfa = cm
			if err := setSocket(e.endpoint(cm), mfaGRPC); err != nil {
				return nil, err
			}
		case "upstream":
			if err := setSocket(e.endpoint(cm), upstream); err != nil {
				return nil, err
			}
		}
	}
	if e.err == nil && mfa == nil {
		return nil, fmt.Errorf("%s: no cluster mfa-authz", envoyYAML)
	}
	if e.err != nil {
		return nil, fmt.Errorf("%s: %w", envoyYAML, e.err)
	}
	base := deepCopy(mfa).(map[string]any)
	base["name"] = "baseline"
	e.m(base, "load_assignment")["cluster_name"] = "baseline"
	if err := setSocket(e.endpoint(base), baseGRPC); err != nil {
		return nil, err
	}
	static["clusters"] = append(clusters, base)
	if e.err != nil {
		return nil, fmt.Errorf("%s: %w", envoyYAML, e.err)
	}
	return yaml.Marshal(doc)
}

// yamlEdit walks a decoded YAML document, keeping the first error.
type yamlEdit struct{ err error }

func (e *yamlEdit) m(in map[string]any, key string) map[string]any {
	if e.err != nil {
		return nil
	}
	v, ok := in[key].(map[string]any)
	if !ok {
		e.err = fmt.Errorf("no mapping %q", key)
	}
	return v
}

func (e *yamlEdit) l(in map[string]any, key string) []any {
	if e.err != nil {
		return nil
	}
	v, ok := in[key].([]any)
	if !ok {
		e.err = fmt.Errorf("no list %q", key)
	}
	return v
}

func (e *yamlEdit) at(l []any, i int) map[string]any {
	if e.err != nil {
		return nil
	}
	if i >= len(l) {
		e.err = fmt.Errorf("list too short")
		return nil
	}
	v, ok := l[i].(map[string]any)
	if !ok {
		e.err = fmt.Errorf("list item %d is not a mapping", i)
	}
	return v
}

// endpoint returns the address of a cluster's one endpoint.
func (e *yamlEdit) endpoint(cluster map[string]any) map[string]any {
	lb := e.at(e.l(e.at(e.l(e.m(cluster, "load_assignment"), "endpoints"), 0), "lb_endpoints"), 0)
	return e.m(e.m(lb, "endpoint"), "address")
}

// setSocket sets an Envoy address mapping to host:port.
func setSocket(addr map[string]any, hostport string) error {
	if addr == nil {
		return errors.New("no address mapping")
	}
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		return err
	}
	p, err := strconv.Atoi(port)
	if err != nil {
		return err
	}
	addr["socket_address"] = map[string]any{"address": host, "port_value": p}
	return nil
}

func deepCopy(v any) any {
	switch t := v.(type) {
	case map[string]any:
		c := make(map[string]any, len(t))
		for k, x := range t {
			c[k] = deepCopy(x)
		}
		return c
	case []any:
		c := make([]any, len(t))
		for i, x := range t {
			c[i] = deepCopy(x)
		}
		return c
	}
	return v
}

// jwtSigner mints RS256 tokens that envoy.yaml's jwt_authn accepts, with
// the publicly known test key in envoy/.
type jwtSigner struct {
	key *rsa.PrivateKey
	kid string
	now time.Time
}

func newJWTSigner(root string, now time.Time) (*jwtSigner, error) {
	data, err := os.ReadFile(filepath.Join(root, envoyJWTKey))
	if err != nil {
		return nil, err
	}
	blk, _ := pem.Decode(data)
	if blk == nil {
		return nil, fmt.Errorf("%s: no PEM block", envoyJWTKey)
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", envoyJWTKey, err)
	}
	key, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%s: not an RSA key", envoyJWTKey)
	}
	var jwks struct {
		Keys []struct {
			Kid string `json:"kid"`
		} `json:"keys"`
	}
	data, err = os.ReadFile(filepath.Join(root, envoyJWKS))
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(data, &jwks); err != nil || len(jwks.Keys) != 1 {
		return nil, fmt.Errorf("%s: want one key (%v)", envoyJWKS, err)
	}
	return &jwtSigner{key: key, kid: jwks.Keys[0].Kid, now: now}, nil
}

// token returns a token for user with the mixes' claims, valid for two
// hours from the signer's time.
func (s *jwtSigner) token(user string) (string, error) {
	enc := base64.RawURLEncoding
	hdr, _ := json.Marshal(map[string]string{"alg": "RS256", "kid": s.kid, "typ": "JWT"})
	claims := jwtClaims(user)
	claims["iat"] = s.now.Unix()
	claims["exp"] = s.now.Add(2 * time.Hour).Unix()
	body, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	signing := enc.EncodeToString(hdr) + "." + enc.EncodeToString(body)
	sum := sha256.Sum256([]byte(signing))
	sig, err := rsa.SignPKCS1v15(rand.Reader, s.key, crypto.SHA256, sum[:])
	if err != nil {
		return "", err
	}
	return signing + "." + enc.EncodeToString(sig), nil
}

// startEnvoy starts o.Envoy with the stage's bootstrap and waits (at most
// 30 s) until it is ready and its three listeners answer.
func startEnvoy(ctx context.Context, o Options, work, mfaGRPC, baseGRPC, upstream string) (*proxyStage, error) {
	out, err := exec.CommandContext(ctx, o.Envoy, "--version").CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("%s --version: %v\n%s", o.Envoy, err, out)
	}
	// "envoy  version: <sha>/<version>/Clean/RELEASE/BoringSSL"
	version := strings.TrimSpace(string(out))
	if _, v, ok := strings.Cut(version, "version: "); ok {
		if f := strings.Split(strings.Fields(v)[0], "/"); len(f) > 1 {
			version = f[1]
		}
	}
	signer, err := newJWTSigner(o.Root, time.Now())
	if err != nil {
		return nil, err
	}
	tokens := map[string]string{}
	for _, u := range []string{VerifiedUser, UnverifiedUser} {
		if tokens[u], err = signer.token(u); err != nil {
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
