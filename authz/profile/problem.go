package profile

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

// ProblemContentType is the RFC 9457 media type.
const ProblemContentType = "application/problem+json"

// ProblemType describes one problem type: its type path, HTTP status,
// title and detail, and for field-required the field it names. Texts may
// hold one %s, replaced by the MFA header name.
type ProblemType struct {
	Type   string
	Status int
	Title  string
	Detail string
	// Field, when set, is sent as the body's "field" member: the request
	// field that is missing.
	Field string
}

// ProblemTypes is the one table of the problem profile's answers: the
// problem type of every reason. missing-code, invalid-code and
// factor-not-enrolled are INVERS OneAPI's; the others are mfa-authz's in
// the same style, named after the MFA provider vocabulary
// (invalid_otp_format, transaction_expired, invalid_recovery_code,
// field_required, invalid_body, already_enrolled, method_not_found,
// too_many_sms, too_many_sms_per_tenant, invalid_phone_number,
// error_sending_sms, not_enrolled). docs/answers.md lists the same rows.
var ProblemTypes = map[Reason]ProblemType{
	Missing: {Type: "/problems/mfa/missing-code", Status: http.StatusConflict,
		Title: "'%s' header missing", Detail: "Action is secured with MFA. Please provide '%s' header."},
	Invalid: {Type: "/problems/mfa/invalid-code", Status: http.StatusUnauthorized,
		Title: "MFA code invalid.", Detail: "The provided MFA code is invalid or expired."},
	MalformedCode: {Type: "/problems/mfa/invalid-otp-format", Status: http.StatusUnauthorized,
		Title: "MFA code malformed.", Detail: "The '%s' header must hold a code, or a factor type and a code such as 'email 123456'."},
	NotEnrolled: {Type: "/problems/mfa/factor-not-enrolled", Status: http.StatusConflict,
		Title: "MFA factor not enrolled.", Detail: "Action is secured with MFA, but the requested MFA factor is not enrolled for this user."},
	FactorNotActive: {Type: "/problems/mfa/factor-not-enrolled", Status: http.StatusConflict,
		Title: "MFA factor not enrolled.", Detail: "Action is secured with MFA, but the requested MFA factor is not enrolled for this user."},
	TooManyAttempts: {Type: "/problems/mfa/too-many-attempts", Status: http.StatusTooManyRequests,
		Title: "Too many MFA attempts.", Detail: "Too many invalid MFA codes were provided. Try again later."},
	NoIdentity: {Type: "/problems/mfa/missing-identity", Status: http.StatusUnauthorized,
		Title: "User identity missing.", Detail: "Action is secured with MFA and requires an authenticated user."},
	Unavailable: {Type: "/problems/mfa/unavailable", Status: http.StatusServiceUnavailable,
		Title: "MFA verification unavailable.", Detail: "MFA verification is temporarily unavailable. Please retry."},
	Expired: {Type: "/problems/mfa/transaction-expired", Status: http.StatusUnauthorized,
		Title: "MFA code expired.", Detail: "The MFA code has expired or was already used. Please request a new code."},
	InvalidRecoveryCode: {Type: "/problems/mfa/invalid-recovery-code", Status: http.StatusUnauthorized,
		Title: "Recovery code invalid.", Detail: "The provided recovery code is invalid or was already used."},
	TypeMissing: {Type: "/problems/mfa/field-required", Status: http.StatusBadRequest,
		Title: "MFA type missing.", Detail: "The request body must name the MFA type in data.attributes.type.", Field: "data.attributes.type"},
	DeactivationFailed: {Type: "/problems/mfa/deactivation-failed", Status: http.StatusBadRequest,
		Title: "MFA deactivation failed.", Detail: "The MFA factor could not be deactivated."},
	AlreadyEnabled: {Type: "/problems/mfa/factor-already-enrolled", Status: http.StatusConflict,
		Title: "MFA factor already enrolled.", Detail: "The requested MFA factor is already enrolled for this user."},
	TypeNotFound: {Type: "/problems/mfa/method-not-found", Status: http.StatusNotFound,
		Title: "MFA type not found.", Detail: "The requested MFA type is not supported."},
	CustomerNotFound: {Type: "/problems/mfa/user-not-found", Status: http.StatusNotFound,
		Title: "User not found.", Detail: "The user could not be found."},
	UserNotFound: {Type: "/problems/mfa/user-not-found", Status: http.StatusNotFound,
		Title: "User not found.", Detail: "The user could not be found."},
	NoUserIdentifier: {Type: "/problems/mfa/missing-identity", Status: http.StatusUnauthorized,
		Title: "User identity missing.", Detail: "Action is secured with MFA and requires an authenticated user."},
	InvalidBody: {Type: "/problems/mfa/invalid-body", Status: http.StatusBadRequest,
		Title: "Invalid request body.", Detail: "The request body is missing, truncated, not JSON, or not of the expected type."},
	TooManySMS: {Type: "/problems/mfa/too-many-sms", Status: http.StatusTooManyRequests,
		Title: "Too many SMS.", Detail: "The number of MFA codes sent by SMS to this user is exhausted. Try again later."},
	TooManyEmails: {Type: "/problems/mfa/too-many-emails", Status: http.StatusTooManyRequests,
		Title: "Too many e-mails.", Detail: "The number of MFA codes sent by e-mail to this user is exhausted. Try again later."},
	TooManySMSPerTenant: {Type: "/problems/mfa/too-many-sms-per-tenant", Status: http.StatusTooManyRequests,
		Title: "Too many SMS for the tenant.", Detail: "The number of MFA codes sent by SMS is exhausted for now. Try again later."},
	TooManyEmailsPerTenant: {Type: "/problems/mfa/too-many-emails-per-tenant", Status: http.StatusTooManyRequests,
		Title: "Too many e-mails for the tenant.", Detail: "The number of MFA codes sent by e-mail is exhausted for now. Try again later."},
	ResendCooldown: {Type: "/problems/mfa/resend-cooldown", Status: http.StatusTooManyRequests,
		Title: "MFA code sent recently.", Detail: "An MFA code was sent a moment ago. Wait before requesting another."},
	InvalidPhoneNumber: {Type: "/problems/mfa/invalid-phone-number", Status: http.StatusBadRequest,
		Title: "Invalid phone number.", Detail: "The phone number for MFA codes is missing or not in E.164 form."},
	InvalidEmail: {Type: "/problems/mfa/invalid-email", Status: http.StatusBadRequest,
		Title: "Invalid e-mail address.", Detail: "The e-mail address for MFA codes is missing or invalid."},
	DeliveryFailed: {Type: "/problems/mfa/delivery-failed", Status: http.StatusBadGateway,
		Title: "MFA code not sent.", Detail: "The MFA code could not be sent. Try again later."},
	StepUpRequired: {Type: "/problems/mfa/step-up-required", Status: http.StatusForbidden,
		Title: "MFA step-up required.", Detail: "Adding an MFA factor requires a recent verification with an enabled factor. Please provide '%s' header."},
	MethodNotAllowed: {Type: "/problems/mfa/http-method-not-allowed", Status: http.StatusMethodNotAllowed,
		Title: "HTTP method not allowed.", Detail: "This MFA endpoint does not answer the HTTP method used; see the Allow header."},
}

type problem struct {
	// prefixes hold each body up to the flow_id value's opening quote.
	prefixes map[Reason]string
	statuses map[Reason]int
	// flowHeader is the response header that repeats flow_id.
	flowHeader string
	docType    string
}

// FlowIDHeader returns the name of the response header that carries the
// flow id, lower case: the MFA header's prefix (what precedes "MFA-Code")
// followed by "Flow-ID", so X-INVERS-MFA-Code gives X-INVERS-Flow-ID; a
// header not ending in MFA-Code gives X-Flow-ID.
func FlowIDHeader(mfaHeader string) string {
	h := strings.ToLower(mfaHeader)
	prefix, ok := strings.CutSuffix(h, "mfa-code")
	if !ok || prefix == "" {
		prefix = "x-"
	}
	return prefix + "flow-id"
}

func newProblem(header, baseURL, docType string) *problem {
	p := &problem{prefixes: make(map[Reason]string), statuses: make(map[Reason]int),
		flowHeader: FlowIDHeader(header), docType: docType}
	for r, t := range ProblemTypes {
		body, err := json.Marshal(struct {
			Type              string `json:"type"`
			TypeDocumentation string `json:"type_documentation"`
			Title             string `json:"title"`
			Status            int    `json:"status"`
			Detail            string `json:"detail"`
			Field             string `json:"field,omitempty"`
			FlowID            string `json:"flow_id"`
		}{t.Type, strings.TrimRight(baseURL, "/") + t.Type, sprintfHeader(t.Title, header),
			t.Status, sprintfHeader(t.Detail, header), t.Field, ""})
		if err != nil { // cannot happen: strings and ints only
			panic(err)
		}
		// The body ends in `"flow_id":""}`: keep all but the last two bytes.
		p.prefixes[r] = string(body[:len(body)-2])
		p.statuses[r] = t.Status
	}
	return p
}

func (p *problem) Name() string { return Problem }

func (p *problem) DocumentType() string { return p.docType }

func (p *problem) Deny(r Reason, d Details) Answer {
	prefix, ok := p.prefixes[r]
	if !ok {
		r = Unavailable
		prefix = p.prefixes[r]
	}
	flow := d.FlowID
	if !validFlowID(flow) {
		flow = newFlowID()
	}
	// flow holds only characters that need no JSON escaping (validFlowID).
	return Answer{
		Status:      p.statuses[r],
		ContentType: ProblemContentType,
		Body:        prefix + flow + `"}`,
		RetryAfter:  d.RetryAfter,
		FlowHeader:  p.flowHeader,
		FlowID:      flow,
	}
}

// MaxFlowIDLength bounds a client-influenced flow id echoed in bodies.
const MaxFlowIDLength = 128

// validFlowID reports whether id may be echoed as a flow_id: 1 to
// MaxFlowIDLength characters from [A-Za-z0-9._:-]. Anything else is
// replaced by a fresh id, so a request id can never inject into a body.
func validFlowID(id string) bool {
	if id == "" || len(id) > MaxFlowIDLength {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9',
			c == '-', c == '.', c == '_', c == ':':
		default:
			return false
		}
	}
	return true
}

// newFlowID returns a random RFC 4122 version 4 UUID.
func newFlowID() string {
	var u [16]byte
	_, _ = rand.Read(u[:]) // crypto/rand.Read never fails on supported platforms
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	var s [36]byte
	hex.Encode(s[0:8], u[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], u[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], u[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], u[8:10])
	s[23] = '-'
	hex.Encode(s[24:], u[10:])
	return string(s[:])
}

// sprintfHeader fills the header name into a text that may name it.
func sprintfHeader(text, header string) string {
	if strings.Contains(text, "%s") {
		return fmt.Sprintf(text, header)
	}
	return text
}
