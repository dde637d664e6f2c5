package policy

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Limits on the work spent reading one request path. A path beyond them is
// not read at all: Match decides it as if every rule's path matched (see
// Policy.strictest), so a pathological path can only gain its sender more
// MFA prompts, and costs a bounded amount of work whatever its shape.
const (
	maxPathLen      = 8 << 10  // bytes before the query
	maxReadings     = 16       // distinct readings
	maxWork         = 32 << 10 // bytes interpreted, summed over all variants
	maxDecodeRounds = 4        // percent-decoding passes for multiply encoded paths
)

// variant is a set of interpretation choices. Each choice models what some
// upstream server or framework does with an ambiguous path; the readings of
// a path are its interpretations under every combination of the choices
// that make a difference for it.
type variant uint8

const (
	// vDecodeAll percent-decodes repeatedly instead of once, as servers do
	// that decode a path already decoded by a proxy ("%252e" → "%2e" → ".").
	vDecodeAll variant = 1 << iota
	// vSeparators treats "\" and the decoded characters "/" and "\" as
	// segment separators (Windows servers, WHATWG URL parsers, decoders
	// that split after decoding). Otherwise "\" and an encoded slash are
	// characters inside a segment.
	vSeparators
	// vStrip reads a path as lenient frameworks do. It removes what they
	// drop from a segment: ";params" (Servlet containers), control bytes
	// and invalid UTF-8, leading and trailing white space, trailing dots
	// (Windows), and the extension of the last segment (format suffixes, as
	// in "/checkout.json"). It also decodes "+" as a space (form decoding)
	// and overlong UTF-8 encodings of ASCII ("%C0%AE" as ".").
	vStrip
	// vTruncate ends the path at the first NUL or other control byte,
	// invalid percent-escape or invalid UTF-8, as C string handling and
	// naive decoders do.
	vTruncate
	// vAuthority reads a leading "//host" (or, with vSeparators, "\\host")
	// as an authority, as URL parsers do, rather than as path segments.
	vAuthority
	// vFragment keeps a "#" and what follows it in the path, as servers do
	// that do not expect a fragment in a request.
	vFragment

	variantEnd
)

// readingSet collects the distinct readings of one path.
type readingSet struct {
	paths    []string
	hosts    []string // authorities named by absolute-form or "//host" paths
	overflow bool     // limits exceeded: the path could not be read
}

// Readings returns every plausible normalized reading of a request path, the
// first being the plainest one: percent-escapes decoded once and dot
// segments removed as RFC 3986 specifies. It returns nil when the path
// exceeds the normalization limits (8 KiB before the query, 16 distinct
// readings, a bound on the total work); Match then decides without the path.
//
// A reading starts with "/", has no empty, "." or ".." segments, and has its
// percent-escapes decoded. Characters that cannot stand for themselves in a
// reading are escaped again: "%", "/" and "\" inside a segment, "?", "#",
// space and control bytes, and bytes that are not UTF-8. Patterns
// cannot contain any of these, so escaping them changes no match.
//
// The readings cover a query ("?…") and a fragment ("#…"); absolute-form
// targets ("https://host/path") and scheme-relative ones ("//host/path",
// read both as a path and as host plus path); merged slashes; "." and ".."
// segments, also percent-encoded, never above the root; percent-decoding
// once and repeatedly; "\", "%2F" and "%5C" both as separators and as
// segment characters; ";params"; trailing dots and white space; a format
// extension on the last segment; "+" for a space; overlong UTF-8;
// truncation at NUL, control bytes, invalid escapes and invalid UTF-8; and a
// target without a leading "/". Case is
// kept; a case-insensitive policy folds it when matching.
func Readings(rawPath string) []string {
	var clean [2]string
	if n := cleanReadings(rawPath, &clean); n > 0 {
		return clean[:n:n]
	}
	var rs readingSet
	rs.build(rawPath)
	if rs.overflow {
		return nil
	}
	return rs.paths
}

// build collects the readings of raw.
func (rs *readingSet) build(raw string) {
	// A "?" always ends the path: no server reads a query as path.
	target := raw
	if i := strings.IndexByte(target, '?'); i >= 0 {
		target = target[:i]
	}
	if len(target) > maxPathLen {
		rs.overflow = true
		return
	}
	feats := features(target)
	work := 0
	for v := variant(0); v < variantEnd && !rs.overflow; v++ {
		if v&^feats != 0 {
			continue
		}
		work += len(target)
		if v&vDecodeAll != 0 {
			work += len(target)
		}
		if work > maxWork {
			rs.overflow = true
			return
		}
		rs.interpret(target, v)
	}
}

// features returns the choices that can make a difference for target. It is
// conservative: a choice it returns may still produce a reading already
// seen, which is then dropped.
func features(target string) variant {
	var f variant
	if len(target) >= 2 && isSep(target[0], true) && isSep(target[1], true) {
		f |= vAuthority
	}
	for i := 0; i < len(target); i++ {
		switch c := target[i]; {
		case c == '%':
			if i+2 < len(target) && isHex(target[i+1]) && isHex(target[i+2]) {
				f |= escapeFeatures(unhex(target[i+1])<<4 | unhex(target[i+2]))
				i += 2
			} else {
				f |= vTruncate
			}
		case c == '\\':
			f |= vSeparators
		case c == '#':
			f |= vFragment
		case c == ';' || c == '.' || c == ' ' || c == '+':
			f |= vStrip
		case c < 0x20 || c >= 0x7f:
			f |= vTruncate | vStrip | overlongFeatures(c)
		}
	}
	return f
}

// overlongFeatures returns vSeparators if c may start an overlong encoding,
// which could decode to "/" or "\" under vStrip.
func overlongFeatures(c byte) variant {
	if c == 0xC0 || c == 0xC1 || c == 0xE0 || c == 0xF0 {
		return vSeparators
	}
	return 0
}

// escapeFeatures returns the choices that matter for a path containing a
// percent-escape of b.
func escapeFeatures(b byte) variant {
	switch {
	case b == '%':
		// A second round of decoding can produce anything.
		return vDecodeAll | vSeparators | vStrip | vTruncate
	case b == '/' || b == '\\':
		return vSeparators
	case b == ';' || b == '.' || b == ' ' || b == '+':
		return vStrip
	case b < 0x20 || b >= 0x7f:
		return vTruncate | vStrip | overlongFeatures(b)
	}
	return 0
}

// add records a reading unless it is already known.
func (rs *readingSet) add(reading string) {
	for _, p := range rs.paths {
		if p == reading {
			return
		}
	}
	if len(rs.paths) == maxReadings {
		rs.overflow = true
		return
	}
	rs.paths = append(rs.paths, reading)
}

// addHost records an authority named by the path.
func (rs *readingSet) addHost(authority string) {
	for _, h := range rs.hosts {
		if h == authority {
			return
		}
	}
	rs.hosts = append(rs.hosts, authority)
}

// interpret adds the readings of target under variant v.
func (rs *readingSet) interpret(target string, v variant) {
	p := target
	if v&vFragment == 0 {
		if i := strings.IndexByte(p, '#'); i >= 0 {
			p = p[:i]
		}
	}
	seps := v&vSeparators != 0
	if rest, ok := cutScheme(p, seps); ok {
		p = rs.cutAuthority(rest, seps)
	} else if v&vAuthority != 0 && len(p) >= 2 && isSep(p[0], seps) && isSep(p[1], seps) {
		p = rs.cutAuthority(p[2:], seps)
	}

	segs := splitSegments(p, v)
	resolved, poppedEmpty := resolveDots(segs, false)
	rs.add(joinReading(resolved, v))
	if poppedEmpty {
		// RFC 3986 lets ".." remove an empty segment ("/a//../b" is "/a/b");
		// a server that merges slashes first reads "/b".
		merged, _ := resolveDots(segs, true)
		rs.add(joinReading(merged, v))
	}
}

// cutScheme reports whether p is an absolute-form target ("scheme://…") and
// returns what follows the "://".
func cutScheme(p string, seps bool) (string, bool) {
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
		case i > 0 && ('0' <= c && c <= '9' || c == '+' || c == '-' || c == '.'):
		case i > 0 && c == ':':
			if len(p) >= i+3 && isSep(p[i+1], seps) && isSep(p[i+2], seps) {
				return p[i+3:], true
			}
			return "", false
		default:
			return "", false
		}
	}
	return "", false
}

// namesHost reports whether a target may name a host: whether it is in
// absolute form or starts with two separators.
func namesHost(target string) bool {
	if _, ok := cutScheme(target, true); ok {
		return true
	}
	return len(target) >= 2 && isSep(target[0], true) && isSep(target[1], true)
}

// cutAuthority records the authority at the start of rest and returns the
// path after it ("/" if there is none).
func (rs *readingSet) cutAuthority(rest string, seps bool) string {
	i := 0
	for i < len(rest) && !isSep(rest[i], seps) {
		i++
	}
	rs.addHost(rest[:i])
	if i == len(rest) {
		return "/"
	}
	return rest[i:]
}

// isSep reports whether c separates segments; "\" does only when seps is
// set.
func isSep(c byte, seps bool) bool { return c == '/' || seps && c == '\\' }

// splitSegments splits p into decoded segments under variant v. Empty
// segments are kept: dot-segment removal needs them.
func splitSegments(p string, v variant) []string {
	seps := v&vSeparators != 0
	// The leading separator stands for the root. A target without one
	// ("customer-password/1", "*") is read as if it had it.
	if p != "" && isSep(p[0], seps) {
		p = p[1:]
	}
	segs := make([]string, 0, strings.Count(p, "/")+1)
	for {
		i := 0
		for i < len(p) && !isSep(p[i], seps) {
			i++
		}
		var stop bool
		segs, stop = appendDecoded(segs, p[:i], v)
		if stop || i == len(p) {
			return segs
		}
		p = p[i+1:]
	}
}

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
	if v&vTruncate != 0 {
		if i := firstUnsafe(s); i >= 0 {
			s, stop = s[:i], true
		}
	}
	first := len(segs)
	if v&vSeparators != 0 {
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
// space at either end and dots at the end (Windows file names). A segment
// of dots only is left alone so that ".." keeps its meaning.
func stripSegment(s string) string {
	s, _, _ = strings.Cut(s, ";")
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

// resolveDots removes "." and ".." segments as RFC 3986 (section 5.2.4)
// does, never going above the root. With mergeFirst, empty segments are
// dropped first, as by a server that merges slashes before resolving. It
// reports whether a ".." removed an empty segment, the case in which the two
// orders differ.
func resolveDots(segs []string, mergeFirst bool) (out []string, poppedEmpty bool) {
	out = make([]string, 0, len(segs))
	for _, s := range segs {
		switch s {
		case "":
			if !mergeFirst {
				out = append(out, s)
			}
		case ".":
		case "..":
			if n := len(out); n > 0 {
				poppedEmpty = poppedEmpty || out[n-1] == ""
				out = out[:n-1]
			}
		default:
			out = append(out, s)
		}
	}
	return out, poppedEmpty
}

// joinReading builds a reading from resolved segments: empty segments are
// dropped (merged slashes), the extension of the last segment is removed
// under vStrip, and characters that cannot stand for themselves are escaped.
func joinReading(segs []string, v variant) string {
	last := -1
	for i, s := range segs {
		if s != "" {
			last = i
		}
	}
	if last < 0 {
		return "/"
	}
	n := 0
	for _, s := range segs[:last+1] {
		n += 1 + len(s)
	}
	b := make([]byte, 0, n+n/4)
	for i, s := range segs[:last+1] {
		if s == "" {
			continue
		}
		if i == last && v&vStrip != 0 {
			if name, ok := stripExtension(s); ok {
				s = name
			}
		}
		b = append(b, '/')
		b = appendEscaped(b, s)
	}
	return string(b)
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
