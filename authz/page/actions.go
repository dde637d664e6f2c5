package page

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"

	"github.com/mfa-authz/mfa-authz/authz/mfaapi"
	"github.com/mfa-authz/mfa-authz/authz/profile"
	"github.com/mfa-authz/mfa-authz/authz/store"
)

// Each action builds the endpoint's request from the form, sends it
// through the API and shows the page again with the outcome: the API's
// status, and its error detail when it refused.

// totpActivate starts a TOTP activation (activate): the page shows the
// new secret once, as a QR code and as text, with the form to confirm it.
func (p *Page) totpActivate(w http.ResponseWriter, hr *http.Request, c *call) {
	ans := p.api(hr.Context(), c, http.MethodPost, p.o.Paths.Activate, c.form.code(), factorBody(mfaapi.TypeActivate, store.MethodTOTP))
	if ans.Status != http.StatusOK {
		p.render(w, c, refused(ans))
		return
	}
	var doc struct {
		Data struct {
			Attributes struct{ Secret, URI string } `json:"attributes"`
		} `json:"data"`
	}
	if err := json.Unmarshal([]byte(ans.Body), &doc); err != nil || doc.Data.Attributes.URI == "" {
		p.render(w, c, p.failed("read the activation", err))
		return
	}
	setup, err := newTOTPSetup(doc.Data.Attributes.Secret, doc.Data.Attributes.URI)
	if err != nil {
		p.render(w, c, p.failed("render the QR code", err))
		return
	}
	p.render(w, c, &view{TOTP: setup, Notice: "Scan the QR code with your authenticator app, then enter the code it shows to confirm."})
}

// totpVerify confirms the TOTP activation with a code of the new secret.
func (p *Page) totpVerify(w http.ResponseWriter, hr *http.Request, c *call) {
	ans := p.api(hr.Context(), c, http.MethodPost, p.o.Paths.Verify, c.form.code(), factorBody(mfaapi.TypeVerify, store.MethodTOTP))
	if ans.Status != http.StatusNoContent {
		p.render(w, c, refused(ans))
		return
	}
	p.render(w, c, &view{Notice: "Your authenticator app is set up."})
}

// recoveryCodes replaces the user's recovery codes; the new ones are shown
// on the page, or sent as a text file when the download button was used.
func (p *Page) recoveryCodes(w http.ResponseWriter, hr *http.Request, c *call) {
	ans := p.api(hr.Context(), c, http.MethodPost, p.o.Paths.RecoveryCodes, c.form.code(), nil)
	if ans.Status != http.StatusOK {
		p.render(w, c, refused(ans))
		return
	}
	var doc struct {
		Data struct {
			Attributes struct{ Codes []string } `json:"attributes"`
		} `json:"data"`
	}
	if err := json.Unmarshal([]byte(ans.Body), &doc); err != nil || len(doc.Data.Attributes.Codes) == 0 {
		p.render(w, c, p.failed("read the recovery codes", err))
		return
	}
	codes := doc.Data.Attributes.Codes
	if c.form.get("format") == "text" {
		var b strings.Builder
		b.WriteString("Recovery codes (each works once; the previous ones no longer work):\n")
		for _, code := range codes {
			b.WriteString(code + "\n")
		}
		secure(w.Header(), "")
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Content-Disposition", `attachment; filename="mfa-recovery-codes.txt"`)
		w.WriteHeader(http.StatusOK)
		_, _ = io.WriteString(w, b.String())
		return
	}
	p.render(w, c, &view{Recovery: codes, Notice: "Your new recovery codes are below. Keep them safe: they are not shown again, and the previous ones no longer work."})
}

// remove removes a factor, or cancels its activation in progress
// (deactivate): an enabled factor needs a proof, as the API decides.
func (p *Page) remove(w http.ResponseWriter, hr *http.Request, c *call) {
	method := c.form.get("type")
	ans := p.api(hr.Context(), c, http.MethodPost, p.o.Paths.Deactivate, c.form.code(), factorBody(mfaapi.TypeDeactivate, method))
	if ans.Status != http.StatusNoContent {
		p.render(w, c, refused(ans))
		return
	}
	p.render(w, c, &view{Notice: label(method) + " removed."})
}

// passkey serves the page script's passkey steps: registration options
// (with the form's proof), the registration itself, and a login challenge
// for proving a change with a passkey. The API's answer is passed through
// as it is, status, headers and JSON body.
func (p *Page) passkey(w http.ResponseWriter, hr *http.Request, c *call) {
	var ans profile.Answer
	switch strings.TrimPrefix(hr.URL.EscapedPath(), p.o.Path) {
	case actPasskeyOptions:
		ans = p.api(hr.Context(), c, http.MethodPost, p.o.WebAuthnPaths.RegistrationOptions, c.form.code(), nil)
	case actPasskeyChallenge:
		ans = p.api(hr.Context(), c, http.MethodPost, p.o.WebAuthnPaths.Challenge, "", nil)
	case actPasskeyRegister:
		cred := []byte(c.form.get("credential"))
		if !json.Valid(cred) || !bytes.HasPrefix(cred, []byte("{")) {
			plain(w, http.StatusBadRequest, "The passkey's answer could not be read.")
			return
		}
		ans = p.api(hr.Context(), c, http.MethodPost, p.o.WebAuthnPaths.Registration, "", credentialBody(cred))
	}
	if ans.Status == http.StatusNotFound && ans.Body == "" {
		http.NotFound(w, hr)
		return
	}
	secure(w.Header(), "")
	ans.Headers(w.Header().Set)
	w.WriteHeader(ans.Status)
	if ans.Status != http.StatusNoContent {
		_, _ = io.WriteString(w, ans.Body)
	}
}

// factorBody is the JSON:API body of the endpoints that name an MFA type.
func factorBody(resourceType, method string) []byte {
	type attrs struct {
		Type string `json:"type"`
	}
	return document(resourceType, attrs{method})
}

// credentialBody is the JSON:API body of the passkey registration.
func credentialBody(cred json.RawMessage) []byte {
	type attrs struct {
		Credential json.RawMessage `json:"credential"`
	}
	return document(mfaapi.TypeWebAuthnRegistration, attrs{cred})
}

func document(resourceType string, attributes any) []byte {
	type data struct {
		Type       string `json:"type"`
		Attributes any    `json:"attributes"`
	}
	b, err := json.Marshal(struct {
		Data data `json:"data"`
	}{data{resourceType, attributes}})
	if err != nil {
		panic(err) // strings and valid JSON only
	}
	return b
}

// formValues is a POST's urlencoded form.
type formValues url.Values

// get returns the field's value; "" when it is absent.
func (f formValues) get(name string) string { return url.Values(f).Get(name) }

// code returns the form's code field as the MFA header carries it: a
// code, "recovery XXXX-XXXX", or "webauthn <assertion>".
func (f formValues) code() string { return strings.TrimSpace(f.get("code")) }

// parseForm reads hr's body as one urlencoded form of at most
// maxFormBytes, every field given once: a field sent twice could be read
// one way here and another way by whatever else reads the form.
func parseForm(hr *http.Request) (formValues, error) {
	mt, _, err := mime.ParseMediaType(hr.Header.Get("Content-Type"))
	if err != nil || mt != "application/x-www-form-urlencoded" {
		return nil, errors.New("not an urlencoded form")
	}
	b, err := io.ReadAll(http.MaxBytesReader(nil, hr.Body, maxFormBytes))
	if err != nil {
		return nil, err
	}
	v, err := url.ParseQuery(string(b))
	if err != nil {
		return nil, err
	}
	for _, vs := range v {
		if len(vs) != 1 {
			return nil, errors.New("a repeated field")
		}
	}
	return formValues(v), nil
}
