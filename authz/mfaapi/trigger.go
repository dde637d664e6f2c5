package mfaapi

import (
	"context"

	"github.com/mfa-authz/mfa-authz/authz"
	"github.com/mfa-authz/mfa-authz/authz/factor"
	"github.com/mfa-authz/mfa-authz/authz/profile"
)

// trigger answers POST multi-factor-auth-trigger: it sends a code of an
// enabled factor with a destination (e-mail, SMS), for the client to put in the MFA header of
// the request it is about to make. The code goes to the destination
// registered at activation, never to one in the body, so a trigger cannot
// divert a user's codes.
func (a *API) trigger(ctx context.Context, r *authz.Request, user string) profile.Answer {
	req, bad := a.readFactorRequest(ctx, r, user, TypeTrigger)
	if bad != nil {
		return *bad
	}
	if ans, ok := a.notBanned(ctx, r, user); !ok {
		return ans
	}
	f := a.enrollable(req.method)
	if f.Status(req.enr) != StatusEnabled {
		return a.deny(r, profile.FactorNotActive, 0)
	}
	d, ok := f.(factor.Destined)
	if !ok {
		// The user's device shows the code (TOTP): nothing to send.
		return noContent
	}
	dest := d.Destination(req.enr)
	if ans, ok := a.admitSend(ctx, r, user, d, dest, false); !ok {
		return ans
	}
	return a.send(ctx, r, user, d, dest)
}
