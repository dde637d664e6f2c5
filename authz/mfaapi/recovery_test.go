package mfaapi_test

import (
	"context"
	"testing"
	"time"

	"github.com/mfa-authz/mfa-authz/authz/config"
	"github.com/mfa-authz/mfa-authz/authz/mfaapi"
	"github.com/mfa-authz/mfa-authz/authz/otc"
	"github.com/mfa-authz/mfa-authz/authz/profile"
	"github.com/mfa-authz/mfa-authz/authz/store"
)

func TestRecoveryCodes(t *testing.T) {
	post := req{path: config.DefaultRecoveryCodesPath, user: "alice"}
	withCode := func(code string) req { r := post; r.code = code; return r }
	totpOnly := func(t *testing.T, e *env) { e.enabledTOTP(t, "alice"); e.recovery(t, "alice") }
	rightTOTP := func(t *testing.T, e *env) string { return "totp " + totpCode(t, e.totp) }
	// replaced asserts that the codes shown are the user's and the old
	// ones are gone.
	replaced := func(t *testing.T, e *env, got profile.Answer) {
		t.Helper()
		e.expectRecoveryShown(t, "alice", got)
		for _, c := range e.codes {
			if ok, err := otc.UseRecovery(context.Background(), e.st, "alice", c); ok || err != nil {
				t.Errorf("old recovery code %s still works (%v)", c, err)
			}
		}
	}
	kept := func(t *testing.T, e *env, _ profile.Answer) {
		t.Helper()
		enr := e.enrollment(t, "alice")
		if enr == nil || len(e.codes) > 0 && string(enr.Recovery[5].Hash) != string(e.st.SecretHash("alice", otc.RecoveryPurpose, e.codes[5])) {
			t.Errorf("recovery codes changed: %+v", enr)
		}
	}
	run(t, []row{
		{name: "totp code", req: post, setup: totpOnly, code: rightTOTP, want: is(documentLike(recoveryDocument)), after: replaced},
		{name: "recovery code", req: post, setup: totpOnly,
			code: func(t *testing.T, e *env) string { return "recovery " + e.codes[2] },
			want: is(documentLike(recoveryDocument)), after: replaced},
		{name: "email code, no codes before", req: withCode("email 123456"),
			setup: func(t *testing.T, e *env) {
				e.oob(t, "alice", "email", aliceEmail, true)
				e.pendingCode(t, "alice", "email", "123456", 0, time.Minute)
			},
			want: is(documentLike(recoveryDocument)), after: replaced},
		{name: "problem profile", opts: opts{profile: profile.Problem}, req: post, setup: totpOnly, code: rightTOTP,
			want: is(documentLike(recoveryDocument)), after: replaced},
		// The endpoint reads no body: any is accepted.
		{name: "a body is ignored", req: req{path: config.DefaultRecoveryCodesPath, user: "alice", body: "junk"}, setup: totpOnly,
			code: rightTOTP, want: is(documentLike(recoveryDocument)), after: replaced},

		{name: "no code", req: post, setup: totpOnly, want: glue(profile.Missing, "5900"), after: kept},
		{name: "no code, problem", opts: opts{profile: profile.Problem}, req: post, setup: totpOnly,
			want: problem(profile.Missing), after: kept},
		{name: "wrong code", req: post, setup: totpOnly,
			code: func(t *testing.T, e *env) string { return "totp " + wrongTOTP(t, e.totp) },
			want: glue(profile.Invalid, "5901"), after: kept},
		{name: "wrong recovery code", req: withCode("recovery AAAA-BBBB"), setup: totpOnly,
			want: glue(profile.InvalidRecoveryCode, "5901"), after: kept},
		{name: "wrong recovery code, problem", opts: opts{profile: profile.Problem}, req: withCode("recovery AAAA-BBBB"),
			setup: totpOnly, want: problem(profile.InvalidRecoveryCode), after: kept},
		{name: "banned", req: post, setup: func(t *testing.T, e *env) { totpOnly(t, e); e.ban(t, "alice") }, code: rightTOTP,
			want: glueRetry(profile.TooManyAttempts, "5911", 15*time.Minute), after: kept},
		{name: "nothing enrolled", req: withCode("totp 123456"), want: glue(profile.NotEnrolled, "5920"), after: expectNoFactor},
		{name: "only a factor in progress", req: post, setup: func(t *testing.T, e *env) { e.pendingTOTP(t, "alice") },
			code: rightTOTP, want: glue(profile.NotEnrolled, "5920")},
		{name: "nothing enrolled, problem", opts: opts{profile: profile.Problem}, req: withCode("totp 123456"),
			want: problem(profile.NotEnrolled)},
	})
}

// Regenerate is the CLI's way to the same codes.
func TestRegenerate(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, opts{})
	if _, err := mfaapi.Regenerate(ctx, e.st, "alice"); !mfaapi.IsNotEnabled(err) {
		t.Fatalf("Regenerate without an enrollment: %v, want not enabled", err)
	}
	e.pendingTOTP(t, "alice")
	if _, err := mfaapi.Regenerate(ctx, e.st, "alice"); !mfaapi.IsNotEnabled(err) {
		t.Fatalf("Regenerate with a factor in progress: %v, want not enabled", err)
	}
	if enr := e.enrollment(t, "alice"); len(enr.Recovery) != 0 {
		t.Fatalf("refused Regenerate stored codes: %+v", enr.Recovery)
	}
	e.oob(t, "alice", store.MethodEmail, aliceEmail, true)
	old := e.recovery(t, "alice")
	codes, err := mfaapi.Regenerate(ctx, e.st, "alice")
	if err != nil || len(codes) != otc.RecoveryCount {
		t.Fatalf("Regenerate = %v, %v", codes, err)
	}
	if mfaapi.IsNotEnabled(err) || mfaapi.IsNotEnabled(store.ErrNotFound) {
		t.Error("IsNotEnabled of other errors")
	}
	enr := e.enrollment(t, "alice")
	for i, c := range codes {
		if string(enr.Recovery[i].Hash) != string(e.st.SecretHash("alice", otc.RecoveryPurpose, c)) || c == old[i] {
			t.Errorf("code %d not stored, or not new", i)
		}
	}
	if enr.TOTP == nil || !enr.TOTP.Pending || !enr.Has(store.MethodEmail) {
		t.Errorf("Regenerate changed the factors: %+v", enr)
	}
}
