package forwardauth_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/mfa-authz/mfa-authz/authz"
	"github.com/mfa-authz/mfa-authz/authz/extauthz"
	"github.com/mfa-authz/mfa-authz/authz/forwardauth"
	"github.com/mfa-authz/mfa-authz/authz/internal/servicetest"
	"github.com/mfa-authz/mfa-authz/authz/profile"
	"github.com/mfa-authz/mfa-authz/authz/service"
	"github.com/mfa-authz/mfa-authz/authz/store"
	"github.com/mfa-authz/mfa-authz/authz/totp"
)

const testConfig = `
identity:
  header: x-user-id
policy:
  rules:
    - path: /carts/**
    - path: /admin/**
      host: admin.example.com
`

// Denial bodies of the glue profile, as Spryker's Glue API answers.
const (
	glueMissing     = `{"errors":[{"status":403,"code":"5900","detail":"X-MFA-Code header is missing."}]}`
	glueInvalid     = `{"errors":[{"status":403,"code":"5901","detail":"X-MFA-Code is invalid."}]}`
	glueUnavailable = `{"errors":[{"status":503,"code":"5912","detail":"MFA verification is temporarily unavailable."}]}`
	glueType        = "application/json"
	problemType     = "application/problem+json"
)

// fixture is a real service with alice enrolled, and the handler on it.
type fixture struct {
	svc     *service.Service
	handler http.Handler
	factor  *store.TOTP
}

func newFixture(t testing.TB, extra string) *fixture {
	t.Helper()
	svc := servicetest.New(t, testConfig+extra)
	cfg := svc.Config
	f := servicetest.EnrollTOTP(t, svc, "alice")
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "next: "+r.URL.Path, http.StatusTeapot)
	})
	h := forwardauth.New(svc.Engine, nil, forwardauth.Options{
		Path: cfg.Server.ForwardAuthPath, EnvoyPrefix: cfg.Server.EnvoyHTTPPrefix, Next: next})
	return &fixture{svc: svc, handler: h, factor: f}
}

func (f *fixture) code(t testing.TB) string {
	t.Helper()
	c, err := totp.Code(f.factor, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// wrongCode returns a well-formed code that no time step the engine could
// accept now has.
func (f *fixture) wrongCode(t testing.TB) string {
	t.Helper()
	near := map[string]bool{}
	for step := -3; step <= 3; step++ {
		c, err := totp.Code(f.factor, time.Now().Add(time.Duration(step)*30*time.Second))
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

// hdr is a request's header lines in order; a name may repeat.
type hdr [][2]string

// forwarded builds a forward-auth request as Caddy sends it: GET on the
// endpoint, the original request in X-Forwarded-*, its headers copied.
func forwarded(method, uri string, h hdr) *http.Request {
	r := httptest.NewRequest("GET", "/forward-auth", nil)
	r.Header.Set("X-Forwarded-Method", method)
	r.Header.Set("X-Forwarded-Uri", uri)
	r.Header.Set("X-Forwarded-Host", "shop.example.com")
	r.Header.Set("X-Forwarded-Proto", "https")
	r.Header.Set("User-Agent", "Mozilla/5.0")
	for _, kv := range h {
		r.Header.Add(kv[0], kv[1])
	}
	return r
}

// envoy builds a check of Envoy's HTTP ext_authz mode.
func envoy(method, target string, h hdr) *http.Request {
	r := httptest.NewRequest(method, target, nil)
	r.Host = "shop.example.com"
	for _, kv := range h {
		r.Header.Add(kv[0], kv[1])
	}
	return r
}

func (f *fixture) serve(r *http.Request) *http.Response {
	w := httptest.NewRecorder()
	f.handler.ServeHTTP(w, r)
	return w.Result()
}

func body(t testing.TB, resp *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// expectAllowed asserts a 200 with an empty body, X-Mfa-Method as method
// ("" for none) and, for Envoy mode, the headers Envoy must remove.
func expectAllowed(t *testing.T, resp *http.Response, method, remove string) {
	t.Helper()
	if b := body(t, resp); resp.StatusCode != http.StatusOK || b != "" {
		t.Fatalf("got %d %q, want 200 with an empty body", resp.StatusCode, b)
	}
	if got := resp.Header.Values("X-Mfa-Method"); method == "" && len(got) != 0 || method != "" && (len(got) != 1 || got[0] != method) {
		t.Errorf("X-Mfa-Method %q, want %q", got, method)
	}
	if got := resp.Header.Values("X-Envoy-Auth-Headers-To-Remove"); remove == "" && len(got) != 0 || remove != "" && (len(got) != 1 || got[0] != remove) {
		t.Errorf("x-envoy-auth-headers-to-remove %q, want %q", got, remove)
	}
}

// expectDenied asserts a denial's exact status, content type and body,
// cache-control: no-store and no retry-after.
func expectDenied(t *testing.T, resp *http.Response, status int, contentType, want string) {
	t.Helper()
	b := body(t, resp)
	if resp.StatusCode != status || b != want {
		t.Fatalf("got %d %s\nwant %d %s", resp.StatusCode, b, status, want)
	}
	if got := resp.Header.Values("Content-Type"); len(got) != 1 || got[0] != contentType {
		t.Errorf("content-type %q, want %q", got, contentType)
	}
	if got := resp.Header.Values("Cache-Control"); len(got) != 1 || got[0] != "no-store" {
		t.Errorf("cache-control %q, want no-store", got)
	}
	if got := resp.Header.Get("Retry-After"); got != "" {
		t.Errorf("unexpected retry-after %q", got)
	}
	for _, k := range []string{"X-Mfa-Method", "X-Envoy-Auth-Headers-To-Remove"} {
		if got := resp.Header.Values(k); len(got) != 0 {
			t.Errorf("a denial carries %s %q", k, got)
		}
	}
}

func TestForwardAuth(t *testing.T) {
	f := newFixture(t, "")
	alice := hdr{{"X-User-Id", "alice"}}

	t.Run("unprotected", func(t *testing.T) {
		expectAllowed(t, f.serve(forwarded("GET", "/carts/1", hdr{{"X-MFA-Code", "123456"}})), "", "")
	})
	t.Run("missing code", func(t *testing.T) {
		expectDenied(t, f.serve(forwarded("POST", "/carts/1", alice)), 403, glueType, glueMissing)
	})
	t.Run("empty code", func(t *testing.T) {
		expectDenied(t, f.serve(forwarded("POST", "/carts/1", append(hdr{{"X-Mfa-Code", " "}}, alice...))), 403, glueType, glueMissing)
	})
	t.Run("wrong code", func(t *testing.T) {
		wrong := f.wrongCode(t)
		expectDenied(t, f.serve(forwarded("POST", "/carts/1", append(hdr{{"X-MFA-Code", wrong}}, alice...))), 403, glueType, glueInvalid)
	})
	t.Run("repeated code header is invalid", func(t *testing.T) {
		c := f.code(t)
		resp := f.serve(forwarded("POST", "/carts/1", append(hdr{{"X-MFA-Code", c}, {"X-MFA-Code", c}}, alice...)))
		expectDenied(t, resp, 403, glueType, glueInvalid)
	})
	// Two wrong attempts so far; the default max_failures is 5.
	t.Run("right code", func(t *testing.T) {
		resp := f.serve(forwarded("POST", "/carts/1", append(hdr{{"X-MFA-Code", f.code(t)}}, alice...)))
		expectAllowed(t, resp, "totp", "")
	})
	t.Run("grace", func(t *testing.T) {
		expectAllowed(t, f.serve(forwarded("DELETE", "/carts/1", alice)), "totp", "")
	})
	t.Run("no identity", func(t *testing.T) {
		expectDenied(t, f.serve(forwarded("POST", "/carts/1", nil)), 400, glueType,
			`{"errors":[{"status":400,"code":"5905","detail":"No customer identifier provided."}]}`)
	})
	t.Run("unknown host is any host", func(t *testing.T) {
		// /admin/** is protected on admin.example.com only. Without
		// X-Forwarded-Host the host is unknown, and the rule applies.
		r := forwarded("POST", "/admin/users", hdr{{"X-User-Id", "bob"}})
		expectAllowed(t, f.serve(r), "", "")
		r = forwarded("POST", "/admin/users", hdr{{"X-User-Id", "bob"}})
		r.Header.Del("X-Forwarded-Host")
		expectDenied(t, f.serve(r), 403, glueType,
			`{"errors":[{"status":403,"code":"5920","detail":"MFA is not activated for this customer."}]}`)
	})
	t.Run("other paths go to next", func(t *testing.T) {
		for _, p := range []string{"/healthz", "/forward-auth/x", "/ext-authzfoo"} {
			resp := f.serve(httptest.NewRequest("GET", p, nil))
			if b := body(t, resp); resp.StatusCode != http.StatusTeapot || b != "next: "+p+"\n" {
				t.Errorf("%s: got %d %q, want the next handler", p, resp.StatusCode, b)
			}
		}
	})
}

func TestMalformedForwardedHeaders(t *testing.T) {
	f := newFixture(t, "")
	for name, edit := range map[string]func(http.Header){
		"no method":         func(h http.Header) { h.Del("X-Forwarded-Method") },
		"no uri":            func(h http.Header) { h.Del("X-Forwarded-Uri") },
		"empty uri":         func(h http.Header) { h.Set("X-Forwarded-Uri", "") },
		"empty method":      func(h http.Header) { h.Set("X-Forwarded-Method", "") },
		"method list":       func(h http.Header) { h.Set("X-Forwarded-Method", "GET, POST") },
		"method with space": func(h http.Header) { h.Set("X-Forwarded-Method", "GET /") },
		"repeated method":   func(h http.Header) { h.Add("X-Forwarded-Method", "GET") },
		"repeated uri":      func(h http.Header) { h.Add("X-Forwarded-Uri", "/public") },
		"repeated host":     func(h http.Header) { h.Add("X-Forwarded-Host", "other.example.com") },
		"host list":         func(h http.Header) { h.Set("X-Forwarded-Host", "shop.example.com, evil.example.com") },
	} {
		// GET /public alone would be allowed: each problem must deny it.
		r := forwarded("GET", "/public", hdr{{"X-User-Id", "alice"}})
		edit(r.Header)
		resp := f.serve(r)
		if b := body(t, resp); resp.StatusCode != 503 || b != glueUnavailable ||
			resp.Header.Get("Content-Type") != glueType || resp.Header.Get("Cache-Control") != "no-store" {
			t.Errorf("%s: got %d %v %s, want the unavailable denial", name, resp.StatusCode, resp.Header, b)
		}
	}
	// Still deciding.
	expectAllowed(t, f.serve(forwarded("GET", "/public", nil)), "", "")
}

func TestEnvoyMode(t *testing.T) {
	f := newFixture(t, "")
	alice := hdr{{"x-user-id", "alice"}}

	t.Run("unprotected removes the MFA and method headers", func(t *testing.T) {
		resp := f.serve(envoy("GET", "/ext-authz/carts/1?page=2", hdr{{"x-mfa-code", "123456"}, {"x-mfa-method", "totp"}}))
		expectAllowed(t, resp, "", "x-mfa-code, x-mfa-method")
	})
	t.Run("query reaches the engine", func(t *testing.T) {
		// GET is unprotected, but a _method parameter could make it a DELETE.
		resp := f.serve(envoy("GET", "/ext-authz/carts/1?_method=DELETE", alice))
		expectDenied(t, resp, 403, glueType, glueMissing)
	})
	t.Run("path is judged as sent, not cleaned or redirected", func(t *testing.T) {
		for _, target := range []string{"/ext-authz/public/../carts/1", "/ext-authz//carts/1", "/ext-authz/carts/%2e%2e/carts/1"} {
			expectDenied(t, f.serve(envoy("POST", target, alice)), 403, glueType, glueMissing)
		}
	})
	t.Run("missing code", func(t *testing.T) {
		expectDenied(t, f.serve(envoy("POST", "/ext-authz/carts/1", alice)), 403, glueType, glueMissing)
	})
	t.Run("repeated code header is invalid", func(t *testing.T) {
		c := f.code(t)
		resp := f.serve(envoy("POST", "/ext-authz/carts/1", append(hdr{{"x-mfa-code", c}, {"x-mfa-code", c}}, alice...)))
		expectDenied(t, resp, 403, glueType, glueInvalid)
	})
	t.Run("right code strips the code and sets the method", func(t *testing.T) {
		resp := f.serve(envoy("POST", "/ext-authz/carts/1?x=1", append(hdr{{"x-mfa-code", "totp " + f.code(t)}}, alice...)))
		expectAllowed(t, resp, "totp", "x-mfa-code")
	})
	t.Run("grace", func(t *testing.T) {
		expectAllowed(t, f.serve(envoy("PATCH", "/ext-authz/carts/1", alice)), "totp", "x-mfa-code")
	})
	t.Run("host is the request's", func(t *testing.T) {
		r := envoy("POST", "/ext-authz/admin/users", hdr{{"x-user-id", "bob"}})
		expectAllowed(t, f.serve(r), "", "x-mfa-code, x-mfa-method")
		r = envoy("POST", "/ext-authz/admin/users", hdr{{"x-user-id", "bob"}})
		r.Host = "admin.example.com"
		expectDenied(t, f.serve(r), 403, glueType,
			`{"errors":[{"status":403,"code":"5920","detail":"MFA is not activated for this customer."}]}`)
	})
	t.Run("no path after the prefix", func(t *testing.T) {
		for _, target := range []string{"/ext-authz", "/ext-authz?x=1"} {
			resp := f.serve(envoy("GET", target, nil))
			if b := body(t, resp); resp.StatusCode != 503 || b != glueUnavailable {
				t.Errorf("%s: got %d %s, want the unavailable denial", target, resp.StatusCode, b)
			}
		}
	})
}

func TestCustomHeaderAndPaths(t *testing.T) {
	f := newFixture(t, "mfa:\n  header: X-Step-Up\nserver:\n  forward_auth_path: /auth\n  envoy_http_prefix: /envoy/check\n")
	resp := f.serve(envoy("GET", "/envoy/check/carts/1", nil))
	expectAllowed(t, resp, "", "x-step-up, x-mfa-method")
	r := forwarded("POST", "/carts/1", hdr{{"X-User-Id", "alice"}})
	r.URL.Path, r.RequestURI = "/auth", "/auth"
	expectDenied(t, f.serve(r), 403, glueType, `{"errors":[{"status":403,"code":"5900","detail":"X-Step-Up header is missing."}]}`)
	// The default paths are not served.
	for _, p := range []string{"/forward-auth", "/ext-authz/carts/1"} {
		if resp := f.serve(httptest.NewRequest("POST", p, nil)); resp.StatusCode != http.StatusTeapot {
			t.Errorf("%s: got %d, want the next handler", p, resp.StatusCode)
		}
	}
}

func TestDisabledEndpoints(t *testing.T) {
	f := newFixture(t, "server:\n  forward_auth_path: \"\"\n  envoy_http_prefix: \"\"\n")
	for _, r := range []*http.Request{forwarded("POST", "/carts/1", nil), envoy("POST", "/ext-authz/carts/1", nil)} {
		if resp := f.serve(r); resp.StatusCode != http.StatusTeapot {
			t.Errorf("%s: got %d, want the next handler", r.URL.Path, resp.StatusCode)
		}
	}
}

// grpcDenial asks the gRPC adapter about the same request and returns its
// denial as an HTTP response would carry it.
func grpcDenial(t *testing.T, f *fixture, method, path string, h map[string]string) (int, http.Header, string) {
	t.Helper()
	resp, err := extauthz.New(f.svc.Engine, nil).Check(context.Background(), &authv3.CheckRequest{
		Attributes: &authv3.AttributeContext{Request: &authv3.AttributeContext_Request{
			// Envoy puts x-request-id in the id attribute too.
			Http: &authv3.AttributeContext_HttpRequest{Id: h["x-request-id"], Method: method, Path: path,
				Host: "shop.example.com", Headers: h},
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	den := resp.GetDeniedResponse()
	if den == nil {
		t.Fatalf("gRPC adapter did not deny: %v", resp)
	}
	hh := http.Header{}
	for _, o := range den.GetHeaders() {
		hh.Add(o.GetHeader().GetKey(), o.GetHeader().GetValue())
	}
	return int(den.GetStatus().GetCode()), hh, den.GetBody()
}

// TestDenialsMatchGRPC asks both adapters about the same requests, with
// both profiles, and wants the same status, headers and body bytes.
func TestDenialsMatchGRPC(t *testing.T) {
	for _, prof := range []string{"glue", "problem"} {
		t.Run(prof, func(t *testing.T) {
			f := newFixture(t, "mfa:\n  profile: "+prof+"\n  problem_base_url: https://docs.example.com\n"+
				"regulation:\n  max_failures: 2\n")
			for _, c := range []struct {
				name    string
				method  string
				path    string
				headers map[string]string
				retry   bool
			}{
				{name: "missing", method: "POST", path: "/carts/1", headers: map[string]string{"x-user-id": "alice"}},
				{name: "invalid", method: "POST", path: "/carts/1", headers: map[string]string{"x-user-id": "alice", "x-mfa-code": "nope"}},
				{name: "no identity", method: "POST", path: "/carts/1"},
				{name: "not enrolled", method: "POST", path: "/carts/1", headers: map[string]string{"x-user-id": "bob"}},
				// One invalid attempt through each adapter above: alice is banned.
				{name: "too many attempts", method: "POST", path: "/carts/1", headers: map[string]string{"x-user-id": "alice"}, retry: true},
				{name: "malformed", method: "POST", path: "", headers: map[string]string{"x-user-id": "alice"}},
			} {
				t.Run(c.name, func(t *testing.T) {
					h := map[string]string{"x-request-id": "req-" + strings.ReplaceAll(c.name, " ", "-")}
					for k, v := range c.headers {
						h[k] = v
					}
					wantStatus, wantHeader, wantBody := grpcDenial(t, f, c.method, c.path, h)
					var lines hdr
					for k, v := range h {
						lines = append(lines, [2]string{k, v})
					}
					r := forwarded(c.method, c.path, lines)
					if c.path == "" {
						r.Header.Del("X-Forwarded-Uri")
					}
					resp := f.serve(r)
					got := body(t, resp)
					if resp.StatusCode != wantStatus || got != wantBody {
						t.Fatalf("forward-auth: %d %s\ngRPC:         %d %s", resp.StatusCode, got, wantStatus, wantBody)
					}
					for _, k := range []string{"Content-Type", "Cache-Control"} {
						if resp.Header.Get(k) != wantHeader.Get(k) {
							t.Errorf("%s: forward-auth %q, gRPC %q", k, resp.Header.Get(k), wantHeader.Get(k))
						}
					}
					ra, wantRA := resp.Header.Get("Retry-After"), wantHeader.Get("Retry-After")
					if c.retry {
						// Both count down the same ban; a second may pass between them.
						n, err := strconv.Atoi(ra)
						m, _ := strconv.Atoi(wantRA)
						if err != nil || n < 1 || n > m || n < m-1 {
							t.Errorf("retry-after: forward-auth %q, gRPC %q", ra, wantRA)
						}
					} else if ra != "" || wantRA != "" {
						t.Errorf("retry-after: forward-auth %q, gRPC %q", ra, wantRA)
					}
					if prof == "problem" && !strings.HasSuffix(got, `"flow_id":"`+h["x-request-id"]+`"}`) {
						t.Errorf("flow_id is not the request id: %s", got)
					}
					if ct := resp.Header.Get("Content-Type"); prof == "glue" && ct != glueType || prof == "problem" && ct != problemType {
						t.Errorf("content-type %q for profile %s", ct, prof)
					}
				})
			}
		})
	}
}

// TestProblemBodies pins the problem profile's exact bodies.
func TestProblemBodies(t *testing.T) {
	f := newFixture(t, "mfa:\n  profile: problem\n  problem_base_url: https://docs.example.com\n")
	resp := f.serve(forwarded("POST", "/carts/1", hdr{{"X-User-Id", "alice"}, {"X-Request-Id", "req-42"}}))
	expectDenied(t, resp, 409, problemType, `{"type":"/problems/mfa/missing-code",`+
		`"type_documentation":"https://docs.example.com/problems/mfa/missing-code","title":"'X-MFA-Code' header missing",`+
		`"status":409,"detail":"Action is secured with MFA. Please provide 'X-MFA-Code' header.","flow_id":"req-42"}`)
	resp = f.serve(forwarded("POST", "/carts/1", hdr{{"X-User-Id", "alice"}, {"X-Mfa-Code", "12"}, {"X-Request-Id", "req-43"}}))
	expectDenied(t, resp, 401, problemType, `{"type":"/problems/mfa/invalid-code",`+
		`"type_documentation":"https://docs.example.com/problems/mfa/invalid-code","title":"MFA code invalid.",`+
		`"status":401,"detail":"The provided MFA code is invalid or expired.","flow_id":"req-43"}`)
	// A request id unfit for a body is replaced by a fresh UUID.
	r := forwarded("GET", "", hdr{{"X-Request-Id", `"}`}})
	r.Header.Del("X-Forwarded-Uri")
	resp = f.serve(r)
	b := body(t, resp)
	if resp.StatusCode != 503 || !strings.HasPrefix(b, `{"type":"/problems/mfa/unavailable",`) || strings.Contains(b, `"}"`) {
		t.Fatalf("got %d %s", resp.StatusCode, b)
	}
}

// TestServedByService runs the real service and checks that its HTTP
// listener answers health, forward-auth and Envoy checks.
func TestServedByService(t *testing.T) {
	f := newFixture(t, "")
	listen := func() net.Listener {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan service.Listeners, 1)
	done := make(chan error, 1)
	go func() {
		done <- f.svc.Run(ctx, service.Listeners{GRPC: listen(), HTTP: listen()}, func(l service.Listeners) { ready <- l })
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("service did not stop within 10s")
		}
	})
	var base string
	select {
	case l := <-ready:
		base = "http://" + l.HTTP.Addr().String()
	case err := <-done:
		t.Fatalf("service stopped: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("service not ready within 10s")
	}
	client := &http.Client{
		Timeout: 5 * time.Second,
		// A redirect is an answer of its own here, not something to follow.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	do := func(method, target string, h hdr) (int, string) {
		t.Helper()
		req, err := http.NewRequest(method, base+target, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, kv := range h {
			// As written: names differing in case go out as sent.
			req.Header[kv[0]] = append(req.Header[kv[0]], kv[1])
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		return resp.StatusCode, body(t, resp)
	}
	for _, c := range []struct {
		method, target string
		h              hdr
		status         int
		body           string
	}{
		{"GET", "/healthz", nil, 200, "ok\n"},
		{"GET", "/readyz", nil, 200, "ready\n"},
		{"GET", "/forward-auth", hdr{{"X-Forwarded-Method", "POST"}, {"X-Forwarded-Uri", "/carts/1"}, {"X-User-Id", "alice"}}, 403, glueMissing},
		{"GET", "/forward-auth", hdr{{"X-Forwarded-Method", "GET"}, {"X-Forwarded-Uri", "/carts/1"}}, 200, ""},
		{"GET", "/forward-auth", nil, 503, glueUnavailable},
		{"POST", "/ext-authz/carts/1", hdr{{"X-User-Id", "alice"}}, 403, glueMissing},
		// net/http's ServeMux would redirect this to a cleaned path.
		{"POST", "/ext-authz/public/../carts/1", hdr{{"X-User-Id", "alice"}}, 403, glueMissing},
		{"GET", "/ext-authz/carts/1", nil, 200, ""},
		// net/http merges names differing in case: the code and the identity
		// count as repeated, never as one picked at random.
		{"POST", "/ext-authz/carts/1", hdr{{"X-User-Id", "alice"}, {"X-MFA-Code", "123456"}, {"x-mfa-code", "654321"}}, 403, glueInvalid},
		{"POST", "/ext-authz/carts/1", hdr{{"X-User-Id", "alice"}, {"x-user-id", "mallory"}}, 400,
			`{"errors":[{"status":400,"code":"5905","detail":"No customer identifier provided."}]}`},
		{"GET", "/nowhere", nil, 404, "404 page not found\n"},
	} {
		status, b := do(c.method, c.target, c.h)
		if status != c.status || b != c.body {
			t.Errorf("%s %s: got %d %q, want %d %q", c.method, c.target, status, b, c.status, c.body)
		}
	}
}

// fakeAPI answers the self-service paths with a fixed answer and counts
// the requests it answered.
type fakeAPI struct {
	answer  profile.Answer
	handled atomic.Int32
}

func (a *fakeAPI) Serves(_, target string) bool {
	return strings.HasPrefix(target, "/multi-factor-auth-")
}

func (a *fakeAPI) Handle(_ context.Context, r *authz.Request) (profile.Answer, bool) {
	if !strings.HasPrefix(r.Path, "/multi-factor-auth-") {
		return profile.Answer{}, false
	}
	a.handled.Add(1)
	return a.answer, true
}

// TestSelfServiceNotServed checks that a request for the endpoints
// mfa-authz serves itself never reaches them over forward-auth or Envoy's
// HTTP mode, whatever they would answer (a success a proxy would take for
// an allow, or an error it would pass on): it is refused with the
// unavailable denial, while the gRPC adapter still hands it to them.
func TestSelfServiceNotServed(t *testing.T) {
	f := newFixture(t, "")
	api := &fakeAPI{}
	f.svc.Engine.SetAPI(api)
	for _, answer := range []profile.Answer{
		{Status: 200, ContentType: glueType, Body: `{"data":[]}`},
		{Status: 201, ContentType: glueType, Body: `{"data":{"type":"totp"}}`},
		{Status: 204},
		{Status: 422, ContentType: glueType, Body: `{"errors":[]}`},
	} {
		api.answer = answer
		for _, r := range []*http.Request{
			forwarded("POST", "/multi-factor-auth-type-activate", hdr{{"X-User-Id", "alice"}}),
			envoy("POST", "/ext-authz/multi-factor-auth-type-activate", hdr{{"X-User-Id", "alice"}}),
		} {
			expectDenied(t, f.serve(r), 503, glueType, glueUnavailable)
		}
		if n := api.handled.Load(); n != 0 {
			t.Fatalf("answer %d: the API answered %d requests over HTTP ext_authz", answer.Status, n)
		}
		// Other requests are decided as before.
		expectAllowed(t, f.serve(forwarded("POST", "/public", hdr{{"X-User-Id", "alice"}})), "", "")
	}
	// The same request over gRPC reaches the API.
	status, _, b := grpcDenial(t, f, "POST", "/multi-factor-auth-type-activate", map[string]string{"x-user-id": "alice"})
	if status != 422 || b != `{"errors":[]}` || api.handled.Load() != 1 {
		t.Errorf("gRPC: got %d %s, %d requests answered; want the API's answer", status, b, api.handled.Load())
	}
}

// TestDecisionLog checks the debug decision line and that no log entry
// ever holds a code.
func TestDecisionLog(t *testing.T) {
	f := newFixture(t, "")
	core, logs := observer.New(zap.DebugLevel)
	h := forwardauth.New(f.svc.Engine, zap.New(core), forwardauth.Options{Path: "/forward-auth", EnvoyPrefix: "/ext-authz"})
	serve := func(r *http.Request) int {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w.Code
	}
	right, wrong := f.code(t), f.wrongCode(t)
	if got := serve(forwarded("POST", "/carts/1", hdr{{"X-User-Id", "alice"}, {"X-MFA-Code", wrong}})); got != 403 {
		t.Fatalf("wrong code: %d", got)
	}
	if got := serve(forwarded("POST", "/carts/1", hdr{{"X-User-Id", "alice"}, {"X-MFA-Code", "totp " + right}})); got != 200 {
		t.Fatalf("right code: %d", got)
	}
	r := forwarded("POST", "/carts/1", hdr{{"X-MFA-Code", right}})
	r.Header.Del("X-Forwarded-Uri")
	if got := serve(r); got != 503 {
		t.Fatalf("malformed: %d", got)
	}
	var decisions, malformed int
	for _, e := range logs.All() {
		line := fmt.Sprint(e.Message, e.ContextMap())
		if strings.Contains(line, right) || strings.Contains(line, wrong) {
			t.Errorf("a log entry holds a code: %s", line)
		}
		if strings.Contains(line, "alice") {
			t.Errorf("a log entry names the user: %s", line)
		}
		switch e.Message {
		case "decision":
			decisions++
			if m := e.ContextMap(); m["allowed"] == true && (m["method"] != "totp" || m["detail"] != "verified" || m["user_hash"] == "") {
				t.Errorf("allowed decision line %v", m)
			}
		case "malformed forward-auth request denied":
			malformed++
			if m := e.ContextMap(); m["problem"] != "no X-Forwarded-Uri" {
				t.Errorf("malformed line %v", m)
			}
		}
	}
	if decisions != 2 || malformed != 1 {
		t.Errorf("%d decision and %d malformed lines, want 2 and 1", decisions, malformed)
	}
}
