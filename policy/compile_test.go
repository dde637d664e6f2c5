package policy

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestCompileErrors(t *testing.T) {
	rule := func(rc RuleConfig) Config { return Config{Rules: []RuleConfig{{Path: "/ok"}, rc}} }
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"anonymous", Config{Anonymous: "maybe"}, `policy.anonymous: invalid value "maybe" (want "deny" or "allow")`},
		{"anonymous case", Config{Anonymous: "Allow"}, `policy.anonymous: invalid value "Allow" (want "deny" or "allow")`},

		{"no path", rule(RuleConfig{}), `policy.rules[1] (path ""): path is required`},
		{"relative", rule(RuleConfig{Path: "checkout"}), `policy.rules[1] (path "checkout"): must start with "/"`},
		{"brace", rule(RuleConfig{Path: "/x/{"}), `policy.rules[1] (path "/x/{"): unterminated parameter "{"`},
		{"named", rule(RuleConfig{Name: "pw", Path: "/x/{id"}), `policy.rules[1] (name "pw", path "/x/{id"): unterminated parameter "{id"`},
		{"unterminated mid", rule(RuleConfig{Path: "/x/{id/y"}), `policy.rules[1] (path "/x/{id/y"): unterminated parameter "{id"`},
		{"empty param", rule(RuleConfig{Path: "/x/{}"}), `policy.rules[1] (path "/x/{}"): empty parameter name in "{}"`},
		{"constraint", rule(RuleConfig{Path: "/x/{id:[0-9]+}"}), `policy.rules[1] (path "/x/{id:[0-9]+}"): invalid parameter name "id:[0-9]+" (use letters, digits, "_", "-" and ".")`},
		{"nested", rule(RuleConfig{Path: "/x/{{id}}"}), `policy.rules[1] (path "/x/{{id}}"): invalid parameter name "{id}" (use letters, digits, "_", "-" and ".")`},
		{"unmatched", rule(RuleConfig{Path: "/x}"}), `policy.rules[1] (path "/x}"): unmatched "}" in segment "x}"`},
		{"mixed param", rule(RuleConfig{Path: "/a{b}"}), `policy.rules[1] (path "/a{b}"): segment "a{b}" mixes literal text with a parameter or wildcard (they must be whole segments)`},
		{"mixed param after", rule(RuleConfig{Path: "/{a}b"}), `policy.rules[1] (path "/{a}b"): segment "{a}b" mixes literal text with a parameter or wildcard (they must be whole segments)`},
		{"mixed star", rule(RuleConfig{Path: "/a*"}), `policy.rules[1] (path "/a*"): segment "a*" mixes literal text with a parameter or wildcard (they must be whole segments)`},
		{"triple star", rule(RuleConfig{Path: "/***"}), `policy.rules[1] (path "/***"): segment "***" mixes literal text with a parameter or wildcard (they must be whole segments)`},
		{"inner rest", rule(RuleConfig{Path: "/**/x"}), `policy.rules[1] (path "/**/x"): "**" is only allowed as the last segment`},
		{"empty segment", rule(RuleConfig{Path: "/a//b"}), `policy.rules[1] (path "/a//b"): empty segment ("//")`},
		{"double slash", rule(RuleConfig{Path: "//"}), `policy.rules[1] (path "//"): empty segment ("//")`},
		{"dot dot", rule(RuleConfig{Path: "/a/../b"}), `policy.rules[1] (path "/a/../b"): dot segment ".." (requests are matched after dot segments are resolved)`},
		{"dot", rule(RuleConfig{Path: "/./b"}), `policy.rules[1] (path "/./b"): dot segment "." (requests are matched after dot segments are resolved)`},
		{"query", rule(RuleConfig{Path: "/a?b"}), `policy.rules[1] (path "/a?b"): invalid character "?" at offset 2 (a pattern cannot contain "?", "#", "%", "\" or ";"; write characters unescaped)`},
		{"fragment", rule(RuleConfig{Path: "/a#b"}), `policy.rules[1] (path "/a#b"): invalid character "#" at offset 2 (a pattern cannot contain "?", "#", "%", "\" or ";"; write characters unescaped)`},
		{"escape", rule(RuleConfig{Path: "/a%2Fb"}), `policy.rules[1] (path "/a%2Fb"): invalid character "%" at offset 2 (a pattern cannot contain "?", "#", "%", "\" or ";"; write characters unescaped)`},
		{"backslash", rule(RuleConfig{Path: `/a\b`}), `policy.rules[1] (path "/a\\b"): invalid character "\\" at offset 2 (a pattern cannot contain "?", "#", "%", "\" or ";"; write characters unescaped)`},
		{"params", rule(RuleConfig{Path: "/a;b"}), `policy.rules[1] (path "/a;b"): invalid character ";" at offset 2 (a pattern cannot contain "?", "#", "%", "\" or ";"; write characters unescaped)`},
		{"space", rule(RuleConfig{Path: "/a b"}), `policy.rules[1] (path "/a b"): invalid character " " at offset 2`},
		{"control", rule(RuleConfig{Path: "/a\tb"}), `policy.rules[1] (path "/a\tb"): invalid character "\t" at offset 2`},
		{"utf8", rule(RuleConfig{Path: "/a\xffb"}), `policy.rules[1] (path "/a\xffb"): not valid UTF-8`},

		{"host star", rule(RuleConfig{Path: "/x", Host: "*"}), `policy.rules[1] (path "/x"): host "*": "*" alone is not a host: leave host empty to match any host`},
		{"host inner star", rule(RuleConfig{Path: "/x", Host: "a*.example.com"}), `policy.rules[1] (path "/x"): host "a*.example.com": "*" is only allowed as the whole first label, as in "*.example.com"`},
		{"host late star", rule(RuleConfig{Path: "/x", Host: "a.*.example.com"}), `policy.rules[1] (path "/x"): host "a.*.example.com": "*" is only allowed as the whole first label, as in "*.example.com"`},
		{"host url", rule(RuleConfig{Path: "/x", Host: "https://shop.example.com"}), `policy.rules[1] (path "/x"): host "https://shop.example.com": must be a host name with an optional port, not a URL`},
		{"host label", rule(RuleConfig{Path: "/x", Host: "a..b"}), `policy.rules[1] (path "/x"): host "a..b": empty label`},
		{"host char", rule(RuleConfig{Path: "/x", Host: "ex ample.com"}), `policy.rules[1] (path "/x"): host "ex ample.com": invalid character " "`},
		{"host ascii", rule(RuleConfig{Path: "/x", Host: "shöp.example"}), `policy.rules[1] (path "/x"): host "shöp.example": must be ASCII: write an internationalized name in its xn-- form`},
		{"host port zero", rule(RuleConfig{Path: "/x", Host: "shop.example.com:0"}), `policy.rules[1] (path "/x"): host "shop.example.com:0": invalid port "0" (want 1-65535)`},
		{"host port big", rule(RuleConfig{Path: "/x", Host: "shop.example.com:65536"}), `policy.rules[1] (path "/x"): host "shop.example.com:65536": invalid port "65536" (want 1-65535)`},
		{"host port text", rule(RuleConfig{Path: "/x", Host: "shop.example.com:https"}), `policy.rules[1] (path "/x"): host "shop.example.com:https": invalid port "https" (want 1-65535)`},
		{"host port empty", rule(RuleConfig{Path: "/x", Host: "shop.example.com:"}), `policy.rules[1] (path "/x"): host "shop.example.com:": empty port after ":"`},
		{"host no name", rule(RuleConfig{Path: "/x", Host: ":8080"}), `policy.rules[1] (path "/x"): host ":8080": empty host name`},
		{"host v6 bare", rule(RuleConfig{Path: "/x", Host: "::1"}), `policy.rules[1] (path "/x"): host "::1": an IPv6 address must be written in brackets, as in "[::1]"`},
		{"host v6 open", rule(RuleConfig{Path: "/x", Host: "[::1"}), `policy.rules[1] (path "/x"): host "[::1": unterminated IPv6 literal (missing "]")`},
		{"host v6 bad", rule(RuleConfig{Path: "/x", Host: "[zz]"}), `policy.rules[1] (path "/x"): host "[zz]": invalid IPv6 literal "[zz]"`},
		{"host v6 tail", rule(RuleConfig{Path: "/x", Host: "[::1]x"}), `policy.rules[1] (path "/x"): host "[::1]x": unexpected "x" after IPv6 literal`},

		{"empty method", rule(RuleConfig{Path: "/x", Methods: []string{"POST", ""}}), `policy.rules[1] (path "/x"): methods[1]: empty method`},
		{"bad method", rule(RuleConfig{Path: "/x", Methods: []string{"GE T"}}), `policy.rules[1] (path "/x"): methods[0]: invalid method "GE T" (want an HTTP method such as POST, or "*" for every method)`},
		{"star method", rule(RuleConfig{Path: "/x", Methods: []string{"P*"}}), `policy.rules[1] (path "/x"): methods[0]: invalid method "P*" (want an HTTP method such as POST, or "*" for every method)`},
		{"mfa", rule(RuleConfig{Path: "/x", MFA: "optional"}), `policy.rules[1] (path "/x"): mfa: invalid value "optional" (want "required" or "none")`},
		{"grace negative", rule(RuleConfig{Path: "/x", GracePeriod: ptr(-time.Second)}), `policy.rules[1] (path "/x"): grace_period: must not be negative, got -1s`},
		{"grace on none", rule(RuleConfig{Path: "/x", MFA: "none", GracePeriod: ptr(time.Minute)}), `policy.rules[1] (path "/x"): grace_period: set on an "mfa: none" rule, which never asks for a code`},

		{"several", Config{Anonymous: "x", Rules: []RuleConfig{
			{Path: "/a/{", Methods: []string{""}},
			{Path: "/ok"},
			{Name: "n", Path: "/b", MFA: "no"},
		}}, `policy.anonymous: invalid value "x" (want "deny" or "allow")` + "\n" +
			`policy.rules[0] (path "/a/{"): unterminated parameter "{"` + "\n" +
			`policy.rules[0] (path "/a/{"): methods[0]: empty method` + "\n" +
			`policy.rules[2] (name "n", path "/b"): mfa: invalid value "no" (want "required" or "none")`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Compile(tt.cfg)
			if err == nil {
				t.Fatalf("Compile succeeded, want error %q", tt.want)
			}
			if p != nil {
				t.Error("Compile returned a policy along with an error")
			}
			if err.Error() != tt.want {
				t.Errorf("Compile error:\n got %s\nwant %s", err, tt.want)
			}
		})
	}
}

func TestCompileAccepts(t *testing.T) {
	for _, rc := range []RuleConfig{
		{Path: "/"},
		{Path: "/**"},
		{Path: "/checkout/"},
		{Path: "/a/**/"},
		{Path: "/a/{id}/{id}"},
		{Path: "/a/{snake_case}/{kebab-case}/{dot.ted}/{X1}"},
		{Path: "/a/*/b"},
		{Path: "/v1:batch/@me/!$&'()+,="},
		{Path: "/straße"},
		{Path: "/x", Host: "shop.example.com"},
		{Path: "/x", Host: "*.example.com:8443"},
		{Path: "/x", Host: "[2001:db8::1]:443"},
		{Path: "/x", Host: "[2001:DB8:0::1]"},
		{Path: "/x", Host: "localhost."},
		{Path: "/x", Methods: []string{"*", "GET"}},
		{Path: "/x", Methods: []string{"M-SEARCH", "purge"}},
		{Path: "/x", MFA: "none"},
		{Path: "/x", MFA: "required", GracePeriod: ptr(time.Duration(0))},
	} {
		if _, err := Compile(Config{Rules: []RuleConfig{rc}}); err != nil {
			t.Errorf("Compile(%+v): %v", rc, err)
		}
	}
	if _, err := Compile(Config{}); err != nil {
		t.Errorf("Compile(Config{}): %v", err)
	}
}

func TestCompiledRule(t *testing.T) {
	p := mustCompile(t, Config{Rules: []RuleConfig{
		{Path: "/a"},
		{Name: "pw", Path: "/customer-password/{id}", Host: "Shop.Example.COM.:08443", Methods: []string{"post", "PATCH", "Post"}, GracePeriod: ptr(5 * time.Minute)},
		{Path: "/b/**", Host: "*.Example.com", Methods: []string{"*"}, MFA: "none"},
		{Path: "/c", Host: "[2001:DB8:0::1]:443"},
	}})
	rules := p.Rules()
	want := []Rule{
		{Index: 0, Path: "/a", Methods: []string{"POST", "PUT", "PATCH", "DELETE"}, MFARequired: true},
		{Index: 1, Name: "pw", Path: "/customer-password/{id}", Host: "shop.example.com:8443", Methods: []string{"POST", "PATCH"}, MFARequired: true, Grace: 5 * time.Minute, HasGrace: true},
		{Index: 2, Path: "/b/**", Host: "*.example.com", Methods: []string{"*"}},
		{Index: 3, Path: "/c", Host: "[2001:db8::1]:443", Methods: []string{"POST", "PUT", "PATCH", "DELETE"}, MFARequired: true},
	}
	for i, w := range want {
		r := rules[i]
		if r.Index != w.Index || r.Name != w.Name || r.Path != w.Path || r.Host != w.Host ||
			!equalStrings(r.Methods, w.Methods) || r.MFARequired != w.MFARequired ||
			r.Grace != w.Grace || r.HasGrace != w.HasGrace {
			t.Errorf("rule %d = %+v, want %+v", i, *r, w)
		}
	}
	wantStrings := []string{
		`rule 0 "/a" [POST PUT PATCH DELETE] mfa=required`,
		`rule 1 (pw) "/customer-password/{id}" host=shop.example.com:8443 [POST PATCH] mfa=required grace=5m0s`,
		`rule 2 "/b/**" host=*.example.com [*] mfa=none`,
	}
	for i, w := range wantStrings {
		if got := rules[i].String(); got != w {
			t.Errorf("rules[%d].String() = %s, want %s", i, got, w)
		}
	}
	if got := (*Rule)(nil).String(); got != "no rule" {
		t.Errorf("nil Rule String() = %q", got)
	}
}

func TestCompileErrorIsJoined(t *testing.T) {
	_, err := Compile(Config{Rules: []RuleConfig{{Path: "x"}, {Path: "y"}}})
	var joined interface{ Unwrap() []error }
	if !errors.As(err, &joined) || len(joined.Unwrap()) != 2 {
		t.Fatalf("error %v does not unwrap to two errors", err)
	}
	if !strings.HasPrefix(err.Error(), "policy.rules[0]") {
		t.Errorf("error %q does not start with the first rule", err)
	}
}
