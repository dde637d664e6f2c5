package mfaapi

import (
	"bytes"
	"encoding/json"
	"net/http"

	"github.com/mfa-authz/mfa-authz/authz/profile"
	"github.com/mfa-authz/mfa-authz/authz/store"
)

// Successful answers are JSON:API documents in Glue's media type
// (mfa.glue_content_type) whatever the profile: the profile shapes errors
// only, and clients of these endpoints are Glue clients. Errors come from
// the engine (API.deny).

// noContent is the answer of an endpoint that succeeded with nothing to say.
var noContent = profile.Answer{Status: http.StatusNoContent}

// document renders a JSON:API document whose primary data is data. HTML
// escaping is off, so that an otpauth URI keeps its "&" as the client
// will copy it, rather than "\u0026".
func (a *API) document(status int, data any) profile.Answer {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(struct {
		Data any `json:"data"`
	}{data}); err != nil {
		panic(err) // strings, ints and slices of them only
	}
	return profile.Answer{Status: status, ContentType: a.o.Engine.Profile().DocumentType(), Body: string(bytes.TrimSuffix(b.Bytes(), []byte("\n")))}
}

// resource is a JSON:API resource object.
type resource struct {
	Type       string `json:"type"`
	ID         string `json:"id"`
	Attributes any    `json:"attributes"`
}

// recoveryDocument shows new recovery codes, the one time they exist in
// the clear: the store keeps only their hashes.
func (a *API) recoveryDocument(codes []string) profile.Answer {
	type attrs struct {
		Codes []string `json:"codes"`
	}
	return a.document(http.StatusOK, resource{Type: TypeRecoveryCodes, ID: store.MethodRecovery, Attributes: attrs{codes}})
}
