package attack

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/mfa-authz/mfa-authz/authz/otc"
	"github.com/mfa-authz/mfa-authz/authz/store"
	"github.com/mfa-authz/mfa-authz/test/attack/harness"
)

// verifyConfig offers e-mail codes (to an outbox file), so that a user can
// have an e-mail factor in activation next to an enabled TOTP factor.
const verifyConfig = `
identity:
  header: x-user-id
delivery:
  email: file
  file:
    path: %s
policy:
  rules:
    - path: /checkout/**
      methods: [POST]
      grace_period: 0s
`

// TestVerifyJudgesOnlyItsFactor: the verify endpoint judges only the factor
// being verified. A code of another factor sent there (a recovery code, a
// TOTP code), as a mistaken client or someone probing would send it, is
// refused without being checked: it is not consumed, not taken for the
// new factor, and still works where it belongs. Each row: a user with TOTP
// and ten recovery codes, stepped up, activating e-mail (code 123456 sent).
func TestVerifyJudgesOnlyItsFactor(t *testing.T) {
	s := harness.Start(t, harness.Options{Config: fmt.Sprintf(verifyConfig, filepath.Join(t.TempDir(), "outbox.jsonl"))})
	st := s.Svc.Store
	recovery := []string{"ABCD-EFGH", "JKLM-NPQR"}
	rows := []struct {
		name string
		// header is the MFA header sent to verify, from the user's TOTP
		// code of the next step.
		header func(next string) string
		// reuse is the code that must still work on a protected route
		// afterwards ("" when the row checks nothing there).
		reuse func(next string) string
		// method is the factor reuse proves.
		method string
	}{
		{"recovery code", func(string) string { return "recovery " + recovery[0] },
			func(string) string { return "recovery " + recovery[0] }, "recovery"},
		{"recovery code, lower case", func(string) string { return "RECOVERY abcd-efgh" },
			func(string) string { return "recovery " + recovery[0] }, "recovery"},
		{"TOTP code named", func(next string) string { return "totp " + next },
			func(next string) string { return "totp " + next }, "totp"},
		// A bare code means the factor being verified: judged as the
		// e-mail code (wrong), never as TOTP.
		{"TOTP code, bare", func(next string) string { return next },
			func(next string) string { return "totp " + next }, "totp"},
	}
	for i, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			u := s.Enroll(t, fmt.Sprintf("verifier-%02d", i))
			ctx := context.Background()
			err := st.UpdateEnrollment(ctx, u.Name, func(cur *store.Enrollment) (*store.Enrollment, error) {
				next := *cur
				next.Email = &store.OOB{Destination: "v@example.com", CreatedAt: time.Now().UTC()}
				next.Recovery = otc.HashRecovery(st, u.Name, recovery)
				return &next, nil
			})
			if err != nil {
				t.Fatal(err)
			}
			err = st.UpdatePendingCode(ctx, u.Name, "email", func(*store.PendingCode) (*store.PendingCode, error) {
				now := time.Now().UTC()
				return &store.PendingCode{Hash: st.SecretHash(u.Name, otc.Purpose("email"), "123456"), Destination: "v@example.com",
					SentAt: now, ExpiresAt: now.Add(5 * time.Minute)}, nil
			})
			if err != nil {
				t.Fatal(err)
			}
			harness.AwaitSafeStep(u.Period(), 3*time.Second)
			cur := u.Step(time.Now())
			// A step-up bound to a token, which verify of a second factor
			// needs: the TOTP code proved with the same token just before.
			iat := time.Now().Unix()
			token := map[string]any{"sub": u.Name, "iss": "https://issuer.example.com", "aud": []any{"shop"},
				"iat": float64(iat), "exp": float64(iat + 3600)}
			if got := s.Check(harness.Req{Method: "POST", Path: "/checkout", JWT: token, Headers: map[string]string{
				"x-mfa-code": "totp " + u.CodeAtStep(t, cur)}}.Build()); !got.Allowed {
				t.Fatalf("step-up: %s", got)
			}
			next := u.CodeAtStep(t, cur+1)
			verify := harness.Req{Method: "POST", Path: "/multi-factor-auth-type-verify", JWT: token,
				Headers: map[string]string{"x-mfa-code": r.header(next), "content-type": jsonAPI}}.Build()
			verify.Attributes.Request.Http.Body = `{"data":{"type":"multi-factor-auth-type-verify","attributes":{"type":"email"}}}`
			if got := s.Check(verify); got.HTTP != 403 || got.Code != harness.Invalid {
				t.Fatalf("verify with another factor's code: got %s, want 403 %s", got, harness.Invalid)
			}
			enr, err := st.Enrollment(ctx, u.Name)
			if err != nil || enr.Email == nil || enr.Email.Enabled || enr.UnusedRecoveryCodes() != len(recovery) {
				t.Fatalf("after verify: %+v (%v), want e-mail still in activation and every recovery code unused", enr, err)
			}
			got := s.Check(harness.Req{Method: "POST", Path: "/checkout", Headers: map[string]string{
				"x-user-id": u.Name, "x-mfa-code": r.reuse(next)}}.Build())
			if !got.Allowed || got.Method != r.method {
				t.Fatalf("the code sent to verify no longer works: got %s, want allowed by %s", got, r.method)
			}
		})
	}
}

// TestBareCodeCountsOnce: a bare code is tried against the preferred factor
// and against pending e-mail codes, as one attempt: guessing with bare
// codes gets no more tries before the ban than with named ones.
func TestBareCodeCountsOnce(t *testing.T) {
	cfg := fmt.Sprintf(verifyConfig, filepath.Join(t.TempDir(), "outbox.jsonl")) + "regulation:\n  max_failures: 2\n  window: 5m\n  ban: 15m\n"
	s := harness.Start(t, harness.Options{Config: cfg})
	st := s.Svc.Store
	u := s.Enroll(t, "guesser")
	ctx := context.Background()
	if err := st.UpdateEnrollment(ctx, u.Name, func(cur *store.Enrollment) (*store.Enrollment, error) {
		next := *cur
		next.Email = &store.OOB{Destination: "g@example.com", Enabled: true, CreatedAt: time.Now().UTC()}
		return &next, nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := st.UpdatePendingCode(ctx, u.Name, "email", func(*store.PendingCode) (*store.PendingCode, error) {
		now := time.Now().UTC()
		return &store.PendingCode{Hash: st.SecretHash(u.Name, otc.Purpose("email"), "123456"), Destination: "g@example.com",
			SentAt: now, ExpiresAt: now.Add(5 * time.Minute)}, nil
	}); err != nil {
		t.Fatal(err)
	}
	guess := func(code string) harness.Outcome {
		return s.Check(harness.Req{Method: "POST", Path: "/checkout", Headers: map[string]string{"x-user-id": u.Name, "x-mfa-code": code}}.Build())
	}
	for i, want := range []string{harness.Invalid, harness.Invalid, harness.TooMany} {
		if got := guess(u.WrongCode(t, i)); got.Code != want {
			t.Fatalf("bare guess %d: got %s, want %s", i+1, got, want)
		}
	}
}
