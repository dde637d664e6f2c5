// Package page serves the enrollment page: plain server-rendered HTML on
// the HTTP listener where a user whom the proxy authenticated sees their
// factors, enrolls TOTP (a QR code rendered here) and passkeys, fetches
// new recovery codes and removes a factor.
//
// The page decides nothing itself. Every action is a request to the
// self-service endpoints (mfaapi.API.Handle) made in process, with the
// user's own request headers (so the same identity, and the same
// credential for a step-up), the form's code or passkey assertion in the
// MFA header and the endpoint's JSON body: whatever proof the API asks for
// the page asks for too, and it answers with the API's status. What the
// page adds is what a browser needs: form tokens against cross-site posts
// (form.go), a strict Content-Security-Policy with a per-response nonce
// for its one inline script and style, and no caching.
//
// The files: page.go routes a request and calls the API, actions.go
// handles each form, view.go renders the template (page.html).
package page

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/mfa-authz/mfa-authz/authz"
	"github.com/mfa-authz/mfa-authz/authz/mfaapi"
	"github.com/mfa-authz/mfa-authz/authz/profile"
)

// DefaultFormTTL is how long a form token stays valid: long enough to
// scan a QR code and type a code, short enough that a token copied from an
// old page is useless.
const DefaultFormTTL = 30 * time.Minute

// maxFormBytes bounds a form body: a passkey's attestation or assertion
// in JSON is the largest field, a few kilobytes.
const maxFormBytes = 64 << 10

// Options configure a Page.
type Options struct {
	// API is the self-service endpoints the page acts through, Engine the
	// engine they belong to (identity, MFA header name). Both required.
	API    *mfaapi.API
	Engine *authz.Engine
	// Hasher keys the form tokens: the store (store.Store). Required.
	Hasher Hasher
	// Path is the page's path (page.path); the forms post below it.
	Path string
	// Paths and WebAuthnPaths are the endpoints' paths, as the API serves
	// them.
	Paths         mfaapi.Paths
	WebAuthnPaths mfaapi.WebAuthnPaths
	// FormTTL is how long a form token is valid (DefaultFormTTL when 0).
	FormTTL time.Duration
	// Logger defaults to a no-op logger, Now to time.Now.
	Logger *zap.Logger
	Now    func() time.Time
}

// Page serves the enrollment page. It is immutable after New and safe for
// concurrent use.
type Page struct {
	o   Options
	log *zap.Logger
}

// New returns a Page, filling in the defaults of unset options.
func New(o Options) (*Page, error) {
	if o.API == nil || o.Engine == nil || o.Hasher == nil {
		return nil, errors.New("page: api, engine and hasher are required")
	}
	if !strings.HasPrefix(o.Path, "/") || o.Path == "/" || strings.HasSuffix(o.Path, "/") {
		return nil, errors.New("page: path must be an absolute path below / without a trailing slash")
	}
	if o.FormTTL <= 0 {
		o.FormTTL = DefaultFormTTL
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Page{o: o, log: o.Logger}, nil
}

// The page's actions, posted below its path.
const (
	actTOTP       = "/totp"           // start (or restart) a TOTP activation
	actTOTPVerify = "/totp/verify"    // confirm it with a code
	actRecovery   = "/recovery-codes" // new recovery codes, shown or downloaded
	actRemove     = "/remove"         // remove a factor or cancel an activation
	// The passkey actions answer the page's script in JSON: the API's
	// own answers, passed through.
	actPasskeyOptions   = "/passkey/options"
	actPasskeyRegister  = "/passkey/register"
	actPasskeyChallenge = "/passkey/challenge"
)

// Handler serves the page and its actions, and hands every other request
// to next (nil: 404). The page's path answers GET, its actions POST;
// another method gets 405 with an Allow header.
func (p *Page) Handler(next http.Handler) http.Handler {
	if next == nil {
		next = http.NotFoundHandler()
	}
	return http.HandlerFunc(func(w http.ResponseWriter, hr *http.Request) {
		path := hr.URL.EscapedPath()
		if path != p.o.Path && !strings.HasPrefix(path, p.o.Path+"/") {
			next.ServeHTTP(w, hr)
			return
		}
		act := strings.TrimPrefix(path, p.o.Path)
		var h func(http.ResponseWriter, *http.Request, *call)
		switch act {
		case "":
			if hr.Method != http.MethodGet && hr.Method != http.MethodHead {
				methodNotAllowed(w, "GET, HEAD")
				return
			}
			p.render(w, p.newCall(hr), &view{})
			return
		case actTOTP:
			h = p.totpActivate
		case actTOTPVerify:
			h = p.totpVerify
		case actRecovery:
			h = p.recoveryCodes
		case actRemove:
			h = p.remove
		case actPasskeyOptions, actPasskeyRegister, actPasskeyChallenge:
			h = p.passkey
		default:
			http.NotFound(w, hr)
			return
		}
		if hr.Method != http.MethodPost {
			methodNotAllowed(w, "POST")
			return
		}
		c := p.newCall(hr)
		if !p.readForm(w, hr, c) {
			return
		}
		h(w, hr, c)
	})
}

func methodNotAllowed(w http.ResponseWriter, allow string) {
	w.Header().Set("Allow", allow)
	plain(w, http.StatusMethodNotAllowed, "Method not allowed.")
}

// call is one request to the page: the user's request as the API will
// see it, and the user it names.
type call struct {
	hr   *http.Request
	user string
	form formValues
}

func (p *Page) newCall(hr *http.Request) *call {
	c := &call{hr: hr}
	c.user, _ = p.o.Engine.Identity(p.request(hr, http.MethodGet, p.o.Paths.Types, "", nil))
	return c
}

// readForm reads a POST's form and checks its token; on failure it has
// answered: 400 for a body that is no single urlencoded form within
// bounds, 403 for a missing, wrong, expired or another user's token.
func (p *Page) readForm(w http.ResponseWriter, hr *http.Request, c *call) bool {
	f, err := parseForm(hr)
	if err != nil {
		plain(w, http.StatusBadRequest, "The form could not be read.")
		return false
	}
	c.form = f
	if !validToken(p.o.Hasher, c.user, f.get("csrf"), p.o.Now(), p.o.FormTTL) {
		plain(w, http.StatusForbidden, "This form has expired or was not issued to you. Reload the page and try again.")
		return false
	}
	return true
}

// request is hr as the API sees it when sent to method and path: hr's own
// headers (identity, credential, request id), with the MFA header set to
// code (none when empty) and the body declared as JSON.
func (p *Page) request(hr *http.Request, method, path, code string, body []byte) *authz.Request {
	return &authz.Request{
		Method: method,
		Host:   hr.Host,
		Path:   path,
		ID:     hr.Header.Get("X-Request-Id"),
		Header: apiHeader{h: hr.Header, mfa: p.o.Engine.HeaderName(), code: code},
		Body:   body,
	}
}

// api sends the request to the endpoint at path through the API, in
// process. A path the API does not serve (passkeys not configured) is
// answered 404.
func (p *Page) api(ctx context.Context, c *call, method, path, code string, body []byte) profile.Answer {
	ans, ok := p.o.API.Handle(ctx, p.request(c.hr, method, path, code, body))
	if !ok {
		return profile.Answer{Status: http.StatusNotFound}
	}
	return ans
}

// apiHeader is a browser request's headers as the API reads them: the MFA
// header is the form's code, never one the client sent itself, and the
// body is the page's JSON document.
type apiHeader struct {
	h         http.Header
	mfa, code string
}

// Lookup implements authz.Header. Repeats are counted, as the API's own
// HTTP transport counts them.
func (a apiHeader) Lookup(name string) (string, int) {
	switch {
	case strings.EqualFold(name, a.mfa):
		if a.code == "" {
			return "", 0
		}
		return a.code, 1
	case strings.EqualFold(name, "content-type"):
		return "application/json", 1
	}
	vs := a.h.Values(name)
	if len(vs) == 0 {
		return "", 0
	}
	return vs[0], len(vs)
}
