package mfaapi

import (
	"context"
	"net/http"
	"strings"

	"google.golang.org/protobuf/types/known/structpb"

	"github.com/mfa-authz/mfa-authz/authz"
	"github.com/mfa-authz/mfa-authz/authz/factor"
	"github.com/mfa-authz/mfa-authz/authz/profile"
	"github.com/mfa-authz/mfa-authz/authz/store"
)

// activate answers POST multi-factor-auth-type-activate: it starts the
// activation of a method, which verify completes. A generated factor
// (TOTP) is made and its secret shown (the only time it is); a factor with
// a destination (e-mail, SMS) is registered and a code sent to it. The new factor is pending: it does not
// count for step-up until verified, so a mistyped destination or an
// unscanned secret locks nobody out.
func (a *API) activate(ctx context.Context, r *authz.Request, user string) profile.Answer {
	req, bad := a.readFactorRequest(ctx, r, user, TypeActivate)
	if bad != nil {
		return *bad
	}
	if ans, ok := a.notBanned(ctx, r, user); !ok {
		return ans
	}
	method := req.method
	f := a.enrollable(method)
	if f.Status(req.enr) == StatusEnabled {
		return a.deny(r, profile.AlreadyEnabled, 0)
	}
	now := a.o.Now()
	ans, stepped, ok := a.requireStepUp(ctx, r, user, req.enr, now)
	if !ok {
		return ans
	}
	switch f := f.(type) {
	case factor.Generated:
		act, err := f.Generate(&a.env, user, now)
		if err != nil {
			return a.unavailable(r, "generate "+method, err)
		}
		err = a.setPending(ctx, user, f, func(next *store.Enrollment) { act.Put(next, true) })
		if err != nil {
			return a.updateFailed(r, "store pending "+method, err)
		}
		if stepped {
			a.o.Engine.RecordActivation(user, method, act.Started, now)
		}
		return a.document(http.StatusOK, resource{Type: TypeActivate, ID: method, Attributes: act.Shown})
	case factor.Destined:
		dest, reason := a.destination(r, f, req.destination)
		if reason != 0 {
			return a.deny(r, reason, 0)
		}
		if ans, ok := a.admitSend(ctx, r, user, f, dest, true); !ok {
			return ans
		}
		err := a.setPending(ctx, user, f, func(next *store.Enrollment) { f.Register(next, dest, false, now) })
		if err != nil {
			return a.updateFailed(r, "store pending factor", err)
		}
		if stepped {
			a.o.Engine.RecordActivation(user, method, now, now)
		}
		return a.send(ctx, r, user, f, dest)
	}
	// Only Generated and Destined factors are offered.
	return a.deny(r, profile.TypeNotFound, 0)
}

// setPending stores the pending factor f that set puts into the user's
// enrollment, replacing an earlier pending one, unless a concurrent
// request enabled f since activate read the enrollment
// (errAlreadyEnabled): an enabled factor is only ever replaced by
// deactivating it first, which takes a code.
func (a *API) setPending(ctx context.Context, user string, f factor.Enrollable, set func(next *store.Enrollment)) error {
	return a.o.Store.UpdateEnrollment(ctx, user, func(cur *store.Enrollment) (*store.Enrollment, error) {
		next := copyEnrollment(cur)
		if f.Status(next) == StatusEnabled {
			return nil, errAlreadyEnabled
		}
		set(next)
		return next, nil
	})
}

// destination picks where codes of f go: the verified JWT claim of its
// kind when the request carries one, else the destination the body
// registers.
func (a *API) destination(r *authz.Request, f factor.Destined, given string) (string, profile.Reason) {
	claim := f.Claim(&a.claims)
	dest := strings.TrimSpace(given)
	if ns := r.Metadata[a.o.JWTNamespace]; ns != nil {
		if payload := ns.GetFields()[a.o.JWTPayloadKey].GetStructValue(); payload != nil {
			if v, ok := payload.GetFields()[claim]; ok {
				if s, ok := v.GetKind().(*structpb.Value_StringValue); ok {
					dest = s.StringValue
				}
			}
		}
	}
	if !f.ValidDestination(dest) {
		return "", f.Reasons().InvalidDestination
	}
	return dest, 0
}
