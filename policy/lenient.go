package policy

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// This file holds the lenient readings added for upstreams that route on
// more than the decoded path: front controllers, Unicode compatibility
// forms, invisible characters, Windows short names and "scheme:" prefixes.

// DefaultFrontControllers are the script names read as front controllers
// when Config.FrontControllers is nil. PHP frameworks (Symfony, which
// Spryker uses, Laravel, CodeIgniter, Yii, Drupal…) are served by one
// script and route its PATH_INFO, so "/index.php/carts/1" reaches the
// route "/carts/1". index.php is every one of them; app.php and app_dev.php
// are the production and debug front controllers of Symfony before 4.
// Names that are not scripts, such as index.html, are left out: no server
// routes the path after a static file.
var DefaultFrontControllers = []string{"index.php", "app.php", "app_dev.php"}

// defaultMask is the lengthMask of DefaultFrontControllers, for Readings.
var defaultMask = lengthMask(DefaultFrontControllers)

// compileFrontControllers validates the configured front-controller names
// and returns them folded; nil names the defaults.
func compileFrontControllers(names []string) ([]string, []error) {
	if names == nil {
		names = DefaultFrontControllers
	}
	var errs []error
	out := make([]string, 0, len(names))
	for i, n := range names {
		if err := checkFrontController(n); err != nil {
			errs = append(errs, fmt.Errorf("policy.front_controllers[%d] (%q): %w", i, n, err))
			continue
		}
		out = append(out, frontControllerKey(n))
	}
	return out, errs
}

// checkFrontController accepts a single plain segment: a name a request
// could spell as one decoded segment.
func checkFrontController(n string) error {
	switch {
	case n == "":
		return errors.New("must not be empty")
	case n == "." || n == "..":
		return errors.New("must not be a dot segment")
	case !utf8.ValidString(n):
		return errors.New("not valid UTF-8")
	}
	for _, c := range n {
		if c <= ' ' || c == 0x7f || strings.ContainsRune(`/\%?#;`, c) {
			return fmt.Errorf(`invalid character %q (write one plain segment, without "/", "\", "%%", "?", "#", ";" or white space)`, string(c))
		}
	}
	return nil
}

// frontControllerKey is how a segment is compared with front-controller
// names: compatibility forms folded, then case.
func frontControllerKey(s string) string {
	if !isASCII(s) {
		s = norm.NFKC.String(s)
	}
	return foldString(s)
}

// isFrontController reports whether the decoded segment seg names one of
// fc (folded names).
func isFrontController(seg string, fc []string) bool {
	for _, name := range fc {
		if len(seg) == len(name) && strings.EqualFold(seg, name) {
			return true
		}
	}
	if isASCII(seg) {
		return false
	}
	k := frontControllerKey(seg)
	for _, name := range fc {
		if k == name {
			return true
		}
	}
	return false
}

// lengthMask returns a mask with bit n set for every name of n < 64 bytes
// in fc, and bit 63 for longer ones: a clean (ASCII) segment whose length
// is not in the mask names no front controller, which spares the fast
// path any comparison.
func lengthMask(fc []string) uint64 {
	var m uint64
	for _, n := range fc {
		m |= 1 << min(len(n), 63)
	}
	return m
}

// isASCIIFrontController is isFrontController for an ASCII segment, as
// clean paths have: a byte-wise comparison that stops at the first
// difference, cheap enough for the fast path.
func isASCIIFrontController(seg string, fc []string) bool {
next:
	for _, name := range fc {
		if len(name) != len(seg) {
			continue
		}
		for i := 0; i < len(seg); i++ {
			c := seg[i]
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			if c != name[i] {
				continue next
			}
		}
		return true
	}
	return false
}

// addFrontControllerReadings adds the readings of resolved segments that
// name front controllers: without any of them (the script removed
// wherever it stands, as when an application lives below a directory), and
// the path after the first one (the script's PATH_INFO, routed by an
// application at the root). Both are lenient: exceptions do not admit them.
func (rs *readingSet) addFrontControllerReadings(segs []string, v variant) {
	first := -1
	var without []string
	for i, s := range segs {
		if s == "" || !isFrontController(s, rs.fc) {
			continue
		}
		if first < 0 {
			first = i
			without = append(make([]string, 0, len(segs)), segs[:i]...)
		}
	}
	if first < 0 {
		return
	}
	for _, s := range segs[first:] {
		if s != "" && !isFrontController(s, rs.fc) {
			without = append(without, s)
		}
	}
	rs.add(joinReading(without, v), true)
	rs.add(joinReading(segs[first+1:], v), true)
}

// compat reads s as an upstream that folds Unicode compatibility forms
// does: default-ignorable characters (zero-width space and joiners, soft
// hyphen, byte-order mark, direction marks, variation selectors…) removed,
// then NFKC, which maps full-width letters, digits and punctuation
// ("／", "．", "；") and other compatibility characters to their plain
// forms.
func compat(s string) string {
	if isASCII(s) {
		return s
	}
	// Bytes that are not UTF-8 are kept as they are, for the other
	// choices to judge; the valid runs between them are folded.
	var b []byte
	start := 0 // of the current valid run
	flush := func(end int) {
		run := strings.Map(func(r rune) rune {
			if isIgnorable(r) {
				return -1
			}
			return r
		}, s[start:end])
		b = norm.NFKC.AppendString(b, run)
	}
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			flush(i)
			b = append(b, s[i])
			start = i + 1
		}
		i += n
	}
	flush(len(s))
	return string(b)
}

// isIgnorable reports whether r is a default-ignorable code point, or
// another format character an upstream may drop: Unicode's
// Default_Ignorable_Code_Point is built from these classes.
func isIgnorable(r rune) bool {
	return unicode.Is(unicode.Cf, r) || unicode.Is(unicode.Other_Default_Ignorable_Code_Point, r) ||
		unicode.Is(unicode.Variation_Selector, r)
}

// cutBareScheme reports whether p starts with a scheme and ":" but no
// "//" ("http:/carts/1", "https:carts/1", `HTTP:\carts\1`), which lenient
// URL parsers read as the path after the colon, and returns that path.
func cutBareScheme(p string) (string, bool) {
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
		case i > 0 && ('0' <= c && c <= '9' || c == '+' || c == '-' || c == '.'):
		case i > 0 && c == ':':
			return p[i+1:], true
		default:
			return "", false
		}
	}
	return "", false
}

// shortName splits a segment of the form of a Windows 8.3 short name,
// PREFIX~N with an optional extension of up to three characters
// ("CUSTOM~1", "CHECKO~1.JSO"), and returns its folded prefix.
func shortName(seg string) (string, bool) {
	i := strings.IndexByte(seg, '~')
	if i < 1 || i > 6 {
		return "", false
	}
	j := i + 1
	for j < len(seg) && '0' <= seg[j] && seg[j] <= '9' {
		j++
	}
	if j == i+1 {
		return "", false
	}
	if j < len(seg) && (seg[j] != '.' || len(seg)-j-1 > 3) {
		return "", false
	}
	return foldString(seg[:i]), true
}

// shortNameMatches reports whether a file named lit (folded) could have the
// short name whose folded prefix is prefix. Windows builds the prefix from
// the name's first characters without dots and spaces; when names collide
// it uses two characters and four hexadecimal digits of a hash instead.
func shortNameMatches(prefix, lit string) bool {
	name := strings.NewReplacer(".", "", " ", "").Replace(lit)
	if len(name) <= len(prefix) {
		return false
	}
	if strings.HasPrefix(name, prefix) {
		return true
	}
	return len(prefix) == 6 && isHexString(prefix[2:]) && strings.HasPrefix(name, prefix[:2])
}

func isHexString(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isHex(s[i]) {
			return false
		}
	}
	return true
}

// walkShort matches seg, a Windows short name, with every literal child of
// n whose name it could stand for. Exceptions are not admitted on such a
// walk (see query.short). Every node is still reached by consuming as many
// segments as its depth, so the walk visits each node at most once more.
func (q *query) walkShort(n *node, seg, rest string) {
	prefix, ok := shortName(seg)
	if !ok {
		return
	}
	saved := q.short
	q.short = true
	for lit, c := range n.lit {
		key := lit
		if !q.fold {
			key = foldString(lit)
		}
		if c.min < q.best && key != foldString(seg) && shortNameMatches(prefix, key) {
			q.walk(c, rest)
		}
	}
	q.short = saved
}
