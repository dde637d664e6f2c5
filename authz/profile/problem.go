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
// title and detail. Texts may hold one %s, replaced by the MFA header name.
type ProblemType struct {
	Type   string
	Status int
	Title  string
	Detail string
}

// ProblemTypes is the problem type of each reason. missing-code,
// invalid-code and factor-not-enrolled are INVERS OneAPI's; the others are
// mfa-authz's, in the same style.
var ProblemTypes = map[Reason]ProblemType{
	Missing: {"/problems/mfa/missing-code", http.StatusConflict,
		"'%s' header missing", "Action is secured with MFA. Please provide '%s' header."},
	Invalid: {"/problems/mfa/invalid-code", http.StatusUnauthorized,
		"MFA code invalid.", "The provided MFA code is invalid or expired."},
	NotEnrolled: {"/problems/mfa/factor-not-enrolled", http.StatusConflict,
		"MFA factor not enrolled.", "Action is secured with MFA, but the requested MFA factor is not enrolled for this user."},
	TooManyAttempts: {"/problems/mfa/too-many-attempts", http.StatusTooManyRequests,
		"Too many MFA attempts.", "Too many invalid MFA codes were provided. Try again later."},
	NoIdentity: {"/problems/mfa/missing-identity", http.StatusUnauthorized,
		"User identity missing.", "Action is secured with MFA and requires an authenticated user."},
	Unavailable: {"/problems/mfa/unavailable", http.StatusServiceUnavailable,
		"MFA verification unavailable.", "MFA verification is temporarily unavailable. Please retry."},
}

type problem struct {
	// prefixes hold each body up to the flow_id value's opening quote.
	prefixes map[Reason]string
	statuses map[Reason]int
}

func newProblem(header, baseURL string) *problem {
	p := &problem{prefixes: make(map[Reason]string), statuses: make(map[Reason]int)}
	for r, t := range ProblemTypes {
		body, err := json.Marshal(struct {
			Type              string `json:"type"`
			TypeDocumentation string `json:"type_documentation"`
			Title             string `json:"title"`
			Status            int    `json:"status"`
			Detail            string `json:"detail"`
			FlowID            string `json:"flow_id"`
		}{t.Type, strings.TrimRight(baseURL, "/") + t.Type, sprintfHeader(t.Title, header),
			t.Status, sprintfHeader(t.Detail, header), ""})
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

func (p *problem) Deny(r Reason, d Details) Answer {
	prefix, ok := p.prefixes[r]
	if !ok {
		r = Unavailable
		prefix = p.prefixes[r]
	}
	flow := d.FlowID
	if !ValidFlowID(flow) {
		flow = NewFlowID()
	}
	// flow holds only characters that need no JSON escaping (ValidFlowID).
	return Answer{
		Status:      p.statuses[r],
		ContentType: ProblemContentType,
		Body:        prefix + flow + `"}`,
		RetryAfter:  d.RetryAfter,
	}
}

// MaxFlowIDLength bounds a client-influenced flow id echoed in bodies.
const MaxFlowIDLength = 128

// ValidFlowID reports whether id may be echoed as a flow_id: 1 to
// MaxFlowIDLength characters from [A-Za-z0-9._:-]. Anything else is
// replaced by a fresh id, so a request id can never inject into a body.
func ValidFlowID(id string) bool {
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

// NewFlowID returns a random RFC 4122 version 4 UUID.
func NewFlowID() string {
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
