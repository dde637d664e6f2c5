package mfaapi

import (
	"context"
	"net/http"

	"github.com/mfa-authz/mfa-authz/authz"
	"github.com/mfa-authz/mfa-authz/authz/profile"
	"github.com/mfa-authz/mfa-authz/authz/store"
)

// types answers GET multi-factor-auth-types: every offered method with the
// user's status of it, so a client can show what to activate or verify.
func (a *API) types(ctx context.Context, r *authz.Request, user string) profile.Answer {
	enr, err := a.enrollment(ctx, user)
	if err != nil {
		return a.unavailable(r, "read enrollment", err)
	}
	type attrs struct {
		Type   string `json:"type"`
		Status int    `json:"status"`
	}
	list := make([]resource, 0, len(a.methods))
	for _, m := range a.methods {
		list = append(list, resource{Type: TypeTypes, ID: m, Attributes: attrs{m, Status(enr, m)}})
	}
	if m := store.MethodWebAuthn; a.o.WebAuthn != nil {
		list = append(list, resource{Type: TypeTypes, ID: m, Attributes: attrs{m, Status(enr, m)}})
	}
	return a.document(http.StatusOK, list)
}
