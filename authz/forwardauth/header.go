package forwardauth

import (
	"net/http"

	"github.com/mfa-authz/mfa-authz/authz/internal/httpsyntax"
)

// header is the authz.Header of a request's http.Header. Being a map, it
// converts to the interface without allocating.
//
// http.Header keys are in canonical form (X-Mfa-Code): net/http's server
// canonicalizes every field name it accepts, over HTTP/1 and HTTP/2, and
// refuses names that are not tokens. The engine asks in lower case
// (x-mfa-code), so a lookup canonicalizes the name in a stack buffer and
// indexes the map, which neither allocates nor scans. As with
// http.Header.Get, a key stored in another case is not found.
type header http.Header

// maxCanonical bounds the names canonicalized on the stack; the engine's
// names (the MFA and identity headers, authorization, x-request-id, the
// method-override headers) are far shorter. Longer names are searched.
const maxCanonical = 128

// Lookup implements authz.Header: the first value of the header named
// name (given in lower case) and how many values it has. Each field line
// is one value: net/http keeps repeated lines apart, so a header sent
// twice reports 2, unlike Envoy, which joins repeats with commas.
func (h header) Lookup(name string) (value string, n int) {
	var buf [maxCanonical]byte
	if key, ok := canonicalKey(&buf, name); ok {
		vs := h[string(key)] // indexing with string(bytes) does not allocate
		if len(vs) == 0 {
			return "", 0
		}
		return vs[0], len(vs)
	}
	// A name too long for the buffer, or not a token: compare every key.
	for k, vs := range h {
		if !httpsyntax.EqualFold(k, name) || len(vs) == 0 {
			continue
		}
		// With keys in several cases, which one comes first depends on map
		// order; the engine treats any n > 1 as ambiguous, so that is moot.
		if n == 0 {
			value = vs[0]
		}
		n += len(vs)
	}
	return value, n
}

// canonicalKey writes the canonical form of name into buf, as
// textproto.CanonicalMIMEHeaderKey would return it: the first letter and
// every letter after a hyphen upper case, the rest lower case. ok is false
// for names that are too long for buf or not a token (which textproto
// leaves as they are).
func canonicalKey(buf *[maxCanonical]byte, name string) (key []byte, ok bool) {
	if len(name) > len(buf) || !httpsyntax.IsToken(name) {
		return nil, false
	}
	upper := true
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case upper && 'a' <= c && c <= 'z':
			c -= 'a' - 'A'
		case !upper && 'A' <= c && c <= 'Z':
			c += 'a' - 'A'
		}
		buf[i] = c
		upper = c == '-'
	}
	return buf[:len(name)], true
}
