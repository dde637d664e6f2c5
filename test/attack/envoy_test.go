package attack

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"

	"github.com/mfa-authz/mfa-authz/test/attack/harness"
	"github.com/mfa-authz/mfa-authz/test/envoytest"
)

// envoyFamily reports whether a corpus family is about the request line and
// Host, which Envoy parses and normalizes before mfa-authz sees them. The
// other families (identity, headers, codes) are about what mfa-authz reads
// from the CheckRequest, which TestAttackCorpus covers directly.
func envoyFamily(f string) bool {
	return strings.HasPrefix(f, "path/") || strings.HasPrefix(f, "method/")
}

// outcome is how one row ended behind Envoy.
type outcome string

const (
	byEnvoy     outcome = "refused by Envoy itself"
	byMFA       outcome = "forwarded to mfa-authz and denied by it"
	byRedirect  outcome = "redirected by Envoy, the target then denied"
	rewritten   outcome = "rewritten by Envoy into a path the policy does not protect, which the upstream got"
	reachedUp   outcome = "REACHED THE UPSTREAM"
	unreachable outcome = "not sendable as HTTP/1.1"
)

// TestAttackCorpusThroughEnvoy sends the corpus's path, host and method
// rows through the real Envoy 1.40 with the shipped envoy/envoy.yaml
// (addresses changed only) to the real gRPC server, as raw bytes on a TCP
// connection, so that nothing on the client side normalizes what is under
// test. Every row must end denied before the upstream: refused by Envoy
// itself (400, 404), denied by mfa-authz, or redirected by Envoy
// (path_with_escaped_slashes_action) to a target that is then denied; or
// rewritten by Envoy's normalization into another request whose target,
// as the upstream receives it, the policy does not protect. A recording
// ext_authz hop in front of mfa-authz notes what Envoy asked about each
// row (method, :authority, :path), which tells Envoy's own refusals from
// mfa-authz's denials. Control requests (unprotected, exception, valid
// code, session, session on a path Envoy normalizes) show the same setup
// lets allowed requests through. The log tabulates, per family, who
// stopped the rows, and lists every row (-v, or ATTACK_ENVOY_REPORT=file).
func TestAttackCorpusThroughEnvoy(t *testing.T) {
	bin := envoytest.Require(t)
	root, err := envoytest.FindRoot()
	if err != nil {
		t.Fatal(err)
	}
	s := harness.Start(t, harness.Options{Config: serverConfig})
	rec := startRecorder(t, s.Client)
	up := envoytest.StartUpstream(t)
	env := envoytest.StartShipped(t, bin, root, envoytest.ShippedConfig, map[string]string{"mfa-authz": rec.addr, "upstream": up.Addr})
	signer, err := envoytest.NewSigner(root)
	if err != nil {
		t.Fatal(err)
	}
	token := func(user string) string {
		tok, err := signer.Token(envoytest.Claims(user, time.Now()))
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}

	// Controls: the setup lets what is allowed through, in this order
	// (the code opens alice's session, which the later rows use), and the
	// upstream gets the target as Envoy normalized it.
	alice, bob := s.Enroll(t, "envoy-control"), s.Enroll(t, "envoy-control-nosession")
	for _, c := range []struct {
		name, user, method, path, code, upstream string
	}{
		{"unprotected read", bob.Name, "GET", "/catalog-search?q=tent", "", "/catalog-search?q=tent"},
		{"exception route without a session", bob.Name, "POST", "/carts/1/public", "", "/carts/1/public"},
		{"protected write with a valid code", alice.Name, "POST", pwPath, alice.Code(t), pwPath},
		{"protected write in the session", alice.Name, "POST", pwPath, "", pwPath},
		{"normalized protected write in the session", alice.Name, "POST", "/foo/..//%63ustomer-password%2F./DE--42", "", pwPath},
	} {
		marker := "control-" + strings.ReplaceAll(c.name, " ", "-")
		h := [][2]string{{"Authorization", "Bearer " + token(c.user)}, {"X-Request-Id", marker}}
		if c.code != "" {
			h = append(h, [2]string{"X-MFA-Code", c.code})
		}
		status, hdr, _, err := rawRequest(env.Ingress, c.method, c.path, harness.Host, h)
		if err == nil && status == 307 {
			// path_with_escaped_slashes_action: follow Envoy's redirect.
			loc, perr := url.Parse(hdr.Get("Location"))
			if perr != nil {
				t.Fatalf("control %q: redirect to %q: %v", c.name, hdr.Get("Location"), perr)
			}
			status, _, _, err = rawRequest(env.Ingress, c.method, loc.RequestURI(), harness.Host, h)
		}
		r, ok := receivedReq(up, marker)
		if err != nil || status != 200 || !ok || r.Target != c.upstream {
			t.Fatalf("control %q: status %d (%v); upstream got %s, want %q", c.name, status, err, upstreamTarget(up, marker), c.upstream)
		}
	}

	tally := map[string]map[outcome]int{}
	var rows strings.Builder
	n := 0
	for _, a := range corpus() {
		if !envoyFamily(a.family) || a.jwtOnly || a.otherSession {
			continue
		}
		n++
		c := &rc{t: t, s: s, u: s.Enroll(t, fmt.Sprintf("envoy-attacker-%03d", n)), other: s.Enroll(t, fmt.Sprintf("envoy-victim-%03d", n))}
		req := a.req(c)
		host := req.Host
		switch host {
		case "":
			host = harness.Host
		case "-":
			host = ""
		}
		marker := fmt.Sprintf("row-%03d", n)
		h := [][2]string{{"X-Request-Id", marker}}
		for k, v := range req.Headers {
			if k == "x-user-id" {
				// The shipped Envoy drops a client's x-user-id; the user is
				// the verified token's subject.
				k, v = "Authorization", "Bearer "+token(v)
			}
			h = append(h, [2]string{k, v})
		}
		target := req.Path
		for _, hv := range req.HeaderMap {
			v := hv.GetValue()
			if len(hv.GetRawValue()) > 0 {
				v = string(hv.GetRawValue())
			}
			if hv.GetKey() == ":path" && req.Path == "" && pathsIn(req) == 1 {
				// A row whose only path is one header_map :path (raw bytes
				// Envoy could not put in a protobuf string) is, on the
				// wire, a request line with that target.
				target = v
				continue
			}
			h = append(h, [2]string{hv.GetKey(), v})
		}
		out, status := runRow(t, env.Ingress, up, req.Method, target, host, h, marker)
		fwd, asked := rec.seen(marker)
		// Who answered is read from what mfa-authz was asked, not only from
		// the body: a row Envoy refused never reached the Check call.
		switch {
		case out == byMFA && !asked:
			t.Errorf("%s / %s: denial with mfa-authz's body but no Check call", a.family, a.name)
		case out == byEnvoy && asked && status != 307:
			t.Errorf("%s / %s: answered %d as if by Envoy, but mfa-authz was asked (%s)", a.family, a.name, status, fwd)
		}
		if !asked {
			fwd = "(not asked)"
		}
		if out == reachedUp {
			// Envoy may have turned the attack into another request (merged
			// slashes): what counts is that the upstream got a request the
			// policy does not protect, so that it serves what mfa-authz
			// judged.
			if r, ok := receivedReq(up, marker); ok {
				if rule := s.Svc.Engine.Policy().Match(r.Method, r.Host, r.Target); rule == nil || !rule.MFARequired {
					if r.Target != target {
						out = rewritten
					}
				}
			}
		}
		if tally[a.family] == nil {
			tally[a.family] = map[outcome]int{}
		}
		tally[a.family][out]++
		fmt.Fprintf(&rows, "%-26s %-45s sent %q %q Host %q -> %d; mfa-authz saw %s; %s\n", a.family, a.name, req.Method, target, host, status, fwd, out)
		if out == reachedUp {
			t.Errorf("%s / %s: %s %q (host %q) reached the upstream through Envoy as %s", a.family, a.name, req.Method, target, host, upstreamTarget(up, marker))
		}
	}
	if n == 0 {
		t.Fatal("no corpus row of the path, host and method families")
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d corpus rows through Envoy %s:\n", n, envoytest.Version)
	for _, f := range slices.Sorted(maps.Keys(tally)) {
		fmt.Fprintf(&b, "  %-26s", f)
		for _, o := range []outcome{byEnvoy, byMFA, byRedirect, rewritten, unreachable, reachedUp} {
			if k := tally[f][o]; k > 0 {
				fmt.Fprintf(&b, "  %s: %d", o, k)
			}
		}
		b.WriteString("\n")
	}
	t.Log(b.String())
	t.Log("per row:\n" + rows.String())
	if path := os.Getenv("ATTACK_ENVOY_REPORT"); path != "" {
		_ = os.WriteFile(path, []byte(b.String()+"\n"+rows.String()), 0o644)
	}
}

// pathsIn counts the :path entries of a row's header_map.
func pathsIn(r harness.Req) int {
	n := 0
	for _, hv := range r.HeaderMap {
		if hv.GetKey() == ":path" {
			n++
		}
	}
	return n
}

// runRow sends one row, follows one redirect, and says who stopped it and
// with which status.
func runRow(t *testing.T, addr string, up *envoytest.Upstream, method, path, host string, h [][2]string, marker string) (outcome, int) {
	t.Helper()
	status, hdr, body, err := rawRequest(addr, method, path, host, h)
	if received(up, marker) {
		return reachedUp, status
	}
	switch {
	case err != nil:
		return unreachable, 0
	case status >= 300 && status < 400:
		loc, perr := url.Parse(hdr.Get("Location"))
		if perr != nil || hdr.Get("Location") == "" {
			return byEnvoy, status
		}
		_, _, _, _ = rawRequest(addr, method, loc.RequestURI(), host, h)
		if received(up, marker) {
			return reachedUp, status
		}
		return byRedirect, status
	case status >= 400 && isMFABody(body):
		return byMFA, status
	case status >= 400:
		return byEnvoy, status
	}
	t.Errorf("%s %q: status %d but the upstream saw nothing", method, path, status)
	return byEnvoy, status
}

// isMFABody reports an answer body of mfa-authz's (a JSON:API error
// document), as opposed to one of Envoy's own.
func isMFABody(body string) bool { return strings.HasPrefix(body, `{"errors":[`) }

// upstreamTarget returns how the upstream received the request carrying
// marker: method, target and Host.
func upstreamTarget(up *envoytest.Upstream, marker string) string {
	if r, ok := receivedReq(up, marker); ok {
		return fmt.Sprintf("%s %q (Host %q)", r.Method, r.Target, r.Host)
	}
	return "nothing"
}

// receivedReq returns the request the upstream got carrying marker.
func receivedReq(up *envoytest.Upstream, marker string) (envoytest.Received, bool) {
	for _, r := range up.Requests() {
		if r.Header.Get("X-Request-Id") == marker {
			return r, true
		}
	}
	return envoytest.Received{}, false
}

// received reports whether the upstream got a request carrying marker as
// its X-Request-Id.
func received(up *envoytest.Upstream, marker string) bool {
	_, ok := receivedReq(up, marker)
	return ok
}

// rawRequest writes an HTTP/1.1 request byte for byte (target and header
// values as given, unnormalized) and reads the answer's status, headers
// and body. host "" sends no Host header.
func rawRequest(addr, method, target, host string, h [][2]string) (int, http.Header, string, error) {
	conn, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return 0, nil, "", err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\n", method, target)
	if host != "" {
		fmt.Fprintf(&b, "Host: %s\r\n", host)
	}
	for _, kv := range h {
		fmt.Fprintf(&b, "%s: %s\r\n", kv[0], kv[1])
	}
	b.WriteString("Content-Length: 0\r\nConnection: close\r\n\r\n")
	if _, err := io.WriteString(conn, b.String()); err != nil {
		return 0, nil, "", err
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return 0, nil, "", err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	return resp.StatusCode, resp.Header, string(body), nil
}

// recorder is an ext_authz gRPC server in front of mfa-authz's: it notes
// the method, :authority and :path each CheckRequest carries (what Envoy
// made of the client's request) by x-request-id, and passes the request
// and mfa-authz's answer through unchanged.
type recorder struct {
	authv3.UnimplementedAuthorizationServer
	next authv3.AuthorizationClient
	addr string

	mu  sync.Mutex
	got map[string]string
}

// startRecorder serves a recorder forwarding to next until t ends.
func startRecorder(t *testing.T, next authv3.AuthorizationClient) *recorder {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &recorder{next: next, addr: lis.Addr().String(), got: map[string]string{}}
	g := grpc.NewServer()
	authv3.RegisterAuthorizationServer(g, r)
	go func() { _ = g.Serve(lis) }()
	t.Cleanup(g.Stop)
	return r
}

// Check implements authv3.AuthorizationServer.
func (r *recorder) Check(ctx context.Context, req *authv3.CheckRequest) (*authv3.CheckResponse, error) {
	h := req.GetAttributes().GetRequest().GetHttp()
	r.mu.Lock()
	r.got[h.GetHeaders()["x-request-id"]] = fmt.Sprintf("%s %q Host %q", h.GetMethod(), h.GetPath(), h.GetHost())
	r.mu.Unlock()
	return r.next.Check(ctx, req)
}

// seen returns what the Check call for the request marked marker carried,
// and whether there was one.
func (r *recorder) seen(marker string) (string, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	v, ok := r.got[marker]
	return v, ok
}
