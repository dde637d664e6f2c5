package mfaapi_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/mfa-authz/mfa-authz/authz"
	"github.com/mfa-authz/mfa-authz/authz/config"
	"github.com/mfa-authz/mfa-authz/authz/factor/webauthn/webauthntest"
	"github.com/mfa-authz/mfa-authz/authz/mfaapi"
	"github.com/mfa-authz/mfa-authz/authz/service"
	"github.com/mfa-authz/mfa-authz/authz/store"
	"github.com/mfa-authz/mfa-authz/authz/totp"
	"github.com/mfa-authz/mfa-authz/test/redistest"
)

// The WebAuthn ceremonies through the real gRPC ext_authz server, with a
// software authenticator (real keys, CBOR and signatures), on the
// embedded directory store and on Redis. Every answer is asserted exactly.

const (
	rpID     = "example.com"
	rpOrigin = "https://shop.example.com"
	// Glue bodies of the answers the ceremonies give.
	wMissing = `{"errors":[{"status":403,"code":"5900","detail":"X-MFA-Code header is missing."}]}`
	wInvalid = `{"errors":[{"status":403,"code":"5901","detail":"X-MFA-Code is invalid."}]}`
	wBody    = `{"errors":[{"status":400,"code":"5913","detail":"Request body is missing or is not a valid JSON:API document."}]}`
	wStepUp  = `{"errors":[{"status":403,"code":"5919","detail":"Verify an enabled MFA type before adding another."}]}`
	wNotOn   = `{"errors":[{"status":403,"code":"5920","detail":"MFA is not activated for this customer."}]}`
)

// waServer is a running service with the webauthn section configured.
type waServer struct {
	svc    *service.Service
	st     store.Store
	client authv3.AuthorizationClient
	logs   *observer.ObservedLogs
}

func startWebAuthn(t *testing.T, redisURL string) *waServer {
	t.Helper()
	dir := t.TempDir()
	yaml := fmt.Sprintf(`cache:
  max_sessions: 100
identity:
  header: x-user-id
regulation:
  max_failures: 100
storage:
  path: %q
  key_file: %q
`, filepath.Join(dir, "store"), filepath.Join(dir, "secrets", "key"))
	if redisURL != "" {
		// A shared store needs the key every replica uses made beforehand.
		key := make([]byte, 32)
		_, _ = rand.Read(key)
		if err := os.MkdirAll(filepath.Join(dir, "secrets"), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "secrets", "key"), []byte(hex.EncodeToString(key)), 0o600); err != nil {
			t.Fatal(err)
		}
		yaml += "  redis:\n    url: " + redisURL + "\n"
	}
	yaml += `webauthn:
  rp_id: ` + rpID + `
  rp_display_name: Example Shop
  origins: [` + rpOrigin + `]
policy:
  rules:
    - path: /checkout/**
      methods: [POST]
      grace_period: 0s
    - path: /customer-password/**
      methods: [POST]
`
	cfg, err := config.Parse([]byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	core, logs := observer.New(zapcore.InfoLevel)
	svc, err := service.New(cfg, zap.New(core))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(svc.Close)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx, service.Listeners{GRPC: lis}, nil) }()
	t.Cleanup(func() { cancel(); <-done })
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &waServer{svc: svc, st: svc.Store, client: authv3.NewAuthorizationClient(conn), logs: logs}
}

// reply is what Envoy would send the client: the status, the body, and
// the x-mfa-method header of an allowed request ("" when denied).
type reply struct {
	status int
	body   string
	method string
}

func (s *waServer) call(t *testing.T, path, user, code, body string) reply {
	t.Helper()
	h := map[string]string{":method": "POST", ":path": path, ":authority": "shop.example.com", "x-user-id": user}
	if code != "" {
		h["x-mfa-code"] = code
	}
	if body != "" {
		h["content-type"] = "application/vnd.api+json"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := s.client.Check(ctx, &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
		Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{
			Method: "POST", Path: path, Host: "shop.example.com", Scheme: "https", Headers: h, Body: body,
		}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if codes.Code(resp.GetStatus().GetCode()) == codes.OK {
		return reply{status: 200, method: headerOf(resp.GetOkResponse().GetHeaders(), "x-mfa-method")}
	}
	d := resp.GetDeniedResponse()
	return reply{status: int(d.GetStatus().GetCode()), body: d.GetBody()}
}

func headerOf(hs []*corev3.HeaderValueOption, name string) string {
	for _, h := range hs {
		if h.GetHeader().GetKey() == name {
			return h.GetHeader().GetValue()
		}
	}
	return ""
}

func (r reply) is(t *testing.T, what string, status int, body string) {
	t.Helper()
	if r.status != status || r.body != body {
		t.Errorf("%s: %d %s, want %d %s", what, r.status, r.body, status, body)
	}
}

func (r reply) allowed(t *testing.T, what string) {
	t.Helper()
	if r.status != 200 || r.method != "webauthn" {
		t.Errorf("%s: %d %s (x-mfa-method %q), want allowed by webauthn", what, r.status, r.body, r.method)
	}
}

// challenge fetches a login challenge for user.
func (s *waServer) challenge(t *testing.T, user string) string {
	t.Helper()
	r := s.call(t, config.DefaultWebAuthnChallengePath, user, "", "")
	if r.status != 200 {
		t.Fatalf("challenge: %d %s", r.status, r.body)
	}
	if !strings.HasPrefix(r.body, `{"data":{"type":"multi-factor-auth-webauthn-challenge","id":"webauthn","attributes":{"publicKey":{"challenge":"`) ||
		!strings.Contains(r.body, `"rpId":"`+rpID+`"`) || !strings.Contains(r.body, `"allowCredentials":[{"type":"public-key","id":"`) {
		t.Errorf("challenge document %s", r.body)
	}
	return webauthntest.ParseOptions(t, r.body).Challenge
}

// register registers a new software authenticator for user (proof is the
// MFA header the options call needs) and returns it with the answer.
func (s *waServer) register(t *testing.T, user, proof string) (*webauthntest.Authenticator, reply) {
	t.Helper()
	r := s.call(t, config.DefaultWebAuthnRegistrationOptionsPath, user, proof, "")
	if r.status != 200 {
		t.Fatalf("registration options: %d %s", r.status, r.body)
	}
	o := webauthntest.ParseOptions(t, r.body)
	if raw, _ := base64.RawURLEncoding.DecodeString(o.UserID); len(raw) != 32 || strings.Contains(string(raw), user) {
		t.Errorf("user.id %q is not an opaque 32-byte handle", o.UserID)
	}
	if !strings.Contains(r.body, `"rp":{"name":"Example Shop","id":"example.com"}`) {
		t.Errorf("registration options %s", r.body)
	}
	a := webauthntest.New(t, rpID, rpOrigin)
	att := a.Register(t, o)
	return a, s.call(t, config.DefaultWebAuthnRegistrationPath, user, "", webauthntest.Body(mfaapi.TypeWebAuthnRegistration, att))
}

// types asserts the types list ends with webauthn in status.
func (s *waServer) types(t *testing.T, user string, status int) {
	t.Helper()
	ans, _ := s.svc.API.Handle(context.Background(), &authz.Request{Method: "GET", Path: config.DefaultTypesPath, Header: authz.MapHeader{"x-user-id": user}})
	want := fmt.Sprintf(`{"type":"multi-factor-auth-types","id":"webauthn","attributes":{"type":"webauthn","status":%d}}]}`, status)
	if ans.Status != 200 || !strings.HasSuffix(ans.Body, want) {
		t.Errorf("types: %d %s, want it to end with %s", ans.Status, ans.Body, want)
	}
}

func (s *waServer) credential(t *testing.T, user string) store.WebAuthnCredential {
	t.Helper()
	enr, err := s.st.Enrollment(context.Background(), user)
	if err != nil || !enr.WebAuthn.Enabled() {
		t.Fatalf("enrollment of %s: %+v, %v", user, enr, err)
	}
	return enr.WebAuthn.Credentials[0]
}

func TestWebAuthnDir(t *testing.T) {
	t.Parallel()
	testWebAuthn(t, startWebAuthn(t, ""))
}

func TestWebAuthnRedis(t *testing.T) {
	t.Parallel()
	testWebAuthn(t, startWebAuthn(t, redistest.Start(t).URL))
}

func testWebAuthn(t *testing.T, s *waServer) {
	const checkout = "/checkout/1"
	s.types(t, "alice", 0)

	// Registration: the first factor needs no step-up and answers 204, as
	// verify does; its recovery codes are fetched with an assertion.
	alice, r := s.register(t, "alice", "")
	if r.status != 204 || r.body != "" {
		t.Fatalf("registration: %d %s", r.status, r.body)
	}
	rc := s.call(t, config.DefaultRecoveryCodesPath, "alice", webauthntest.Header(alice.Assert(t, s.challenge(t, "alice"))), "")
	if rc.status != 200 || !strings.HasPrefix(rc.body, `{"data":{"type":"multi-factor-auth-recovery-codes","id":"recovery","attributes":{"codes":[`) {
		t.Fatalf("recovery codes: %d %s", rc.status, rc.body)
	}
	enr, err := s.st.Enrollment(context.Background(), "alice")
	if err != nil || len(enr.WebAuthn.Credentials) != 1 || string(enr.WebAuthn.Credentials[0].ID) != string(alice.ID) ||
		string(enr.WebAuthn.UserHandle) != string(alice.UserHandle) || enr.UnusedRecoveryCodes() != 10 {
		t.Fatalf("stored enrollment %+v, %v", enr, err)
	}

	// A protected route: no header, then a fresh assertion, then its replay.
	s.call(t, checkout, "alice", "", "").is(t, "no header", 403, wMissing)
	ch := s.challenge(t, "alice")
	hdr := webauthntest.Header(alice.Assert(t, ch))
	s.call(t, checkout, "alice", hdr, "").allowed(t, "assertion")
	if c := s.credential(t, "alice"); c.SignCount != alice.Counter || c.LastUsedAt.IsZero() {
		t.Errorf("stored sign count %d (last used %s), want %d", c.SignCount, c.LastUsedAt, alice.Counter)
	}
	s.call(t, checkout, "alice", hdr, "").is(t, "replayed assertion", 403, wInvalid)

	// Phishing page and wrong relying party: refused, the challenge used up.
	for _, bad := range []struct{ what, origin, rp string }{
		{"wrong origin", "https://shop.example.net", rpID},
		{"origin below the rp id but not allowed", "https://evil.example.com", rpID},
		{"wrong rp id", rpOrigin, "example.net"},
	} {
		ch := s.challenge(t, "alice")
		alice.Origin, alice.RPID = bad.origin, bad.rp
		s.call(t, checkout, "alice", webauthntest.Header(alice.Assert(t, ch)), "").is(t, bad.what, 403, wInvalid)
		alice.Origin, alice.RPID = rpOrigin, rpID
		s.call(t, checkout, "alice", webauthntest.Header(alice.Assert(t, ch)), "").is(t, bad.what+", then right", 403, wInvalid)
	}

	// Malformed and oversized values are malformed before the store is
	// read: the outstanding challenge still works afterwards.
	ch = s.challenge(t, "alice")
	for _, v := range []string{
		"webauthn !!not-base64url!!" + strings.Repeat("A", 64),
		"webauthn " + strings.Repeat("A", 8193),
		"webauthn " + base64.RawURLEncoding.EncodeToString([]byte(`{"id":"not an assertion at all, but long enough to look like one"}`)),
		"webauthn short",
		strings.Repeat("1", 65),
		"totp " + strings.Repeat("1", 70),
	} {
		s.call(t, checkout, "alice", v, "").is(t, "malformed "+v[:min(len(v), 20)], 403, wInvalid)
	}
	s.call(t, checkout, "alice", webauthntest.Header(alice.Assert(t, ch)), "").allowed(t, "challenge kept through malformed values")

	// Challenges are bound to their user: alice answering bob's is refused
	// (and uses up her own), bob's stays his.
	bob, r := s.register(t, "bob", "")
	if r.status != 204 {
		t.Fatalf("bob's registration: %d %s", r.status, r.body)
	}
	chAlice, chBob := s.challenge(t, "alice"), s.challenge(t, "bob")
	s.call(t, checkout, "alice", webauthntest.Header(alice.Assert(t, chBob)), "").is(t, "another user's challenge", 403, wInvalid)
	s.call(t, checkout, "alice", webauthntest.Header(alice.Assert(t, chAlice)), "").is(t, "own challenge after a wrong one", 403, wInvalid)
	s.call(t, checkout, "bob", webauthntest.Header(bob.Assert(t, chBob)), "").allowed(t, "bob's challenge")
	s.call(t, checkout, "bob", webauthntest.Header(alice.Assert(t, s.challenge(t, "bob"))), "").is(t, "alice's key for bob", 403, wInvalid)

	// A clone: the counter goes back. Refused, stored count unchanged, and
	// said in the log without the key, signature or user id.
	stored := s.credential(t, "alice").SignCount
	alice.Counter = stored - 2
	s.call(t, checkout, "alice", webauthntest.Header(alice.Assert(t, s.challenge(t, "alice"))), "").is(t, "cloned authenticator", 403, wInvalid)
	if c := s.credential(t, "alice"); c.SignCount != stored {
		t.Errorf("sign count %d after a clone, want %d kept", c.SignCount, stored)
	}
	warn := s.logs.FilterMessageSnippet("authenticator may be cloned").All()
	if len(warn) != 1 || warn[0].Level != zapcore.WarnLevel {
		t.Fatalf("clone log lines %+v", warn)
	}
	f := warn[0].ContextMap()
	if f["stored_count"] != uint32(stored) || f["received_count"] != uint32(stored-1) || f["user_hash"] == "" || f["user_hash"] == "alice" {
		t.Errorf("clone log fields %v", f)
	}
	line := fmt.Sprint(warn[0].Message, f)
	if strings.Contains(line, "alice") || strings.Contains(line, base64.RawURLEncoding.EncodeToString(alice.ID)) {
		t.Errorf("clone log names the user or the credential id: %s", line)
	}
	alice.Counter = stored + 10
	s.call(t, checkout, "alice", webauthntest.Header(alice.Assert(t, s.challenge(t, "alice"))), "").allowed(t, "counter above the stored one")

	// The verify endpoint: the assertion in a body starts a session.
	ch = s.challenge(t, "alice")
	body := webauthntest.Body(mfaapi.TypeWebAuthnVerify, alice.Assert(t, ch))
	s.call(t, config.DefaultWebAuthnVerifyPath, "alice", "123456", body).is(t, "header and body", 400, wBody)
	s.call(t, config.DefaultWebAuthnVerifyPath, "alice", "", `{"data":{"type":"multi-factor-auth-webauthn-verify"}}`).is(t, "no credential", 400, wBody)
	s.call(t, config.DefaultWebAuthnVerifyPath, "alice", "", body).is(t, "verify in a body", 204, "")
	s.call(t, config.DefaultWebAuthnVerifyPath, "alice", "", body).is(t, "verify replayed", 403, wInvalid)
	s.call(t, "/customer-password/1", "alice", "", "").allowed(t, "session from the verify endpoint")

	// A second passkey needs a proof of an existing factor, like any factor.
	s.svc.Engine.EndSessions(context.Background(), "alice")
	r = s.call(t, config.DefaultWebAuthnRegistrationOptionsPath, "alice", "", "")
	r.is(t, "second passkey without step-up", 403, wStepUp)
	proof := webauthntest.Header(alice.Assert(t, s.challenge(t, "alice")))
	second, r := s.register(t, "alice", proof)
	r.is(t, "second passkey with an assertion as proof", 204, "")
	s.call(t, checkout, "alice", webauthntest.Header(second.Assert(t, s.challenge(t, "alice"))), "").allowed(t, "second passkey")

	s.types(t, "alice", 2)
	// Deactivating removes every passkey, with a proof.
	r = s.call(t, config.DefaultDeactivatePath, "alice", webauthntest.Header(second.Assert(t, s.challenge(t, "alice"))),
		`{"data":{"type":"multi-factor-auth-type-deactivate","attributes":{"type":"webauthn"}}}`)
	r.is(t, "deactivate webauthn", 204, "")
	s.types(t, "alice", 0)
	s.call(t, checkout, "alice", "", "").is(t, "after deactivation", 403, wNotOn)

	// A user without a passkey gets no challenge.
	s.call(t, config.DefaultWebAuthnChallengePath, "carol", "", "").is(t, "challenge without passkey", 403, wNotOn)
}

// A user with TOTP adds a passkey only after proving TOTP.
func TestWebAuthnStepUpWithTOTP(t *testing.T) {
	t.Parallel()
	s := startWebAuthn(t, "")
	f := servicetestEnroll(t, s, "dave")
	s.call(t, config.DefaultWebAuthnRegistrationOptionsPath, "dave", "", "").is(t, "no proof", 403, wStepUp)
	s.call(t, config.DefaultWebAuthnRegistrationOptionsPath, "dave", "000000x", "").is(t, "malformed proof", 403, wInvalid)
	code, err := totp.Code(f, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	_, r := s.register(t, "dave", code)
	r.is(t, "passkey after TOTP", 204, "")
	enr, err := s.st.Enrollment(context.Background(), "dave")
	if err != nil || strings.Join(enr.Methods(), ",") != "totp,webauthn" || enr.UnusedRecoveryCodes() != 0 {
		t.Fatalf("enrollment %+v, %v", enr, err)
	}
}

func servicetestEnroll(t *testing.T, s *waServer, user string) *store.TOTP {
	t.Helper()
	f, _, err := totp.Generate(s.svc.Config.TOTP, user, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.st.PutEnrollment(context.Background(), user, &store.Enrollment{TOTP: f}, false); err != nil {
		t.Fatal(err)
	}
	return f
}
