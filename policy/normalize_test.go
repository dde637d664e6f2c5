package policy

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestReadings(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		// Clean paths.
		{"", []string{"/"}},
		{"/", []string{"/"}},
		{"/customer-password/DE--42", []string{"/customer-password/DE--42"}},
		{"/customer-password/DE--42/", []string{"/customer-password/DE--42"}},
		{"/customer-password/DE--42?x=1/../y", []string{"/customer-password/DE--42"}},
		{"/v1:batch/@me", []string{"/v1:batch/@me"}},
		{"/app.js", []string{"/app.js", "/app"}},
		{"/a/b.c.d", []string{"/a/b.c.d", "/a/b.c"}},
		{"/.well-known/x", []string{"/.well-known/x"}},
		{"/.htaccess", []string{"/.htaccess"}},
		{"/a/v1.2-beta", []string{"/a/v1.2-beta"}},

		// Targets that are not origin-form.
		{"*", []string{"/*"}},
		{"customer-password/DE--42", []string{"/customer-password/DE--42"}},
		{"https://shop.example.com/customer-password/DE--42", []string{"/customer-password/DE--42"}},
		{"HTTP://shop.example.com:8080", []string{"/"}},
		{"//customer-password//DE--42", []string{"/customer-password/DE--42", "/DE--42"}},
		{`//evil.com\x/y`, []string{"/evil.com%5Cx/y", "/evil.com/x/y", "/y", "/x/y"}},
		{"/customer-password/DE--42#frag", []string{"/customer-password/DE--42", "/customer-password/DE--42%23frag"}},

		// Dot segments, plain and encoded, never above the root.
		{"/./customer-password/DE--42", []string{"/customer-password/DE--42"}},
		{"/foo/../customer-password/DE--42", []string{"/customer-password/DE--42"}},
		{"/../../a", []string{"/a"}},
		{"/a/b/..", []string{"/a"}},
		{"/foo/%2e%2e/bar", []string{"/bar"}},
		{"/foo/.%2E/bar", []string{"/bar"}},
		{"/%2e/bar", []string{"/bar"}},
		{"/x//../y", []string{"/x/y", "/y"}},
		{"/a/.../b", []string{"/a/.../b"}},

		// Percent-decoding.
		{"/customer%2dpassword/%44E--42", []string{"/customer-password/DE--42"}},
		{"/caf%C3%A9", []string{"/café"}},
		{"/a%21b%3Ac", []string{"/a!b:c"}},
		{"/a%3Fb%23c", []string{"/a%3Fb%23c"}},
		{"/a%25b", []string{"/a%25b", "/a"}}, // "%b" is an invalid escape after a second round
		{"/%252e/x", []string{"/%252e/x", "/x"}},
		{"/%25252e%25252e/x", []string{"/%25252e%25252e/x", "/x"}},
		{"/%25%32%65%25%32%65/x", []string{"/%252e%252e/x", "/x"}},

		// Separators.
		{`\a\b`, []string{"/%5Ca%5Cb", "/a/b"}},
		{"/a%2fb", []string{"/a%2Fb", "/a/b"}},
		{"/a%5Cb", []string{"/a%5Cb", "/a/b"}},
		{"/a%2F%2F..%2Fb", []string{"/a%2F%2F..%2Fb", "/a/b", "/b"}},
		{"/a%252Fb", []string{"/a%252Fb", "/a%2Fb", "/a/b"}},

		// What frameworks strip.
		{"/a;x=1/b", []string{"/a;x=1/b", "/a/b"}},
		{"/a/b;x", []string{"/a/b;x", "/a/b"}},
		{"/..;/x", []string{"/..;/x", "/x"}},
		{"/a%3Bx/b", []string{"/a;x/b", "/a/b"}},
		{"/a./b", []string{"/a./b", "/a/b"}},
		{"/a%20/b", []string{"/a%20/b", "/a/b"}},
		{"/a%09/b", []string{"/a%09/b", "/a/b", "/a"}},
		{"/%20a/b", []string{"/%20a/b", "/a/b"}},
		{"/a/b.json", []string{"/a/b.json", "/a/b"}},
		{"/a+/b", []string{"/a+/b", "/a/b"}},
		{"/a%2B/b", []string{"/a+/b", "/a/b"}},
		{"/x/%C0%AE%C0%AE/a", []string{"/x/%C0%AE%C0%AE/a", "/a", "/x"}},
		{"/x/%C0%AE%E0%80%AE%C0%AFa", []string{"/x/%C0%AE%E0%80%AE%C0%AFa", "/x/..%2Fa", "/a", "/x"}},

		// Truncation and sanitizing.
		{"/a/b%00.png", []string{"/a/b%00.png", "/a/b"}},
		{"/a/b\x00.png", []string{"/a/b%00.png", "/a/b"}},
		{"/a/b%00c", []string{"/a/b%00c", "/a/bc", "/a/b"}},
		{"/a/b%zz", []string{"/a/b%25zz", "/a/b"}},
		{"/a/b%4", []string{"/a/b%254", "/a/b"}},
		{"/a%zz/b", []string{"/a%25zz/b", "/a"}},
		{"/a\xff/b", []string{"/a%FF/b", "/a/b", "/a"}},
		{"/a%FF/b", []string{"/a%FF/b", "/a/b", "/a"}},
		{"/a/..%00/b", []string{"/a/..%00/b", "/b", "/"}},
	}
	for _, tt := range tests {
		if got := Readings(tt.in); !equalStrings(got, tt.want) {
			t.Errorf("Readings(%q)\n got %q\nwant %q", tt.in, got, tt.want)
		}
	}
}

func TestReadingsLimits(t *testing.T) {
	if got := Readings("/" + strings.Repeat("a", maxPathLen)); got != nil {
		t.Errorf("Readings of a path over the length limit = %d readings, want nil", len(got))
	}
	if got := Readings("/" + strings.Repeat("a", maxPathLen-1) + "?" + strings.Repeat("q", maxPathLen)); len(got) != 1 {
		t.Errorf("Readings of a path at the limit with a long query = %d readings, want 1", len(got))
	}
	if got := Readings("//h/%252e%252e;x/a%2f..%5c.. /b%00/c%zz\xff#f"); got != nil {
		t.Errorf("Readings of a path with too many readings = %q, want nil", got)
	}
}

// The clean-path shortcut must give exactly the readings of the general
// algorithm.
func TestCleanReadingsAgree(t *testing.T) {
	for _, in := range []string{
		"/", "/a", "/a/", "/a/b", "/a/b.json", "/a.b/c", "/.well-known/x", "/a/.x", "/a/..x",
		"/a/b.c-d", "/a/b.", "/a/.", "/a/..", "/a//b", "//a", "/a?x", "/a/?x", "/a.json?x", "/A/B.C",
		"/a:b@c/!$&'()*+,=~_-", "/a/b..c", "/a/b.c.d",
	} {
		var clean [2]string
		n := cleanReadings(in, &clean, DefaultFrontControllers, defaultMask)
		var rs readingSet
		rs.build(in)
		if n > 0 && !equalStrings(clean[:n], rs.paths) {
			t.Errorf("%q: clean readings %q, general readings %q", in, clean[:n], rs.paths)
		}
	}
}

// checkReading reports what is wrong with a reading, if anything.
func checkReading(r string) string {
	switch {
	case !strings.HasPrefix(r, "/"):
		return "does not start with /"
	case r != "/" && strings.HasSuffix(r, "/"):
		return "ends with /"
	case strings.Contains(r, "//"):
		return "has an empty segment"
	case !utf8.ValidString(r):
		return "is not UTF-8"
	case strings.ContainsAny(r, "?#\\ \x00\t\r\n"):
		return "has a character that should be escaped"
	}
	for _, s := range strings.Split(r[1:], "/") {
		if s == "." || s == ".." {
			return "has a dot segment"
		}
	}
	return ""
}
