package authz

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"

	"google.golang.org/protobuf/types/known/structpb"
)

// IdentityConfig says where a request's user id comes from. Sources are
// tried in order: the jwt_authn payload claim, the trusted header, the
// bearer token's fingerprint. A jwt_authn payload, when present, decides
// alone: one without a usable claim leaves the request with no identity.
type IdentityConfig struct {
	// Header is a header the mesh sets to the authenticated user id
	// (identity.header). Trust it only if Envoy strips it from clients.
	Header string
	// Namespace, PayloadKey and Claim locate the user id in Envoy's
	// jwt_authn metadata: filter_metadata[Namespace][PayloadKey][Claim].
	Namespace, PayloadKey, Claim string
	// BearerFingerprint uses the SHA-256 of the bearer token as the user id
	// when nothing else names the user.
	BearerFingerprint bool
}

// MaxUserIDLength bounds user ids; a longer id is refused as ambiguous.
const MaxUserIDLength = 512

// identity returns the request's user id. An empty user with an empty
// detail means no source named a user; an empty user with a detail means a
// source was present but unusable (ambiguous or malformed), which is
// denied even when anonymous requests are allowed.
func (e *Engine) identity(r *Request) (user, detail string) {
	ic := &e.cfg.Identity
	if ns := r.Metadata[ic.Namespace]; ns != nil {
		if payload := ns.GetFields()[ic.PayloadKey].GetStructValue(); payload != nil {
			// A verified token decides the identity: one without the claim
			// names no user, and a client-sent header must not name one
			// in its place.
			return checkUser(stringValue(payload.GetFields()[ic.Claim]), "jwt claim "+ic.Claim)
		}
	}
	if e.idHeader != "" {
		switch v, n := lookup(r.Header, e.idHeader); {
		case n > 1:
			return "", "repeated identity header"
		case n == 1:
			return checkUser(v, "identity header")
		}
	}
	if ic.BearerFingerprint {
		switch v, n := lookup(r.Header, "authorization"); {
		case n > 1:
			return "", "repeated authorization header"
		case n == 1:
			scheme, token, _ := strings.Cut(strings.TrimSpace(v), " ")
			token = strings.TrimSpace(token)
			if !strings.EqualFold(scheme, "bearer") || token == "" {
				return "", ""
			}
			sum := sha256.Sum256([]byte(token))
			return "sha256:" + hex.EncodeToString(sum[:]), ""
		}
	}
	return "", ""
}

func stringValue(v *structpb.Value) string {
	if s, ok := v.GetKind().(*structpb.Value_StringValue); ok {
		return s.StringValue
	}
	return ""
}

// checkUser accepts a user id of printable characters, not too long.
func checkUser(user, source string) (string, string) {
	if user == "" || len(user) > MaxUserIDLength {
		return "", "unusable " + source
	}
	for i := 0; i < len(user); i++ {
		if user[i] < ' ' || user[i] == 0x7f {
			return "", "unusable " + source
		}
	}
	return user, ""
}

// HashUser returns a short, stable, non-reversible tag for a user id, for
// logs that must correlate a user's events without naming the user.
func HashUser(user string) string {
	sum := sha256.Sum256([]byte("mfa-authz user\x00" + user))
	return hex.EncodeToString(sum[:8])
}
