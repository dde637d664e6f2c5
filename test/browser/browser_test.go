// Package browser drives the enrollment page in a real headless Chromium
// (Debian's chromium, over the DevTools protocol) against the real
// mfa-authz binary: a user enrolls TOTP from the page, passes a protected
// route over gRPC with a code of it, is refused without a form token or
// without a proof, fetches recovery codes and adds a passkey with
// Chromium's virtual authenticator. Each state is saved as a screenshot in
// test/browser/screenshots (not versioned).
package browser

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	cdpwebauthn "github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/mfa-authz/mfa-authz/authz/store"
	"github.com/mfa-authz/mfa-authz/authz/totp"
	"github.com/mfa-authz/mfa-authz/test/testproc"
)

var binPath string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "mfa-authz-browser-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binPath, err = testproc.Build(dir, false)
	code := 1
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
	} else {
		code = m.Run()
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

// shotDir keeps the screenshots of the last run, for people to look at.
const shotDir = "screenshots"

const (
	glueMissing = `{"errors":[{"status":403,"code":"5900","detail":"X-MFA-Code header is missing."}]}`
	glueInvalid = `{"errors":[{"status":403,"code":"5901","detail":"X-MFA-Code is invalid."}]}`
	// A user with no factor (or none of the kind the code names).
	glueNotEnrolled = `{"errors":[{"status":403,"code":"5920","detail":"MFA is not activated for this customer."}]}`
)

// env is a running mfa-authz serving the page, and a browser tab on it.
type env struct {
	t       *testing.T
	proc    *testproc.Process
	authz   authv3.AuthorizationClient
	pageURL string
	ctx     context.Context
}

func start(t *testing.T) *env {
	t.Helper()
	chromium := testproc.Require(t, "chromium")
	dir := t.TempDir()
	grpcAddr, httpAddr := testproc.FreeAddr(t), testproc.FreeAddr(t)
	_, port, _ := net.SplitHostPort(httpAddr)
	// localhost is a secure context over plain HTTP, as WebAuthn needs, and
	// a relying party id; the listener is on 127.0.0.1.
	origin := "http://localhost:" + port
	cfg := fmt.Sprintf(`server:
  grpc_address: %s
  http_address: %s
  shutdown_timeout: 5s
storage:
  path: %s
  key_file: %s
log:
  level: debug
mfa:
  header: X-MFA-Code
identity:
  header: x-user-id
totp:
  skew: 2
policy:
  anonymous: deny
  rules:
    - path: /checkout/**
      methods: [POST]
      grace_period: 0s
api:
  enabled: true
webauthn:
  rp_id: localhost
  rp_display_name: Example Shop
  origins: [%s]
page:
  enabled: true
`, grpcAddr, httpAddr, filepath.Join(dir, "store"), filepath.Join(dir, "secrets", "store.key"), origin)
	cfgPath := filepath.Join(dir, "mfa-authz.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, pageURL: origin + "/mfa"}
	e.proc = testproc.Start(t, "mfa-authz serve", exec.Command(binPath, "serve", "--config", cfgPath))
	conn, err := grpc.NewClient(grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	e.proc.WaitServing(t, conn, 10*time.Second)
	e.authz = authv3.NewAuthorizationClient(conn)

	alloc, cancel := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chromium),
		chromedp.Flag("headless", true), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true), chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1000, 900))
	t.Cleanup(cancel)
	ctx, cancelTab := chromedp.NewContext(alloc)
	t.Cleanup(cancelTab)
	ctx, cancelTime := context.WithTimeout(ctx, 2*time.Minute)
	t.Cleanup(cancelTime)
	e.ctx = ctx
	return e
}

// as makes the browser's requests name user in the identity header, as
// the proxy in front of the page does for the user it authenticated.
func (e *env) as(user string) {
	e.t.Helper()
	e.do(chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{Headers: network.Headers{"x-user-id": user}})
		return err
	}))
}

func (e *env) do(steps ...chromedp.Action[chromedp.Void]) {
	e.t.Helper()
	if err := chromedp.Do(e.ctx, steps...); err != nil {
		e.t.Fatalf("browser: %v\n%s", err, e.proc.Tail())
	}
}

// load runs steps that navigate (open the page, send a form) and returns
// the new document's status and headers.
func (e *env) load(steps ...chromedp.Action[chromedp.Void]) *network.Response {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(e.ctx, 30*time.Second)
	defer cancel()
	res, err := chromedp.RunResponse(ctx, steps...)
	if err != nil {
		e.t.Fatalf("browser: %v\n%s", err, e.proc.Tail())
	}
	return res
}

func (e *env) text(sel string) string {
	e.t.Helper()
	s, err := chromedp.Run(e.ctx, chromedp.Text(chromedp.CSS(sel), chromedp.NodeReady))
	if err != nil {
		e.t.Fatalf("text of %s: %v", sel, err)
	}
	return strings.TrimSpace(s)
}

func (e *env) eval(js string) string {
	e.t.Helper()
	s, err := chromedp.Run(e.ctx, chromedp.Evaluate[string](js))
	if err != nil {
		e.t.Fatalf("evaluate %s: %v", js, err)
	}
	return s
}

// shot saves a screenshot of the whole page as screenshots/name.png.
func (e *env) shot(name string) {
	e.t.Helper()
	png, err := chromedp.Run(e.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		e.t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(shotDir, name+".png"), png, 0o644); err != nil {
		e.t.Fatal(err)
	}
}

// status returns the factor's status as the page shows it.
func (e *env) status(method string) string { return e.text("#factor-" + method + " .status") }

// expect checks a document's status and the headers every page answer has.
func expect(t *testing.T, res *network.Response, status int64) {
	t.Helper()
	if res.Status != status {
		t.Fatalf("page answered %d %s, want %d", res.Status, res.StatusText, status)
	}
	h := map[string]string{}
	for k, v := range res.Headers {
		h[strings.ToLower(k)] = fmt.Sprint(v)
	}
	if h["cache-control"] != "no-store" {
		t.Errorf("cache-control %q, want no-store", h["cache-control"])
	}
	csp := h["content-security-policy"]
	for _, d := range []string{"default-src 'none'", "form-action 'self'", "frame-ancestors 'none'", "script-src 'nonce-"} {
		if !strings.Contains(csp, d) {
			t.Errorf("content-security-policy %q lacks %q", csp, d)
		}
	}
}

// check asks the real gRPC server about a POST to a protected route.
func (e *env) check(user, code string) *authv3.CheckResponse {
	e.t.Helper()
	hdr := map[string]string{"x-user-id": user}
	if code != "" {
		hdr["x-mfa-code"] = code
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := e.authz.Check(ctx, &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
		Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{
			Method: "POST", Path: "/checkout/1", Host: "shop.example.com", Scheme: "https", Protocol: "HTTP/1.1", Headers: hdr,
		}},
	}})
	if err != nil {
		e.t.Fatalf("Check: %v", err)
	}
	return resp
}

func allowedBy(resp *authv3.CheckResponse) string {
	if resp.GetStatus().GetCode() != 0 || resp.GetOkResponse() == nil {
		return ""
	}
	for _, h := range resp.GetOkResponse().GetHeaders() {
		if h.GetHeader().GetKey() == "x-mfa-method" {
			return h.GetHeader().GetValue()
		}
	}
	return ""
}

func deniedBody(resp *authv3.CheckResponse) string { return resp.GetDeniedResponse().GetBody() }

var recoveryCodeRE = regexp.MustCompile(`^[ABCDEFGHJKMNPQRSTWXYZ2-9]{4}-[ABCDEFGHJKMNPQRSTWXYZ2-9]{4}$`)

func TestEnrollmentPage(t *testing.T) {
	if err := os.RemoveAll(shotDir); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(shotDir, 0o755); err != nil {
		t.Fatal(err)
	}
	e := start(t)
	const user = "pat"
	e.as(user)

	// 1. No factor yet: every type off, nothing needs a proof.
	res := e.load(chromedp.Navigate(e.pageURL))
	expect(t, res, 200)
	if got := e.status("totp"); got != "off" {
		t.Fatalf("totp status %q, want off", got)
	}
	if got := e.status("webauthn"); got != "off" {
		t.Fatalf("webauthn status %q, want off", got)
	}
	e.shot("01-no-factor")
	if got := deniedBody(e.check(user, "")); got != glueNotEnrolled {
		t.Fatalf("an unenrolled user's protected request: body %s, want %s", got, glueNotEnrolled)
	}

	// 2. Start TOTP: the secret as a QR code (an inline PNG) and as text.
	res = e.load(chromedp.Click(chromedp.CSS("#totp-start button"), chromedp.NodeVisible))
	expect(t, res, 200)
	secret := e.text("#totp-secret")
	if !regexp.MustCompile(`^[A-Z2-7]{32}$`).MatchString(secret) {
		t.Fatalf("secret %q is not base32", secret)
	}
	src := e.eval(`document.getElementById("totp-qr").getAttribute("src")`)
	png, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(src, "data:image/png;base64,"))
	if !strings.HasPrefix(src, "data:image/png;base64,") || err != nil || !bytes.HasPrefix(png, []byte("\x89PNG\r\n\x1a\n")) {
		t.Fatalf("QR image src is not a PNG data: URI: %.60q", src)
	}
	if w := e.eval(`String(document.getElementById("totp-qr").naturalWidth)`); w != "240" {
		t.Fatalf("the QR image did not load under the page's CSP: natural width %s", w)
	}
	if got := e.status("totp"); got != "activation in progress" {
		t.Fatalf("totp status %q after starting, want activation in progress", got)
	}
	e.shot("02-totp-setup")

	// 3. Confirm with a code computed here from the secret the page showed.
	f := &store.TOTP{Secret: secret, Algorithm: "SHA1", Digits: 6, Period: 30}
	step := time.Now().Unix() / 30
	code := func(s int64) string {
		c, err := totp.Code(f, time.Unix(s*30, 0))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	e.do(chromedp.SendKeys(chromedp.CSS(`#totp-verify input[name=code]`), code(step)))
	res = e.load(chromedp.Click(chromedp.CSS("#totp-verify button")))
	expect(t, res, 200)
	if got := e.text("#notice"); got != "Your authenticator app is set up." {
		t.Fatalf("notice %q", got)
	}
	if got := e.status("totp"); got != "on" {
		t.Fatalf("totp status %q after confirming, want on", got)
	}
	e.shot("03-totp-enabled")

	// 4. The protected route through the real gRPC server: denied without a
	// code, allowed with the next code of the enrolled secret.
	if got := deniedBody(e.check(user, "")); got != glueMissing {
		t.Fatalf("without a code: body %s, want %s", got, glueMissing)
	}
	if got := allowedBy(e.check(user, code(step+1))); got != "totp" {
		t.Fatalf("with a code of the page's secret: not allowed by totp (%q)", got)
	}

	// 5. A form whose token was changed is refused before the API runs.
	e.do(chromedp.SetValue(chromedp.CSS(`#remove-totp input[name=csrf]`), "forged"))
	res = e.load(chromedp.Click(chromedp.CSS("#remove-totp button")))
	if res.Status != 403 {
		t.Fatalf("a forged form token: status %d, want 403", res.Status)
	}
	if got := e.text("body"); got != "This form has expired or was not issued to you. Reload the page and try again." {
		t.Fatalf("a forged form token: body %q", got)
	}
	e.shot("04-form-token-refused")

	// 6. Removing an enabled factor without a proof is refused as the API
	// refuses it, with its status.
	expect(t, e.load(chromedp.Navigate(e.pageURL)), 200)
	res = e.load(chromedp.Click(chromedp.CSS("#remove-totp button")))
	expect(t, res, 403)
	if got := e.text("#error"); got != "X-MFA-Code header is missing." {
		t.Fatalf("removal without a proof: error %q", got)
	}
	if got := e.status("totp"); got != "on" {
		t.Fatalf("totp status %q after a refused removal, want on", got)
	}
	e.shot("05-removal-refused")

	// 7. New recovery codes, proved with the next code.
	e.do(chromedp.SendKeys(chromedp.CSS(`#recovery-new input[name=code]`), code(step+2)))
	res = e.load(chromedp.Click(chromedp.CSS(`#recovery-new button[value=html]`)))
	expect(t, res, 200)
	codes := strings.Fields(e.text("#recovery-codes"))
	if len(codes) != 10 {
		t.Fatalf("got %d recovery codes %q, want 10", len(codes), codes)
	}
	for _, c := range codes {
		if !recoveryCodeRE.MatchString(c) {
			t.Fatalf("recovery code %q is malformed", c)
		}
	}
	e.shot("06-recovery-codes")
	if got := allowedBy(e.check(user, "recovery "+codes[9])); got != "recovery" {
		t.Fatalf("a recovery code from the page: not allowed by recovery (%q)", got)
	}

	// 8. A passkey, with Chromium's virtual authenticator, proved by a
	// recovery code; then TOTP removed with the passkey as the proof.
	e.do(chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		if _, err := cdp.Call(ctx, t, cdpwebauthn.Enable, cdpwebauthn.EnableParams{}); err != nil {
			return err
		}
		_, err := cdp.Call(ctx, t, cdpwebauthn.AddVirtualAuthenticator, cdpwebauthn.AddVirtualAuthenticatorParams{Options: &cdpwebauthn.VirtualAuthenticatorOptions{
			Protocol: cdpwebauthn.AuthenticatorProtocolCtap2, Transport: cdpwebauthn.AuthenticatorTransportInternal,
			HasResidentKey: true, HasUserVerification: true, IsUserVerified: true, AutomaticPresenceSimulation: true,
		}})
		return err
	}))
	e.do(chromedp.SendKeys(chromedp.CSS(`#passkey-add input[name=code]`), "recovery "+codes[0]))
	res = e.load(chromedp.Click(chromedp.CSS("#passkey-add button:not([data-prove])")))
	expect(t, res, 200)
	if got := e.status("webauthn"); got != "on" {
		t.Fatalf("webauthn status %q after adding a passkey, want on (page error: %q)", got, e.eval(`document.getElementById("script-error").textContent`))
	}
	e.shot("07-passkey-added")

	res = e.load(chromedp.Click(chromedp.CSS("#remove-totp button[data-prove]")))
	expect(t, res, 200)
	if got := e.text("#notice"); got != "Authenticator app removed." {
		t.Fatalf("notice %q after removing TOTP with a passkey (page error: %q)", got, e.eval(`document.getElementById("script-error").textContent`))
	}
	if got := e.status("totp"); got != "off" {
		t.Fatalf("totp status %q after removal, want off", got)
	}
	e.shot("08-totp-removed-with-passkey")
	if got := deniedBody(e.check(user, "totp "+code(step+3))); got != glueNotEnrolled {
		t.Fatalf("a code of the removed TOTP: body %s, want %s", got, glueNotEnrolled)
	}

	// 9. New recovery codes as a download, proved by a recovery code: the
	// file holds ten new codes, and the old ones stop working.
	dl := t.TempDir()
	e.do(chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := chromedp.CallBrowser(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
			Behavior: browser.SetDownloadBehaviorBehaviorAllow, DownloadPath: dl})
		return err
	}))
	e.do(chromedp.SendKeys(chromedp.CSS(`#recovery-new input[name=code]`), "recovery "+codes[1]),
		chromedp.Click(chromedp.CSS("#recovery-download")))
	var file []byte
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if file, err = os.ReadFile(filepath.Join(dl, "mfa-recovery-codes.txt")); err == nil && bytes.Count(file, []byte("\n")) == 11 {
			break
		}
	}
	lines := strings.Split(strings.TrimSuffix(string(file), "\n"), "\n")
	if len(lines) != 11 || lines[0] != "Recovery codes (each works once; the previous ones no longer work):" {
		t.Fatalf("downloaded file: %q", file)
	}
	for _, c := range lines[1:] {
		if !recoveryCodeRE.MatchString(c) || slices.Contains(codes, c) {
			t.Fatalf("downloaded code %q is malformed or an old one", c)
		}
	}
	if got := deniedBody(e.check(user, "recovery "+codes[2])); got != glueInvalid {
		t.Fatalf("an old recovery code after the download: body %s, want %s", got, glueInvalid)
	}
	if got := allowedBy(e.check(user, "recovery "+lines[1])); got != "recovery" {
		t.Fatalf("a downloaded recovery code: not allowed by recovery (%q)", got)
	}
}
