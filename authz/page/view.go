package page

import (
	"bytes"
	"crypto/rand"
	"embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"html/template"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/pquerna/otp"
	"go.uber.org/zap"

	"github.com/mfa-authz/mfa-authz/authz/factor"
	"github.com/mfa-authz/mfa-authz/authz/factor/builtin"
	"github.com/mfa-authz/mfa-authz/authz/mfaapi"
	"github.com/mfa-authz/mfa-authz/authz/profile"
	"github.com/mfa-authz/mfa-authz/authz/store"
	"github.com/mfa-authz/mfa-authz/authz/totp"
)

//go:embed page.html
var files embed.FS

var tmpl = template.Must(template.ParseFS(files, "page.html"))

// qrSize is the QR code's width and height in pixels.
const qrSize = 240

// view is what one rendering of the page shows.
type view struct {
	// Nonce allows the page's inline script and style (and nothing else);
	// Base is the page's path, the forms' prefix; Token the form token.
	Nonce, Base, Token string
	// Notice reports what the action did; Error why the API refused it.
	Notice, Error string
	// Factors are the offered MFA types and the user's status of each;
	// Enabled reports that one is enabled, so changes need a proof.
	Factors []factorView
	Enabled bool
	// Passkeys reports that passkeys are offered (webauthn configured),
	// Passkey that the user has one, to prove a change with.
	Passkeys, Passkey bool
	// TOTP is a TOTP activation just started; Recovery new recovery codes.
	TOTP     *totpSetup
	Recovery []string
	// HeaderName is the MFA header, named in the help text.
	HeaderName string

	status int           // the answer's status; 200 when 0
	retry  time.Duration // Retry-After of a refusal
}

// factorView is one MFA type's line on the page.
type factorView struct {
	Type, Label string
	Status      int // mfaapi.StatusDisabled, StatusInProgress, StatusEnabled
}

// StatusText names the status as the page shows it.
func (f factorView) StatusText() string {
	switch f.Status {
	case mfaapi.StatusEnabled:
		return "on"
	case mfaapi.StatusInProgress:
		return "activation in progress"
	}
	return "off"
}

// totpSetup is a TOTP secret just made, shown the one time it exists in
// the clear: the QR code inline as a PNG data: URI, never a URL the
// browser fetches.
type totpSetup struct {
	Secret string
	QR     template.URL
}

func newTOTPSetup(secret, uri string) (*totpSetup, error) {
	key, err := otp.NewKeyFromURL(uri)
	if err != nil {
		// The parser's error quotes the URI, secret and all: it must not
		// reach the log.
		return nil, errors.New("the activation's otpauth URI does not parse")
	}
	var png bytes.Buffer
	if err := totp.QRPNG(&png, key, qrSize); err != nil {
		return nil, err
	}
	// The URL type marks the data: URI as safe for the img element: it is
	// built here from a PNG, not taken from a request.
	qr := template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(png.Bytes()))
	return &totpSetup{Secret: secret, QR: qr}, nil
}

// label names an MFA type for people, as its factor does.
func label(method string) string {
	return factor.LabelOf(builtin.Enrollable(), method, "The factor")
}

// refused shows the API's refusal: its status, Retry-After and detail.
func refused(ans profile.Answer) *view {
	return &view{status: ans.Status, retry: ans.RetryAfter, Error: detail(ans)}
}

// detail is the human text of an API error body in either profile (Glue's
// errors[0].detail, RFC 9457's detail), else the status's name.
func detail(ans profile.Answer) string {
	var doc struct {
		Detail string `json:"detail"`
		Errors []struct {
			Detail string `json:"detail"`
		} `json:"errors"`
	}
	if json.Unmarshal([]byte(ans.Body), &doc) == nil {
		if len(doc.Errors) > 0 && doc.Errors[0].Detail != "" {
			return doc.Errors[0].Detail
		}
		if doc.Detail != "" {
			return doc.Detail
		}
	}
	return http.StatusText(ans.Status)
}

// failed logs an unexpected failure and shows it as an outage.
func (p *Page) failed(step string, err error) *view {
	p.log.Error("enrollment page failed", zap.String("step", step), zap.Error(err))
	return &view{status: http.StatusServiceUnavailable, Error: "Something went wrong. Try again later."}
}

// render shows the page with v's outcome and the user's factors, read
// through the API's types list. A list the API refuses (no identity, an
// outage) is shown as that refusal, without forms.
func (p *Page) render(w http.ResponseWriter, c *call, v *view) {
	v.Base, v.HeaderName = p.o.Path, p.o.Engine.HeaderName()
	if ans := p.api(c.hr.Context(), c, http.MethodGet, p.o.Paths.Types, "", nil); ans.Status != http.StatusOK {
		*v = *refused(ans)
		v.Base = p.o.Path
	} else if err := v.factors(ans.Body); err != nil {
		*v = *p.failed("read the types list", err)
		v.Base = p.o.Path
	} else {
		v.Token = issueToken(p.o.Hasher, c.user, p.o.Now().Add(p.o.FormTTL))
	}
	v.Nonce = nonce()
	var b bytes.Buffer
	if err := tmpl.Execute(&b, v); err != nil {
		p.log.Error("enrollment page failed", zap.String("step", "render"), zap.Error(err))
		plain(w, http.StatusInternalServerError, "The page could not be shown.")
		return
	}
	h := w.Header()
	secure(h, v.Nonce)
	h.Set("Content-Type", "text/html; charset=utf-8")
	if v.retry > 0 {
		h.Set("Retry-After", strconv.FormatInt(int64((v.retry+time.Second-1)/time.Second), 10))
	}
	status := v.status
	if status == 0 {
		status = http.StatusOK
	}
	w.WriteHeader(status)
	if c.hr.Method != http.MethodHead {
		_, _ = w.Write(b.Bytes())
	}
}

// factors fills in the factor list from the types list's body.
func (v *view) factors(body string) error {
	var doc struct {
		Data []struct {
			Attributes struct {
				Type   string `json:"type"`
				Status int    `json:"status"`
			} `json:"attributes"`
		} `json:"data"`
	}
	if err := json.Unmarshal([]byte(body), &doc); err != nil {
		return err
	}
	for _, d := range doc.Data {
		f := factorView{Type: d.Attributes.Type, Label: label(d.Attributes.Type), Status: d.Attributes.Status}
		v.Factors = append(v.Factors, f)
		v.Enabled = v.Enabled || f.Status == mfaapi.StatusEnabled
		if f.Type == store.MethodWebAuthn {
			v.Passkeys, v.Passkey = true, f.Status == mfaapi.StatusEnabled
		}
	}
	return nil
}

// nonce returns a fresh CSP nonce: 128 random bits, in the URL-safe
// base64 alphabet (which CSP's base64-value allows) so that html/template
// writes it into the nonce attribute as it is, never as "&#43;".
func nonce() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("page: no randomness for a nonce: " + err.Error())
	}
	return base64.URLEncoding.EncodeToString(b[:])
}

// secure sets the headers of every answer of the page: nothing is cached
// (the page shows secrets and form tokens), nothing runs or loads but the
// page's own nonce-bearing script and style and inline images, forms post
// only to the page's origin, no site may frame it, and no referrer leaves.
func secure(h http.Header, nonce string) {
	csp := "default-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
	if nonce != "" {
		csp += "; script-src 'nonce-" + nonce + "'; style-src 'nonce-" + nonce + "'; img-src data:; connect-src 'self'"
	}
	h.Set("Content-Security-Policy", csp)
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
}

// plain answers with a short text, for refusals that are no API answer.
func plain(w http.ResponseWriter, status int, msg string) {
	secure(w.Header(), "")
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, msg+"\n")
}
