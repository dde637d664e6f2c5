// Package profile renders denials in the exact shape of a documented MFA
// API, so that clients written against that API keep working in front of
// mfa-authz.
//
// Three profiles exist: "glue" answers like Spryker's Glue API (403 JSON:API
// error documents with codes 5900–5909, plus documented extensions),
// "problem" answers like INVERS OneAPI (RFC 9457 problem+json documents
// with /problems/mfa/... types) and "rfc9470" answers a missing or
// insufficient authentication with 401 and an RFC 9470 step-up challenge,
// every denial with a plain RFC 9457 document. Bodies are rendered once,
// when the profile is built; only the problem profile's flow_id is filled
// in per request.
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
	// Invalid: the code is wrong, replayed or expired.
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
	// MalformedCode: the MFA header's value is no code of any factor
	// (the wrong syntax, an unknown method, a repeated header).
	MalformedCode
)

var reasonNames = [...]string{
	0:               "none",
	Missing:         "missing_code",
	Invalid:         "invalid_code",
	NotEnrolled:     "not_enrolled",
	TooManyAttempts: "too_many_attempts",
	NoIdentity:      "no_identity",
	Unavailable:     "unavailable",
	MalformedCode:   "malformed_code",
}

// String returns the reason's stable machine name, used in logs and metrics.
func (r Reason) String() string {
	if int(r) < len(reasonNames) && reasonNames[r] != "" {
		return reasonNames[r]
	}
	if name, ok := selfServiceNames[r]; ok {
		return name
	}
	return "reason(" + strconv.Itoa(int(r)) + ")"
}

// Reasons lists every reason, for tests and documentation.
var Reasons = []Reason{Missing, Invalid, NotEnrolled, TooManyAttempts, NoIdentity, Unavailable, MalformedCode}

// Answer is a rendered HTTP answer that mfa-authz gives the client itself:
// a denial of a protected request, or a self-service endpoint's reply,
// success or error. Transports send it as it is.
type Answer struct {
	Status      int
	ContentType string
	Body        string
	// RetryAfter, when non-zero, is sent as a Retry-After header (seconds).
	RetryAfter time.Duration
	// Allow, when set, is sent as an Allow header: the methods a
	// self-service path answers, on its 405 answer.
	Allow string
	// FlowHeader, when set, names a response header that repeats the
	// body's flow_id (FlowID), as INVERS sends X-INVERS-Flow-ID.
	FlowHeader, FlowID string
	// Challenge, when set, is sent as a WWW-Authenticate header: an RFC
	// 9470 step-up challenge (see Challenge) or BearerChallenge.
	Challenge string
}

// Headers calls set with each response header of d, the same for every
// transport: content-type when d has a body type (a 204 answer has none),
// cache-control: no-store (an MFA answer is about one user and one moment),
// retry-after in whole seconds, rounded up, when d.RetryAfter is set, allow
// when d.Allow is, the flow id header when d.FlowHeader is, and
// www-authenticate when d.Challenge is. Names are lower case, as HTTP/2
// sends them.
func (d Answer) Headers(set func(name, value string)) {
	if d.ContentType != "" {
		set("content-type", d.ContentType)
	}
	set("cache-control", "no-store")
	if d.RetryAfter > 0 {
		set("retry-after", strconv.FormatInt(int64((d.RetryAfter+time.Second-1)/time.Second), 10))
	}
	if d.Allow != "" {
		set("allow", d.Allow)
	}
	if d.FlowHeader != "" {
		set(d.FlowHeader, d.FlowID)
	}
	if d.Challenge != "" {
		set("www-authenticate", d.Challenge)
	}
}

// Details are the per-request facts a denial may carry.
type Details struct {
	// FlowID identifies the request in problem bodies. Empty means a new one.
	FlowID string
	// RetryAfter is how long a banned user must wait.
	RetryAfter time.Duration
	// IdPStepUp reports that the route accepts a step-up at the identity
	// provider, so that an authentication there cures even a user's lack
	// of a factor (see Challenged).
	IdPStepUp bool
}

// Profile renders denials. Implementations are immutable and safe for
// concurrent use.
type Profile interface {
	// Name is the profile's config name ("glue", "problem" or "rfc9470").
	Name() string
	// Deny renders the denial for reason.
	Deny(reason Reason, d Details) Answer
	// DocumentType is the media type of the self-service endpoints'
	// success documents, which are Glue JSON:API documents in every
	// profile.
	DocumentType() string
}

// Names of the built-in profiles, as written in mfa.profile.
const (
	Glue    = "glue"
	Problem = "problem"
	RFC9470 = "rfc9470"
)

// Names lists the built-in profiles, for messages and documentation.
var Names = []string{Glue, Problem, RFC9470}

// Option adjusts a profile built by New.
type Option func(*options)

type options struct {
	glueType string
}

// WithGlueContentType sets the media type of Glue documents: JSONContentType
// (the default, as Spryker's storefront examples show) or GlueContentType
// (JSON:API, as Spryker's Backend API examples show).
func WithGlueContentType(ct string) Option {
	return func(o *options) { o.glueType = ct }
}

// GlueContentTypes are the media types WithGlueContentType accepts.
var GlueContentTypes = []string{JSONContentType, GlueContentType}

// New returns the named profile. header is the MFA header's name as
// configured (it appears in texts, and the problem profile's flow id
// header takes its prefix); baseURL prefixes problem types in
// type_documentation, and the rfc9470 profile's types themselves.
func New(name, header, baseURL string, opts ...Option) (Profile, error) {
	if header == "" {
		return nil, fmt.Errorf("profile: empty MFA header name")
	}
	o := options{glueType: JSONContentType}
	for _, opt := range opts {
		opt(&o)
	}
	if o.glueType != JSONContentType && o.glueType != GlueContentType {
		return nil, fmt.Errorf("profile: glue content type %q (want %q or %q)", o.glueType, JSONContentType, GlueContentType)
	}
	switch name {
	case Glue, "":
		return newGlue(header, o.glueType), nil
	case Problem:
		return newProblem(header, baseURL, o.glueType), nil
	case RFC9470:
		return newRFC9470(header, baseURL, o.glueType), nil
	default:
		return nil, fmt.Errorf("profile: unknown profile %q (want %q, %q or %q)", name, Glue, Problem, RFC9470)
	}
}
