package policy

import "strings"

// cleanByte marks the bytes that need no normalization: unreserved
// characters, the sub-delimiters other than ";" and "+" (RFC 3986), ":" and
// "@". None of them is decoded, stripped or escaped by any reading.
var cleanByte = func() (t [256]bool) {
	for c := 'a'; c <= 'z'; c++ {
		t[c], t[c-'a'+'A'] = true, true
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for _, c := range []byte("-._~!$&'()*,=:@") {
		t[c] = true
	}
	return t
}()

// cleanPath reports whether raw is a clean path, one that every reading
// leaves unchanged except for its query, a trailing slash and the extension
// of its last segment, and returns it without query and trailing slash.
//
// Clean paths are the common case; Match reads them without allocating.
// A clean path starts with "/", consists of clean bytes, and has no empty
// segment (other than a trailing slash), no "." or ".." segment, no
// segment ending in "." and no ":$", which vStrip would remove, and no
// segment naming a front controller of fc, whose lengthMask is fcMask.
func cleanPath(raw string, fc []string, fcMask uint64) (string, bool) {
	p := raw
	if i := strings.IndexByte(p, '?'); i >= 0 {
		p = p[:i]
	}
	if p == "" || p[0] != '/' || len(p) > maxPathLen {
		return "", false
	}
	if p == "/" {
		return p, true
	}
	if p[len(p)-1] == '/' {
		p = p[:len(p)-1]
	}
	start := 1 // of the current segment
	for i := 1; i <= len(p); i++ {
		if i < len(p) && p[i] != '/' {
			if !cleanByte[p[i]] || p[i] == '$' && p[i-1] == ':' {
				// ":$" may start an NTFS stream suffix, which vStrip removes.
				return "", false
			}
			continue
		}
		if i == start || p[i-1] == '.' {
			return "", false
		}
		if fcMask&(1<<min(i-start, 63)) != 0 && isASCIIFrontController(p[start:i], fc) {
			return "", false
		}
		start = i + 1
	}
	return p, true
}

// lastSegment returns the segment after the last "/" of p.
func lastSegment(p string) string { return p[strings.LastIndexByte(p, '/')+1:] }

// cleanReadings stores the readings of raw in out and returns how many there
// are, if raw is a clean path naming none of the front controllers fc;
// otherwise it returns 0. The readings are
// substrings of raw: nothing is allocated.
func cleanReadings(raw string, out *[2]string, fc []string, fcMask uint64) int {
	p, ok := cleanPath(raw, fc, fcMask)
	if !ok {
		return 0
	}
	out[0] = p
	last := lastSegment(p)
	if name, ok := stripExtension(last); ok {
		out[1] = p[:len(p)-len(last)+len(name)]
		return 2
	}
	return 1
}
