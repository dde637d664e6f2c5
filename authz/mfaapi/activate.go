package mfaapi

import (
	"context"
	"net/http"
	"strings"

	"google.golang.org/protobuf/types/known/structpb"

	"github.com/mfa-authz/mfa-authz/authz"
	"github.com/mfa-authz/mfa-authz/authz/delivery"
	"github.com/mfa-authz/mfa-authz/authz/profile"
	"github.com/mfa-authz/mfa-authz/authz/store"
	"github.com/mfa-authz/mfa-authz/authz/totp"
)

// activate answers POST multi-factor-auth-type-activate: it starts the
// activation of a method, which verify completes. A TOTP factor is made
// and its secret shown (the only time it is); an e-mail or SMS factor is
// registered and a code sent to it. The new factor is pending: it does not
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
	if Status(req.enr, method) == StatusEnabled {
		return a.deny(r, profile.AlreadyEnabled, 0)
	}
	now := a.o.Now()
	ans, stepped, ok := a.requireStepUp(ctx, r, user, req.enr, now)
	if !ok {
		return ans
	}
	if method == store.MethodTOTP {
		f, key, err := totp.Generate(a.o.TOTP, user, now)
		if err != nil {
			return a.unavailable(r, "generate totp", err)
		}
		f.Pending = true
		err = a.setPending(ctx, user, method, func(next *store.Enrollment) { next.TOTP = f })
		if err != nil {
			return a.updateFailed(r, "store pending totp", err)
		}
		if stepped {
			a.o.Engine.RecordActivation(user, method, f.CreatedAt, now)
		}
		type attrs struct {
			Type   string `json:"type"`
			Secret string `json:"secret"`
			URI    string `json:"uri"`
		}
		return a.document(http.StatusOK, resource{Type: TypeActivate, ID: method, Attributes: attrs{method, f.Secret, key.URL()}})
	}
	dest, reason := a.destination(r, method, req.destination)
	if reason != 0 {
		return a.deny(r, reason, 0)
	}
	if ans, ok := a.admitSend(ctx, r, user, method, dest, true); !ok {
		return ans
	}
	err := a.setPending(ctx, user, method, func(next *store.Enrollment) {
		setOOB(next, method, &store.OOB{Destination: dest, CreatedAt: now.UTC()})
	})
	if err != nil {
		return a.updateFailed(r, "store pending factor", err)
	}
	if stepped {
		a.o.Engine.RecordActivation(user, method, now, now)
	}
	return a.send(ctx, r, user, method, dest)
}

// setPending stores the pending factor of method that set puts into the
// user's enrollment, replacing an earlier pending one, unless a concurrent
// request enabled method since activate read the enrollment
// (errAlreadyEnabled): an enabled factor is only ever replaced by
// deactivating it first, which takes a code.
func (a *API) setPending(ctx context.Context, user, method string, set func(next *store.Enrollment)) error {
	return a.o.Store.UpdateEnrollment(ctx, user, func(cur *store.Enrollment) (*store.Enrollment, error) {
		next := copyEnrollment(cur)
		if Status(next, method) == StatusEnabled {
			return nil, errAlreadyEnabled
		}
		set(next)
		return next, nil
	})
}

// destination picks where codes of method go: the verified JWT claim when
// the request carries one, else the destination the body registers.
func (a *API) destination(r *authz.Request, method, given string) (string, profile.Reason) {
	claim, reason, valid := a.o.EmailClaim, profile.InvalidEmail, delivery.ValidEmail
	if method == store.MethodSMS {
		claim, reason, valid = a.o.PhoneClaim, profile.InvalidPhoneNumber, delivery.ValidPhone
	}
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
	if !valid(dest) {
		return "", reason
	}
	return dest, 0
}
