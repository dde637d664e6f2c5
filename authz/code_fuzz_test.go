package authz_test

import (
	"strings"
	"testing"

	"github.com/mfa-authz/mfa-authz/authz"
)

// FuzzParseCode checks that ParseCode never panics and that whatever it
// accepts is one unambiguous (method, code): a known method or "", a code
// of ASCII digits (recovery codes: ASCII letters, digits and '-'), taken
// from the value as written, within the length limit.
func FuzzParseCode(f *testing.F) {
	for _, s := range []string{
		"123456", " 123456 ", "\t654321\t", "12345678", "email 123456", "TOTP 123456", "Sms 000000",
		"recovery ab12-cd34", "recovery AB12-CD34-ef56", "", " ", "totp", "totp ", " totp 1", "push 123456",
		"totp  123456", "12 34 56", "１２３４５６", "١٢٣٤٥٦", "-123456", "+123456", "123456\x00", "123456\r\n",
		"recovery a_b", "recovery ", "email", "totp\t123456", "totp 12a456", "0x123456",
		strings.Repeat("1", authz.MaxCodeHeaderLength), strings.Repeat("1", authz.MaxCodeHeaderLength+1),
		"recovery " + strings.Repeat("a", authz.MaxCodeHeaderLength-9), "\u00a0123456", "ＴＯＴＰ 123456",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, value string) {
		method, code, ok := authz.ParseCode(value)
		if !ok {
			if method != "" || code != "" {
				t.Fatalf("ParseCode(%q) = %q, %q, false: a refusal must return nothing", value, method, code)
			}
			return
		}
		switch method {
		case "", "totp", "email", "sms":
			if !asciiDigits(code) {
				t.Fatalf("ParseCode(%q) accepted code %q for method %q: not ASCII digits", value, code, method)
			}
		case "recovery":
			if !recoveryCharset(code) {
				t.Fatalf("ParseCode(%q) accepted recovery code %q: not ASCII letters, digits and '-'", value, code)
			}
		default:
			t.Fatalf("ParseCode(%q) accepted unknown method %q", value, method)
		}
		trimmed := strings.Trim(value, " \t")
		if len(trimmed) > authz.MaxCodeHeaderLength {
			t.Fatalf("ParseCode(%q) accepted %d bytes, limit %d", value, len(trimmed), authz.MaxCodeHeaderLength)
		}
		// The code is the value's last word, as written; the method its
		// first, in any case.
		if !strings.HasSuffix(trimmed, code) {
			t.Fatalf("ParseCode(%q): code %q is not how the value ends", value, code)
		}
		if method == "" && trimmed != code {
			t.Fatalf("ParseCode(%q): bare code %q is not the whole value", value, code)
		}
		if method != "" && !strings.EqualFold(trimmed, method+" "+code) {
			t.Fatalf("ParseCode(%q) = %q, %q: not exactly \"<method> <code>\"", value, method, code)
		}
		// Parsing is stable: the canonical spelling parses to the same.
		canon := code
		if method != "" {
			canon = method + " " + code
		}
		if m2, c2, ok2 := authz.ParseCode(canon); !ok2 || m2 != method || c2 != code {
			t.Fatalf("ParseCode(%q) = %q, %q, %t, but ParseCode(%q) = %q, %q, %t", value, method, code, ok, canon, m2, c2, ok2)
		}
	})
}

func asciiDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func recoveryCharset(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '-') {
			return false
		}
	}
	return true
}
