package profile

import (
	"encoding/json"
	"net/http"
)

// Media types of Glue documents. Spryker's storefront Glue examples show
// JSONContentType, its Backend API examples GlueContentType (JSON:API);
// mfa.glue_content_type picks one, JSONContentType by default.
const (
	JSONContentType = "application/json"
	GlueContentType = "application/vnd.api+json"
)

// GlueError is one entry of a Glue API error document.
type GlueError struct {
	Status int    `json:"status"`
	Code   string `json:"code"`
	Detail string `json:"detail"`
}

// GlueCode is the one table of the glue profile's answers: the code, HTTP
// status and detail of every reason. docs/answers.md lists the same rows
// (a test holds them equal).
//
// 5900–5910 are the codes of Spryker's MFA module with Spryker's meanings
// and statuses: 403 for a missing or invalid code, 400 for its request
// errors, details as Spryker's documentation words them (where the module's
// texts differ, the documentation wins, and 5908 is "user not found", 5909
// "no user identifier" as the documentation numbers them). 5911 and above
// are mfa-authz's own answers for cases Spryker has no code for. Texts may
// hold one %s, replaced by the MFA header name.
var GlueCode = map[Reason]GlueError{
	Missing:             {http.StatusForbidden, "5900", "%s header is missing."},
	Invalid:             {http.StatusForbidden, "5901", "%s is invalid."},
	MalformedCode:       {http.StatusForbidden, "5901", "%s is invalid."},
	Expired:             {http.StatusForbidden, "5901", "%s is invalid."},
	InvalidRecoveryCode: {http.StatusForbidden, "5901", "%s is invalid."},
	TypeMissing:         {http.StatusBadRequest, "5902", "MFA type is missing."},
	DeactivationFailed:  {http.StatusBadRequest, "5903", "Failed to deactivate MFA."},
	AlreadyEnabled:      {http.StatusBadRequest, "5904", "MFA type already activated."},
	NoIdentity:          {http.StatusBadRequest, "5905", "No customer identifier provided."},
	TypeNotFound:        {http.StatusBadRequest, "5906", "MFA type is not found."},
	FactorNotActive:     {http.StatusBadRequest, "5906", "MFA type is not found."},
	CustomerNotFound:    {http.StatusBadRequest, "5907", "Customer not found."},
	UserNotFound:        {http.StatusBadRequest, "5908", "User not found."},
	NoUserIdentifier:    {http.StatusBadRequest, "5909", "No user identifier provided."},
	DeliveryFailed: {http.StatusBadRequest, "5910",
		"Something went wrong while sending your code. Please try again later or contact the system administrator."},
	TooManyAttempts:        {http.StatusTooManyRequests, "5911", "Too many invalid MFA codes. Try again later."},
	Unavailable:            {http.StatusServiceUnavailable, "5912", "MFA verification is temporarily unavailable."},
	InvalidBody:            {http.StatusBadRequest, "5913", "Request body is missing or is not a valid JSON:API document."},
	TooManySMS:             {http.StatusTooManyRequests, "5914", "Too many MFA codes requested. Try again later."},
	TooManyEmails:          {http.StatusTooManyRequests, "5914", "Too many MFA codes requested. Try again later."},
	TooManySMSPerTenant:    {http.StatusTooManyRequests, "5915", "MFA codes cannot be sent right now. Try again later."},
	TooManyEmailsPerTenant: {http.StatusTooManyRequests, "5915", "MFA codes cannot be sent right now. Try again later."},
	ResendCooldown:         {http.StatusTooManyRequests, "5916", "An MFA code was sent a moment ago. Wait before requesting another."},
	InvalidPhoneNumber:     {http.StatusBadRequest, "5917", "The destination for MFA codes is missing or invalid."},
	InvalidEmail:           {http.StatusBadRequest, "5917", "The destination for MFA codes is missing or invalid."},
	StepUpRequired:         {http.StatusForbidden, "5919", "Verify an enabled MFA type before adding another."},
	NotEnrolled:            {http.StatusForbidden, "5920", "MFA is not activated for this customer."},
	MethodNotAllowed:       {http.StatusMethodNotAllowed, "5921", "The HTTP method is not allowed on this resource."},
}

type glue struct {
	denials map[Reason]Answer
	docType string
}

func newGlue(header, contentType string) *glue {
	g := &glue{denials: make(map[Reason]Answer, len(GlueCode)), docType: contentType}
	for r, e := range GlueCode {
		e.Detail = sprintfHeader(e.Detail, header)
		g.denials[r] = Answer{Status: e.Status, ContentType: contentType, Body: glueDocument(e)}
	}
	return g
}

// glueDocument renders a Glue API error document holding the single error e.
func glueDocument(e GlueError) string {
	b, err := json.Marshal(struct {
		Errors []GlueError `json:"errors"`
	}{[]GlueError{e}})
	if err != nil { // cannot happen: the struct holds only strings and ints
		panic(err)
	}
	return string(b)
}

func (g *glue) Name() string { return Glue }

func (g *glue) DocumentType() string { return g.docType }

func (g *glue) Deny(r Reason, d Details) Answer {
	den, ok := g.denials[r]
	if !ok {
		den = g.denials[Unavailable]
	}
	den.RetryAfter = d.RetryAfter
	return den
}
