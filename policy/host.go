package policy

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"strconv"
	"strings"

	"golang.org/x/net/idna"
)

// hostPattern is the compiled host of a rule.
type hostPattern struct {
	// name is lower case without a trailing dot; "" admits every host. For a
	// wildcard it is the required suffix including its leading dot, as in
	// ".example.com".
	name     string
	wildcard bool
	// exact is set for "mfa: none" exceptions, which must exempt only the
	// host they name as an upstream's virtual-host routing would see it:
	// case is folded for ASCII letters only (not the Kelvin sign for "k"),
	// a named port must be present in the request, and a request host
	// spelled unusually (see reqHost.plain) is not admitted. Rules requiring
	// MFA admit leniently: over-protecting is the safe side.
	exact bool
	// port is the port the rule names, without leading zeros; "" admits
	// every port.
	port string
	// addr is the address of an IPv6 literal name, which a request may
	// spell differently ("[0:0::1]" for "[::1]").
	addr netip.Addr
}

// parseHostPattern validates a rule's host and returns it compiled and in
// normalized form.
func parseHostPattern(s string) (hostPattern, string, error) {
	if s == "" {
		return hostPattern{}, "", nil
	}
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return hostPattern{}, "", errors.New("must be ASCII: write an internationalized name in its xn-- form")
		}
	}
	if strings.ContainsAny(s, "/?#@") {
		return hostPattern{}, "", errors.New("must be a host name with an optional port, not a URL")
	}
	s = strings.ToLower(s)

	var addr netip.Addr
	name, port := s, ""
	if strings.HasPrefix(s, "[") {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return hostPattern{}, "", errors.New(`unterminated IPv6 literal (missing "]")`)
		}
		var err error
		if addr, err = netip.ParseAddr(s[1:end]); err != nil || !addr.Is6() {
			return hostPattern{}, "", fmt.Errorf("invalid IPv6 literal %q", s[:end+1])
		}
		name = "[" + addr.String() + "]"
		rest := s[end+1:]
		if rest != "" {
			if rest[0] != ':' {
				return hostPattern{}, "", fmt.Errorf("unexpected %q after IPv6 literal", rest)
			}
			port = rest[1:]
			if port == "" {
				return hostPattern{}, "", errors.New(`empty port after ":"`)
			}
		}
	} else {
		if i := strings.LastIndexByte(s, ':'); i >= 0 {
			if strings.Count(s, ":") > 1 {
				return hostPattern{}, "", errors.New(`an IPv6 address must be written in brackets, as in "[::1]"`)
			}
			name, port = s[:i], s[i+1:]
			if port == "" {
				return hostPattern{}, "", errors.New(`empty port after ":"`)
			}
		}
		name = strings.TrimRight(name, ".")
		if err := checkHostName(name); err != nil {
			return hostPattern{}, "", err
		}
	}
	if port != "" {
		n, err := strconv.ParseUint(port, 10, 16)
		if err != nil || n == 0 {
			return hostPattern{}, "", fmt.Errorf("invalid port %q (want 1-65535)", port)
		}
		port = strconv.FormatUint(n, 10)
	}

	h := hostPattern{name: name, port: port, addr: addr}
	norm := name
	if strings.HasPrefix(name, "*.") {
		h.name, h.wildcard = name[1:], true
	}
	if port != "" {
		norm += ":" + port
	}
	return h, norm, nil
}

// checkHostName validates a DNS name, optionally starting with the wildcard
// label "*".
func checkHostName(name string) error {
	if name == "" {
		return errors.New("empty host name")
	}
	labels := strings.Split(name, ".")
	if labels[0] == "*" {
		if len(labels) == 1 {
			return errors.New(`"*" alone is not a host: leave host empty to match any host`)
		}
		labels = labels[1:]
	}
	for _, l := range labels {
		if l == "" {
			return errors.New("empty label")
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			switch {
			case 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '-', c == '_':
			case c == '*':
				return errors.New(`"*" is only allowed as the whole first label, as in "*.example.com"`)
			default:
				return fmt.Errorf("invalid character %q", string(c))
			}
		}
	}
	return nil
}

// reqHost is a request's host split into name and port. It refers to the
// request's own bytes: splitting never allocates.
type reqHost struct {
	name string // no userinfo, no port, no trailing dot; "" = unknown
	port string // without leading zeros; "" = none or unreadable
	// plain reports a host spelled as name[:port] with nothing dropped:
	// no userinfo, no trailing dot, a port (if any) in canonical digits.
	// Proxies route the other spellings to virtual hosts of their own
	// (Envoy keeps a trailing dot unless told to strip it), so only a
	// plain host can match an exception's host.
	plain bool
}

// parseRequestHost splits a request's Host or :authority value. It is
// lenient, since the request is what it is: userinfo is dropped, and a port
// that is not a number is ignored so the host still matches port-specific
// rules.
func parseRequestHost(h string) reqHost {
	plain := true
	if i := strings.LastIndexByte(h, '@'); i >= 0 {
		h, plain = h[i+1:], false
	}
	var port string
	hasPort := false
	if strings.HasPrefix(h, "[") {
		if i := strings.IndexByte(h, ']'); i >= 0 {
			if rest := h[i+1:]; rest != "" && rest[0] == ':' {
				port, hasPort = rest[1:], true
			} else if rest != "" {
				plain = false
			}
			h = h[:i+1]
		}
	} else if i := strings.IndexByte(h, ':'); i >= 0 && strings.IndexByte(h[i+1:], ':') < 0 {
		h, port, hasPort = h[:i], h[i+1:], true
	}
	name := strings.TrimRight(h, ".")
	r := reqHost{name: name, port: canonicalPort(port)}
	r.plain = plain && len(name) == len(h) && (!hasPort || port != "" && r.port == port && port != "0")
	return r
}

// canonicalPort strips leading zeros, so that "08443" names the same port as
// "8443", and returns "" for anything that is not a number.
func canonicalPort(p string) string {
	if p == "" || strings.TrimLeft(p, "0123456789") != "" {
		return ""
	}
	if q := strings.TrimLeft(p, "0"); q != "" {
		return q
	}
	return "0"
}

// admits reports whether the pattern admits host r. An unknown (empty) host
// is admitted: see entry.admit for how that is used.
func (h *hostPattern) admits(r reqHost) bool {
	if h.name == "" || r.name == "" {
		return true
	}
	if h.exact && (!r.plain || r.port != h.port && h.port != "") {
		return false
	}
	if h.port != "" && r.port != "" && h.port != r.port {
		return false
	}
	if h.addr.IsValid() {
		if h.equalFold(r.name, h.name) {
			return true
		}
		a, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(r.name, "["), "]"))
		return err == nil && a.Unmap() == h.addr.Unmap()
	}
	if !h.wildcard {
		return h.equalFold(r.name, h.name)
	}
	if n := len(r.name) - len(h.name); n > 0 && h.equalFold(r.name[n:], h.name) {
		return true
	}
	if h.exact || isASCII(r.name) {
		return false
	}
	// Case folding can change a character's length in bytes (the Kelvin sign
	// folds to "k"), so compare folded strings.
	f := foldString(r.name)
	return len(f) > len(h.name) && strings.HasSuffix(f, h.name)
}

// equalFold compares a request's host name with the pattern's name (lower
// case, ASCII), folding only ASCII letters when the pattern is exact.
func (h *hostPattern) equalFold(req, name string) bool {
	if !h.exact {
		return strings.EqualFold(req, name)
	}
	if len(req) != len(name) {
		return false
	}
	for i := 0; i < len(req); i++ {
		c := req[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != name[i] {
			return false
		}
	}
	return true
}

// oddHost reports whether a request's host holds a byte that no plainly
// spelled host has (name, port, userinfo, IPv6 literal): a percent escape,
// a non-ASCII character, white space and the like. An upstream may read
// such a host as another one (see hostReading).
func oddHost(h string) bool {
	for i := 0; i < len(h); i++ {
		if !hostByte[h[i]] {
			return true
		}
	}
	return false
}

// hostByte marks the bytes of a plainly spelled host.
var hostByte = func() (t [256]bool) {
	for c := 'a'; c <= 'z'; c++ {
		t[c], t[c-'a'+'A'] = true, true
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for _, c := range []byte(".-_:[]@") {
		t[c] = true
	}
	return t
}()

// hostMapping maps a host name as resolvers and URL parsers do (UTS #46,
// nontransitional): compatibility forms (full-width letters, digits and
// punctuation, ideographic full stops) and letter case, then Punycode for
// what is left beyond ASCII. Underscores stay allowed, as in rule hosts.
var hostMapping = idna.New(idna.MapForLookup(), idna.Transitional(false), idna.StrictDomainName(false))

// hostReading returns the host an upstream that decodes percent escapes
// (several times over) and maps names to their IDNA form would read an
// odd request host as, with its port; "" when it cannot be read, which
// stands for an unknown host. Rules requiring MFA then match the request
// under that reading as well; exceptions, which exempt only a plainly
// spelled host, never do.
func hostReading(h string) string {
	for i := 0; i < 4 && strings.IndexByte(h, '%') >= 0; i++ {
		d, err := url.PathUnescape(h)
		if err != nil {
			return ""
		}
		h = d
	}
	if strings.IndexByte(h, '%') >= 0 || strings.HasPrefix(h, "[") {
		return ""
	}
	if i := strings.LastIndexByte(h, '@'); i >= 0 {
		h = h[i+1:]
	}
	name, port := h, ""
	if i := strings.LastIndexByte(h, ':'); i >= 0 {
		name, port = h[:i], h[i:]
	}
	a, err := hostMapping.ToASCII(strings.TrimRight(name, "."))
	if err != nil || a == "" || oddHost(a) {
		return ""
	}
	return strings.ToLower(a) + port
}
