package attack

import (
	"context"
	"time"

	"github.com/mfa-authz/mfa-authz/authz/store"
	"github.com/mfa-authz/mfa-authz/authz/totp"
)

// eightDigits is the 8-digit code of u's secret now: its last six digits
// are u's 6-digit code (RFC 4226 truncation), so only the length is wrong.
func eightDigits(c *rc) string {
	f := *c.u.TOTP
	f.Digits = 8
	code, err := totp.Code(&f, time.Now())
	if err != nil {
		c.t.Fatal(err)
	}
	return code
}

// reenroll replaces u's factor with a new secret.
func reenroll(c *rc) {
	f, _, err := totp.Generate(c.s.Config.TOTP, c.u.Name, time.Now())
	if err != nil {
		c.t.Fatal(err)
	}
	if err := c.s.Svc.Store.PutEnrollment(context.Background(), c.u.Name, &store.Enrollment{TOTP: f}, true); err != nil {
		c.t.Fatal(err)
	}
	c.u.TOTP = f
}
