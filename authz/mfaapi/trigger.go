package mfaapi

import (
	"context"

	"github.com/mfa-authz/mfa-authz/authz"
	"github.com/mfa-authz/mfa-authz/authz/profile"
	"github.com/mfa-authz/mfa-authz/authz/store"
)

// trigger answers POST multi-factor-auth-trigger: it sends a code of an
// enabled e-mail or SMS factor, for the client to put in the MFA header of
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
	method := req.method
	if Status(req.enr, method) != StatusEnabled {
		return a.deny(r, profile.FactorNotActive, 0)
	}
	if method == store.MethodTOTP {
		// The authenticator app shows the code: nothing to send.
		return noContent
	}
	dest := oob(req.enr, method).Destination
	if ans, ok := a.admitSend(ctx, r, user, method, dest, false); !ok {
		return ans
	}
	return a.send(ctx, r, user, method, dest)
}
