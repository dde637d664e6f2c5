package extauthz_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
	"google.golang.org/grpc/codes"

	"github.com/mfa-authz/mfa-authz/authz/config"
	"github.com/mfa-authz/mfa-authz/authz/mfaapi"
	"github.com/mfa-authz/mfa-authz/authz/store"
	"github.com/mfa-authz/mfa-authz/authz/totp"
)

// The self-service endpoints are the only place mfa-authz reads request
// bodies (JSON:API documents). FuzzAPIBody sends fuzzed bodies, MFA
// headers and identities to every endpoint through the ext_authz adapter.
// fzUser has an enabled TOTP factor and never a session; unless a request
// carries one of fzUser's valid codes, nothing may change fzUser's
// enrollment: no factor removed, replaced, added or left pending, no
// recovery codes made.

var apiPaths = []struct{ method, path string }{
	{"GET", config.DefaultTypesPath},
	{"POST", config.DefaultActivatePath},
	{"POST", config.DefaultVerifyPath},
	{"POST", config.DefaultDeactivatePath},
	{"POST", config.DefaultTriggerPath},
	{"POST", config.DefaultRecoveryCodesPath},
	{"POST", config.DefaultActivatePath + "?x=1"},
}

func newAPIFzEnv(f *testing.F) *fzEnv {
	e := newFzEnv(f)
	core, logs := observer.New(zapcore.ErrorLevel)
	e.logs = logs
	api, err := mfaapi.New(mfaapi.Options{
		Engine: e.eng, Store: e.st,
		Paths: mfaapi.Paths{Types: config.DefaultTypesPath, Activate: config.DefaultActivatePath,
			Verify: config.DefaultVerifyPath, Deactivate: config.DefaultDeactivatePath,
			Trigger: config.DefaultTriggerPath, RecoveryCodes: config.DefaultRecoveryCodesPath},
		TOTP: totp.DefaultConfig(), Logger: zap.New(core), Now: func() time.Time { return fzNow },
		JWTNamespace: "envoy.filters.http.jwt_authn", JWTPayloadKey: "jwt_payload",
	})
	if err != nil {
		f.Fatal(err)
	}
	e.eng.SetAPI(api)
	return e
}

func FuzzAPIBody(f *testing.F) {
	doc := func(typ, method string) []byte {
		b, _ := json.Marshal(map[string]any{"data": map[string]any{"type": typ, "attributes": map[string]any{"type": method}}})
		return b
	}
	f.Add(uint8(0), []byte(nil), "", fzUser)
	f.Add(uint8(1), doc(mfaapi.TypeActivate, "totp"), "", fzUser)
	f.Add(uint8(1), doc(mfaapi.TypeActivate, "email"), "", fzUser)
	f.Add(uint8(1), doc(mfaapi.TypeActivate, "totp"), "", "newcomer")
	f.Add(uint8(2), doc(mfaapi.TypeVerify, "totp"), "123456", fzUser)
	f.Add(uint8(3), doc(mfaapi.TypeDeactivate, "totp"), "000000", fzUser)
	f.Add(uint8(3), doc(mfaapi.TypeDeactivate, " TOTP "), "recovery aaaa-bbbb", fzUser)
	f.Add(uint8(4), doc(mfaapi.TypeTrigger, "totp"), "", fzUser)
	f.Add(uint8(5), []byte(`{"data":{"type":"multi-factor-auth-recovery-codes"}}`), "totp 123456", fzUser)
	f.Add(uint8(3), []byte(`{"data":{"type":"multi-factor-auth-type-deactivate","attributes":{"type":"totp"}}}{}`), "", fzUser)
	f.Add(uint8(1), []byte(`{"data":{"type":"multi-factor-auth-type-activate","attributes":null}}`), "", fzUser)
	f.Add(uint8(6), []byte(`{"data":{"type":"multi-factor-auth-type-activate","attributes":{"type":"sms","destination":"+4912345"}}}`), "", fzUser)
	e := newAPIFzEnv(f)
	// The harness can see a change: with a valid code, deactivation works.
	proof := &authv3.CheckRequest{Attributes: &authv3.AttributeContext{Request: &authv3.AttributeContext_Request{
		Http: &authv3.AttributeContext_HttpRequest{Method: "POST", Path: config.DefaultDeactivatePath,
			Headers: map[string]string{"x-user-id": fzUser, "x-mfa-code": e.valid[1], "content-type": "application/vnd.api+json"},
			RawBody: doc(mfaapi.TypeDeactivate, "totp")}}}}
	if resp, err := e.srv.Check(context.Background(), proof); err != nil || resp.GetDeniedResponse().GetStatus().GetCode() != 204 {
		f.Fatalf("deactivation with a valid code: %v %v", resp, err)
	}
	if _, err := e.st.Enrollment(context.Background(), fzUser); err == nil {
		f.Fatal("deactivation with a valid code left the enrollment")
	}
	e.ses.Delete(fzUser)
	if err := e.st.PutEnrollment(context.Background(), fzUser, &store.Enrollment{TOTP: e.tf}, true); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, endpoint uint8, body []byte, code, user string) {
		ep := apiPaths[int(endpoint)%len(apiPaths)]
		h := map[string]string{"x-user-id": user, "content-type": "application/vnd.api+json"}
		if code != "" {
			h["x-mfa-code"] = code
		}
		req := &authv3.CheckRequest{Attributes: &authv3.AttributeContext{Request: &authv3.AttributeContext_Request{
			Http: &authv3.AttributeContext_HttpRequest{Method: ep.method, Path: ep.path, Host: "shop.example.com",
				Headers: h, RawBody: body, Size: int64(len(body))}}}}
		proved := false
		for _, c := range e.valid {
			proved = proved || strings.Contains(code, c)
		}
		resp, err := e.srv.Check(context.Background(), req)
		if err != nil || resp == nil {
			t.Fatalf("Check returned %v, %v", resp, err)
		}
		if entries := e.logs.TakeAll(); len(entries) > 0 {
			t.Fatalf("the endpoint logged an error (a recovered panic or a failure): %s %v", entries[0].Message, entries[0].ContextMap())
		}
		if resp.GetOkResponse() != nil || codes.Code(resp.GetStatus().GetCode()) == codes.OK {
			t.Fatalf("a self-service request was let through to the upstream: %v", resp)
		}
		st := resp.GetDeniedResponse().GetStatus().GetCode()
		if !(st == 200 || st == 201 || st == 204 || st >= 400 && st < 600) {
			t.Fatalf("answered HTTP %d", st)
		}
		enr, err := e.st.Enrollment(context.Background(), fzUser)
		if proved {
			// A valid code may legitimately change things: start over.
			e.ses.Delete(fzUser)
			if err := e.st.PutEnrollment(context.Background(), fzUser, &store.Enrollment{TOTP: e.tf}, true); err != nil {
				t.Fatal(err)
			}
			return
		}
		if err != nil {
			t.Fatalf("%s %s by %q without a valid code: the enrollment is gone (%v)", ep.method, ep.path, user, err)
		}
		if enr.TOTP == nil || enr.TOTP.Pending || enr.TOTP.Secret != e.tf.Secret || enr.Email != nil || enr.SMS != nil || len(enr.Recovery) != 0 {
			t.Fatalf("%s %s by %q with code %q and body %q changed the enrollment without a valid code: totp %v email %v sms %v recovery %d",
				ep.method, ep.path, user, code, body, enr.TOTP != nil, enr.Email != nil, enr.SMS != nil, len(enr.Recovery))
		}
		if e.eng.SteppedUp(context.Background(), fzUser, fzNow) {
			t.Fatalf("%s %s by %q without a valid code started a session", ep.method, ep.path, user)
		}
	})
}
