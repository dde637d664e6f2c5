package mfaapi_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/mfa-authz/mfa-authz/authz"
	"github.com/mfa-authz/mfa-authz/authz/config"
	"github.com/mfa-authz/mfa-authz/authz/internal/servicetest"
	"github.com/mfa-authz/mfa-authz/authz/mfaapi"
	"github.com/mfa-authz/mfa-authz/authz/profile"
)

// Removing an enabled factor through the API ends the session the user
// verified before: the next protected request needs a code again.
// Cancelling an activation in progress removes no working factor and
// leaves the session alone.
func TestDeactivateEndsSession(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name, method string
		code         func(e *env) string
		ends         bool
		// the denial of the next protected request without a code
		reason   profile.Reason
		glueCode string
		detail   string
	}{
		// One of two factors: the user must show the other one.
		{name: "enabled factor", method: "email", code: func(e *env) string { return "recovery " + e.codes[0] }, ends: true,
			reason: profile.Missing, glueCode: "5900", detail: "no code"},
		// The last factor: the user is not enrolled any more.
		{name: "last factor", method: "totp", code: func(e *env) string { return "recovery " + e.codes[0] }, ends: true,
			reason: profile.NotEnrolled, glueCode: "5920", detail: "no factor enrolled"},
		{name: "in progress", method: "sms", ends: false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			outbox := filepath.Join(t.TempDir(), "outbox.jsonl")
			svc := servicetest.New(t, "cache:\n  max_sessions: 100\nidentity:\n  header: x-user-id\n"+
				"delivery:\n  email: file\n  sms: file\n  file:\n    path: "+outbox+"\n"+
				"policy:\n  rules:\n    - path: /checkout\n      methods: [POST]\n")
			e := &env{svc: svc, st: svc.Store}
			e.enabledTOTP(t, "alice")
			e.recovery(t, "alice")
			if tc.method == "email" {
				e.oob(t, "alice", "email", aliceEmail, true)
			}
			if tc.method == "sms" {
				e.oob(t, "alice", "sms", alicePhone, false)
			}
			protected := func(code string) authz.Decision {
				return e.svc.Engine.Check(ctx, req{path: "/checkout", user: "alice", code: code}.build())
			}
			if d := protected("totp " + totpCode(t, e.totp)); !d.Allowed || d.Detail != "verified" {
				t.Fatalf("verifying: %+v", d)
			}
			if d := protected(""); !d.Allowed || d.Detail != "session" || d.Method != "totp" {
				t.Fatalf("inside the grace period: %+v", d)
			}
			rq := req{path: config.DefaultDeactivatePath, user: "alice", body: body(mfaapi.TypeDeactivate, tc.method)}
			if tc.code != nil {
				rq.code = tc.code(e)
			}
			got, ok := e.svc.API.Handle(ctx, rq.build())
			if !ok {
				t.Fatal("deactivate was not answered")
			}
			expect(t, got, noContent)
			d := protected("")
			if !tc.ends {
				if !d.Allowed || d.Detail != "session" {
					t.Fatalf("after cancelling an activation: %+v, want the session kept", d)
				}
				return
			}
			if d.Allowed || d.Reason != tc.reason || d.Detail != tc.detail {
				t.Fatalf("after deactivate: %+v, want %s (%s)", d, tc.reason, tc.detail)
			}
			expect(t, d.Answer, glueErr(t, tc.reason, tc.glueCode))
			if e.svc.Engine.SteppedUp(ctx, "alice", time.Now()) {
				t.Fatal("the ended session still counts as a step-up")
			}
		})
	}
}
