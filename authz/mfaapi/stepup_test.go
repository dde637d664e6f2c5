package mfaapi_test

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/structpb"

	"github.com/mfa-authz/mfa-authz/authz"
	"github.com/mfa-authz/mfa-authz/authz/config"
	"github.com/mfa-authz/mfa-authz/authz/internal/servicetest"
	"github.com/mfa-authz/mfa-authz/authz/service"
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
policy:
  rules:
    - path: /orders/**
      methods: [POST]
`)
	return &stepUpFixture{svc: svc, outbox: outbox, totp: servicetest.EnrollTOTP(t, svc, "alice")}
}

func (f *stepUpFixture) call(t *testing.T, path, mfaCode, body string) (int, string) {
	t.Helper()
	return f.callAs(t, nil, path, mfaCode, body)
}

// callAs calls an endpoint as alice, identified by the jwt_authn payload
// of token (its claims) or, for a nil token, by the x-user-id header.
func (f *stepUpFixture) callAs(t *testing.T, token map[string]any, path, mfaCode, body string) (int, string) {
	t.Helper()
	d := f.svc.Engine.Check(context.Background(), aliceRequest(token, path, mfaCode, body))
	if !d.API {
		t.Fatalf("%s was not answered by the API: %+v", path, d)
	}
	return d.Answer.Status, d.Answer.Body
}

// protected sends a POST to a protected route as alice (see callAs) and
// reports whether it was allowed.
func (f *stepUpFixture) protected(t *testing.T, token map[string]any, mfaCode string) bool {
	t.Helper()
	return f.svc.Engine.Check(context.Background(), aliceRequest(token, "/orders/1", mfaCode, "")).Allowed
}

func aliceRequest(token map[string]any, path, mfaCode, body string) *authz.Request {
	h := authz.MapHeader{}
	if token == nil {
		h["x-user-id"] = "alice"
	}
	if mfaCode != "" {
		h["x-mfa-code"] = mfaCode
	}
	r := &authz.Request{Method: "POST", Path: path, Header: h}
	if body != "" {
		r.Body = []byte(body)
		h["content-type"] = "application/vnd.api+json"
	}
	if token != nil {
		payload, err := structpb.NewStruct(token)
		if err != nil {
			panic(err)
		}
		r.Metadata = map[string]*structpb.Struct{config.DefaultJWTNamespace: {Fields: map[string]*structpb.Value{
			config.DefaultJWTPayloadKey: structpb.NewStructValue(payload)}}}
	}
	return r
}

// token returns the claims of one of alice's tokens; tokens issued at
// other times are other credentials.
func token(iat int) map[string]any {
	return map[string]any{"sub": "alice", "iss": "https://issuer.example.com", "iat": float64(iat), "exp": float64(iat + 3600)}
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

const (
	stepUpRequired   = `{"errors":[{"status":403,"code":"5919","detail":"Verify an enabled MFA type before adding another."}]}`
	missingCode      = `{"errors":[{"status":403,"code":"5900","detail":"X-MFA-Code header is missing."}]}`
	deactivateFailed = `{"errors":[{"status":400,"code":"5903","detail":"Failed to deactivate MFA."}]}`
	deactivateTOTP   = `{"data":{"type":"multi-factor-auth-type-deactivate","attributes":{"type":"totp"}}}`
)

// A session is the user's, not the client's: whoever else holds the first
// factor (here, the identity header) rides it on protected routes, but
// must not add, remove or replace a factor or regenerate recovery codes
// with it. Without a credential to bind a step-up to, every change needs a
// code in its own request.
func TestSessionDoesNotAuthorizeFactorChanges(t *testing.T) {
	f := newStepUpFixture(t)
	code, err := totp.Code(f.totp, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if !f.protected(t, nil, code) || !f.protected(t, nil, "") {
		t.Fatal("alice's code did not start a session")
	}
	for _, c := range []struct{ name, path, body, want string }{
		{"activate", config.DefaultActivatePath, activateEmail, stepUpRequired},
		{"deactivate", config.DefaultDeactivatePath, deactivateTOTP, missingCode},
		{"recovery codes", config.DefaultRecoveryCodesPath, "", missingCode},
	} {
		status, body := f.call(t, c.path, "", c.body)
		if status/100 == 2 || body != c.want {
			t.Errorf("%s riding the session: %d %s, want %s", c.name, status, body, c.want)
		}
	}
	enr, err := f.svc.Store.Enrollment(context.Background(), "alice")
	if err != nil || enr.TOTP == nil || enr.TOTP.Pending || enr.Email != nil {
		t.Fatalf("enrollment changed: %+v, %v", enr, err)
	}
}

// A user who has just verified with a token may change factors with that
// token at once, without waiting for the next TOTP step (the code just
// used is spent); another token of the same user may not.
func TestStepUpIsBoundToTheCredential(t *testing.T) {
	f := newStepUpFixture(t)
	code, err := totp.Code(f.totp, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	mine, other := token(1000), token(2000)
	if !f.protected(t, mine, code) {
		t.Fatal("alice's code was refused")
	}
	if !f.protected(t, other, "") {
		t.Fatal("the session does not hold for alice's other token")
	}
	if status, body := f.callAs(t, other, config.DefaultActivatePath, "", activateEmail); status != 403 || body != stepUpRequired {
		t.Fatalf("activate with another token: %d %s, want 403 %s", status, body, stepUpRequired)
	}
	if status, body := f.callAs(t, other, config.DefaultRecoveryCodesPath, "", ""); status != 403 || body != missingCode {
		t.Fatalf("recovery codes with another token: %d %s, want 403 %s", status, body, missingCode)
	}
	// A code that is sent is judged, step-up or not.
	invalid := `{"errors":[{"status":403,"code":"5901","detail":"X-MFA-Code is invalid."}]}`
	if status, body := f.callAs(t, mine, config.DefaultActivatePath, "totp "+code, activateEmail); status != 403 || body != invalid {
		t.Fatalf("activate with the spent code: %d %s, want 403 %s", status, body, invalid)
	}
	if status, body := f.callAs(t, mine, config.DefaultActivatePath, "", activateEmail); status != 204 {
		t.Fatalf("activate with the token that verified: %d %s", status, body)
	}
	verify := `{"data":{"type":"multi-factor-auth-type-verify","attributes":{"type":"email"}}}`
	if status, body := f.callAs(t, mine, config.DefaultVerifyPath, "email "+f.lastCode(t), verify); status != 204 {
		t.Fatalf("verify e-mail: %d %s", status, body)
	}
	if status, body := f.callAs(t, mine, config.DefaultRecoveryCodesPath, "", ""); status != 200 {
		t.Fatalf("recovery codes with the token that verified: %d %s", status, body)
	}
	// Removing a factor ends the sessions, and the step-ups with them.
	if status, body := f.callAs(t, mine, config.DefaultDeactivatePath, "", deactivateTOTP); status != 204 {
		t.Fatalf("deactivate totp with the token that verified: %d %s", status, body)
	}
	deactivateEmail := `{"data":{"type":"multi-factor-auth-type-deactivate","attributes":{"type":"email"}}}`
	if status, body := f.callAs(t, mine, config.DefaultDeactivatePath, "", deactivateEmail); status != 403 || body != missingCode {
		t.Fatalf("deactivate e-mail after the sessions ended: %d %s, want 403 %s", status, body, missingCode)
	}
}

// A step-up lasts api.step_up_window, whatever the grace period.
func TestStepUpExpires(t *testing.T) {
	f := newStepUpFixture(t)
	code, err := totp.Code(f.totp, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	mine := token(1000)
	if !f.protected(t, mine, code) {
		t.Fatal("alice's code was refused")
	}
	later := func() time.Time { return time.Now().Add(f.svc.Engine.StepUpWindow() + time.Second) }
	if !f.svc.Engine.SteppedUp(context.Background(), "alice", later()) {
		t.Fatal("the session itself should outlast the step-up (grace 30m)")
	}
	if f.svc.Engine.CredentialSteppedUp(context.Background(), aliceRequest(mine, "/", "", ""), "alice", later()) {
		t.Fatal("a step-up older than the window still counts")
	}
	if !f.svc.Engine.CredentialSteppedUp(context.Background(), aliceRequest(mine, "/", "", ""), "alice", time.Now()) {
		t.Fatal("a fresh step-up does not count")
	}
}
