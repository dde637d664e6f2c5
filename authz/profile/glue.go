package profile

import (
	"encoding/json"
	"net/http"
)

// GlueContentType is the JSON:API media type Spryker's Glue API answers with.
const GlueContentType = "application/vnd.api+json"

// GlueError is one entry of a Glue API error document.
type GlueError struct {
	Status int    `json:"status"`
	Code   string `json:"code"`
	Detail string `json:"detail"`
}

// GlueCode is the Glue error code and HTTP status of each reason. Codes
// 5900–5909 are Spryker's; 5910 and above are mfa-authz's documented
// extensions for cases Spryker's table does not name.
var GlueCode = map[Reason]GlueError{
	Missing:         {http.StatusForbidden, "5900", "%s header is missing."},
	Invalid:         {http.StatusForbidden, "5901", "%s is invalid."},
	NoIdentity:      {http.StatusForbidden, "5905", "No customer identifier provided."},
	NotEnrolled:     {http.StatusForbidden, "5910", "MFA is not activated for this customer."},
	TooManyAttempts: {http.StatusTooManyRequests, "5911", "Too many invalid MFA codes. Try again later."},
	Unavailable:     {http.StatusServiceUnavailable, "5912", "MFA verification is temporarily unavailable."},
}

type glue struct {
	denials map[Reason]Answer
}

func newGlue(header string) *glue {
	g := &glue{denials: make(map[Reason]Answer, len(GlueCode))}
	for r, e := range GlueCode {
		e.Detail = sprintfHeader(e.Detail, header)
		g.denials[r] = Answer{Status: e.Status, ContentType: GlueContentType, Body: GlueDocument(e)}
	}
	return g
}

// GlueDocument renders a Glue API error document holding the single error e.
func GlueDocument(e GlueError) string {
	b, err := json.Marshal(struct {
		Errors []GlueError `json:"errors"`
	}{[]GlueError{e}})
	if err != nil { // cannot happen: the struct holds only strings and ints
		panic(err)
	}
	return string(b)
}

func (g *glue) Name() string { return Glue }

func (g *glue) Deny(r Reason, d Details) Answer {
	den, ok := g.denials[r]
	if !ok {
		den = g.denials[Unavailable]
	}
	den.RetryAfter = d.RetryAfter
	return den
}
