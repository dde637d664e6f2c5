package authz

import (
	"math"
	"slices"
	"time"

	"google.golang.org/protobuf/types/known/structpb"

	"github.com/mfa-authz/mfa-authz/policy"
)

// MethodIdP is MethodHeader's value when a step-up at the identity
// provider satisfied the route (a rule's accept_idp_stepup).
const MethodIdP = "idp"

// DefaultClockSkew is how far the identity provider's clock may be from
// this one when an auth_time claim is judged, unless configured.
const DefaultClockSkew = 30 * time.Second

// MaxClockSkew bounds the configurable clock skew: a larger one would
// stretch every route's grace period by as much.
const MaxClockSkew = 5 * time.Minute

// DetailFactorNotAccepted is the Detail of a denial of a code for a
// factor the rule does not accept.
const DetailFactorNotAccepted = "factor not accepted by the rule"

// DetailMalformedIdPClaims is the Detail of a denial for acr, amr or
// auth_time claims of a shape the standards do not allow.
const DetailMalformedIdPClaims = "malformed idp step-up claims"

// maxAuthTime bounds auth_time (the last second of the year 9999): no
// later date is a time an identity provider authenticated anyone.
const maxAuthTime = 253402300799

// idpStepUp reports whether the verified token of r shows a step-up at the
// identity provider that satisfies rule's accept_idp_stepup within grace.
// Only the jwt_authn metadata is read, never a header: a client can send
// any header, but jwt_authn writes its namespace only for a token whose
// signature it verified. malformed is set when a claim the rule needs has
// a shape RFC 7519 and OpenID Connect do not allow (acr not a string, amr
// not an array of strings, auth_time not a positive number of seconds):
// such a token is denied, never read leniently.
func (e *Engine) idpStepUp(r *Request, rule *policy.Rule, now time.Time, grace time.Duration) (ok, malformed bool) {
	want := rule.IdPStepUp
	if want == nil || grace <= 0 {
		return false, false
	}
	ic := &e.cfg.Identity
	ns := r.Metadata[ic.Namespace]
	if ns == nil {
		return false, false
	}
	payload := ns.GetFields()[ic.PayloadKey].GetStructValue()
	if payload == nil {
		return false, false // identity denies this before a rule is applied
	}
	claims := payload.GetFields()
	met := true
	if want.ACRValues != nil {
		acr, present, bad := stringClaim(claims["acr"])
		if bad {
			return false, true
		}
		met = present && slices.Contains(want.ACRValues, acr)
	}
	if want.AMR != nil {
		amr, bad := listClaim(claims["amr"])
		if bad {
			return false, true
		}
		met = met && slices.ContainsFunc(amr, func(v *structpb.Value) bool {
			return slices.Contains(want.AMR, v.GetStringValue())
		})
	}
	at, present, bad := timeClaim(claims["auth_time"])
	if bad {
		return false, true
	}
	if !met || !present {
		return false, false
	}
	skew := ic.ClockSkew
	age := now.Sub(at)
	return age < grace+skew && age > -skew, false
}

// stringClaim reads a claim that must be a string when present.
func stringClaim(v *structpb.Value) (s string, present, malformed bool) {
	switch k := v.GetKind().(type) {
	case nil:
		return "", false, false
	case *structpb.Value_StringValue:
		return k.StringValue, true, false
	}
	return "", false, true
}

// listClaim reads a claim that must be an array of strings when present.
func listClaim(v *structpb.Value) (list []*structpb.Value, malformed bool) {
	switch k := v.GetKind().(type) {
	case nil:
		return nil, false
	case *structpb.Value_ListValue:
		list = k.ListValue.GetValues()
		for _, el := range list {
			if _, ok := el.GetKind().(*structpb.Value_StringValue); !ok {
				return nil, true
			}
		}
		return list, false
	}
	return nil, true
}

// timeClaim reads a claim that must be a NumericDate (RFC 7519) when
// present: seconds since the epoch, possibly fractional, after it and
// before the year 10000.
func timeClaim(v *structpb.Value) (t time.Time, present, malformed bool) {
	switch k := v.GetKind().(type) {
	case nil:
		return time.Time{}, false, false
	case *structpb.Value_NumberValue:
		n := k.NumberValue
		if !(n > 0 && n <= maxAuthTime) { // NaN fails too
			return time.Time{}, false, true
		}
		sec, frac := math.Modf(n)
		return time.Unix(int64(sec), int64(frac*1e9)), true, false
	}
	return time.Time{}, false, true
}
