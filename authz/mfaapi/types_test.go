package mfaapi_test

import (
	"testing"

	"github.com/mfa-authz/mfa-authz/authz/config"
	"github.com/mfa-authz/mfa-authz/authz/profile"
)

// types lists every offered method with the user's status of it: 0 off,
// 1 activation in progress, 2 on.
func TestTypes(t *testing.T) {
	get := req{method: "GET", path: config.DefaultTypesPath, user: "alice"}
	list := func(totp, email, sms string) string {
		s := `{"data":[{"type":"multi-factor-auth-types","id":"totp","attributes":{"type":"totp","status":` + totp + `}},` +
			`{"type":"multi-factor-auth-types","id":"email","attributes":{"type":"email","status":` + email + `}}`
		if sms != "" {
			s += `,{"type":"multi-factor-auth-types","id":"sms","attributes":{"type":"sms","status":` + sms + `}}`
		}
		return s + `]}`
	}
	run(t, []row{
		{name: "nothing enrolled", req: get, want: is(document(list("0", "0", "0")))},
		{name: "totp on, email in progress", req: get,
			setup: func(t *testing.T, e *env) {
				e.enabledTOTP(t, "alice")
				e.oob(t, "alice", "email", aliceEmail, false)
			},
			want: is(document(list("2", "1", "0")))},
		{name: "totp in progress, sms on", req: get,
			setup: func(t *testing.T, e *env) {
				e.pendingTOTP(t, "alice")
				e.oob(t, "alice", "sms", alicePhone, true)
			},
			want: is(document(list("1", "0", "2")))},
		{name: "another user's factors do not count", req: get,
			setup: func(t *testing.T, e *env) { e.enabledTOTP(t, "bob") },
			want:  is(document(list("0", "0", "0")))},
		{name: "methods without a sender are not listed", opts: opts{noSMS: true}, req: get,
			setup: func(t *testing.T, e *env) { e.oob(t, "alice", "sms", alicePhone, true) },
			want:  is(document(list("0", "0", "")))},
		{name: "query ignored", req: req{method: "GET", path: config.DefaultTypesPath + "?include=all", user: "alice"},
			want: is(document(list("0", "0", "0")))},
		// Successes are JSON:API whatever the profile.
		{name: "problem profile", opts: opts{profile: profile.Problem}, req: get, want: is(document(list("0", "0", "0")))},
		{name: "a body is ignored", req: req{method: "GET", path: config.DefaultTypesPath, user: "alice", body: "junk"},
			want: is(document(list("0", "0", "0")))},
	})
}
