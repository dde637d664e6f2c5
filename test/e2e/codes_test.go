package e2e

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/mfa-authz/mfa-authz/test/smtptest"
)

const recoveryCodesP = "/multi-factor-auth-recovery-codes"

// TestCodeExpiry: an e-mail code requested through the trigger endpoint
// (real gRPC Check, real SMTP) and presented after codes.ttl is refused:
// glue answers its invalid-code body, the problem profile tells expiry
// apart (transaction-expired) from a wrong code (invalid-code).
//
// codes.ttl is at its minimum, 30s, and the test waits for it once for both
// profiles. The codes are sent before t.Parallel, in the sequential phase,
// so that the wait runs while the other tests do; a waiting t.Parallel
// subtest per profile would instead hold a -parallel slot each (on a 2-CPU
// machine, all of them).
func TestCodeExpiry(t *testing.T) {
	const ttl = 30 * time.Second
	type run struct {
		profile        string
		wrong, expired denial
		s              *server
		mail           *smtptest.Server
		code           string
	}
	runs := []*run{
		{profile: "glue", wrong: deny403(glueInvalid), expired: deny403(glueInvalid)},
		{profile: "problem",
			wrong: denial{rpc: codes.PermissionDenied, status: 401, contentType: problemType, body: problemBody(
				"invalid-code", "MFA code invalid.", 401, "The provided MFA code is invalid or expired.", "flow-exp")},
			expired: denial{rpc: codes.PermissionDenied, status: 401, contentType: problemType, body: problemBody(
				"transaction-expired", "MFA code expired.", 401,
				"The MFA code has expired or was already used. Please request a new code.", "flow-exp")}},
	}
	const u = "eve"
	trig := apiReq{method: "POST", path: trigger, user: u, body: body("multi-factor-auth-trigger", "email")}
	checkout := func(code string) req {
		return req{method: "POST", path: "/checkout/1", user: u, code: code, requestID: "flow-exp"}
	}
	var expiresBy time.Time
	for _, r := range runs {
		t.Logf("%s profile: enroll, trigger, a wrong code", r.profile)
		r.mail = smtptest.Start(t, smtptest.Options{})
		e, _ := lifecycleEnvTTL(t, r.profile, r.mail, startHook(t, "s"), "  resend_cooldown: 1s\n", "30s")
		if res := runCLI(t, "enroll", "email", "--user", u, "--destination", "eve@example.com", "--config", e.cfg); res.code != 0 {
			t.Fatalf("enroll email: want exit 0\n%s", res)
		}
		r.s = startServer(t, e)
		r.s.answer(t, trig, 204, "")
		// The code expires ttl after it was sent, which was before now.
		expiresBy = time.Now().Add(ttl)
		r.code = mailCode(t, r.mail, "eve@example.com")
		// Before expiry a wrong code is just wrong (one of 3 tries).
		wrong := "email 000000"
		if r.code == "000000" {
			wrong = "email 111111"
		}
		r.s.expectDenied(t, r.s.check(t, checkout(wrong).build(t)), r.wrong)
	}

	t.Parallel()
	time.Sleep(time.Until(expiresBy) + 500*time.Millisecond)
	for _, r := range runs {
		t.Run(r.profile, func(t *testing.T) {
			r.s.expectDenied(t, r.s.check(t, checkout("email "+r.code).build(t)), r.expired)
			// A new code works: expiry ends the code, not the factor.
			r.s.answer(t, trig, 204, "")
			r.s.expectAllowed(t, r.s.check(t, checkout("email "+mailCode(t, r.mail, "eve@example.com")).build(t)), "email")
		})
	}
}

// recoveryDoc parses a 200 answer of the recovery-codes (or first verify)
// endpoint, asserting its exact shape, and returns the codes.
func recoveryDoc(t *testing.T, out string) []string {
	t.Helper()
	var doc struct {
		Data struct {
			Attributes struct {
				Codes []string `json:"codes"`
			} `json:"attributes"`
		} `json:"data"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("recovery codes answer is not JSON: %v: %s", err, out)
	}
	c := doc.Data.Attributes.Codes
	checkRecoveryCodes(t, c)
	quoted := make([]string, len(c))
	for i, x := range c {
		quoted[i] = fmt.Sprintf("%q", x)
	}
	want := `{"data":{"type":"multi-factor-auth-recovery-codes","id":"recovery","attributes":{"codes":[` +
		strings.Join(quoted, ",") + `]}}}`
	if out != want {
		t.Fatalf("recovery codes answer:\n got: %s\nwant: %s", out, want)
	}
	return c
}

// TestRecoveryCodesAPI: POST /multi-factor-auth-recovery-codes through real
// gRPC Check. It needs a code of an enabled factor (or a recovery code) in
// the request itself; a verified session is not enough. It answers 10 new
// codes; the old ones stop working, the new ones work once each.
func TestRecoveryCodesAPI(t *testing.T) {
	t.Parallel()
	problem := func(kind, title string, status int, detail string) denial {
		return denial{rpc: codes.PermissionDenied, status: status, contentType: problemType,
			body: problemBody(kind, title, status, detail, "flow-1")}
	}
	for _, tc := range []struct {
		profile                                            string
		noIdentity, notEnrolled, missing, invalid, badCode denial
	}{
		{"glue", deny400(glueNoIdentity), deny403(glueNotEnrolled), deny403(glueMissing), deny403(glueInvalid), deny403(glueInvalid)},
		{"problem",
			problem("missing-identity", "User identity missing.", 401, "Action is secured with MFA and requires an authenticated user."),
			problem("factor-not-enrolled", "MFA factor not enrolled.", 409,
				"Action is secured with MFA, but the requested MFA factor is not enrolled for this user."),
			problem("missing-code", "'X-MFA-Code' header missing", 409, "Action is secured with MFA. Please provide 'X-MFA-Code' header."),
			problem("invalid-code", "MFA code invalid.", 401, "The provided MFA code is invalid or expired."),
			problem("invalid-recovery-code", "Recovery code invalid.", 401, "The provided recovery code is invalid or was already used.")},
	} {
		t.Run(tc.profile, func(t *testing.T) {
			t.Parallel()
			mail := smtptest.Start(t, smtptest.Options{})
			hook := startHook(t, "s")
			e, _ := lifecycleEnv(t, tc.profile, mail, hook, "  resend_cooldown: 1s\n")
			const u = "rick"
			f := enrollJSON(t, e.cfg, u)
			old := f.recovery
			checkRecoveryCodes(t, old)
			s := startServer(t, e)
			regen := func(user, code string) apiReq {
				return apiReq{method: "POST", path: recoveryCodesP, user: user, code: code}
			}
			answer := func(a apiReq, want denial) {
				t.Helper()
				s.expectDenied(t, s.check(t, a.build()), want)
			}
			checkout := func(code string) req {
				return req{method: "POST", path: "/checkout/1", user: u, code: code, requestID: "flow-1"}
			}

			answer(regen("", "123456"), tc.noIdentity)
			answer(regen("nobody", "123456"), tc.notEnrolled)
			answer(regen(u, ""), tc.missing)
			// A fresh step-up on a protected route does not stand in for
			// the code: regenerating needs one in the request itself.
			step := f.step()
			s.expectAllowed(t, s.check(t, protected(u, f.codeAt(t, step)).build(t)), "totp")
			answer(regen(u, ""), tc.missing)
			answer(regen(u, f.wrongCode(t)), tc.invalid)
			answer(regen(u, "recovery ABCD-EFGH"), tc.badCode)

			// With a TOTP code: 10 new codes, none of the old ones.
			fresh := recoveryDoc(t, s.answer(t, regen(u, "totp "+f.codeAt(t, step+1)), 200, "*"))
			for _, c := range fresh {
				if slices.Contains(old, c) {
					t.Fatalf("new codes %q repeat old code %s", fresh, c)
				}
			}
			s.expectDenied(t, s.check(t, checkout("recovery "+old[0]).build(t)), tc.badCode)
			s.expectAllowed(t, s.check(t, checkout("recovery "+fresh[0]).build(t)), "recovery")
			s.expectDenied(t, s.check(t, checkout("recovery "+fresh[0]).build(t)), tc.badCode)

			// With a recovery code: it is spent, and the whole batch replaced.
			newer := recoveryDoc(t, s.answer(t, regen(u, "recovery "+fresh[1]), 200, "*"))
			answer(regen(u, "recovery "+fresh[1]), tc.badCode)
			s.expectDenied(t, s.check(t, checkout("recovery "+fresh[2]).build(t)), tc.badCode)
			s.expectAllowed(t, s.check(t, checkout("recovery "+newer[9]).build(t)), "recovery")
			s.expectDenied(t, s.check(t, checkout("recovery "+newer[9]).build(t)), tc.badCode)
			res := runCLI(t, "user", "show", "--user", u, "--config", e.cfg)
			if want := "User \"rick\"\n  totp   enabled\nUnused recovery codes: 9\n"; res.code != 0 || res.stdout != want {
				t.Fatalf("user show: want %q\n%s", want, res)
			}
		})
	}
}
