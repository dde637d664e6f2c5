package httpsyntax

import "testing"

func TestEqualFold(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want bool
	}{
		{"X-MFA-Code", "x-mfa-code", true},
		{"x-mfa-code", "X-MFA-CODE", true},
		{"", "", true},
		{"x-mfa-code", "x-mfa-cod", false},
		{"x-mfa-code", "x-mfa-codf", false},
		{"\u212a", "k", false}, // Kelvin sign: Unicode folding only
		{"x-mfa-\u212a", "x-mfa-k", false},
		{"[", "{", false}, // 0x5b and 0x7b differ by 0x20 but are not letters
		{"@", "`", false},
	} {
		if got := EqualFold(tc.a, tc.b); got != tc.want {
			t.Errorf("EqualFold(%q, %q) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
}

func TestIsToken(t *testing.T) {
	for _, s := range []string{"GET", "delete", "M-SEARCH", "x!#$%&'*+-.^_`|~9"} {
		if !IsToken(s) {
			t.Errorf("IsToken(%q) = false, want true", s)
		}
	}
	for _, s := range []string{"", "GET ", " GET", "GE\tT", "a/b", "a:b", "a\"b", "a(b", "a,b", "a;b", "a=b", "a?b", "a@b", "a[b", "a\\b", "a]b", "a{b", "a}b", "a<b", "a>b", "\x7f", "\x00", "G\u00c9T", "\u212aEY"} {
		if IsToken(s) {
			t.Errorf("IsToken(%q) = true, want false", s)
		}
	}
}
