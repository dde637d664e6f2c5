// Package profile renders denials in the exact shape of a documented MFA
// API, so that clients written against that API keep working in front of
// mfa-authz.
//
// Two profiles exist: "glue" answers like Spryker's Glue API (403 JSON:API
// error documents with codes 5900–5909, plus documented extensions) and
// "problem" answers like INVERS OneAPI (RFC 9457 problem+json documents
// with /problems/mfa/... types). Bodies are rendered once, when the profile
// is built; only the problem profile's flow_id is filled in per request.
package profile

import (
	"fmt"
	"strconv"
	"time"
)

// Reason is why a protected request is denied.
type Reason uint8

// The reasons a request can be denied. Their order is part of no contract.
const (
	// Missing: the MFA header is absent or empty.
	Missing Reason = iota + 1
	// Invalid: the code is wrong, malformed, replayed or expired.
	Invalid
	// NotEnrolled: the user has no factor, or not the one named in the header.
	NotEnrolled
	// TooManyAttempts: the user is banned after too many wrong codes.
	TooManyAttempts
	// NoIdentity: a protected request carries no usable user identity.
	NoIdentity
	// Unavailable: mfa-authz could not decide (store error, timeout, panic).
	// The request is denied: the service fails closed.
	Unavailable
)

var reasonNames = [...]string{
	0:               "none",
	Missing:         "missing_code",
	Invalid:         "invalid_code",
	NotEnrolled:     "not_enrolled",
	TooManyAttempts: "too_many_attempts",
	NoIdentity:      "no_identity",
	Unavailable:     "unavailable",
}

// String returns the reason's stable machine name, used in logs and metrics.
func (r Reason) String() string {
	if int(r) < len(reasonNames) && reasonNames[r] != "" {
		return reasonNames[r]
	}
	if name, ok := lifecycleNames[r]; ok {
		return name
	}
	return "reason(" + strconv.Itoa(int(r)) + ")"
}

// Reasons lists every reason, for tests and documentation.
var Reasons = []Reason{Missing, Invalid, NotEnrolled, TooManyAttempts, NoIdentity, Unavailable}

// Answer is a rendered HTTP answer that mfa-authz gives the client itself:
// a denial of a protected request, or a self-service endpoint's reply,
// success or error. Transports send it as it is.
type Answer struct {
	Status      int
	ContentType string
	Body        string
	// RetryAfter, when non-zero, is sent as a Retry-After header (seconds).
	RetryAfter time.Duration
}

// Headers calls set with each response header of d, the same for every
// transport: content-type when d has a body type (a 204 answer has none),
// cache-control: no-store (an MFA answer is about one user and one moment),
// and retry-after in whole seconds, rounded up, when d.RetryAfter is set.
// Names are lower case, as HTTP/2 sends them.
func (d Answer) Headers(set func(name, value string)) {
	if d.ContentType != "" {
		set("content-type", d.ContentType)
	}
	set("cache-control", "no-store")
	if d.RetryAfter > 0 {
		set("retry-after", strconv.FormatInt(int64((d.RetryAfter+time.Second-1)/time.Second), 10))
	}
}

// Details are the per-request facts a denial may carry.
type Details struct {
	// FlowID identifies the request in problem bodies. Empty means a new one.
	FlowID string
	// RetryAfter is how long a banned user must wait.
	RetryAfter time.Duration
}

// Profile renders denials. Implementations are immutable and safe for
// concurrent use.
type Profile interface {
	// Name is the profile's config name ("glue" or "problem").
	Name() string
	// Deny renders the denial for reason.
	Deny(reason Reason, d Details) Answer
}

// Names of the built-in profiles, as written in mfa.profile.
const (
	Glue    = "glue"
	Problem = "problem"
)

// New returns the named profile. header is the MFA header's name as
// configured (it appears in texts); baseURL prefixes problem types in
// type_documentation.
func New(name, header, baseURL string) (Profile, error) {
	if header == "" {
		return nil, fmt.Errorf("profile: empty MFA header name")
	}
	switch name {
	case Glue, "":
		return newGlue(header), nil
	case Problem:
		return newProblem(header, baseURL), nil
	default:
		return nil, fmt.Errorf("profile: unknown profile %q (want %q or %q)", name, Glue, Problem)
	}
}
