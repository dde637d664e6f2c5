package mfaapi

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"

	"github.com/mfa-authz/mfa-authz/authz"
	"github.com/mfa-authz/mfa-authz/authz/profile"
	"github.com/mfa-authz/mfa-authz/authz/store"
)

// requestBody is the JSON:API body the POST endpoints take.
type requestBody struct {
	Data *struct {
		Type       string          `json:"type"`
		Attributes json.RawMessage `json:"attributes"`
	} `json:"data"`
}

// attributes are data.attributes of a POST body. Type is a pointer so that
// an absent type (5902) is told apart from an unknown one (5906).
type attributes struct {
	Type        *string `json:"type"`
	Destination string  `json:"destination"`
}

// parse reads r's body as a JSON:API document of resource type want and
// returns its attributes, with Type normalized and offered; a failure is
// the answer to send.
//
// The body must be complete and exactly one JSON document: a body cut
// short by the transport, or followed by more data, could otherwise be
// read as something the client did not send. For the same reason it must
// be declared as JSON (jsonContentType) and name every member it means
// once and exactly (strictMembers).
func (a *API) parse(r *authz.Request, want string) (*attributes, *profile.Answer) {
	bad := func() (*attributes, *profile.Answer) {
		d := a.deny(r, profile.InvalidBody, 0)
		return nil, &d
	}
	if r.BodyTruncated || len(r.Body) == 0 || len(r.Body) > a.o.MaxBodyBytes || !jsonContentType(r.Header) {
		return bad()
	}
	if err := strictMembers(json.NewDecoder(bytes.NewReader(r.Body)), bodyMembers, 0); err != nil {
		return bad()
	}
	var doc requestBody
	dec := json.NewDecoder(bytes.NewReader(r.Body))
	if err := dec.Decode(&doc); err != nil || dec.More() || doc.Data == nil || doc.Data.Type != want {
		return bad()
	}
	var at attributes
	if len(doc.Data.Attributes) > 0 && string(doc.Data.Attributes) != "null" {
		if err := json.Unmarshal(doc.Data.Attributes, &at); err != nil {
			return bad()
		}
	}
	if at.Type == nil || strings.TrimSpace(*at.Type) == "" {
		d := a.deny(r, profile.TypeMissing, 0)
		return nil, &d
	}
	*at.Type = strings.ToLower(strings.TrimSpace(*at.Type))
	if !a.offered(*at.Type) && !a.removable(want, *at.Type) {
		d := a.deny(r, profile.TypeNotFound, 0)
		return nil, &d
	}
	return &at, nil
}

// factorRequest is a POST naming one MFA type, after the steps every such
// endpoint (activate, verify, deactivate, trigger) starts with.
type factorRequest struct {
	// method is the MFA type named, normalized and offered.
	method string
	// destination is data.attributes.destination as given.
	destination string
	// enr is the user's enrollment as read before any change: the
	// endpoint decides on it, then re-checks under the store's lock.
	enr *store.Enrollment
}

// readFactorRequest parses r's body as a document of resource type want
// and reads the user's enrollment; a failure is the answer to send.
func (a *API) readFactorRequest(ctx context.Context, r *authz.Request, user, want string) (factorRequest, *profile.Answer) {
	at, bad := a.parse(r, want)
	if bad != nil {
		return factorRequest{}, bad
	}
	enr, err := a.enrollment(ctx, user)
	if err != nil {
		d := a.unavailable(r, "read enrollment", err)
		return factorRequest{}, &d
	}
	return factorRequest{method: *at.Type, destination: at.Destination, enr: enr}, nil
}
