package mfaapi_test

import (
	"context"
	"testing"
	"time"

	"github.com/mfa-authz/mfa-authz/authz/config"
	"github.com/mfa-authz/mfa-authz/authz/mfaapi"
	"github.com/mfa-authz/mfa-authz/authz/profile"
)

// expectStatus asserts the user's status of method after the call.
func expectStatus(method string, status int) func(*testing.T, *env, profile.Answer) {
	return func(t *testing.T, e *env, _ profile.Answer) {
		t.Helper()
		enr := e.enrollment(t, "alice")
		got := mfaapi.StatusDisabled
		if enr != nil {
			got = mfaapi.Status(enr, method)
		}
		if got != status {
			t.Errorf("status of %s = %d, want %d (%+v)", method, got, status, enr)
		}
	}
}

// both runs two after funcs.
func both(a, b func(*testing.T, *env, profile.Answer)) func(*testing.T, *env, profile.Answer) {
	return func(t *testing.T, e *env, got profile.Answer) {
		t.Helper()
		a(t, e, got)
		b(t, e, got)
	}
}

func TestVerify(t *testing.T) {
	post := func(method string) req {
		return req{path: config.DefaultVerifyPath, user: "alice", body: body(mfaapi.TypeVerify, method)}
	}
	withCode := func(r req, code string) req { r.code = code; return r }
	pendingEmail := func(t *testing.T, e *env) {
		e.oob(t, "alice", "email", aliceEmail, false)
		e.pendingCode(t, "alice", "email", "123456", 0, time.Minute)
	}
	// totpAndPendingSMS: an enabled TOTP factor, a fresh step-up, and an
	// SMS factor in progress whose code 654321 was sent.
	totpAndPendingSMS := func(t *testing.T, e *env) {
		e.enabledTOTP(t, "alice")
		e.recovery(t, "alice")
		e.oob(t, "alice", "sms", alicePhone, false)
		e.pendingCode(t, "alice", "sms", "654321", 0, time.Minute)
		e.stepUp(t, "alice")
	}
	// noRecovery: verify shows no recovery codes and makes none; the
	// client fetches them with their own request.
	noRecovery := func(t *testing.T, e *env, _ profile.Answer) {
		t.Helper()
		if enr := e.enrollment(t, "alice"); len(enr.Recovery) != 0 {
			t.Errorf("verify made recovery codes: %+v", enr.Recovery)
		}
	}
	run(t, []row{
		// Success is 204 with no body, as Spryker's, the first factor too.
		{name: "first factor totp", req: post("totp"), setup: func(t *testing.T, e *env) { e.pendingTOTP(t, "alice") },
			code: func(t *testing.T, e *env) string { return "totp " + totpCode(t, e.totp) },
			want: is(noContent), after: both(expectStatus("totp", 2), noRecovery)},
		{name: "a bare code is the pending factor's", req: post("totp"), setup: func(t *testing.T, e *env) { e.pendingTOTP(t, "alice") },
			code: func(t *testing.T, e *env) string { return totpCode(t, e.totp) },
			want: is(noContent), after: both(expectStatus("totp", 2), noRecovery)},
		{name: "first factor email", req: withCode(post("email"), "email 123456"), setup: pendingEmail,
			want: is(noContent), after: both(expectStatus("email", 2), func(t *testing.T, e *env, got profile.Answer) {
				noRecovery(t, e, got)
				if p := e.pending(t, "alice", "email"); p != nil {
					t.Errorf("the used code is still pending: %+v", p)
				}
			})},
		{name: "first factor, problem profile", opts: opts{profile: profile.Problem}, req: withCode(post("email"), "email 123456"),
			setup: pendingEmail, want: is(noContent), after: expectStatus("email", 2)},
		{name: "recovery codes the user has are kept", req: post("totp"),
			setup: func(t *testing.T, e *env) { e.pendingTOTP(t, "alice"); e.recovery(t, "alice") },
			code:  func(t *testing.T, e *env) string { return "totp " + totpCode(t, e.totp) },
			want:  is(noContent), after: both(expectStatus("totp", 2), func(t *testing.T, e *env, _ profile.Answer) {
				if enr := e.enrollment(t, "alice"); enr.UnusedRecoveryCodes() != 10 ||
					string(enr.Recovery[0].Hash) != string(e.st.SecretHash("alice", "recovery", e.codes[0])) {
					t.Errorf("recovery codes replaced: %+v", enr.Recovery)
				}
			})},
		{name: "second factor", req: withCode(post("sms"), "sms 654321"), setup: totpAndPendingSMS,
			want: is(noContent), after: both(expectStatus("sms", 2), expectStatus("totp", 2))},

		// Wrong, expired and missing codes leave the factor pending.
		{name: "wrong totp code", req: post("totp"), setup: func(t *testing.T, e *env) { e.pendingTOTP(t, "alice") },
			code: func(t *testing.T, e *env) string { return "totp " + wrongTOTP(t, e.totp) },
			want: glue(profile.Invalid, "5901"), after: expectStatus("totp", 1)},
		{name: "wrong totp code, problem", opts: opts{profile: profile.Problem}, req: post("totp"),
			setup: func(t *testing.T, e *env) { e.pendingTOTP(t, "alice") },
			code:  func(t *testing.T, e *env) string { return "totp " + wrongTOTP(t, e.totp) },
			want:  problem(profile.Invalid), after: expectStatus("totp", 1)},
		{name: "wrong email code", req: withCode(post("email"), "email 000000"), setup: pendingEmail,
			want: glue(profile.Invalid, "5901"), after: both(expectStatus("email", 1), func(t *testing.T, e *env, _ profile.Answer) {
				if p := e.pending(t, "alice", "email"); p == nil || p.Attempts != 1 {
					t.Errorf("pending code %+v, want one attempt counted", p)
				}
			})},
		{name: "expired email code", req: withCode(post("email"), "email 123456"),
			setup: func(t *testing.T, e *env) {
				e.oob(t, "alice", "email", aliceEmail, false)
				e.pendingCode(t, "alice", "email", "123456", 2*time.Minute, time.Minute)
			},
			want: glue(profile.Expired, "5901"), after: expectStatus("email", 1)},
		{name: "expired email code, problem", opts: opts{profile: profile.Problem}, req: withCode(post("email"), "email 123456"),
			setup: func(t *testing.T, e *env) {
				e.oob(t, "alice", "email", aliceEmail, false)
				e.pendingCode(t, "alice", "email", "123456", 2*time.Minute, time.Minute)
			},
			want: problem(profile.Expired), after: expectStatus("email", 1)},
		{name: "right code after the tries are spent", req: withCode(post("email"), "email 123456"),
			setup: func(t *testing.T, e *env) {
				pendingEmail(t, e)
				for range 3 { // codes.max_attempts
					r := withCode(post("email"), "email 000000").build()
					if got, _ := e.svc.API.Handle(context.Background(), r); got.Status != 403 {
						t.Fatalf("wrong code: %+v", got)
					}
				}
			},
			want: glue(profile.Expired, "5901"), after: expectStatus("email", 1)},
		{name: "no code sent", req: withCode(post("email"), "email 123456"),
			setup: func(t *testing.T, e *env) { e.oob(t, "alice", "email", aliceEmail, false) },
			want:  glue(profile.Invalid, "5901"), after: expectStatus("email", 1)},
		{name: "no code", req: post("email"), setup: pendingEmail, want: glue(profile.Missing, "5900"), after: expectStatus("email", 1)},
		{name: "no code, problem", opts: opts{profile: profile.Problem}, req: post("email"), setup: pendingEmail,
			want: problem(profile.Missing)},
		{name: "malformed code", req: withCode(post("email"), "email 12345a"), setup: pendingEmail,
			want: glue(profile.Invalid, "5901"), after: expectStatus("email", 1)},
		{name: "banned", req: withCode(post("email"), "email 123456"),
			setup: func(t *testing.T, e *env) { pendingEmail(t, e); e.ban(t, "alice") },
			want:  glueRetry(profile.TooManyAttempts, "5911", 15*time.Minute), after: expectStatus("email", 1)},

		{name: "banned, no code", req: post("email"),
			setup: func(t *testing.T, e *env) { pendingEmail(t, e); e.ban(t, "alice") },
			want:  glueRetry(profile.TooManyAttempts, "5911", 15*time.Minute), after: expectStatus("email", 1)},

		// A code sent to another destination than the one in progress (as
		// in the moment between activate registering a new destination and
		// sending its code) does not enable it.
		{name: "code sent to the previous destination", req: withCode(post("email"), "email 123456"),
			setup: func(t *testing.T, e *env) {
				e.oob(t, "alice", "email", "mallory@example.com", false)
				e.pendingCodeTo(t, "alice", "email", "123456", aliceEmail, 0, time.Minute)
			},
			want: glue(profile.Invalid, "5901"), after: func(t *testing.T, e *env, _ profile.Answer) {
				if enr := e.enrollment(t, "alice"); mfaapi.Status(enr, "email") != mfaapi.StatusInProgress || len(enr.Recovery) != 0 {
					t.Errorf("enrollment %+v, want e-mail in progress, no recovery codes", enr)
				}
			}},
		{name: "code sent to the previous destination, problem", opts: opts{profile: profile.Problem},
			req: withCode(post("sms"), "sms 123456"),
			setup: func(t *testing.T, e *env) {
				e.oob(t, "alice", "sms", "+4930123456", false)
				e.pendingCodeTo(t, "alice", "sms", "123456", alicePhone, 0, time.Minute)
			},
			want: problem(profile.Invalid), after: expectStatus("sms", 1)},

		// Only the factor being verified is judged: another factor's code
		// is refused unchecked and stays usable.
		{name: "another factor's code", req: post("sms"), setup: totpAndPendingSMS,
			code: func(t *testing.T, e *env) string { return "totp " + totpCode(t, e.totp) },
			want: glue(profile.Invalid, "5901"), after: both(expectStatus("sms", 1), totpStillWorks)},
		{name: "a recovery code", req: post("sms"), setup: totpAndPendingSMS,
			code: func(t *testing.T, e *env) string { return "recovery " + e.codes[0] },
			want: glue(profile.Invalid, "5901"), after: both(expectStatus("sms", 1), recoveryUnused)},
		{name: "a recovery code, problem", opts: opts{profile: profile.Problem}, req: post("sms"), setup: totpAndPendingSMS,
			code: func(t *testing.T, e *env) string { return "recovery " + e.codes[0] },
			want: problem(profile.Invalid), after: both(expectStatus("sms", 1), recoveryUnused)},
		{name: "a code of a factor not enrolled", req: withCode(post("sms"), "email 654321"), setup: totpAndPendingSMS,
			want: glue(profile.Invalid, "5901"), after: both(expectStatus("sms", 1), pendingKept("sms"))},

		// Status.
		{name: "already enabled", req: withCode(post("totp"), "totp 123456"),
			setup: func(t *testing.T, e *env) { e.enabledTOTP(t, "alice") },
			want:  glue(profile.AlreadyEnabled, "5904")},
		{name: "not activated", req: withCode(post("email"), "email 123456"),
			want: glue(profile.FactorNotActive, "5906"), after: expectNoFactor},
		{name: "not activated, problem", opts: opts{profile: profile.Problem}, req: withCode(post("email"), "email 123456"),
			want: problem(profile.FactorNotActive), after: expectNoFactor},
	})
}

// totpStillWorks asserts that alice's current TOTP code was not consumed:
// it still regenerates her recovery codes.
func totpStillWorks(t *testing.T, e *env, _ profile.Answer) {
	t.Helper()
	r := req{path: config.DefaultRecoveryCodesPath, user: "alice", code: "totp " + totpCode(t, e.totp)}
	got, _ := e.svc.API.Handle(context.Background(), r.build())
	expect(t, got, documentLike(recoveryDocument))
}

// recoveryUnused asserts that all ten of alice's recovery codes are unused.
func recoveryUnused(t *testing.T, e *env, _ profile.Answer) {
	t.Helper()
	if n := e.enrollment(t, "alice").UnusedRecoveryCodes(); n != 10 {
		t.Errorf("%d unused recovery codes, want 10", n)
	}
}

// pendingKept asserts that alice's pending code of method is unchanged:
// not used, no wrong try counted.
func pendingKept(method string) func(*testing.T, *env, profile.Answer) {
	return func(t *testing.T, e *env, _ profile.Answer) {
		t.Helper()
		if p := e.pending(t, "alice", method); p == nil || p.Attempts != 0 {
			t.Errorf("pending %s code %+v, want one with no attempts", method, p)
		}
	}
}
