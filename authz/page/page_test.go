package page_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mfa-authz/mfa-authz/authz/internal/servicetest"
	"github.com/mfa-authz/mfa-authz/authz/mfaapi"
	"github.com/mfa-authz/mfa-authz/authz/page"
	"github.com/mfa-authz/mfa-authz/authz/service"
	"github.com/mfa-authz/mfa-authz/authz/store"
	"github.com/mfa-authz/mfa-authz/authz/totp"
)

const config = `server:
  http_address: 127.0.0.1:0
identity:
  header: x-user-id
policy:
  anonymous: deny
webauthn:
  rp_id: localhost
  rp_display_name: Example Shop
  origins: [http://localhost:8080]
page:
  enabled: true
`

const (
	missing  = "X-MFA-Code header is missing."
	invalid  = "X-MFA-Code is invalid."
	stepUpJS = `{"errors":[{"status":403,"code":"5919","detail":"Verify an enabled MFA type before adding another."}]}`
	refusal  = "This form has expired or was not issued to you. Reload the page and try again.\n"
)

type answer struct {
	status int
	header http.Header
	body   string
}

// do sends a request to h as user (none when empty), a form when form is
// not nil.
func do(t *testing.T, h http.Handler, method, target, user string, form url.Values, extra ...string) answer {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	r := httptest.NewRequest(method, target, body)
	if form != nil {
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if user != "" {
		r.Header.Set("X-User-Id", user)
	}
	for i := 0; i+1 < len(extra); i += 2 {
		r.Header.Set(extra[i], extra[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return answer{w.Code, w.Result().Header, w.Body.String()}
}

var tokenRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// token returns the form token of user's page.
func token(t *testing.T, h http.Handler, user string) string {
	t.Helper()
	a := do(t, h, "GET", "/mfa", user, nil)
	m := tokenRE.FindStringSubmatch(a.body)
	if a.status != 200 || m == nil {
		t.Fatalf("GET /mfa as %s: %d, no form token\n%s", user, a.status, a.body)
	}
	return m[1]
}

func newPage(t *testing.T) (*service.Service, http.Handler) {
	t.Helper()
	svc := servicetest.New(t, config)
	if svc.Page == nil {
		t.Fatal("page.enabled: true built no page")
	}
	return svc, svc.Page.Handler(nil)
}

// The page is off unless page.enabled is set.
func TestPageOffByDefault(t *testing.T) {
	svc := servicetest.New(t, "server:\n  http_address: 127.0.0.1:0\n")
	if svc.Page != nil {
		t.Fatal("a page was built without page.enabled")
	}
}

// Every answer of the page is uncacheable and carries a strict CSP whose
// nonce is the one on the page's script and style, new each time.
func TestPageHeaders(t *testing.T) {
	_, h := newPage(t)
	a := do(t, h, "GET", "/mfa", "alice", nil)
	if a.status != 200 || a.header.Get("Content-Type") != "text/html; charset=utf-8" {
		t.Fatalf("GET /mfa: %d %q", a.status, a.header.Get("Content-Type"))
	}
	m := regexp.MustCompile(`^default-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'; ` +
		`script-src 'nonce-([A-Za-z0-9_-]{22}==)'; style-src 'nonce-([A-Za-z0-9_-]{22}==)'; img-src data:; connect-src 'self'$`).
		FindStringSubmatch(a.header.Get("Content-Security-Policy"))
	if m == nil || m[1] != m[2] {
		t.Fatalf("Content-Security-Policy %q", a.header.Get("Content-Security-Policy"))
	}
	if !strings.Contains(a.body, `<script nonce="`+m[1]+`">`) || !strings.Contains(a.body, `<style nonce="`+m[1]+`">`) {
		t.Fatalf("the script and style do not carry the CSP's nonce %s", m[1])
	}
	if strings.Count(a.body, "<script") != 1 || strings.Contains(a.body, " src=\"http") || strings.Contains(a.body, "onclick") {
		t.Fatal("the page has more than its one inline script, an external asset or an inline handler")
	}
	for k, v := range map[string]string{"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer"} {
		if got := a.header.Get(k); got != v {
			t.Errorf("%s: %q, want %q", k, got, v)
		}
	}
	if b := do(t, h, "GET", "/mfa", "alice", nil); strings.Contains(b.header.Get("Content-Security-Policy"), m[1]) {
		t.Error("two answers share a nonce")
	}
	if r := do(t, h, "POST", "/mfa/totp", "alice", url.Values{}); r.header.Get("Cache-Control") != "no-store" ||
		r.header.Get("Content-Security-Policy") != "default-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'" {
		t.Errorf("a refusal's headers: %v", r.header)
	}
}

// Without an identity the page shows the API's refusal and no form.
func TestPageNoIdentity(t *testing.T) {
	_, h := newPage(t)
	a := do(t, h, "GET", "/mfa", "", nil)
	if a.status != 400 || !strings.Contains(a.body, `<p class="error" id="error" role="alert">`) || strings.Contains(a.body, "<form") {
		t.Fatalf("GET /mfa without identity: %d\n%s", a.status, a.body)
	}
	if a := do(t, h, "POST", "/mfa/totp", "", url.Values{"csrf": {"x"}}); a.status != 403 || a.body != refusal {
		t.Fatalf("POST without identity: %d %q", a.status, a.body)
	}
}

// Forms without the user's own, unexpired token are refused with 403
// before anything is done; with it the same form starts an activation.
func TestPageFormToken(t *testing.T) {
	svc, h := newPage(t)
	st := svc.Store
	old, err := page.New(page.Options{API: svc.API, Engine: svc.Engine, Hasher: st, Path: "/mfa",
		Paths: pathsOf(svc), Now: func() time.Time { return time.Now().Add(-time.Hour) }})
	if err != nil {
		t.Fatal(err)
	}
	expired := token(t, old.Handler(nil), "alice")
	for name, form := range map[string]url.Values{
		"missing":      {},
		"empty":        {"csrf": {""}},
		"wrong":        {"csrf": {strings.Repeat("A", 54)}},
		"another user": {"csrf": {token(t, h, "bob")}},
		"expired":      {"csrf": {expired}},
	} {
		for _, act := range []string{"/mfa/totp", "/mfa/remove", "/mfa/recovery-codes", "/mfa/passkey/options", "/mfa/passkey/challenge"} {
			if a := do(t, h, "POST", act, "alice", form); a.status != 403 || a.body != refusal {
				t.Errorf("%s token on %s: %d %q", name, act, a.status, a.body)
			}
		}
	}
	if _, err := st.Enrollment(context.Background(), "alice"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a refused form changed alice's enrollment: %v", err)
	}
	a := do(t, h, "POST", "/mfa/totp", "alice", url.Values{"csrf": {token(t, h, "alice")}})
	if a.status != 200 || !strings.Contains(a.body, `<img id="totp-qr" src="data:image/png;base64,`) {
		t.Fatalf("with alice's token: %d\n%s", a.status, a.body)
	}
}

// The page's path answers GET and HEAD, its actions POST; others are 405
// with Allow, unknown actions 404, forms that are not one urlencoded form
// of single fields 400, and other paths go to the next handler.
func TestPageRouting(t *testing.T) {
	_, h := newPage(t)
	tok := token(t, h, "alice")
	for _, row := range []struct {
		method, target string
		status         int
		allow          string
	}{
		{"PUT", "/mfa", 405, "GET, HEAD"},
		{"POST", "/mfa", 405, "GET, HEAD"},
		{"GET", "/mfa/totp", 405, "POST"},
		{"GET", "/mfa/passkey/register", 405, "POST"},
		{"POST", "/mfa/nothing", 404, ""},
		{"GET", "/mfa/", 404, ""},
		{"GET", "/mfax", 404, ""},
		{"HEAD", "/mfa", 200, ""},
	} {
		a := do(t, h, row.method, row.target, "alice", nil)
		if a.status != row.status || a.header.Get("Allow") != row.allow {
			t.Errorf("%s %s: %d Allow %q, want %d %q", row.method, row.target, a.status, a.header.Get("Allow"), row.status, row.allow)
		}
		if row.method == "HEAD" && a.body != "" {
			t.Errorf("HEAD answered a body")
		}
	}
	r := httptest.NewRequest("POST", "/mfa/totp", strings.NewReader(`{"csrf":"`+tok+`"}`))
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("X-User-Id", "alice")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != 400 {
		t.Errorf("a JSON body: %d, want 400", w.Code)
	}
	if a := do(t, h, "POST", "/mfa/totp", "alice", url.Values{"csrf": {tok, tok}}); a.status != 400 {
		t.Errorf("a repeated field: %d, want 400", a.status)
	}
}

// Changes need the proofs the API asks for, judged by the API: the page's
// answers are the API's (status and detail), a code the client put in the
// MFA header itself counts for nothing, and the right code removes.
func TestPageSameProofsAsAPI(t *testing.T) {
	svc, h := newPage(t)
	f := servicetest.EnrollTOTP(t, svc, "alice")
	tok := token(t, h, "alice")

	a := do(t, h, "POST", "/mfa/passkey/options", "alice", url.Values{"csrf": {tok}})
	direct := do(t, svc.API.Handler(nil), "POST", "/multi-factor-auth-webauthn-registration-options", "alice", nil)
	if a.status != 403 || a.body != stepUpJS || direct.status != a.status || direct.body != a.body {
		t.Fatalf("passkey options without proof: page %d %s, API %d %s", a.status, a.body, direct.status, direct.body)
	}

	code, err := totp.Code(f, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for _, row := range []struct {
		name   string
		form   url.Values
		extra  []string
		status int
		text   string
	}{
		{"no proof", url.Values{"type": {"totp"}}, nil, 403, missing},
		{"the client's own MFA header", url.Values{"type": {"totp"}}, []string{"X-MFA-Code", code}, 403, missing},
		{"a wrong code", url.Values{"type": {"totp"}, "code": {wrong(code)}}, nil, 403, invalid},
	} {
		row.form.Set("csrf", tok)
		a := do(t, h, "POST", "/mfa/remove", "alice", row.form, row.extra...)
		if a.status != row.status || !strings.Contains(a.body, `id="error" role="alert">`+row.text+`</p>`) {
			t.Errorf("remove, %s: %d\n%s", row.name, a.status, a.body)
		}
	}
	if a := do(t, h, "POST", "/mfa/recovery-codes", "alice", url.Values{"csrf": {tok}}); a.status != 403 || !strings.Contains(a.body, missing) {
		t.Errorf("recovery codes without proof: %d\n%s", a.status, a.body)
	}
	if _, err := svc.Store.Enrollment(context.Background(), "alice"); err != nil {
		t.Fatalf("a refused removal removed: %v", err)
	}
	a = do(t, h, "POST", "/mfa/remove", "alice", url.Values{"csrf": {tok}, "type": {"totp"}, "code": {code}})
	if a.status != 200 || !strings.Contains(a.body, `id="notice" role="status">Authenticator app removed.</p>`) {
		t.Fatalf("remove with the code: %d\n%s", a.status, a.body)
	}
	if _, err := svc.Store.Enrollment(context.Background(), "alice"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("after removal: %v", err)
	}
}

// wrong returns another well-formed code than code.
func wrong(code string) string {
	if code == "000000" {
		return "111111"
	}
	return "000000"
}

func pathsOf(svc *service.Service) mfaapi.Paths {
	c := svc.Config.API
	return mfaapi.Paths{Types: c.TypesPath, Activate: c.ActivatePath, Verify: c.VerifyPath,
		Deactivate: c.DeactivatePath, Trigger: c.TriggerPath, RecoveryCodes: c.RecoveryCodesPath}
}
