package policy

import (
	"fmt"
	"slices"
	"strings"
)

// methodBits is a set of the standard methods, one bit each, so that the
// common check is a single AND.
type methodBits uint16

const (
	mGet methodBits = 1 << iota
	mHead
	mPost
	mPut
	mPatch
	mDelete
	mOptions
	mConnect
	mTrace
)

// defaultMethods are the methods a rule applies to when it lists none: the
// ones that change state.
var defaultMethods = []string{"POST", "PUT", "PATCH", "DELETE"}

var standardMethods = [...]struct {
	name string
	bit  methodBits
}{
	{"GET", mGet}, {"HEAD", mHead}, {"POST", mPost}, {"PUT", mPut},
	{"PATCH", mPatch}, {"DELETE", mDelete}, {"OPTIONS", mOptions},
	{"CONNECT", mConnect}, {"TRACE", mTrace},
}

// methodBit returns the bit of a standard method, compared
// case-insensitively, or 0 for any other method.
func methodBit(m string) methodBits {
	// The switch catches the usual upper-case spelling without a loop.
	switch m {
	case "GET":
		return mGet
	case "POST":
		return mPost
	case "PUT":
		return mPut
	case "PATCH":
		return mPatch
	case "DELETE":
		return mDelete
	case "HEAD":
		return mHead
	case "OPTIONS":
		return mOptions
	}
	for _, s := range standardMethods {
		if strings.EqualFold(s.name, m) {
			return s.bit
		}
	}
	return 0
}

// methodSet is the set of methods a rule applies to.
type methodSet struct {
	any   bool       // "*": every method
	bits  methodBits // standard methods
	other []string   // extension methods, upper case
}

// has reports whether the set contains method m, whose standard-method bit
// (from methodBit) is bit.
func (s *methodSet) has(m string, bit methodBits) bool {
	if s.any {
		return true
	}
	if bit != 0 {
		return s.bits&bit != 0
	}
	for _, o := range s.other {
		if strings.EqualFold(o, m) {
			return true
		}
	}
	return false
}

// parseMethods validates the methods of a rule and returns the set and its
// normalized listing (upper case, duplicates removed, in configured order).
func parseMethods(ms []string) (methodSet, []string, []error) {
	if len(ms) == 0 {
		ms = defaultMethods
	}
	var (
		set  methodSet
		list []string
		errs []error
	)
	for i, m := range ms {
		switch {
		case m == "":
			errs = append(errs, fmt.Errorf("methods[%d]: empty method", i))
			continue
		case m == "*":
			set.any = true
		case !isToken(m) || strings.Contains(m, "*"):
			errs = append(errs, fmt.Errorf("methods[%d]: invalid method %q (want an HTTP method such as POST, or \"*\" for every method)", i, m))
			continue
		}
		m = strings.ToUpper(m)
		if slices.Contains(list, m) {
			continue
		}
		list = append(list, m)
		if bit := methodBit(m); bit != 0 {
			set.bits |= bit
		} else if m != "*" {
			set.other = append(set.other, m)
		}
	}
	return set, list, errs
}

// isToken reports whether s is an HTTP token (RFC 9110, section 5.6.2).
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}
