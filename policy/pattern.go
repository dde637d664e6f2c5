package policy

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// segKind is the kind of one pattern segment.
type segKind uint8

const (
	segLiteral segKind = iota // matches itself
	segOne                    // {name} or *: exactly one non-empty segment
	segRest                   // trailing **: zero or more segments
)

// patternSeg is one segment of a compiled pattern.
type patternSeg struct {
	kind segKind
	lit  string // the literal, case-folded when the policy is case-insensitive
}

// parsePattern validates a rule's path pattern and splits it into segments.
// Literal segments are folded when fold is true, so they compare equal to
// folded request segments.
func parsePattern(pat string, fold bool) ([]patternSeg, error) {
	if pat == "" {
		return nil, errors.New("path is required")
	}
	if pat[0] != '/' {
		return nil, errors.New(`must start with "/"`)
	}
	if !utf8.ValidString(pat) {
		return nil, errors.New("not valid UTF-8")
	}
	for i, c := range pat {
		switch {
		case c == '?' || c == '#' || c == '%' || c == '\\' || c == ';':
			// Requests are matched on decoded segments without query,
			// fragment or ;params, so such a pattern could never match as
			// written.
			return nil, fmt.Errorf(`invalid character %q at offset %d (a pattern cannot contain "?", "#", "%%", "\" or ";"; write characters unescaped)`, string(c), i)
		case c <= ' ' || c == 0x7f || (c >= 0x80 && c <= 0x9f) || c == utf8.RuneError:
			return nil, fmt.Errorf("invalid character %q at offset %d", string(c), i)
		}
	}

	if strings.Contains(pat, "//") {
		return nil, errors.New(`empty segment ("//")`)
	}
	// A trailing slash is insignificant, as it is in requests.
	body := strings.TrimSuffix(pat[1:], "/")
	if body == "" {
		return nil, nil // "/" matches the root only
	}
	raw := strings.Split(body, "/")
	segs := make([]patternSeg, 0, len(raw))
	for i, s := range raw {
		last := i == len(raw)-1
		switch {
		case s == "." || s == "..":
			return nil, fmt.Errorf("dot segment %q (requests are matched after dot segments are resolved)", s)
		case s == "**":
			if !last {
				return nil, errors.New(`"**" is only allowed as the last segment`)
			}
			segs = append(segs, patternSeg{kind: segRest})
		case s == "*":
			segs = append(segs, patternSeg{kind: segOne})
		case strings.HasPrefix(s, "{") && strings.HasSuffix(s, "}") && len(s) >= 2:
			name := s[1 : len(s)-1]
			if name == "" {
				return nil, fmt.Errorf("empty parameter name in %q", s)
			}
			if !isParamName(name) {
				return nil, fmt.Errorf("invalid parameter name %q (use letters, digits, \"_\", \"-\" and \".\")", name)
			}
			segs = append(segs, patternSeg{kind: segOne})
		case strings.Contains(s, "{") && !strings.Contains(s, "}"):
			return nil, fmt.Errorf("unterminated parameter %q", s)
		case strings.Contains(s, "}") && !strings.Contains(s, "{"):
			return nil, fmt.Errorf(`unmatched "}" in segment %q`, s)
		case strings.ContainsAny(s, "{}*"):
			return nil, fmt.Errorf("segment %q mixes literal text with a parameter or wildcard (they must be whole segments)", s)
		default:
			if fold {
				s = foldString(s)
			}
			segs = append(segs, patternSeg{kind: segLiteral, lit: s})
		}
	}
	return segs, nil
}

// isParamName reports whether s is a valid parameter name. The syntax is
// deliberately narrow: "{id:[0-9]+}" looks like a constraint this package
// does not implement, and is better rejected than silently ignored.
func isParamName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '_' || c == '-' || c == '.':
		default:
			return false
		}
	}
	return true
}
