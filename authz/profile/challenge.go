package profile

import (
	"strconv"
	"strings"
	"time"
)

// ChallengeError is the error code of an RFC 9470 step-up challenge: the
// authentication behind the request does not meet the route's needs.
const ChallengeError = "insufficient_user_authentication"

// BearerChallenge is the challenge of an answer that asks for a user's
// authentication at all, not for a stronger one: RFC 6750 leaves out the
// error code when a request carries no usable credentials.
const BearerChallenge = "Bearer"

// challengeDescriptions are the error_description texts of the step-up
// challenge, per reason. RFC 6750 allows only printable ASCII without '"'
// and '\' in them (a test holds them so), and they name no header, since
// the challenge is rendered apart from the profile.
var challengeDescriptions = map[Reason]string{
	Missing:             "Multi-factor authentication is required.",
	Invalid:             "The multi-factor authentication code is invalid.",
	MalformedCode:       "The multi-factor authentication code is malformed.",
	Expired:             "The multi-factor authentication code has expired.",
	InvalidRecoveryCode: "The recovery code is invalid.",
	NotEnrolled:         "Multi-factor authentication is required; no factor is enrolled for this user.",
}

// Challenged reports whether a denial for reason on a protected route
// carries the step-up challenge: those that a new or stronger
// authentication cures (a code missing, wrong, malformed or expired, or
// for a factor the route does not accept). A user with no factor
// (NotEnrolled) is challenged only on a route that accepts a step-up at
// the identity provider (idp), the one authentication that can pass it
// without enrolling first. A ban, a missing identity, an outage and the
// self-service endpoints' own errors are not cured by authenticating
// again, and never carry it.
func Challenged(reason Reason, idp bool) bool {
	switch reason {
	case Missing, Invalid, MalformedCode, Expired, InvalidRecoveryCode:
		return true
	case NotEnrolled:
		return idp
	}
	return false
}

// Challenge renders the WWW-Authenticate value of an RFC 9470 step-up
// challenge for reason, as in
//
//	Bearer error="insufficient_user_authentication", error_description="Multi-factor authentication is required.", acr_values="phr phrh", max_age=300
//
// acrValues, when not empty, are the authentication context classes that
// satisfy the route, in order of preference; maxAge, when not negative,
// is how recent the authentication must be (the route's grace period, in
// whole seconds, rounded down so that a client asking for it is never
// short). Values are sent as quoted strings, '"' and '\' escaped (RFC 9110
// section 5.6.4); the policy admits only printable ASCII without spaces in
// acr values, so none can end the header or split a value.
func Challenge(reason Reason, acrValues []string, maxAge time.Duration) string {
	desc, ok := challengeDescriptions[reason]
	if !ok {
		desc = challengeDescriptions[Missing]
	}
	var b strings.Builder
	b.WriteString(`Bearer error="` + ChallengeError + `", error_description="` + desc + `"`)
	if len(acrValues) > 0 {
		b.WriteString(`, acr_values=`)
		writeQuoted(&b, strings.Join(acrValues, " "))
	}
	if maxAge >= 0 {
		b.WriteString(", max_age=")
		b.WriteString(strconv.FormatInt(int64(maxAge/time.Second), 10))
	}
	return b.String()
}

// writeQuoted writes s as an RFC 9110 quoted-string. Bytes that are not
// printable ASCII are left out: the policy never lets them through, and
// here they could only end the header or smuggle another.
func writeQuoted(b *strings.Builder, s string) {
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c < ' ' || c > '~':
			continue
		case c == '"' || c == '\\':
			b.WriteByte('\\')
		}
		b.WriteByte(c)
	}
	b.WriteByte('"')
}
