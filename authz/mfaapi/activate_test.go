package mfaapi_test

import (
	"context"
	"regexp"
	"testing"
	"time"

	"github.com/mfa-authz/mfa-authz/authz/config"
	"github.com/mfa-authz/mfa-authz/authz/mfaapi"
	"github.com/mfa-authz/mfa-authz/authz/profile"
	"github.com/mfa-authz/mfa-authz/authz/store"
)

// activateTOTP matches the answer to a TOTP activation for alice; the
// secret is shown twice, alone and in the URI, whose "&" stays as it is
// (not escaped as \u0026).
const activateTOTP = `\{"data":\{"type":"multi-factor-auth-type-activate","id":"totp","attributes":\{"type":"totp",` +
	`"secret":"([A-Z2-7]{32})","uri":"otpauth://totp/mfa-authz:alice\?algorithm=SHA1&digits=6&issuer=mfa-authz&period=30&secret=([A-Z2-7]{32})"\}\}\}`

// expectPendingTOTPShown asserts that the secret shown is the user's
// stored pending factor's.
func expectPendingTOTPShown(t *testing.T, e *env, got profile.Answer) {
	t.Helper()
	m := regexp.MustCompile(activateTOTP).FindStringSubmatch(got.Body)
	enr := e.enrollment(t, "alice")
	if m == nil || enr == nil || enr.TOTP == nil || !enr.TOTP.Pending || enr.TOTP.Secret != m[1] || m[1] != m[2] {
		t.Fatalf("stored %+v, shown %s", enr, got.Body)
	}
	e.expectNothingSent(t)
}

// expectPendingOOB asserts that the user's factor of method is pending at
// dest and that one code was sent there.
func expectPendingOOB(method, dest string) func(*testing.T, *env, profile.Answer) {
	return func(t *testing.T, e *env, _ profile.Answer) {
		t.Helper()
		enr := e.enrollment(t, "alice")
		if enr == nil || mfaapi.Status(enr, method) != mfaapi.StatusInProgress {
			t.Fatalf("enrollment %+v: %s not in progress", enr, method)
		}
		f := enr.Email
		if method == store.MethodSMS {
			f = enr.SMS
		}
		if f.Destination != dest {
			t.Errorf("%s factor at %q, want %q", method, f.Destination, dest)
		}
		e.expectSent(t, "alice", method, dest)
	}
}

// expectNoFactor asserts that the user has no factor and nothing was sent.
func expectNoFactor(t *testing.T, e *env, _ profile.Answer) {
	t.Helper()
	if enr := e.enrollment(t, "alice"); enr != nil {
		t.Errorf("enrollment %+v, want none", enr)
	}
	e.expectNothingSent(t)
}

func TestActivate(t *testing.T) {
	post := func(method string, extra ...string) req {
		return req{path: config.DefaultActivatePath, user: "alice", body: body(mfaapi.TypeActivate, method, extra...)}
	}
	dest := func(d string) string { return `"destination":` + quote(d) }
	withClaims := func(r req, claims map[string]any) req { r.claims = claims; return r }
	limits := "  user_max_sends: 1\n  tenant_max_sends: 1\n  resend_cooldown: 0s"
	destLimits := "  user_max_sends: 1\n  resend_cooldown: 0s"
	// activateFirst has bob or alice activate method first, spending a send.
	activateFirst := func(user, method, to string) func(*testing.T, *env) {
		return func(t *testing.T, e *env) {
			r := post(method, dest(to))
			r.user = user
			if got, _ := e.svc.API.Handle(context.Background(), r.build()); got.Status != 204 {
				t.Fatalf("first activation: %+v", got)
			}
		}
	}
	run(t, []row{
		// TOTP: the secret is made, stored pending and shown once.
		{name: "totp", req: post("totp"), want: is(documentLike(activateTOTP)), after: expectPendingTOTPShown},
		{name: "totp named in another case", req: post(" TOTP "), want: is(documentLike(activateTOTP)), after: expectPendingTOTPShown},
		{name: "totp again replaces the pending secret", req: post("totp"),
			setup: func(t *testing.T, e *env) { e.pendingTOTP(t, "alice") },
			want:  is(documentLike(activateTOTP)), after: expectPendingTOTPShown},
		{name: "totp in the problem profile", opts: opts{profile: profile.Problem}, req: post("totp"),
			want: is(documentLike(activateTOTP)), after: expectPendingTOTPShown},
		{name: "totp already enabled", req: post("totp"),
			setup: func(t *testing.T, e *env) { e.enabledTOTP(t, "alice") },
			want:  glue(profile.AlreadyEnabled, "5904")},
		{name: "totp already enabled, problem", opts: opts{profile: profile.Problem}, req: post("totp"),
			setup: func(t *testing.T, e *env) { e.enabledTOTP(t, "alice") },
			want:  problem(profile.AlreadyEnabled)},

		// E-mail and SMS: the factor is stored pending and a code sent.
		{name: "email", req: post("email", dest(aliceEmail)), want: is(noContent),
			after: expectPendingOOB("email", aliceEmail)},
		{name: "email destination trimmed", req: post("email", dest("  "+aliceEmail+" ")), want: is(noContent),
			after: expectPendingOOB("email", aliceEmail)},
		{name: "sms", req: post("sms", dest(alicePhone)), want: is(noContent),
			after: expectPendingOOB("sms", alicePhone)},
		{name: "email again replaces the pending destination", req: post("email", dest("new@example.com")),
			setup: func(t *testing.T, e *env) { e.oob(t, "alice", "email", aliceEmail, false) },
			want:  is(noContent), after: expectPendingOOB("email", "new@example.com")},
		{name: "the verified claim wins over the body",
			req:  withClaims(post("email", dest(aliceEmail)), map[string]any{"sub": "alice", "email": "claimed@example.com"}),
			want: is(noContent), after: expectPendingOOB("email", "claimed@example.com")},
		{name: "the phone claim wins over the body",
			req:  withClaims(post("sms", dest("+4930123456")), map[string]any{"sub": "alice", "phone_number": alicePhone}),
			want: is(noContent), after: expectPendingOOB("sms", alicePhone)},
		{name: "email already enabled", req: post("email", dest(aliceEmail)),
			setup: func(t *testing.T, e *env) { e.oob(t, "alice", "email", aliceEmail, true) },
			want:  glue(profile.AlreadyEnabled, "5904")},

		// Destinations.
		{name: "email without destination", req: post("email"), want: glue(profile.InvalidEmail, "5917"), after: expectNoFactor},
		{name: "email not an address", req: post("email", dest("alice")), want: glue(profile.InvalidEmail, "5917"), after: expectNoFactor},
		{name: "email with a display name", req: post("email", dest("Alice <"+aliceEmail+">")),
			want: glue(profile.InvalidEmail, "5917"), after: expectNoFactor},
		{name: "an invalid claim is not replaced by the body",
			req:  withClaims(post("email", dest(aliceEmail)), map[string]any{"sub": "alice", "email": "not-an-address"}),
			want: glue(profile.InvalidEmail, "5917"), after: expectNoFactor},
		{name: "sms not E.164", req: post("sms", dest("015112345678")), want: glue(profile.InvalidPhoneNumber, "5917"), after: expectNoFactor},
		{name: "sms not E.164, problem", opts: opts{profile: profile.Problem}, req: post("sms", dest("12345")),
			want: problem(profile.InvalidPhoneNumber), after: expectNoFactor},
		{name: "email not an address, problem", opts: opts{profile: profile.Problem}, req: post("email", dest("@")),
			want: problem(profile.InvalidEmail), after: expectNoFactor},

		// Step-up: a user with an enabled factor proves it first (see also
		// stepup_test.go); a recovery code is proof too.
		{name: "step-up with a recovery code", req: post("email", dest(aliceEmail)),
			setup: func(t *testing.T, e *env) {
				e.enabledTOTP(t, "alice")
				e.recovery(t, "alice")
			},
			code: func(t *testing.T, e *env) string { return "recovery " + e.codes[3] },
			want: is(noContent),
			after: func(t *testing.T, e *env, got profile.Answer) {
				expectPendingOOB("email", aliceEmail)(t, e, got)
				if enr := e.enrollment(t, "alice"); !enr.Recovery[3].Used || enr.UnusedRecoveryCodes() != 9 {
					t.Errorf("recovery codes after the step-up: %+v", enr.Recovery)
				}
				if !e.svc.Engine.SteppedUp(context.Background(), "alice", time.Now()) {
					t.Error("the step-up started no session")
				}
			}},
		{name: "step-up with a used recovery code", req: post("email", dest(aliceEmail)),
			setup: func(t *testing.T, e *env) {
				e.enabledTOTP(t, "alice")
				e.recovery(t, "alice")
				e.useRecovery(t, "alice", 3)
			},
			code: func(t *testing.T, e *env) string { return "recovery " + e.codes[3] },
			want: glue(profile.InvalidRecoveryCode, "5901"), after: func(t *testing.T, e *env, _ profile.Answer) {
				if enr := e.enrollment(t, "alice"); enr.Email != nil {
					t.Errorf("email factor added: %+v", enr.Email)
				}
				e.expectNothingSent(t)
			}},
		{name: "step-up with a wrong code, problem", opts: opts{profile: profile.Problem}, req: post("sms", dest(alicePhone)),
			setup: func(t *testing.T, e *env) { e.enabledTOTP(t, "alice") },
			code:  func(t *testing.T, e *env) string { return "totp " + wrongTOTP(t, e.totp) },
			want:  problem(profile.Invalid), after: func(t *testing.T, e *env, _ profile.Answer) {
				if enr := e.enrollment(t, "alice"); enr.SMS != nil {
					t.Errorf("sms factor added: %+v", enr.SMS)
				}
			}},
		{name: "banned during step-up", req: post("email", dest(aliceEmail)),
			setup: func(t *testing.T, e *env) { e.enabledTOTP(t, "alice"); e.ban(t, "alice") },
			code:  func(t *testing.T, e *env) string { return "totp " + totpCode(t, e.totp) },
			want:  glueRetry(profile.TooManyAttempts, "5911", 15*time.Minute)},
		// A ban holds as on protected routes, also when no code is needed:
		// within a step-up session, or for a first factor.
		{name: "banned within a step-up", req: post("email", dest(aliceEmail)),
			setup: func(t *testing.T, e *env) { e.enabledTOTP(t, "alice"); e.stepUp(t, "alice"); e.ban(t, "alice") },
			want:  glueRetry(profile.TooManyAttempts, "5911", 15*time.Minute), after: func(t *testing.T, e *env, _ profile.Answer) {
				if enr := e.enrollment(t, "alice"); enr.Email != nil {
					t.Errorf("email factor added: %+v", enr.Email)
				}
				e.expectNothingSent(t)
			}},
		{name: "banned within a step-up, problem", opts: opts{profile: profile.Problem}, req: post("totp"),
			setup: func(t *testing.T, e *env) {
				e.oob(t, "alice", "sms", alicePhone, true)
				e.stepUp(t, "alice")
				e.ban(t, "alice")
			},
			want:  func(t *testing.T) answer { return problemErr(t, profile.TooManyAttempts).with(15 * time.Minute) },
			after: expectStatus("totp", mfaapi.StatusDisabled)},
		{name: "banned, first factor", req: post("totp"), setup: func(t *testing.T, e *env) { e.ban(t, "alice") },
			want: glueRetry(profile.TooManyAttempts, "5911", 15*time.Minute), after: expectNoFactor},

		// Sending limits.
		{name: "resend cooldown", req: post("email", dest(aliceEmail)),
			setup: func(t *testing.T, e *env) {
				e.oob(t, "alice", "email", aliceEmail, false)
				e.pendingCode(t, "alice", "email", "123456", 10*time.Second, time.Minute)
			},
			want: glueRetry(profile.ResendCooldown, "5916", 20*time.Second)},
		{name: "user limit", opts: opts{limits: limits}, req: post("email", dest(aliceEmail)),
			setup: activateFirst("alice", "email", "old@example.com"),
			want:  glueRetry(profile.TooManyEmails, "5914", time.Hour)},
		{name: "user limit sms, problem", opts: opts{profile: profile.Problem, limits: limits}, req: post("sms", dest(alicePhone)),
			setup: activateFirst("alice", "sms", "+4930123456"),
			want:  func(t *testing.T) answer { return problemErr(t, profile.TooManySMS).with(time.Hour) }},
		{name: "tenant limit", opts: opts{limits: limits}, req: post("email", dest(aliceEmail)),
			setup: activateFirst("bob", "email", "bob@example.com"),
			want:  glueRetry(profile.TooManyEmailsPerTenant, "5915", time.Hour)},
		{name: "tenant limit sms", opts: opts{limits: limits}, req: post("sms", dest(alicePhone)),
			setup: activateFirst("bob", "sms", "+4930123456"),
			want:  glueRetry(profile.TooManySMSPerTenant, "5915", time.Hour)},
		{name: "the limits count per method", opts: opts{limits: limits}, req: post("sms", dest(alicePhone)),
			setup: activateFirst("alice", "email", aliceEmail),
			want:  is(noContent)},
		// Cancelling the activation deletes the pending code, and with it
		// the time it was sent; the cooldown still holds.
		{name: "resend cooldown after cancelling", req: post("email", dest(aliceEmail)),
			setup: func(t *testing.T, e *env) {
				activateFirst("alice", "email", aliceEmail)(t, e)
				if got, _ := e.svc.API.Handle(context.Background(), post("email", dest(aliceEmail)).build()); got.Status != 429 {
					t.Fatalf("second activation: %+v", got)
				}
				cancel := req{path: config.DefaultDeactivatePath, user: "alice", body: body(mfaapi.TypeDeactivate, "email")}
				if got, _ := e.svc.API.Handle(context.Background(), cancel.build()); got.Status != 204 {
					t.Fatalf("cancel: %+v", got)
				}
			},
			want: glueRetry(profile.ResendCooldown, "5916", 30*time.Second), after: func(t *testing.T, e *env, _ profile.Answer) {
				if msgs := e.sent(t); len(msgs) != 1 {
					t.Errorf("%d codes sent, want 1", len(msgs))
				}
			}},
		{name: "resend cooldown after cancelling sms, problem", opts: opts{profile: profile.Problem}, req: post("sms", dest(alicePhone)),
			setup: func(t *testing.T, e *env) {
				activateFirst("alice", "sms", alicePhone)(t, e)
				cancel := req{path: config.DefaultDeactivatePath, user: "alice", body: body(mfaapi.TypeDeactivate, "sms")}
				if got, _ := e.svc.API.Handle(context.Background(), cancel.build()); got.Status != 204 {
					t.Fatalf("cancel: %+v", got)
				}
			},
			want: func(t *testing.T) answer { return problemErr(t, profile.ResendCooldown).with(30 * time.Second) }},
		// Activations count against their destination too, with the
		// user limit's numbers, so that many identities cannot together
		// flood one inbox or phone; e-mail addresses regardless of case.
		{name: "destination limit", opts: opts{limits: destLimits}, req: post("email", dest(aliceEmail)),
			setup: activateFirst("bob", "email", aliceEmail),
			want:  glueRetry(profile.TooManyEmails, "5914", time.Hour), after: func(t *testing.T, e *env, _ profile.Answer) {
				if enr := e.enrollment(t, "alice"); enr != nil {
					t.Errorf("enrollment %+v, want none", enr)
				}
			}},
		{name: "destination limit, another case", opts: opts{limits: destLimits}, req: post("email", dest("Alice@Example.COM")),
			setup: activateFirst("bob", "email", aliceEmail),
			want:  glueRetry(profile.TooManyEmails, "5914", time.Hour)},
		{name: "destination limit sms, problem", opts: opts{profile: profile.Problem, limits: destLimits}, req: post("sms", dest(alicePhone)),
			setup: activateFirst("bob", "sms", alicePhone),
			want:  func(t *testing.T) answer { return problemErr(t, profile.TooManySMS).with(time.Hour) }},
		{name: "destination limit, another destination", opts: opts{limits: destLimits}, req: post("email", dest(aliceEmail)),
			setup: activateFirst("bob", "email", "bob@example.com"),
			want:  is(noContent), after: expectStatus("email", mfaapi.StatusInProgress)},

		// A failed delivery leaves the factor pending without a code, so
		// that the next try is not held by the cooldown.
		{name: "delivery failed", opts: opts{badBox: true}, req: post("email", dest(aliceEmail)),
			want: glue(profile.DeliveryFailed, "5910"),
			after: func(t *testing.T, e *env, _ profile.Answer) {
				if enr := e.enrollment(t, "alice"); mfaapi.Status(enr, "email") != mfaapi.StatusInProgress {
					t.Errorf("enrollment %+v, want email in progress", enr)
				}
				if p := e.pending(t, "alice", "email"); p != nil {
					t.Errorf("pending code %+v kept after a failed delivery", p)
				}
			}},
		{name: "delivery failed, problem", opts: opts{badBox: true, profile: profile.Problem}, req: post("sms", dest(alicePhone)),
			want: problem(profile.DeliveryFailed)},
	})
}
