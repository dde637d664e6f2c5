package load

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// caddyfile renders the Caddy stage's config: one Caddy, three sites on
// loopback, all proxying to the same upstream.
//
//   - plain: reverse_proxy alone, no auth;
//   - noop: the forward_auth route of README's "Other proxies" (and
//     test/caddy), asking the no-op baseline's HTTP endpoint;
//   - mfa: the same route asking mfa-authz's /forward-auth.
//
// Sites have no host (http://:port), so they answer the mixes' Host
// (shop.example.com), which forward_auth passes on as X-Forwarded-Host.
func caddyfile(plain, noop, mfa, noopAuth, mfaAuth, upstream string) string {
	port := func(addr string) string { return addr[strings.LastIndexByte(addr, ':')+1:] }
	var b strings.Builder
	b.WriteString("{\n\tadmin off\n\tauto_https off\n}\n")
	fmt.Fprintf(&b, `
http://:%s {
	bind 127.0.0.1
	reverse_proxy %s
}
`, port(plain), upstream)
	for _, s := range [][2]string{{noop, noopAuth}, {mfa, mfaAuth}} {
		fmt.Fprintf(&b, `
http://:%s {
	bind 127.0.0.1
	route {
		request_header -X-Mfa-Method
		forward_auth %s {
			uri /forward-auth
			copy_headers X-Mfa-Method
		}
		@placeholder header_regexp X-Mfa-Method ^[{]
		request_header @placeholder -X-Mfa-Method
		request_header -X-MFA-Code
		reverse_proxy %s
	}
}
`, port(s[0]), s[1], upstream)
	}
	return b.String()
}

// startCaddy starts `caddy run` with the stage's Caddyfile and waits (at
// most 15 s) until all three sites answer. noopAuth and mfaAuth are the
// HTTP addresses of the no-op baseline and of mfa-authz.
func startCaddy(ctx context.Context, o Options, work, noopAuth, mfaAuth, upstream string) (*proxyStage, error) {
	out, err := exec.CommandContext(ctx, o.Caddy, "version").CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("%s version: %v\n%s", o.Caddy, err, out)
	}
	version, _, _ := strings.Cut(strings.TrimSpace(string(out)), " ")
	var addrs [3]string
	for i := range addrs {
		if addrs[i], err = freePort(); err != nil {
			return nil, err
		}
	}
	dir := filepath.Join(work, "caddy")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	file := filepath.Join(dir, "Caddyfile")
	if err := writeFile(file, caddyfile(addrs[0], addrs[1], addrs[2], noopAuth, mfaAuth, upstream)); err != nil {
		return nil, err
	}
	cmd := exec.Command(o.Caddy, "run", "--config", file, "--adapter", "caddyfile")
	// Caddy keeps state under the user's config and data dirs: use the run's.
	cmd.Env = append(os.Environ(), "HOME="+dir, "XDG_CONFIG_HOME="+filepath.Join(dir, "config"),
		"XDG_DATA_HOME="+filepath.Join(dir, "data"))
	p, err := startCmd(ctx, "caddy", filepath.Join(work, "caddy.log"), cmd)
	if err != nil {
		return nil, err
	}
	st := &proxyStage{name: "caddy", version: version, p: p, token: fakeJWT}
	for i, a := range addrs {
		st.urls[i] = "http://" + a
		if err := waitHTTP(ctx, p, st.urls[i]+"/", 0, 15*time.Second); err != nil {
			p.stop()
			return nil, err
		}
	}
	return st, nil
}
