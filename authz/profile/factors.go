package profile

import (
	"encoding/json"
	"strings"
)

// FactorsMember is the name of the member that lists the factors a route
// accepts, in the Glue error's meta object and as a problem-details
// extension member.
const FactorsMember = "acceptable_factors"

// NamesFactors reports whether a denial for reason names the route's
// acceptable factors: those that ask the client for (another) proof of a
// factor. A ban, a missing identity or an outage is not cured by a factor.
func NamesFactors(reason Reason) bool {
	switch reason {
	case 0, TooManyAttempts, NoIdentity, Unavailable:
		return false
	}
	return true
}

// FactorsJSON renders a list of factor names as the JSON array WithFactors
// adds.
func FactorsJSON(factors []string) string {
	b, err := json.Marshal(factors)
	if err != nil { // cannot happen: a slice of strings
		panic(err)
	}
	return string(b)
}

// WithFactors returns a with the route's acceptable factors added to its
// body, additively, so that clients reading the documented members see no
// change: a Glue error document gets a JSON:API meta object on its error,
//
//	{"errors":[{"status":403,"code":"5900","detail":"…","meta":{"acceptable_factors":["totp"]}}]}
//
// and a problem document (RFC 9457) an extension member,
//
//	{"type":"/problems/mfa/missing-code",…,"flow_id":"…","acceptable_factors":["totp"]}
//
// list is FactorsJSON's rendering. A body of another shape is returned
// unchanged.
func WithFactors(a Answer, list string) Answer {
	switch {
	case list == "":
	case strings.HasPrefix(a.Body, `{"errors":[`) && strings.HasSuffix(a.Body, "}]}"):
		// A Glue error document, whichever content type it is sent as
		// (mfa.glue_content_type).
		a.Body = a.Body[:len(a.Body)-3] + `,"meta":{"` + FactorsMember + `":` + list + `}}]}`
	case a.ContentType == ProblemContentType && strings.HasSuffix(a.Body, "}"):
		a.Body = a.Body[:len(a.Body)-1] + `,"` + FactorsMember + `":` + list + `}`
	}
	return a
}
