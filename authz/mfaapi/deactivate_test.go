package mfaapi_test

import (
	"testing"
	"time"

	"github.com/mfa-authz/mfa-authz/authz/config"
	"github.com/mfa-authz/mfa-authz/authz/mfaapi"
	"github.com/mfa-authz/mfa-authz/authz/profile"
)

func TestDeactivate(t *testing.T) {
	post := func(method string) req {
		return req{path: config.DefaultDeactivatePath, user: "alice", body: body(mfaapi.TypeDeactivate, method)}
	}
	withCode := func(r req, code string) req { r.code = code; return r }
	totpOnly := func(t *testing.T, e *env) { e.enabledTOTP(t, "alice"); e.recovery(t, "alice") }
	totpAndEmail := func(t *testing.T, e *env) {
		totpOnly(t, e)
		e.oob(t, "alice", "email", aliceEmail, true)
		e.pendingCode(t, "alice", "email", "123456", 0, time.Minute)
	}
	rightTOTP := func(t *testing.T, e *env) string { return "totp " + totpCode(t, e.totp) }
	wrongCode := func(t *testing.T, e *env) string { return "totp " + wrongTOTP(t, e.totp) }
	unenrolled := func(t *testing.T, e *env, _ profile.Answer) {
		t.Helper()
		if enr := e.enrollment(t, "alice"); enr != nil {
			t.Errorf("enrollment %+v left after the last factor", enr)
		}
		if p := e.pending(t, "alice", "email"); p != nil {
			t.Errorf("pending code %+v left", p)
		}
	}
	untouched := expectStatus("totp", mfaapi.StatusEnabled)
	run(t, []row{
		// The last factor takes the enrollment and its recovery codes along.
		{name: "last factor", req: post("totp"), setup: totpOnly, code: rightTOTP, want: is(noContent), after: unenrolled},
		{name: "last factor, problem", opts: opts{profile: profile.Problem}, req: post("totp"), setup: totpOnly, code: rightTOTP,
			want: is(noContent), after: unenrolled},
		{name: "with a recovery code", req: post("totp"), setup: totpOnly,
			code: func(t *testing.T, e *env) string { return "recovery " + e.codes[9] }, want: is(noContent), after: unenrolled},
		{name: "one of two factors", req: post("email"), setup: totpAndEmail, code: rightTOTP, want: is(noContent),
			after: func(t *testing.T, e *env, _ profile.Answer) {
				enr := e.enrollment(t, "alice")
				if enr == nil || enr.Email != nil || !enr.Has("totp") || enr.UnusedRecoveryCodes() != 10 {
					t.Errorf("enrollment %+v, want totp and the recovery codes left", enr)
				}
				// A code sent for the removed factor goes with it.
				if p := e.pending(t, "alice", "email"); p != nil {
					t.Errorf("pending e-mail code %+v left", p)
				}
			}},
		{name: "with the factor's own code", req: withCode(post("email"), "email 123456"), setup: totpAndEmail,
			want: is(noContent), after: expectStatus("email", mfaapi.StatusDisabled)},

		// Cancelling an activation in progress takes no code.
		{name: "in progress", req: post("email"),
			setup: func(t *testing.T, e *env) {
				e.oob(t, "alice", "email", aliceEmail, false)
				e.pendingCode(t, "alice", "email", "123456", 0, time.Minute)
			},
			want: is(noContent), after: unenrolled},
		{name: "in progress next to an enabled factor", req: post("totp"),
			setup: func(t *testing.T, e *env) { e.oob(t, "alice", "sms", alicePhone, true); e.pendingTOTP(t, "alice") },
			want:  is(noContent), after: both(expectStatus("totp", 0), expectStatus("sms", 2))},

		// A missing or wrong code is answered as on any protected route
		// (5900 / 5901, 403), in both profiles.
		{name: "wrong code", req: post("totp"), setup: totpOnly, code: wrongCode,
			want: glue(profile.Invalid, "5901"), after: untouched},
		{name: "wrong code, problem", opts: opts{profile: profile.Problem}, req: post("totp"), setup: totpOnly, code: wrongCode,
			want: problem(profile.Invalid), after: untouched},
		{name: "used recovery code", req: post("totp"),
			setup: func(t *testing.T, e *env) { totpOnly(t, e); e.useRecovery(t, "alice", 0) },
			code:  func(t *testing.T, e *env) string { return "recovery " + e.codes[0] },
			want:  glue(profile.InvalidRecoveryCode, "5901"), after: untouched},
		{name: "used recovery code, problem", opts: opts{profile: profile.Problem}, req: post("totp"),
			setup: func(t *testing.T, e *env) { totpOnly(t, e); e.useRecovery(t, "alice", 0) },
			code:  func(t *testing.T, e *env) string { return "recovery " + e.codes[0] },
			want:  problem(profile.InvalidRecoveryCode), after: untouched},
		{name: "no code", req: post("totp"), setup: totpOnly, want: glue(profile.Missing, "5900"), after: untouched},
		{name: "no code, problem", opts: opts{profile: profile.Problem}, req: post("totp"), setup: totpOnly,
			want: problem(profile.Missing), after: untouched},
		{name: "malformed code", req: withCode(post("totp"), "12 34"), setup: totpOnly,
			want: glue(profile.MalformedCode, "5901"), after: untouched},
		{name: "malformed code, problem", opts: opts{profile: profile.Problem}, req: withCode(post("totp"), "12 34"), setup: totpOnly,
			want: problem(profile.MalformedCode), after: untouched},
		{name: "code of a factor not enrolled", req: withCode(post("totp"), "sms 123456"), setup: totpOnly,
			want: glue(profile.NotEnrolled, "5920"), after: untouched},
		// A type that is not enabled is Spryker's 5906.
		{name: "not activated", req: withCode(post("email"), "email 123456"),
			want: glue(profile.FactorNotActive, "5906"), after: expectNoFactor},
		{name: "not activated, problem", opts: opts{profile: profile.Problem}, req: withCode(post("sms"), "sms 123456"),
			setup: totpOnly, want: problem(profile.FactorNotActive), after: untouched},

		// Lockouts keep their own answer, also in Glue, also where no code
		// is needed (cancelling an activation).
		{name: "banned", req: post("totp"), setup: func(t *testing.T, e *env) { totpOnly(t, e); e.ban(t, "alice") },
			code: rightTOTP, want: glueRetry(profile.TooManyAttempts, "5911", 15*time.Minute), after: untouched},
		{name: "banned, cancelling", req: post("email"),
			setup: func(t *testing.T, e *env) { e.oob(t, "alice", "email", aliceEmail, false); e.ban(t, "alice") },
			want:  glueRetry(profile.TooManyAttempts, "5911", 15*time.Minute), after: expectStatus("email", mfaapi.StatusInProgress)},
		{name: "banned, cancelling, problem", opts: opts{profile: profile.Problem}, req: post("totp"),
			setup: func(t *testing.T, e *env) { e.pendingTOTP(t, "alice"); e.ban(t, "alice") },
			want:  func(t *testing.T) answer { return problemErr(t, profile.TooManyAttempts).with(15 * time.Minute) },
			after: expectStatus("totp", mfaapi.StatusInProgress)},
	})
}
