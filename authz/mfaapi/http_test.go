package mfaapi_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/mfa-authz/mfa-authz/authz/config"
	"github.com/mfa-authz/mfa-authz/authz/mfaapi"
	"github.com/mfa-authz/mfa-authz/authz/profile"
)

// Handler is Handle over net/http: the same answers, with the status,
// Content-Type and Retry-After as headers, never cached, and every other
// request passed on.
func TestHandler(t *testing.T) {
	activate := body(mfaapi.TypeActivate, "email", `"destination":"`+aliceEmail+`"`)
	upstream := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusTeapot) })
	for _, c := range []struct {
		name          string
		opts          opts
		setup         func(t *testing.T, e *env)
		method, path  string
		header        http.Header
		body          string
		contentLength int64 // when set, announced instead of the body's length
		next          http.Handler
		status        int
		ctype, want   string
		retryAfter    string
		allow         string // the Allow header
		cached        bool   // no Cache-Control: the request went past the API
		untouched     bool   // alice has no enrollment and no code was sent
	}{
		{name: "types", method: "GET", path: config.DefaultTypesPath, next: upstream, status: 200, ctype: profile.JSONContentType,
			want: `{"data":[{"type":"multi-factor-auth-types","id":"totp","attributes":{"type":"totp","status":0}},` +
				`{"type":"multi-factor-auth-types","id":"email","attributes":{"type":"email","status":0}},` +
				`{"type":"multi-factor-auth-types","id":"sms","attributes":{"type":"sms","status":0}}]}`},
		{name: "no content has no body", method: "POST", path: config.DefaultActivatePath, body: activate, next: upstream, status: 204},
		{name: "error document", method: "POST", path: config.DefaultActivatePath, body: "{", next: upstream,
			status: 400, ctype: profile.JSONContentType,
			want: `{"errors":[{"status":400,"code":"5913","detail":"Request body is missing or is not a valid JSON:API document."}]}`},
		{name: "body over max_body_bytes", method: "POST", path: config.DefaultActivatePath,
			body: activate + strings.Repeat(" ", config.DefaultMaxBodyBytes), next: upstream, status: 400, ctype: profile.JSONContentType,
			want: `{"errors":[{"status":400,"code":"5913","detail":"Request body is missing or is not a valid JSON:API document."}]}`},
		{name: "body shorter than announced", method: "POST", path: config.DefaultActivatePath, body: activate,
			contentLength: int64(len(activate) + 10), next: upstream, status: 400, ctype: profile.JSONContentType,
			want: `{"errors":[{"status":400,"code":"5913","detail":"Request body is missing or is not a valid JSON:API document."}]}`},
		// On a stopped clock, 10.001s after a code: 19.999s left.
		{name: "Retry-After in whole seconds, rounded up", method: "POST", path: config.DefaultTriggerPath,
			body: body(mfaapi.TypeTrigger, "email"), next: upstream,
			setup: func(t *testing.T, e *env) {
				e.oob(t, "alice", "email", aliceEmail, true)
				e.pendingCode(t, "alice", "email", "123456", 0, time.Minute)
				sent := e.pending(t, "alice", "email").SentAt
				e.api = newAPI(t, e, e.st, func() time.Time { return sent.Add(10*time.Second + time.Millisecond) })
			},
			status: 429, ctype: profile.JSONContentType, retryAfter: "20",
			want: `{"errors":[{"status":429,"code":"5916","detail":"An MFA code was sent a moment ago. Wait before requesting another."}]}`},
		{name: "X-Request-Id is the flow id", opts: opts{profile: profile.Problem}, method: "POST", path: config.DefaultRecoveryCodesPath,
			header: http.Header{"X-Request-Id": {flowID}}, next: upstream,
			setup:  func(t *testing.T, e *env) { e.enabledTOTP(t, "alice") },
			status: 409, ctype: profile.ProblemContentType,
			want: `{"type":"/problems/mfa/missing-code","type_documentation":"https://docs.example.com/problems/mfa/missing-code",` +
				`"title":"'X-MFA-Code' header missing","status":409,"detail":"Action is secured with MFA. Please provide 'X-MFA-Code' header.",` +
				`"flow_id":"` + flowID + `"}`},
		{name: "a repeated MFA header is refused", method: "POST", path: config.DefaultRecoveryCodesPath,
			header: http.Header{"X-Mfa-Code": {"totp 123456", "totp 654321"}}, next: upstream,
			setup:  func(t *testing.T, e *env) { e.enabledTOTP(t, "alice") },
			status: 403, ctype: profile.JSONContentType,
			want: `{"errors":[{"status":403,"code":"5901","detail":"X-MFA-Code is invalid."}]}`},
		{name: "other paths go to next", method: "GET", path: "/checkout", next: upstream, status: 418, cached: true},
		// Another method on an endpoint's path is 405 with Allow, not the
		// upstream's or an empty 404, and needs no identity.
		{name: "another method is 405", method: "GET", path: config.DefaultActivatePath, next: upstream,
			status: 405, ctype: profile.JSONContentType, allow: "POST", untouched: true,
			want: `{"errors":[{"status":405,"code":"5921","detail":"The HTTP method is not allowed on this resource."}]}`},
		{name: "another method on types is 405", method: "DELETE", path: config.DefaultTypesPath + "?x=1",
			status: 405, ctype: profile.JSONContentType, allow: "GET",
			want: `{"errors":[{"status":405,"code":"5921","detail":"The HTTP method is not allowed on this resource."}]}`},
		{name: "another method is 405, problem", opts: opts{profile: profile.Problem}, method: "PUT", path: config.DefaultVerifyPath,
			header: http.Header{"X-Request-Id": {flowID}}, status: 405, ctype: profile.ProblemContentType, allow: "POST",
			want: `{"type":"/problems/mfa/http-method-not-allowed","type_documentation":"https://docs.example.com/problems/mfa/http-method-not-allowed",` +
				`"title":"HTTP method not allowed.","status":405,"detail":"This MFA endpoint does not answer the HTTP method used; see the Allow header.",` +
				`"flow_id":"` + flowID + `"}`},
		{name: "no next: 404", method: "GET", path: "/checkout", status: 404, ctype: "text/plain; charset=utf-8",
			want: "404 page not found\n", cached: true},
		// The query is not part of the path; an absolute-form target is
		// its path.
		// Finding B: routed on the target as sent, this is no endpoint's
		// path (see TestHandlerOtherSpellings for more).
		{name: "escaped letter is another path", method: "POST", path: "/multi-factor-auth-type-%61ctivate", body: activate,
			status: 404, ctype: "text/plain; charset=utf-8", want: "404 page not found\n", cached: true, untouched: true},
		{name: "escaped letter goes to next", method: "POST", path: "/multi-factor-auth-type-%61ctivate", body: activate,
			next: upstream, status: 418, cached: true, untouched: true},
		{name: "query ignored", method: "POST", path: config.DefaultActivatePath + "?x=1", body: activate, status: 204},
		{name: "absolute form", method: "POST", path: "http://shop.example.com" + config.DefaultActivatePath, body: activate, status: 204},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, c.opts)
			if c.setup != nil {
				c.setup(t, e)
			}
			var rb io.Reader
			if c.body != "" {
				rb = strings.NewReader(c.body)
			}
			hr := httptest.NewRequest(c.method, c.path, rb)
			for k, vs := range c.header {
				hr.Header[k] = vs
			}
			hr.Header.Set("X-User-Id", "alice")
			if c.body != "" && hr.Header.Get("Content-Type") == "" {
				hr.Header.Set("Content-Type", "application/json")
			}
			if c.contentLength != 0 {
				hr.ContentLength = c.contentLength
			}
			w := httptest.NewRecorder()
			api := e.svc.API
			if e.api != nil {
				api = e.api
			}
			api.Handler(c.next).ServeHTTP(w, hr)
			res := w.Result()
			got, _ := io.ReadAll(res.Body)
			if res.StatusCode != c.status || res.Header.Get("Content-Type") != c.ctype || string(got) != c.want {
				t.Errorf("answer %d %q %s\nwant %d %q %s", res.StatusCode, res.Header.Get("Content-Type"), got, c.status, c.ctype, c.want)
			}
			if a := res.Header.Get("Allow"); a != c.allow {
				t.Errorf("Allow %q, want %q", a, c.allow)
			}
			if ra := res.Header.Get("Retry-After"); ra != c.retryAfter {
				t.Errorf("Retry-After %q, want %q", ra, c.retryAfter)
			}
			if cc := res.Header.Get("Cache-Control"); (cc == "no-store") == c.cached {
				t.Errorf("Cache-Control %q", cc)
			}
			if c.untouched {
				if enr := e.enrollment(t, "alice"); enr != nil {
					t.Errorf("alice was enrolled: %+v", enr)
				}
				e.expectNothingSent(t)
			}
		})
	}
}

// otherSpellings are targets that name no endpoint: the path is matched
// as sent, as the engine matches it on ext_authz, so an escaped letter, a
// trailing or doubled slash or a parameter make another path. Each goes to
// next (here none: 404), never to an endpoint, and never a zero status.
var otherSpellings = []struct{ method, target string }{
	{"POST", "/multi-factor-auth-type-%61ctivate"},
	{"POST", "/multi-factor-auth-type-activat%65"},
	{"POST", "/%6dulti-factor-auth-type-activate"},
	{"POST", "/multi-factor-auth-type%2Dactivate"},
	{"POST", "/multi-factor-auth-type-activate/"},
	{"POST", "/multi-factor-auth-type-activate%2F"},
	{"POST", "//multi-factor-auth-type-activate"},
	{"POST", "/multi-factor-auth-type-activate/."},
	{"POST", "/x/../multi-factor-auth-type-activate"},
	{"POST", "/multi-factor-auth-type-activate;x"},
	{"POST", "/MULTI-FACTOR-AUTH-TYPE-ACTIVATE"},
	{"POST", "/multi-factor-auth-type-activate%3Fx=1"},
	{"POST", "/multi-factor-auth-type-v%65rify"},
	{"POST", "/multi-factor-auth-recovery%2Dcodes"},
	{"GET", "/multi-factor-auth-typ%65s"},
}

func TestHandlerOtherSpellings(t *testing.T) {
	e := newEnv(t, opts{})
	activate := body(mfaapi.TypeActivate, "email", `"destination":"`+aliceEmail+`"`)
	for _, c := range otherSpellings {
		hr := httptest.NewRequest(c.method, c.target, strings.NewReader(activate))
		hr.Header.Set("X-User-Id", "alice")
		w := httptest.NewRecorder()
		e.svc.API.Handler(nil).ServeHTTP(w, hr)
		if got := w.Body.String(); w.Code != 404 || got != "404 page not found\n" || w.Header().Get("Cache-Control") != "" {
			t.Errorf("%s %s: got %d %v %q, want next's 404", c.method, c.target, w.Code, w.Header(), got)
		}
	}
	if enr := e.enrollment(t, "alice"); enr != nil {
		t.Errorf("alice was enrolled: %+v", enr)
	}
	e.expectNothingSent(t)
}

// TestHandlerOverTheWire sends the other spellings through a real server:
// each gets its 404, none a dropped connection (net/http's answer to a
// handler that panics, as WriteHeader(0) does).
func TestHandlerOverTheWire(t *testing.T) {
	e := newEnv(t, opts{})
	srv := httptest.NewServer(e.svc.API.Handler(nil))
	defer srv.Close()
	for _, c := range append(otherSpellings, struct{ method, target string }{"GET", config.DefaultTypesPath}) {
		req, err := http.NewRequest(c.method, srv.URL+c.target, nil)
		if err != nil {
			t.Fatal(err)
		}
		if req.URL.RequestURI() != c.target {
			t.Fatalf("the client would send %s, not %s", req.URL.RequestURI(), c.target)
		}
		req.Header.Set("X-User-Id", "alice")
		res, err := srv.Client().Do(req)
		if err != nil {
			t.Errorf("%s %s: %v", c.method, c.target, err)
			continue
		}
		res.Body.Close()
		want := 404
		if c.target == config.DefaultTypesPath {
			want = 200
		}
		if res.StatusCode != want {
			t.Errorf("%s %s: got %d, want %d", c.method, c.target, res.StatusCode, want)
		}
	}
}
