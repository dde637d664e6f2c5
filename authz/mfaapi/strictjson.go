package mfaapi

import (
	"encoding/json"
	"errors"
	"mime"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/mfa-authz/mfa-authz/authz"
)

// jsonContentType reports whether h declares a JSON body the endpoints
// read: exactly one Content-Type, application/json or JSON:API's
// application/vnd.api+json, in any letter case, with no parameter but a
// UTF-8 charset (and, for JSON:API, its ext and profile). Anything else,
// a missing Content-Type included, is refused: a browser sends a
// cross-site form or text/plain POST without asking the site first, and
// a proxy or firewall in front may read such a body otherwise than as
// JSON.
func jsonContentType(h authz.Header) bool {
	if h == nil {
		return false
	}
	v, n := h.Lookup("content-type")
	if n != 1 {
		return false
	}
	mt, params, err := mime.ParseMediaType(v)
	if err != nil || mt != "application/json" && mt != "application/vnd.api+json" {
		return false
	}
	for k, p := range params {
		switch {
		case k == "charset" && strings.EqualFold(p, "utf-8"):
		case (k == "ext" || k == "profile") && mt == "application/vnd.api+json":
		default:
			return false
		}
	}
	return true
}

// members are the member names an endpoint reads at one level of its
// body, each with the members read inside its object value (nil: none).
type members map[string]members

// bodyMembers are the members the POST endpoints read.
var bodyMembers = members{"data": {"type": nil, "attributes": {"type": nil, "destination": nil}}}

// maxBodyDepth bounds the nesting of a body; the endpoints' documents are
// three levels deep.
const maxBodyDepth = 32

var (
	errDuplicateMember = errors.New("duplicate member name")
	errMemberCase      = errors.New("member name in another letter case")
	errBodyDepth       = errors.New("body nested too deeply")
)

// strictMembers reads one JSON value from dec and refuses one in which an
// object names a member twice, or names a member the endpoint reads
// (known, at its level) in another letter case. encoding/json takes the
// last of repeated members and matches names regardless of case, with
// Unicode's simple folding ("ſ" is "s", the Kelvin sign "k"), so without
// this a body could mean one thing to mfa-authz and another to anything
// else that reads it; upperName catches what other parsers' case mapping
// makes of a name ("ı" upper-cases to "I").
func strictMembers(dec *json.Decoder, known members, depth int) error {
	if depth > maxBodyDepth {
		return errBodyDepth
	}
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	switch tok {
	case json.Delim('{'):
		seen := map[string]bool{}
		for dec.More() {
			kt, err := dec.Token()
			if err != nil {
				return err
			}
			key, _ := kt.(string)
			if seen[key] {
				return errDuplicateMember
			}
			seen[key] = true
			var inner members
			for name, sub := range known {
				switch {
				case key == name:
					inner = sub
				case strings.EqualFold(key, name) || upperName(key) == upperName(name):
					return errMemberCase
				}
			}
			if err := strictMembers(dec, inner, depth+1); err != nil {
				return err
			}
		}
		_, err = dec.Token()
		return err
	case json.Delim('['):
		for dec.More() {
			if err := strictMembers(dec, nil, depth+1); err != nil {
				return err
			}
		}
		_, err = dec.Token()
		return err
	}
	return nil
}

// upperName maps a member name to the upper case of its lower case, rune
// by rune.
func upperName(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r < utf8.RuneSelf:
			if 'a' <= r && r <= 'z' {
				r -= 'a' - 'A'
			}
		default:
			r = unicode.ToUpper(unicode.ToLower(r))
		}
		b.WriteRune(r)
	}
	return b.String()
}
