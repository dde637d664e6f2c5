package mfaapi

import (
	"context"
	"net/http"

	"github.com/mfa-authz/mfa-authz/authz"
	"github.com/mfa-authz/mfa-authz/authz/profile"
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
	list := make([]resource, 0, len(a.listed))
	for _, f := range a.listed {
		m := f.Name()
		list = append(list, resource{Type: TypeTypes, ID: m, Attributes: attrs{m, f.Status(enr)}})
	}
	return a.document(http.StatusOK, list)
}
