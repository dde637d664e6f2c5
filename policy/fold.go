package policy

import "strings"

// foldString folds the case of s for case-insensitive matching. Beyond
// ASCII, it maps to upper case and back to lower case, so that characters
// some frameworks treat as equal under an upper-case comparison match too:
// "ſ" (long s) folds to "s" and the Kelvin sign to "k".
func foldString(s string) string {
	if isASCII(s) {
		return strings.ToLower(s)
	}
	return strings.ToLower(strings.ToUpper(s))
}

// isASCII reports whether s is all ASCII.
func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
