package policy

import "strings"

// Limits on the work spent reading one request path. A path beyond them is
// not read at all: Match decides it as if every rule's path matched (see
// Policy.strictest), so a pathological path can only gain its sender more
// MFA prompts, and costs a bounded amount of work whatever its shape.
const (
	maxPathLen      = 8 << 10  // bytes before the query
	maxReadings     = 16       // distinct readings
	maxWork         = 64 << 10 // bytes interpreted, summed over all variants
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
	// vCompat reads a path as upstreams do that fold Unicode compatibility
	// forms (see compat): invisible characters removed, then NFKC, so that
	// full-width "／ｃａｒｔｓ" is "/carts". A "/" or "\" that folding
	// produces separates segments.
	vCompat

	variantEnd
)

// readingSet collects the distinct readings of one path.
type readingSet struct {
	fc    []string // front-controller names, folded
	paths []string
	// lenient[i] is set when paths[i] was produced only by a lenient
	// reading (vCompat, a front controller removed, a bare "scheme:"
	// removed): an "mfa: none" exception does not admit it, since an
	// exception exempts only what it names, plainly spelled.
	lenient  []bool
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
// target without a leading "/"; a "scheme:" prefix without "//"; the
// segments of front controllers (DefaultFrontControllers) removed;
// invisible characters removed and Unicode compatibility forms folded
// (NFKC). Case is kept; a case-insensitive policy folds
// it when matching rules that require MFA, but not "mfa: none" exceptions.
func Readings(rawPath string) []string {
	var clean [2]string
	if n := cleanReadings(rawPath, &clean, DefaultFrontControllers, defaultMask); n > 0 {
		return clean[:n:n]
	}
	rs := readingSet{fc: DefaultFrontControllers}
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
				if i+1 < len(target) && (target[i+1] == 'u' || target[i+1] == 'U') {
					f |= vStrip // an IIS %uXXXX escape
				}
			}
		case c == '\\':
			f |= vSeparators
		case c == '#':
			f |= vFragment
		case c == ';' || c == '.' || c == ' ' || c == '+' || c == '$' && i > 0 && target[i-1] == ':':
			f |= vStrip
		case c < 0x20 || c == 0x7f:
			f |= vTruncate | vStrip
		case c >= 0x80:
			f |= vTruncate | vStrip | vCompat | overlongFeatures(c)
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
		return vDecodeAll | vSeparators | vStrip | vTruncate | vCompat
	case b == '/' || b == '\\':
		return vSeparators
	case b == ';' || b == '.' || b == ' ' || b == '+' || b == ':' || b == '$':
		// ":" and "$" as in an encoded NTFS stream suffix ("%3A%3A%24DATA").
		return vStrip
	case b < 0x20 || b == 0x7f:
		return vTruncate | vStrip
	case b >= 0x80:
		return vTruncate | vStrip | vCompat | overlongFeatures(b)
	}
	return 0
}

// add records a reading unless it is already known.
func (rs *readingSet) add(reading string, lenient bool) {
	for i, p := range rs.paths {
		if p == reading {
			// A plain reading of the same path wins.
			rs.lenient[i] = rs.lenient[i] && lenient
			return
		}
	}
	if len(rs.paths) == maxReadings {
		rs.overflow = true
		return
	}
	rs.paths = append(rs.paths, reading)
	rs.lenient = append(rs.lenient, lenient)
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
	} else if rest, ok := cutBareScheme(p); ok {
		// "http:/carts/1": lenient URL parsers read the path after the
		// scheme; others read the whole target as a relative path.
		rs.addSegments(splitSegments(rest, v), v, true)
	}
	segs := splitSegments(p, v)
	if v&(vSeparators|vCompat) != 0 {
		rs.addDecodedAuthority(segs, v)
	}
	rs.addSegments(segs, v, v&vCompat != 0)
}

// addDecodedAuthority adds, for segments that start with two separators
// only decoding or compatibility folding produced ("%2F%2Fhost/path",
// "/%5C%5Chost/path", "／／host／path"), the reading of a URL parser that
// sees them after decoding: an authority, then the path.
func (rs *readingSet) addDecodedAuthority(segs []string, v variant) {
	k := 0
	for k < len(segs) && segs[k] == "" {
		k++
	}
	if k < 2 || k == len(segs) {
		return
	}
	rs.addHost(segs[k])
	rs.addSegments(segs[k+1:], v, true)
}

// addSegments adds the readings of decoded segments under variant v,
// lenient ones if lenient is set.
func (rs *readingSet) addSegments(segs []string, v variant, lenient bool) {
	resolved, poppedEmpty := resolveDots(segs, false)
	rs.add(joinReading(resolved, v), lenient)
	rs.addFrontControllerReadings(resolved, v)
	if poppedEmpty {
		// RFC 3986 lets ".." remove an empty segment ("/a//../b" is "/a/b");
		// a server that merges slashes first reads "/b".
		merged, _ := resolveDots(segs, true)
		rs.add(joinReading(merged, v), lenient)
		rs.addFrontControllerReadings(merged, v)
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
