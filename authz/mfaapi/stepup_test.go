package mfaapi_test

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mfa-authz/mfa-authz/authz"
	"github.com/mfa-authz/mfa-authz/authz/config"
	"github.com/mfa-authz/mfa-authz/authz/service"
	"github.com/mfa-authz/mfa-authz/authz/service/servicetest"
	"github.com/mfa-authz/mfa-authz/authz/store"
	"github.com/mfa-authz/mfa-authz/authz/totp"
)

// stepUpFixture is a real service whose user alice has TOTP enabled, with
// e-mail codes written to an outbox file.
type stepUpFixture struct {
	svc    *service.Service
	outbox string
	totp   *store.TOTP
}

func newStepUpFixture(t *testing.T) *stepUpFixture {
	t.Helper()
	outbox := filepath.Join(t.TempDir(), "outbox.jsonl")
	svc := servicetest.New(t, `
identity:
  header: x-user-id
delivery:
  email: file
  file:
    path: `+outbox+`
limits:
  resend_cooldown: 1s
`)
	return &stepUpFixture{svc: svc, outbox: outbox, totp: servicetest.EnrollTOTP(t, svc, "alice")}
}

func (f *stepUpFixture) call(t *testing.T, path, mfaCode, body string) (int, string) {
	t.Helper()
	h := authz.MapHeader{"x-user-id": "alice"}
	if mfaCode != "" {
		h["x-mfa-code"] = mfaCode
	}
	d := f.svc.Engine.Check(context.Background(), &authz.Request{Method: "POST", Path: path, Header: h, Body: []byte(body)})
	if !d.API {
		t.Fatalf("%s was not answered by the API: %+v", path, d)
	}
	return d.Answer.Status, d.Answer.Body
}

func (f *stepUpFixture) lastCode(t *testing.T) string {
	t.Helper()
	fh, err := os.Open(f.outbox)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	var last struct{ Code string }
	sc := bufio.NewScanner(fh)
	for sc.Scan() {
		if err := json.Unmarshal(sc.Bytes(), &last); err != nil {
			t.Fatal(err)
		}
	}
	return last.Code
}

const activateEmail = `{"data":{"type":"multi-factor-auth-type-activate","attributes":{"type":"email","destination":"alice@example.com"}}}`

// Whoever holds only the first factor (a stolen session token) must not
// be able to enroll a factor of their own next to the user's TOTP.
func TestAddingAFactorRequiresStepUp(t *testing.T) {
	f := newStepUpFixture(t)
	status, body := f.call(t, config.DefaultActivatePath, "", activateEmail)
	if want := `{"errors":[{"status":403,"code":"5919","detail":"Verify an enabled MFA type before adding another."}]}`; status != 403 || body != want {
		t.Fatalf("activate without step-up: %d %s, want 403 %s", status, body, want)
	}
	status, body = f.call(t, config.DefaultActivatePath, "totp 000000", activateEmail)
	if status != 403 || body != `{"errors":[{"status":403,"code":"5901","detail":"X-MFA-Code is invalid."}]}` {
		t.Fatalf("activate with a wrong TOTP code: %d %s", status, body)
	}
	if _, err := os.Stat(f.outbox); !os.IsNotExist(err) {
		t.Fatalf("a code was sent before the step-up: %v", err)
	}
	code, err := totp.Code(f.totp, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if status, body = f.call(t, config.DefaultActivatePath, "totp "+code, activateEmail); status != 204 {
		t.Fatalf("activate with the TOTP code: %d %s", status, body)
	}
	// The step-up is fresh, so the e-mail code alone verifies the new factor.
	verify := `{"data":{"type":"multi-factor-auth-type-verify","attributes":{"type":"email"}}}`
	if status, body = f.call(t, config.DefaultVerifyPath, "email "+f.lastCode(t), verify); status != 204 {
		t.Fatalf("verify e-mail: %d %s", status, body)
	}
}

func TestVerifyWithoutFreshStepUpIsRefused(t *testing.T) {
	f := newStepUpFixture(t)
	code, err := totp.Code(f.totp, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if status, body := f.call(t, config.DefaultActivatePath, "totp "+code, activateEmail); status != 204 {
		t.Fatalf("activate: %d %s", status, body)
	}
	// The session that activate started is gone (as after the window).
	f.svc.Sessions.Delete("alice")
	verify := `{"data":{"type":"multi-factor-auth-type-verify","attributes":{"type":"email"}}}`
	status, body := f.call(t, config.DefaultVerifyPath, "email "+f.lastCode(t), verify)
	if status != 403 || body != `{"errors":[{"status":403,"code":"5919","detail":"Verify an enabled MFA type before adding another."}]}` {
		t.Fatalf("verify without a fresh step-up: %d %s", status, body)
	}
}
