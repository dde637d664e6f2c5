package policy

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// This file holds the transformations of single segments that the variants
// of a reading combine.

// appendDecoded decodes one raw segment under variant v and appends the
// result to segs. It appends more than one segment when decoding produced
// separators that v honours, and reports whether the path is truncated
// after it.
func appendDecoded(segs []string, raw string, v variant) (_ []string, stop bool) {
	s := raw
	strip := v&vStrip != 0
	if strip {
		// Servlet containers drop ;params before decoding.
		s, _, _ = strings.Cut(s, ";")
		s = decodePercentU(s)
	}
	rounds := 1
	if v&vDecodeAll != 0 {
		rounds = maxDecodeRounds
	}
	for r := 0; r < rounds && strings.IndexByte(s, '%') >= 0; r++ {
		d, cut := unescape(s, v&vTruncate != 0)
		stop = stop || cut
		if d == s {
			break
		}
		s = d
	}
	if strip {
		s = strings.ReplaceAll(s, "+", " ")
		s = decodeOverlong(s)
	}
	if v&vCompat != 0 {
		s = compat(s)
	}
	if v&vTruncate != 0 {
		if i := firstUnsafe(s); i >= 0 {
			s, stop = s[:i], true
		}
	}
	first := len(segs)
	if v&(vSeparators|vCompat) != 0 {
		// Under vCompat, folding may have produced separators ("／").
		// Empty parts are kept, as for raw separators: "a%2F%2F..%2Fb" is
		// read like "a//../b".
		for {
			i := strings.IndexAny(s, "/\\")
			if i < 0 {
				break
			}
			segs = append(segs, s[:i])
			s = s[i+1:]
		}
	}
	segs = append(segs, s)
	if strip {
		for i := first; i < len(segs); i++ {
			segs[i] = stripSegment(segs[i])
		}
	}
	return segs, stop
}

// unescape decodes the valid percent-escapes in s once. An invalid escape
// ("%zz", a "%" near the end) is kept as it is, or, when truncate is set,
// ends the result, which is then reported as cut.
func unescape(s string, truncate bool) (string, bool) {
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '%' {
			b = append(b, c)
			continue
		}
		if i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
			b = append(b, unhex(s[i+1])<<4|unhex(s[i+2]))
			i += 2
			continue
		}
		if truncate {
			return string(b), true
		}
		b = append(b, c)
	}
	return string(b), false
}

// decodeOverlong replaces overlong UTF-8 encodings of ASCII characters, such
// as C0 AE for ".", by the characters, as old lenient decoders did.
func decodeOverlong(s string) string {
	var b []byte // nil until something is replaced
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0xC0 {
			if b != nil {
				b = append(b, c)
			}
			continue
		}
		// The lead byte says how many continuation bytes follow.
		n, r := 0, rune(0)
		switch {
		case c < 0xE0:
			n, r = 1, rune(c&0x1F)
		case c < 0xF0:
			n, r = 2, rune(c&0x0F)
		case c < 0xF8:
			n, r = 3, rune(c&0x07)
		}
		ok := n > 0 && i+n < len(s)
		for j := 1; ok && j <= n; j++ {
			ok = s[i+j]&0xC0 == 0x80
			r = r<<6 | rune(s[i+j]&0x3F)
		}
		if !ok || r >= utf8.RuneSelf {
			if b != nil {
				b = append(b, c)
			}
			continue
		}
		if b == nil {
			b = append(make([]byte, 0, len(s)), s[:i]...)
		}
		b = append(b, byte(r))
		i += n
	}
	if b == nil {
		return s
	}
	return string(b)
}

// firstUnsafe returns the index of the first control byte or invalid UTF-8
// in s, or -1.
func firstUnsafe(s string) int {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c < 0x20 || c == 0x7f {
				return i
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			return i
		}
		i += n
	}
	return -1
}

// stripSegment removes what some framework would drop from a decoded
// segment: ;params, control bytes and invalid UTF-8 (sanitizers), white
// space at either end, dots at the end and an NTFS stream suffix such as
// "::$DATA" or ":name:$DATA" (Windows file names). A segment of dots only
// is left alone so that ".." keeps its meaning.
func stripSegment(s string) string {
	s, _, _ = strings.Cut(s, ";")
	if i := strings.IndexByte(s, ':'); i > 0 && strings.Contains(s[i:], ":$") {
		s = s[:i]
	}
	if firstUnsafe(s) >= 0 {
		b := make([]byte, 0, len(s))
		for i := 0; i < len(s); {
			if j := firstUnsafe(s[i:]); j >= 0 {
				b = append(b, s[i:i+j]...)
				i += j + 1
				continue
			}
			b = append(b, s[i:]...)
			break
		}
		s = string(b)
	}
	s = strings.TrimFunc(s, unicode.IsSpace)
	if strings.Trim(s, ".") != "" {
		s = strings.TrimRightFunc(s, func(r rune) bool { return r == '.' || unicode.IsSpace(r) })
	}
	return s
}

// appendEscaped appends segment s to b, percent-encoding the bytes that
// cannot stand for themselves in a reading.
func appendEscaped(b []byte, s string) []byte {
	const hex = "0123456789ABCDEF"
	start := 0 // of the run of bytes not yet appended
	for i := 0; i < len(s); {
		c := s[i]
		n := 1
		escape := false
		switch {
		case c >= utf8.RuneSelf:
			if r, size := utf8.DecodeRuneInString(s[i:]); r == utf8.RuneError && size == 1 {
				escape = true
			} else {
				n = size
			}
		case c <= ' ' || c == 0x7f || c == '%' || c == '/' || c == '\\' || c == '?' || c == '#':
			escape = true
		}
		if escape {
			b = append(b, s[start:i]...)
			b = append(b, '%', hex[c>>4], hex[c&15])
			start = i + 1
		}
		i += n
	}
	return append(b, s[start:]...)
}

// stripExtension removes a format extension, letters and digits after the
// last dot, from a segment ("checkout.json" becomes "checkout"), reporting
// whether there was one. A name of dots only is not a name: ".htaccess" and
// "..x" have no extension.
func stripExtension(seg string) (string, bool) {
	i := strings.LastIndexByte(seg, '.')
	if i <= 0 || i == len(seg)-1 || strings.Trim(seg[:i], ".") == "" {
		return "", false
	}
	for j := i + 1; j < len(seg); j++ {
		if c := seg[j]; !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
			return "", false
		}
	}
	return seg[:i], true
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c >= 'a':
		return c - 'a' + 10
	case c >= 'A':
		return c - 'A' + 10
	}
	return c - '0'
}

// decodePercentU decodes IIS-style %uXXXX escapes, which IIS honours as
// the UTF-16 code unit XXXX; the result is percent-encoded UTF-8, so the
// ordinary decoding that follows sees it.
func decodePercentU(s string) string {
	if !strings.Contains(s, "%u") && !strings.Contains(s, "%U") {
		return s
	}
	var b []byte
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+5 < len(s) && (s[i+1] == 'u' || s[i+1] == 'U') &&
			isHex(s[i+2]) && isHex(s[i+3]) && isHex(s[i+4]) && isHex(s[i+5]) {
			r := rune(unhex(s[i+2]))<<12 | rune(unhex(s[i+3]))<<8 | rune(unhex(s[i+4]))<<4 | rune(unhex(s[i+5]))
			var enc [utf8.UTFMax]byte
			for _, c := range enc[:utf8.EncodeRune(enc[:], r)] {
				b = append(b, '%', "0123456789ABCDEF"[c>>4], "0123456789ABCDEF"[c&15])
			}
			i += 5
			continue
		}
		b = append(b, s[i])
	}
	return string(b)
}
