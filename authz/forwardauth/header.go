package forwardauth

import (
	"net/http"
	"sync"
)

// headers is the authz.Header of a request's http.Header.
//
// net/http stores every valid field name in canonical form (X-Mfa-Code),
// while the engine asks in lower case (x-mfa-code). A lookup therefore
// canonicalizes the name in a stack buffer and indexes the map, which
// neither allocates nor scans. Only a map with a key that is a valid
// token but not canonical (one built by hand rather than parsed by
// net/http) can hide a match from that lookup; such a map is searched
// case-insensitively instead, and keys differing only in case count as
// repeats.
type headers struct {
	h http.Header
	// scan caches whether h holds a key a canonical lookup could miss:
	// 0 not known yet, 1 no, 2 yes. Parsed requests never do, so the
	// keys are looked at once per request, on the first lookup.
	scan int8
}

var headersPool = sync.Pool{New: func() any { return new(headers) }}

// maxCanonical bounds the names canonicalized on the stack; the engine's
// names (the MFA and identity headers, authorization, x-request-id, the
// method-override headers) are far shorter. Longer names are searched.
const maxCanonical = 128

// Lookup implements authz.Header: the first value of the header named
// name (given in lower case) and how many values it has. Each field line
// is one value: net/http keeps repeated lines apart, so a header sent
// twice reports 2, unlike Envoy, which joins repeats with commas.
func (hv *headers) Lookup(name string) (value string, n int) {
	var buf [maxCanonical]byte
	if key, ok := canonicalKey(&buf, name); ok && !hv.needsScan() {
		vs := hv.h[string(key)] // indexing with string(bytes) does not allocate
		if len(vs) == 0 {
			return "", 0
		}
		return vs[0], len(vs)
	}
	for k, vs := range hv.h {
		if len(k) != len(name) || !equalFold(k, name) || len(vs) == 0 {
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

// needsScan reports whether h has a token key that is not canonical.
func (hv *headers) needsScan() bool {
	if hv.scan == 0 {
		hv.scan = 1
		for k := range hv.h {
			if isToken(k) && !isCanonical(k) {
				hv.scan = 2
				break
			}
		}
	}
	return hv.scan == 2
}

// canonicalKey writes the canonical form of name into buf, as
// textproto.CanonicalMIMEHeaderKey would return it: the first letter and
// every letter after a hyphen upper case, the rest lower case. ok is false
// for names that are too long or not a token, which net/http stores as
// sent and which must be searched for.
func canonicalKey(buf *[maxCanonical]byte, name string) (key []byte, ok bool) {
	if len(name) > len(buf) || !isToken(name) {
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

// isCanonical reports whether the token k is in canonical form.
func isCanonical(k string) bool {
	upper := true
	for i := 0; i < len(k); i++ {
		c := k[i]
		if upper && 'a' <= c && c <= 'z' || !upper && 'A' <= c && c <= 'Z' {
			return false
		}
		upper = c == '-'
	}
	return true
}

// isToken reports whether s is a non-empty RFC 9110 token, the syntax of
// field names and methods.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c < 0x80 && c > ' ' && c != 0x7f:
			switch c {
			case '"', '(', ')', ',', '/', ':', ';', '<', '=', '>', '?', '@', '[', '\\', ']', '{', '}':
				return false
			}
		default:
			return false
		}
	}
	return true
}

// equalFold compares header names of equal length, ASCII case-insensitively.
func equalFold(a, b string) bool {
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}
