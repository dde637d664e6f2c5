package mfaapi_test

import (
	"context"
	"testing"
	"time"

	"github.com/mfa-authz/mfa-authz/authz/config"
	"github.com/mfa-authz/mfa-authz/authz/mfaapi"
	"github.com/mfa-authz/mfa-authz/authz/profile"
)

func TestTrigger(t *testing.T) {
	post := func(method string, extra ...string) req {
		return req{path: config.DefaultTriggerPath, user: "alice", body: body(mfaapi.TypeTrigger, method, extra...)}
	}
	enabled := func(method, dest string) func(*testing.T, *env) {
		return func(t *testing.T, e *env) { e.oob(t, "alice", method, dest, true) }
	}
	sentTo := func(method, dest string) func(*testing.T, *env, profile.Answer) {
		return func(t *testing.T, e *env, _ profile.Answer) { e.expectSent(t, "alice", method, dest) }
	}
	nothingSent := func(t *testing.T, e *env, _ profile.Answer) { e.expectNothingSent(t) }
	limits := "  user_max_sends: 1\n  tenant_max_sends: 1\n  resend_cooldown: 0s"
	// triggerFirst has user trigger method first, spending a send.
	triggerFirst := func(user, method, dest string) func(*testing.T, *env) {
		return func(t *testing.T, e *env) {
			e.oob(t, "alice", method, dest, true)
			e.oob(t, user, method, dest, true)
			r := post(method)
			r.user = user
			if got, _ := e.svc.API.Handle(context.Background(), r.build()); got.Status != 204 {
				t.Fatalf("first trigger: %+v", got)
			}
		}
	}
	run(t, []row{
		{name: "email", req: post("email"), setup: enabled("email", aliceEmail), want: is(noContent), after: sentTo("email", aliceEmail)},
		{name: "sms", req: post("sms"), setup: enabled("sms", alicePhone), want: is(noContent), after: sentTo("sms", alicePhone)},
		{name: "sms named in another case", req: post(" SMS"), setup: enabled("sms", alicePhone), want: is(noContent),
			after: sentTo("sms", alicePhone)},
		// Codes go where activation registered them, never elsewhere.
		{name: "a destination in the body is ignored", req: post("email", `"destination":"mallory@example.com"`),
			setup: enabled("email", aliceEmail), want: is(noContent), after: sentTo("email", aliceEmail)},
		{name: "a destination claim is ignored", setup: enabled("email", aliceEmail),
			req: req{path: config.DefaultTriggerPath, user: "alice", body: body(mfaapi.TypeTrigger, "email"),
				claims: map[string]any{"sub": "alice", "email": "mallory@example.com"}},
			want: is(noContent), after: sentTo("email", aliceEmail)},
		{name: "a new code replaces the old", req: post("email"),
			setup: func(t *testing.T, e *env) {
				e.oob(t, "alice", "email", aliceEmail, true)
				e.pendingCode(t, "alice", "email", "123456", time.Minute, 5*time.Minute)
			},
			want: is(noContent), after: sentTo("email", aliceEmail)},
		// The authenticator app shows TOTP codes: nothing to send.
		{name: "totp", req: post("totp"), setup: func(t *testing.T, e *env) { e.enabledTOTP(t, "alice") },
			want: is(noContent), after: nothingSent},

		{name: "in progress", req: post("email"), setup: func(t *testing.T, e *env) { e.oob(t, "alice", "email", aliceEmail, false) },
			want: glue(profile.FactorNotActive, "5906"), after: nothingSent},
		{name: "totp in progress", req: post("totp"), setup: func(t *testing.T, e *env) { e.pendingTOTP(t, "alice") },
			want: glue(profile.FactorNotActive, "5906")},
		{name: "not activated", req: post("email"), want: glue(profile.FactorNotActive, "5906"), after: nothingSent},
		{name: "not activated, problem", opts: opts{profile: profile.Problem}, req: post("sms"),
			want: problem(profile.FactorNotActive), after: nothingSent},

		// Limits: the cooldown first, then the user's and the tenant's counts.
		{name: "resend cooldown", req: post("email"),
			setup: func(t *testing.T, e *env) {
				e.oob(t, "alice", "email", aliceEmail, true)
				e.pendingCode(t, "alice", "email", "123456", 10*time.Second, time.Minute)
			},
			want: glueRetry(profile.ResendCooldown, "5916", 20*time.Second), after: nothingSent},
		{name: "resend cooldown, problem", opts: opts{profile: profile.Problem}, req: post("sms"),
			setup: func(t *testing.T, e *env) {
				e.oob(t, "alice", "sms", alicePhone, true)
				e.pendingCode(t, "alice", "sms", "123456", 25*time.Second, time.Minute)
			},
			want: func(t *testing.T) answer { return problemErr(t, profile.ResendCooldown).with(5 * time.Second) }},
		{name: "user limit", opts: opts{limits: limits}, req: post("email"), setup: triggerFirst("alice", "email", aliceEmail),
			want: glueRetry(profile.TooManyEmails, "5914", time.Hour)},
		{name: "user limit sms", opts: opts{limits: limits}, req: post("sms"), setup: triggerFirst("alice", "sms", alicePhone),
			want: glueRetry(profile.TooManySMS, "5914", time.Hour)},
		{name: "user limit, problem", opts: opts{limits: limits, profile: profile.Problem}, req: post("email"),
			setup: triggerFirst("alice", "email", aliceEmail),
			want:  func(t *testing.T) answer { return problemErr(t, profile.TooManyEmails).with(time.Hour) }},
		{name: "tenant limit", opts: opts{limits: limits}, req: post("email"), setup: triggerFirst("bob", "email", "bob@example.com"),
			want: glueRetry(profile.TooManyEmailsPerTenant, "5915", time.Hour)},
		{name: "tenant limit sms, problem", opts: opts{limits: limits, profile: profile.Problem}, req: post("sms"),
			setup: triggerFirst("bob", "sms", "+4930123456"),
			want:  func(t *testing.T) answer { return problemErr(t, profile.TooManySMSPerTenant).with(time.Hour) }},

		// Whoever can activate alice's address as their own destination
		// (and so use up its destination count) cannot hold back the
		// codes alice asks for.
		{name: "the destination limit does not hold triggers", opts: opts{limits: "  user_max_sends: 1\n  resend_cooldown: 0s"},
			req: post("email"),
			setup: func(t *testing.T, e *env) {
				e.oob(t, "alice", "email", aliceEmail, true)
				r := req{path: config.DefaultActivatePath, user: "bob", body: body(mfaapi.TypeActivate, "email", `"destination":`+quote(aliceEmail))}
				if got, _ := e.svc.API.Handle(context.Background(), r.build()); got.Status != 204 {
					t.Fatalf("bob's activation: %+v", got)
				}
			},
			want: is(noContent)},

		// A ban holds as on protected routes: no code is sent.
		{name: "banned", req: post("email"), setup: func(t *testing.T, e *env) { e.oob(t, "alice", "email", aliceEmail, true); e.ban(t, "alice") },
			want: glueRetry(profile.TooManyAttempts, "5911", 15*time.Minute), after: nothingSent},
		{name: "banned, problem", opts: opts{profile: profile.Problem}, req: post("sms"),
			setup: func(t *testing.T, e *env) { e.oob(t, "alice", "sms", alicePhone, true); e.ban(t, "alice") },
			want:  func(t *testing.T) answer { return problemErr(t, profile.TooManyAttempts).with(15 * time.Minute) }, after: nothingSent},

		{name: "delivery failed", opts: opts{badBox: true}, req: post("email"), setup: enabled("email", aliceEmail),
			want: glue(profile.DeliveryFailed, "5910"), after: func(t *testing.T, e *env, _ profile.Answer) {
				if p := e.pending(t, "alice", "email"); p != nil {
					t.Errorf("pending code %+v kept after a failed delivery", p)
				}
			}},
	})
}
