package caddy

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mfa-authz/mfa-authz/authz/store"
	"github.com/mfa-authz/mfa-authz/authz/totp"
	"github.com/mfa-authz/mfa-authz/test/testproc"
)

// mfaAuthz is a running `mfa-authz serve` with its own config and store.
type mfaAuthz struct {
	*testproc.Process
	cfg      string
	httpAddr string
}

// startMFAAuthz writes a config for profile, enrolls user through the CLI
// and serves it, waiting (at most 10 s) until /readyz answers 200. It
// returns the server and the user's TOTP factor.
func startMFAAuthz(t *testing.T, bin, profile, user string) (*mfaAuthz, *store.TOTP) {
	t.Helper()
	dir := t.TempDir()
	m := &mfaAuthz{cfg: filepath.Join(dir, "mfa-authz.yaml"), httpAddr: testproc.FreeAddr(t)}
	cfg := fmt.Sprintf(`server:
  grpc_address: %s
  http_address: %s
  shutdown_timeout: 5s
log:
  level: debug
  format: json
mfa:
  header: X-MFA-Code
  profile: %s
  problem_base_url: https://docs.example.com
identity:
  header: x-user-id
storage:
  path: %s
  key_file: %s
policy:
  rules:
    - path: /customer-password/**
      methods: [POST, PATCH, DELETE]
`, testproc.FreeAddr(t), m.httpAddr, profile,
		strconv.Quote(filepath.Join(dir, "data", "store")), strconv.Quote(filepath.Join(dir, "secrets", "store.key")))
	if err := os.WriteFile(m.cfg, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	f := enroll(t, bin, m.cfg, user)
	m.Process = testproc.Start(t, "mfa-authz ("+profile+")", exec.Command(bin, "serve", "--config", m.cfg))
	m.WaitHTTP(t, "http://"+m.httpAddr+"/readyz", 10*time.Second, func(r *http.Response) bool { return r.StatusCode == 200 })
	return m, f
}

// enroll runs `mfa-authz enroll totp --output json` (at most 20 s) and
// returns the factor it printed.
func enroll(t *testing.T, bin, cfg, user string) *store.TOTP {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "enroll", "totp", "--user", user, "--config", cfg, "--output", "json")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("enroll totp --user %s: %v\n%s", user, err, stderr.String())
	}
	var e struct {
		User   string `json:"user"`
		Secret string `json:"secret"`
	}
	if err := json.Unmarshal(out, &e); err != nil || e.User != user || e.Secret == "" {
		t.Fatalf("enroll printed %q (%v), want {user, secret, uri}", out, err)
	}
	// The example defaults: SHA1, 6 digits, 30 s.
	return &store.TOTP{Secret: e.Secret, Algorithm: "SHA1", Digits: 6, Period: 30}
}

// code returns f's code for now.
func code(t *testing.T, f *store.TOTP) string {
	t.Helper()
	c, err := totp.Code(f, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// wrongCode returns a well-formed code that no time step mfa-authz could
// accept now has.
func wrongCode(t *testing.T, f *store.TOTP) string {
	t.Helper()
	near := map[string]bool{}
	for step := -3; step <= 3; step++ {
		c, err := totp.Code(f, time.Now().Add(time.Duration(step)*30*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		near[c] = true
	}
	for i := 0; ; i++ {
		if c := fmt.Sprintf("%06d", i); !near[c] {
			return c
		}
	}
}

// echo is what the upstream saw of a request.
type echo struct {
	Method string      `json:"method"`
	URI    string      `json:"uri"`
	Header http.Header `json:"header"`
}

// upstream is a loopback HTTP server answering every request with an
// echo of it, counting the requests.
type upstream struct {
	addr string
	hits atomic.Int64
}

func startUpstream(t *testing.T) *upstream {
	t.Helper()
	u := &upstream{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.hits.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(echo{Method: r.Method, URI: r.RequestURI, Header: r.Header})
	}))
	t.Cleanup(srv.Close)
	u.addr = srv.Listener.Addr().String()
	return u
}

// site is one Caddy site: its address and the mfa-authz it asks.
type site struct {
	addr     string
	mfaAuthz string
}

// caddyfile renders the Caddyfile: each site sends the self-service
// endpoints straight to its mfa-authz (handle runs before route and ends
// the request), asks its mfa-authz through forward_auth for every other
// request, and proxies allowed requests to the upstream. route keeps
// the directives in the order written (Caddy's default order would run
// request_header after forward_auth):
//   - a client-sent X-Mfa-Method is removed before forward_auth, so the
//     upstream sees only the value mfa-authz set;
//   - forward_auth copies the request's headers to mfa-authz and, on a 2xx
//     answer, its X-Mfa-Method to the request; any other answer goes to
//     the client as it is;
//   - where mfa-authz named no factor (an unprotected route), Caddy 2.6's
//     copy_headers sets the header to its own unreplaced placeholder,
//     "{http.reverse_proxy.header.X-Mfa-Method}": @placeholder removes
//     that (later Caddy versions set nothing, and it matches nothing);
//   - the MFA code is removed after forward_auth has shown it to mfa-authz.
func caddyfile(sites []site, upstream string) string {
	var b strings.Builder
	b.WriteString("{\n\tadmin off\n\tauto_https off\n}\n")
	for _, s := range sites {
		fmt.Fprintf(&b, `
http://%s {
	handle /multi-factor-auth-* {
		reverse_proxy %s
	}
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
`, s.addr, s.mfaAuthz, s.mfaAuthz, upstream)
	}
	return b.String()
}

// startCaddy runs `caddy run` on the Caddyfile for sites and waits (at most
// 15 s) until every site answers.
func startCaddy(t *testing.T, bin string, sites []site, upstream string) *testproc.Process {
	t.Helper()
	dir := t.TempDir()
	file := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(file, []byte(caddyfile(sites, upstream)), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "run", "--config", file, "--adapter", "caddyfile")
	// Caddy keeps state under the user's config and data dirs: use the test's.
	cmd.Env = append(os.Environ(), "HOME="+dir, "XDG_CONFIG_HOME="+filepath.Join(dir, "config"),
		"XDG_DATA_HOME="+filepath.Join(dir, "data"))
	p := testproc.Start(t, "caddy", cmd)
	for _, s := range sites {
		p.WaitHTTP(t, "http://"+s.addr+"/", 15*time.Second, func(*http.Response) bool { return true })
	}
	return p
}

// request is one request sent through Caddy.
type request struct {
	method, path string
	header       [][2]string
}

// response is Caddy's answer.
type response struct {
	status int
	header http.Header
	body   string
}

// send sends r to the site at addr (at most 5 s).
func send(t *testing.T, addr string, r request) response {
	t.Helper()
	return sendBody(t, addr, r, "")
}

// sendBody is send with a request body.
func sendBody(t *testing.T, addr string, r request, body string) response {
	t.Helper()
	req, err := http.NewRequest(r.method, "http://"+addr+r.path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for _, kv := range r.header {
		req.Header.Add(kv[0], kv[1])
	}
	client := &http.Client{Timeout: 5 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", r.method, r.path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the body: %v", r.method, r.path, err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: string(b)}
}

// upstreamEcho decodes the upstream's echo from an allowed response.
func upstreamEcho(t *testing.T, resp response) echo {
	t.Helper()
	var e echo
	if resp.status != 200 {
		t.Fatalf("got %d %s, want the upstream's 200", resp.status, resp.body)
	}
	if err := json.Unmarshal([]byte(resp.body), &e); err != nil {
		t.Fatalf("not the upstream's echo: %v\n%s", err, resp.body)
	}
	return e
}
