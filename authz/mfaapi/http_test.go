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
		cached        bool // no Cache-Control: the request went past the API
	}{
		{name: "types", method: "GET", path: config.DefaultTypesPath, next: upstream, status: 200, ctype: profile.GlueContentType,
			want: `{"data":[{"type":"multi-factor-auth-types","id":"totp","attributes":{"type":"totp","status":0}},` +
				`{"type":"multi-factor-auth-types","id":"email","attributes":{"type":"email","status":0}},` +
				`{"type":"multi-factor-auth-types","id":"sms","attributes":{"type":"sms","status":0}}]}`},
		{name: "no content has no body", method: "POST", path: config.DefaultActivatePath, body: activate, next: upstream, status: 204},
		{name: "error document", method: "POST", path: config.DefaultActivatePath, body: "{", next: upstream,
			status: 400, ctype: profile.GlueContentType,
			want: `{"errors":[{"status":400,"code":"5913","detail":"Request body is missing or is not a valid JSON:API document."}]}`},
		{name: "body over max_body_bytes", method: "POST", path: config.DefaultActivatePath,
			body: activate + strings.Repeat(" ", config.DefaultMaxBodyBytes), next: upstream, status: 400, ctype: profile.GlueContentType,
			want: `{"errors":[{"status":400,"code":"5913","detail":"Request body is missing or is not a valid JSON:API document."}]}`},
		{name: "body shorter than announced", method: "POST", path: config.DefaultActivatePath, body: activate,
			contentLength: int64(len(activate) + 10), next: upstream, status: 400, ctype: profile.GlueContentType,
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
			status: 429, ctype: profile.GlueContentType, retryAfter: "20",
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
			status: 403, ctype: profile.GlueContentType,
			want: `{"errors":[{"status":403,"code":"5901","detail":"X-MFA-Code is invalid."}]}`},
		{name: "other paths go to next", method: "GET", path: "/checkout", next: upstream, status: 418, cached: true},
		{name: "other methods go to next", method: "GET", path: config.DefaultActivatePath, next: upstream, status: 418, cached: true},
		{name: "no next: 404", method: "GET", path: "/checkout", status: 404, ctype: "text/plain; charset=utf-8",
			want: "404 page not found\n", cached: true},
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
			if ra := res.Header.Get("Retry-After"); ra != c.retryAfter {
				t.Errorf("Retry-After %q, want %q", ra, c.retryAfter)
			}
			if cc := res.Header.Get("Cache-Control"); (cc == "no-store") == c.cached {
				t.Errorf("Cache-Control %q", cc)
			}
		})
	}
}
