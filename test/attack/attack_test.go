// Package attack is the attack corpus: every way a security reviewer would
// try to reach a protected route without a valid MFA code, each sent to
// the real gRPC server (authz/service on a loopback port) deciding with
// the real encrypted store, and each required to be denied, with the
// denial that says why.
package attack

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"google.golang.org/grpc/codes"

	"github.com/mfa-authz/mfa-authz/test/attack/harness"
)

// serverConfig protects Spryker-like routes, with exceptions (one bound to
// a host and port), a route that needs a fresh code every time and a
// host-bound rule. Identity comes
// from jwt_authn metadata, else from the x-user-id header.
const serverConfig = `
mfa:
  header: X-MFA-Code
  grace_period: 30m
identity:
  header: x-user-id
delivery:
  # E-mail is offered so that a row can try to add it; nothing listens.
  email: webhook
  webhook:
    url: http://127.0.0.1:9/send
    secret: attack-corpus-webhook-secret
    retries: 0
regulation:
  max_failures: 5
  window: 5m
  ban: 15m
policy:
  anonymous: deny
  rules:
    - path: /carts/{id}/public
      methods: [GET, POST]
      mfa: none
    - path: /customer-password/**
      methods: [POST, PATCH, DELETE]
    - path: /customers/**
      methods: [POST, PATCH, DELETE]
    - path: /carts/**
      methods: [POST, PATCH, DELETE]
    - path: /checkout/**
      methods: [POST]
      grace_period: 0s
    - path: /admin/**
      host: admin.example.com
      methods: ["*"]
    - path: /status/**
      host: internal.example.com:8080
      methods: ["*"]
      mfa: none
    - path: /status/**
      methods: ["*"]
`

// jwtOnlyConfig trusts nothing but jwt_authn's metadata.
var jwtOnlyConfig = strings.Replace(serverConfig, "identity:\n  header: x-user-id\n", "", 1)

// malformed stands for the INVALID_ARGUMENT denial of a CheckRequest that
// contradicts itself (503 body, rpc status INVALID_ARGUMENT).
const malformed = "malformed"

const pwPath = "/customer-password/DE--42"

// rc is what a row builds its request from: a fresh enrolled user u with
// no session and no failures, and another fresh user (with a session when
// the row asks for one).
type rc struct {
	t        *testing.T
	s        *harness.Server
	u, other *harness.User
}

// as is a request of u, identified by the x-user-id header, with extra
// headers given as key, value pairs.
func (c *rc) as(method, path string, kv ...string) harness.Req {
	h := map[string]string{"x-user-id": c.u.Name}
	for i := 0; i+1 < len(kv); i += 2 {
		h[kv[i]] = kv[i+1]
	}
	return harness.Req{Method: method, Path: path, Headers: h}
}

// jwt is a request of the jwt_authn subject sub, with extra headers.
func (c *rc) jwt(sub any, method, path string, kv ...string) harness.Req {
	h := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		h[kv[i]] = kv[i+1]
	}
	return harness.Req{Method: method, Path: path, Headers: h,
		JWT: map[string]any{"sub": sub, "iss": "https://issuer.example.com", "aud": []any{"shop"}}}
}

func (c *rc) code() string  { return c.u.Code(c.t) }
func (c *rc) wrong() string { return c.u.WrongCode(c.t, 0) }

type attack struct {
	family, name string
	jwtOnly      bool
	// otherSession verifies the other user first, so that the row tries
	// to ride their session.
	otherSession bool
	req          func(c *rc) harness.Req
	// want lists the acceptable glue codes, or malformed.
	want []string
}

func deny(codes ...string) []string { return codes }

// pathRow is a POST (or method) to a confused path by u without a code:
// it must be read as protected and denied as missing the code.
func pathRow(family, name, method, path string) attack {
	return attack{family: family, name: name, want: deny(harness.Missing),
		req: func(c *rc) harness.Req { return c.as(method, path) }}
}

func hostRow(name, host, path string) attack {
	return attack{family: "path/host", name: name, want: deny(harness.Missing),
		req: func(c *rc) harness.Req { r := c.as("GET", path); r.Host = host; return r }}
}

func corpus() []attack {
	var rows []attack
	add := func(a ...attack) { rows = append(rows, a...) }

	// ---------------------------------------------------------------- paths
	for _, p := range []struct{ name, path string }{
		{"encoded unreserved letter", "/%63ustomer-password/DE--42"},
		{"encoded hyphen", "/customer%2Dpassword/DE--42"},
		{"encoded letter, lower-case hex", "/customer-pass%77ord/DE--42"},
		{"encoded slash", "/customer-password%2FDE--42"},
		{"encoded slash, lower-case hex", "/customer-password%2fDE--42"},
		{"double-encoded slash", "/customer-password%252FDE--42"},
		{"double-encoded letter", "/%2563ustomer-password/DE--42"},
		{"percent-encoded percent-escape", "/%25%36%33ustomer-password/DE--42"},
		{"encoded backslash", "/customer-password%5CDE--42"},
		{"overlong UTF-8 slash", "/customer-password%C0%AFDE--42"},
		{"every byte encoded", "/%63%75%73%74%6f%6d%65%72%2d%70%61%73%73%77%6f%72%64/DE--42"},
		{"plus for space in segment", "/customer-password+/DE--42"},
	} {
		add(pathRow("path/encoding", p.name, "POST", p.path))
	}
	for _, p := range []struct{ name, path string }{
		{"dot-dot", "/foo/../customer-password/DE--42"},
		{"dot", "/./customer-password/DE--42"},
		{"inner dot", "/customer-password/./DE--42"},
		{"encoded dot-dot", "/foo/%2e%2e/customer-password/DE--42"},
		{"encoded dot-dot, upper-case hex", "/foo/%2E%2E/customer-password/DE--42"},
		{"half-encoded dot-dot", "/foo/.%2e/customer-password/DE--42"},
		{"double-encoded dot-dot", "/foo/%252e%252e/customer-password/DE--42"},
		{"overlong UTF-8 dots", "/foo/%c0%ae%c0%ae/customer-password/DE--42"},
		{"dot-dot and encoded slash", "/foo/..%2fcustomer-password/DE--42"},
		{"dot-dot and encoded backslash", "/foo/..%5ccustomer-password/DE--42"},
		{"dot-dot with ;param (Tomcat)", "/foo/..;/customer-password/DE--42"},
		{"dot-dot above the root", "/../customer-password/DE--42"},
		{"many dot-dots above the root", "/../../../../customer-password/DE--42"},
		{"trailing dot segment", "/customer-password/DE--42/."},
		{"trailing dot-dot segment", "/customer-password/DE--42/.."},
		{"dot-dot inside the route", "/customer-password/x/../DE--42"},
	} {
		add(pathRow("path/dot-segments", p.name, "POST", p.path))
	}
	for _, p := range []struct{ name, path string }{
		{"leading double slash", "//customer-password/DE--42"},
		{"inner double slash", "/customer-password//DE--42"},
		{"triple slashes", "///customer-password///DE--42"},
		{"trailing slash", "/customer-password/DE--42/"},
		{"route root itself", "/customer-password"},
		{"no leading slash", "customer-password/DE--42"},
	} {
		add(pathRow("path/slashes", p.name, "POST", p.path))
	}
	for _, p := range []struct{ name, path string }{
		{"backslash separators", `\customer-password\DE--42`},
		{"backslash inside", `/customer-password\DE--42`},
		{"backslash dot-dot", `/foo\..\customer-password/DE--42`},
		{"encoded leading backslash", "/%5Ccustomer-password/DE--42"},
		{"UNC-style authority", `\\shop.example.com\customer-password\DE--42`},
	} {
		add(pathRow("path/backslashes", p.name, "POST", p.path))
	}
	for _, p := range []struct{ name, path string }{
		{"param on route segment", "/customer-password;a=b/DE--42"},
		{"empty param", "/customer-password;/DE--42"},
		{"param segment before route", "/;x/customer-password/DE--42"},
		{"jsessionid on last segment", "/customer-password/DE--42;jsessionid=abc"},
		{"encoded semicolon param", "/customer-password%3Bx/DE--42"},
	} {
		add(pathRow("path/matrix-params", p.name, "POST", p.path))
	}
	for _, p := range []struct{ name, path string }{
		{"upper case", "/CUSTOMER-PASSWORD/DE--42"},
		{"title case", "/Customer-Password/DE--42"},
		{"long s folds to s", "/customer-pa\u017f\u017fword/DE--42"},
		{"Kelvin sign folds to k", "/chec\u212aout"},
		{"encoded upper case", "/%43USTOMER-PASSWORD/DE--42"},
		{"upper-case carts", "/CARTS/1"},
	} {
		add(pathRow("path/case", p.name, "POST", p.path))
	}
	for _, p := range []struct{ name, path string }{
		{"https absolute-form", "https://shop.example.com/customer-password/DE--42"},
		{"http absolute-form", "http://shop.example.com/customer-password/DE--42"},
		{"upper-case scheme and host", "HTTPS://SHOP.EXAMPLE.COM/customer-password/DE--42"},
		{"other host", "https://evil.example/customer-password/DE--42"},
		{"scheme-relative", "//shop.example.com/customer-password/DE--42"},
		{"explicit port", "https://shop.example.com:443/customer-password/DE--42"},
		{"userinfo", "https://user:pw@shop.example.com/customer-password/DE--42"},
		{"backslashes after scheme", `https:\\shop.example.com\customer-password\DE--42`},
		{"query and fragment", "https://shop.example.com/customer-password/DE--42?x=1#y"},
	} {
		add(pathRow("path/absolute-form", p.name, "POST", p.path))
	}
	for _, p := range []struct{ name, path string }{
		{"trailing dot", "/customer-password./DE--42"},
		{"trailing dots", "/customer-password../DE--42"},
		{"encoded trailing space", "/customer-password%20/DE--42"},
		{"raw trailing space", "/customer-password /DE--42"},
		{"encoded trailing tab", "/customer-password%09/DE--42"},
		{"dot and space", "/customer-password.%20/DE--42"},
		{"trailing dot on last segment", "/checkout."},
		{"trailing space on last segment", "/checkout%20"},
		{"format extension", "/checkout.json"},
		{"NUL before extension", "/checkout%00.json"},
		{"NUL in route segment", "/customer-password%00/DE--42"},
		{"NUL at the end", "/customer-password/DE--42%00"},
		{"newline at the end", "/checkout%0a"},
		{"invalid escape", "/customer-password/DE%zz"},
	} {
		add(pathRow("path/trailing-dots-spaces", p.name, "POST", p.path))
	}
	add(attack{family: "path/trailing-dots-spaces", name: "invalid UTF-8 (raw :path bytes)", want: deny(harness.Missing),
		req: func(c *rc) harness.Req {
			// Protobuf strings must be UTF-8: Envoy sends such a path as
			// the raw_value of header_map.
			r := c.as("POST", "")
			r.NoPseudo = true
			r.HeaderMap = append(r.HeaderMap, &corev3.HeaderValue{Key: ":path", RawValue: []byte("/customer-password\xff/DE--42")})
			return r
		}})
	for _, p := range []struct{ name, path string }{
		{"empty query", pwPath + "?"},
		{"fragment", pwPath + "#frag"},
		{"dot-dots in the query", pwPath + "?/../../carts/1/public"},
		{"encoded question mark", pwPath + "%3Fx=1"},
	} {
		add(pathRow("path/query-fragment", p.name, "POST", p.path))
	}
	for _, p := range []struct{ name, path string }{
		{"dot-dot out of the exception", "/carts/1/public/../../2"},
		{"encoded dot-dot out of the exception", "/carts/1/public%2f..%2f..%2f2"},
		{"Tomcat dot-dot out of the exception", "/carts/1/public/..;/..;/2"},
		{"exception-like path outside it", "/carts/public"},
		{"exception with extra segment", "/carts/1/public/items"},
	} {
		add(pathRow("path/exception-escape", p.name, "POST", p.path))
	}
	add(pathRow("path/exception-escape", "exception name in another case", "POST", "/carts/1/PUBLIC"))
	add(pathRow("path/trailing-dots-spaces", "NTFS ::$DATA stream suffix", "POST", "/checkout::$DATA"),
		pathRow("path/trailing-dots-spaces", "NTFS named stream suffix", "POST", "/checkout:x:$DATA"),
		pathRow("path/trailing-dots-spaces", "NTFS stream suffix, lower case", "POST", "/customer-password/1::$data"))
	add(pathRow("path/encoding", "IIS %u escape", "POST", "/%u0063heckout"),
		pathRow("path/encoding", "IIS %U escape, upper case", "POST", "/customer-password/%U0044E--42"))
	add(
		hostRow("upper-case host", "ADMIN.EXAMPLE.COM", "/admin/users"),
		hostRow("trailing-dot host", "admin.example.com.", "/admin/users"),
		hostRow("host with default port", "admin.example.com:443", "/admin/users"),
		hostRow("host with other port", "admin.example.com:8443", "/admin/users"),
		hostRow("no authority at all", "-", "/admin/users"),
		hostRow("absolute-form naming the host", harness.Host, "https://admin.example.com/admin/users"),
		hostRow("scheme-relative naming the host", harness.Host, "//admin.example.com/admin/users"),
		hostRow("userinfo before the host", "x@admin.example.com", "/admin/users"),
		hostRow("exception host without its port", "internal.example.com", "/status/all"),
		hostRow("exception host on another port", "internal.example.com:443", "/status/all"),
		hostRow("exception host with an unreadable port", "internal.example.com:x", "/status/all"),
		hostRow("exception host with a zero-padded port", "internal.example.com:08080", "/status/all"),
		hostRow("exception host with a trailing dot", "internal.example.com.:8080", "/status/all"),
		hostRow("exception host after userinfo", "x@internal.example.com:8080", "/status/all"),
	)
	add(
		attack{family: "path/pseudo-headers", name: "path vs :path", want: deny(malformed),
			req: func(c *rc) harness.Req {
				r := c.as("POST", "/carts/1/public")
				r.NoPseudo = true
				r.Headers[":path"] = pwPath
				return r
			}},
		attack{family: "path/pseudo-headers", name: ":path repeated in header_map", want: deny(malformed),
			req: func(c *rc) harness.Req {
				r := c.as("POST", "")
				r.NoPseudo = true
				r.HeaderMap = append(r.HeaderMap, harness.H(":path", "/carts/1/public"), harness.H(":path", pwPath))
				return r
			}},
		attack{family: "path/pseudo-headers", name: "host vs :authority", want: deny(malformed),
			req: func(c *rc) harness.Req {
				r := c.as("GET", "/admin/users")
				r.NoPseudo = true
				r.Headers[":authority"] = "admin.example.com"
				return r
			}},
		attack{family: "path/pseudo-headers", name: "path only in header_map", want: deny(harness.Missing),
			req: func(c *rc) harness.Req {
				r := c.as("POST", "")
				r.NoPseudo = true
				r.HeaderMap = append(r.HeaderMap, harness.H(":path", pwPath))
				return r
			}},
	)

	// -------------------------------------------------------------- methods
	for _, m := range []string{"post", "PoSt", "delete", "patch", " POST", "POST\t", "PO ST"} {
		add(pathRow("method/case", "method "+m, m, pwPath))
	}
	add(
		attack{family: "method/case", name: "no method at all", want: deny(harness.Missing),
			req: func(c *rc) harness.Req { return c.as("", pwPath) }},
		attack{family: "method/case", name: "method vs :method", want: deny(malformed),
			req: func(c *rc) harness.Req {
				r := c.as("GET", pwPath)
				r.NoPseudo = true
				r.Headers[":method"] = "POST"
				return r
			}},
	)
	override := func(name string, kv ...string) attack {
		return attack{family: "method/override-header", name: name, want: deny(harness.Missing),
			req: func(c *rc) harness.Req { return c.as("GET", pwPath, kv...) }}
	}
	add(
		override("X-HTTP-Method-Override", "x-http-method-override", "POST"),
		override("X-HTTP-Method", "x-http-method", "DELETE"),
		override("X-Method-Override", "x-method-override", "PATCH"),
		override("lower-case value", "x-http-method-override", "delete"),
		override("padded value", "x-http-method-override", " PATCH "),
		override("comma list", "x-http-method-override", "GET, POST"),
		override("upper-case header name", "X-HTTP-Method-Override", "POST"),
		override("on HEAD", "x-http-method-override", "POST"),
		attack{family: "method/override-header", name: "on OPTIONS", want: deny(harness.Missing),
			req: func(c *rc) harness.Req { return c.as("OPTIONS", pwPath, "x-http-method", "DELETE") }},
		attack{family: "method/override-header", name: "in header_map", want: deny(harness.Missing),
			req: func(c *rc) harness.Req {
				r := c.as("GET", pwPath)
				r.HeaderMap = append(r.HeaderMap, harness.H("X-HTTP-Method-Override", "POST"))
				return r
			}},
		attack{family: "method/override-header", name: "repeated in header_map, harmless first", want: deny(harness.Missing),
			req: func(c *rc) harness.Req {
				r := c.as("GET", pwPath)
				r.HeaderMap = append(r.HeaderMap, harness.H("x-http-method-override", "GET"), harness.H("x-http-method-override", "POST"))
				return r
			}},
		attack{family: "method/override-header", name: "map and header_map", want: deny(harness.Missing),
			req: func(c *rc) harness.Req {
				r := c.as("GET", pwPath, "x-http-method-override", "GET")
				r.HeaderMap = append(r.HeaderMap, harness.H("x-http-method-override", "DELETE"))
				return r
			}},
		override("names differing in case, harmless lower-case one", "x-http-method-override", "GET", "X-HTTP-Method-Override", "POST"),
	)
	param := func(name, query string) attack {
		return pathRow("method/override-param", name, "GET", pwPath+query)
	}
	add(
		param("_method", "?_method=POST"),
		param("lower-case value", "?_method=delete"),
		param("after another parameter", "?a=1&_method=PATCH"),
		param("repeated, harmless first", "?_method=GET&_method=DELETE"),
		param("encoded value", "?_method=%50OST"),
		param("encoded underscore in the name", "?%5Fmethod=POST"),
		param("encoded letter in the name", "?_m%65thod=POST"),
		param("unparsable query", "?_method=POST;x"),
		param("PHP reads a dot as an underscore", "?.method=POST"),
		param("PHP reads an unmatched bracket as an underscore", "?[method=POST"),
		param("PHP drops leading spaces", "?+_method=POST"),
		param("before a fragment", "?_method=POST#x"),
	)

	// -------------------------------------------------------------- headers
	hdr := func(name string, want string, build func(c *rc) harness.Req) attack {
		return attack{family: "header", name: name, want: deny(want), req: build}
	}
	add(
		hdr("code twice in header_map", harness.Invalid, func(c *rc) harness.Req {
			r := c.as("POST", "/carts/1")
			r.HeaderMap = append(r.HeaderMap, harness.H("x-mfa-code", c.code()), harness.H("x-mfa-code", c.code()))
			return r
		}),
		hdr("wrong then right code in header_map", harness.Invalid, func(c *rc) harness.Req {
			r := c.as("POST", "/carts/1")
			r.HeaderMap = append(r.HeaderMap, harness.H("x-mfa-code", c.wrong()), harness.H("X-MFA-Code", c.code()))
			return r
		}),
		hdr("right then wrong code in header_map", harness.Invalid, func(c *rc) harness.Req {
			r := c.as("POST", "/carts/1")
			r.HeaderMap = append(r.HeaderMap, harness.H("x-mfa-code", c.code()), harness.H("x-mfa-code", c.wrong()))
			return r
		}),
		hdr("code in headers map and header_map", harness.Invalid, func(c *rc) harness.Req {
			r := c.as("POST", "/carts/1", "x-mfa-code", c.code())
			r.HeaderMap = append(r.HeaderMap, harness.H("x-mfa-code", c.code()))
			return r
		}),
		hdr("comma-joined right codes", harness.Invalid, func(c *rc) harness.Req {
			return c.as("POST", "/carts/1", "x-mfa-code", c.code()+","+c.code())
		}),
		hdr("comma-joined wrong, right", harness.Invalid, func(c *rc) harness.Req {
			return c.as("POST", "/carts/1", "x-mfa-code", c.wrong()+", "+c.code())
		}),
		hdr("comma-joined right, wrong", harness.Invalid, func(c *rc) harness.Req {
			return c.as("POST", "/carts/1", "x-mfa-code", c.code()+","+c.wrong())
		}),
		hdr("upper-case header name, wrong code", harness.Invalid, func(c *rc) harness.Req {
			return c.as("POST", "/carts/1", "X-MFA-CODE", c.wrong())
		}),
		hdr("names differing in case, wrong code lower-case", harness.Invalid, func(c *rc) harness.Req {
			return c.as("POST", "/carts/1", "x-mfa-code", c.wrong(), "X-Mfa-Code", c.code())
		}),
		hdr("names differing in case, wrong code upper-case", harness.Invalid, func(c *rc) harness.Req {
			return c.as("POST", "/carts/1", "x-mfa-code", c.code(), "X-MFA-Code", c.wrong())
		}),
	)
	codeShape := func(name string, shape func(code string) string) attack {
		return hdr(name, harness.Invalid, func(c *rc) harness.Req {
			return c.as("POST", "/carts/1", "x-mfa-code", shape(c.code()))
		})
	}
	add(
		codeShape("space inside the code", func(s string) string { return s[:3] + " " + s[3:] }),
		codeShape("tab inside the code", func(s string) string { return s[:3] + "\t" + s[3:] }),
		codeShape("no-break space before the code", func(s string) string { return "\u00a0" + s }),
		codeShape("full-width digits", func(s string) string { return mapDigits(s, '０') }),
		codeShape("Arabic-Indic digits", func(s string) string { return mapDigits(s, '٠') }),
		codeShape("Devanagari digits", func(s string) string { return mapDigits(s, '०') }),
		codeShape("mathematical bold digits", func(s string) string { return mapDigits(s, '𝟎') }),
		codeShape("plus sign", func(s string) string { return "+" + s }),
		codeShape("NUL after the code", func(s string) string { return s + "\x00" }),
		codeShape("CRLF header injection", func(s string) string { return s + "\r\nx-user-id: admin" }),
		codeShape("leading zeros", func(s string) string { return "00" + s }),
		codeShape("code repeated to 66 bytes", func(s string) string { return strings.Repeat(s, 11) }),
		codeShape("64 KiB of digits", func(s string) string { return strings.Repeat("1", 64<<10) }),
		codeShape("1 MiB value ending in the code", func(s string) string { return strings.Repeat("0", 1<<20) + s }),
		codeShape("method with colon", func(s string) string { return "totp:" + s }),
		codeShape("method with equals", func(s string) string { return "totp=" + s }),
		codeShape("method and tab", func(s string) string { return "totp\t" + s }),
		codeShape("method and two spaces", func(s string) string { return "totp  " + s }),
		codeShape("unknown method", func(s string) string { return "push " + s }),
		codeShape("three words", func(s string) string { return "totp " + s + " " + s }),
	)
	add(
		hdr("code in the query", harness.Missing, func(c *rc) harness.Req {
			return c.as("POST", "/carts/1?x-mfa-code="+c.code())
		}),
		hdr("code in a cookie", harness.Missing, func(c *rc) harness.Req {
			return c.as("POST", "/carts/1", "cookie", "x-mfa-code="+c.code())
		}),
		hdr("code in a look-alike header", harness.Missing, func(c *rc) harness.Req {
			return c.as("POST", "/carts/1", "x-mfa-token", c.code(), "x_mfa_code", c.code(), "x-mfa-code ", c.code())
		}),
		hdr("empty code", harness.Missing, func(c *rc) harness.Req { return c.as("POST", "/carts/1", "x-mfa-code", "") }),
		hdr("blank code", harness.Missing, func(c *rc) harness.Req { return c.as("POST", "/carts/1", "x-mfa-code", " \t ") }),
		hdr("client-sent x-mfa-method", harness.Missing, func(c *rc) harness.Req {
			return c.as("POST", "/carts/1", "x-mfa-method", "totp")
		}),
	)

	// ------------------------------------------------------------- identity
	id := func(name string, want string, build func(c *rc) harness.Req) attack {
		return attack{family: "identity", name: name, otherSession: true, want: deny(want), req: build}
	}
	add(
		id("jwt subject wins over a client x-user-id", harness.Missing, func(c *rc) harness.Req {
			return c.jwt(c.u.Name, "POST", "/carts/1", "x-user-id", c.other.Name)
		}),
		id("unenrolled jwt subject with a victim's x-user-id", harness.NotEnrolled, func(c *rc) harness.Req {
			return c.jwt("ghost-"+c.u.Name, "POST", "/carts/1", "x-user-id", c.other.Name)
		}),
		id("empty sub", harness.NoIdentity, func(c *rc) harness.Req {
			return c.jwt("", "POST", "/carts/1", "x-user-id", c.other.Name)
		}),
		id("numeric sub", harness.NoIdentity, func(c *rc) harness.Req {
			return c.jwt(42.0, "POST", "/carts/1", "x-user-id", c.other.Name)
		}),
		id("list sub", harness.NoIdentity, func(c *rc) harness.Req {
			return c.jwt([]any{c.other.Name}, "POST", "/carts/1", "x-user-id", c.other.Name)
		}),
		id("object sub", harness.NoIdentity, func(c *rc) harness.Req {
			return c.jwt(map[string]any{"id": c.other.Name}, "POST", "/carts/1", "x-user-id", c.other.Name)
		}),
		id("null sub", harness.NoIdentity, func(c *rc) harness.Req {
			return c.jwt(nil, "POST", "/carts/1", "x-user-id", c.other.Name)
		}),
		id("sub with NUL", harness.NoIdentity, func(c *rc) harness.Req {
			return c.jwt(c.other.Name+"\x00", "POST", "/carts/1", "x-user-id", c.other.Name)
		}),
		id("sub over 512 bytes", harness.NoIdentity, func(c *rc) harness.Req {
			return c.jwt(strings.Repeat("a", 513), "POST", "/carts/1", "x-user-id", c.other.Name)
		}),
		id("verified token without the sub claim", harness.NoIdentity, func(c *rc) harness.Req {
			r := c.jwt(nil, "POST", "/carts/1", "x-user-id", c.other.Name)
			delete(r.JWT, "sub")
			r.JWT["email"] = c.other.Name + "@example.com"
			return r
		}),
		id("payload in another namespace", harness.Missing, func(c *rc) harness.Req {
			r := c.as("POST", "/carts/1")
			r.Metadata = map[string]map[string]any{"envoy.filters.http.header_to_metadata": {"jwt_payload": map[string]any{"sub": c.other.Name}}}
			return r
		}),
		// jwt_authn's namespace without the configured payload key is
		// malformed metadata: it names no user, and the header must not
		// name one in its place.
		id("payload under another key", harness.NoIdentity, func(c *rc) harness.Req {
			r := c.as("POST", "/carts/1")
			r.Metadata = map[string]map[string]any{harness.JWTNamespace: {"payload": map[string]any{"sub": c.other.Name}}}
			return r
		}),
		id("x-user-id repeated in header_map", harness.NoIdentity, func(c *rc) harness.Req {
			r := harness.Req{Method: "POST", Path: "/carts/1"}
			r.HeaderMap = append(r.HeaderMap, harness.H("x-user-id", c.u.Name), harness.H("x-user-id", c.other.Name))
			return r
		}),
		id("x-user-id in headers map and header_map", harness.NoIdentity, func(c *rc) harness.Req {
			r := c.as("POST", "/carts/1")
			r.HeaderMap = append(r.HeaderMap, harness.H("x-user-id", c.other.Name))
			return r
		}),
		id("x-user-id names differing in case", harness.NoIdentity, func(c *rc) harness.Req {
			return c.as("POST", "/carts/1", "X-User-Id", c.other.Name)
		}),
		id("comma-joined x-user-id", harness.NotEnrolled, func(c *rc) harness.Req {
			return harness.Req{Method: "POST", Path: "/carts/1", Headers: map[string]string{"x-user-id": c.u.Name + "," + c.other.Name}}
		}),
		id("empty x-user-id", harness.NoIdentity, func(c *rc) harness.Req {
			return harness.Req{Method: "POST", Path: "/carts/1", Headers: map[string]string{"x-user-id": ""}}
		}),
		id("x-user-id with a control character", harness.NoIdentity, func(c *rc) harness.Req {
			return harness.Req{Method: "POST", Path: "/carts/1", Headers: map[string]string{"x-user-id": c.other.Name + "\x7f"}}
		}),
		id("x-user-id over 512 bytes", harness.NoIdentity, func(c *rc) harness.Req {
			return harness.Req{Method: "POST", Path: "/carts/1", Headers: map[string]string{"x-user-id": c.other.Name + strings.Repeat("x", 600)}}
		}),
		id("x-user-id in another case", harness.NotEnrolled, func(c *rc) harness.Req {
			return harness.Req{Method: "POST", Path: "/carts/1", Headers: map[string]string{"x-user-id": strings.ToUpper(c.other.Name)}}
		}),
		id("x-user-id with a trailing space", harness.NotEnrolled, func(c *rc) harness.Req {
			return harness.Req{Method: "POST", Path: "/carts/1", Headers: map[string]string{"x-user-id": c.other.Name + " "}}
		}),
		id("jwt subject with another user's code", harness.Invalid, func(c *rc) harness.Req {
			return c.jwt(c.u.Name, "POST", "/carts/1", "x-mfa-code", c.other.Code(c.t))
		}),
		id("x-user-id with another user's code", harness.Invalid, func(c *rc) harness.Req {
			return c.as("POST", "/carts/1", "x-mfa-code", c.other.Code(c.t))
		}),
	)
	jwtOnly := func(name string, want string, build func(c *rc) harness.Req) attack {
		return attack{family: "identity/jwt-only", name: name, jwtOnly: true, otherSession: true, want: deny(want), req: build}
	}
	add(
		jwtOnly("client x-user-id without a token", harness.NoIdentity, func(c *rc) harness.Req {
			return harness.Req{Method: "POST", Path: "/carts/1", Headers: map[string]string{"x-user-id": c.other.Name}}
		}),
		jwtOnly("unverified bearer token", harness.NoIdentity, func(c *rc) harness.Req {
			return harness.Req{Method: "POST", Path: "/carts/1", Headers: map[string]string{
				"authorization": "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiI" + c.other.Name + "In0."}}
		}),
		jwtOnly("subject in a client-writable namespace", harness.NoIdentity, func(c *rc) harness.Req {
			r := harness.Req{Method: "POST", Path: "/carts/1"}
			r.Metadata = map[string]map[string]any{"envoy.filters.http.header_to_metadata": {"jwt_payload": map[string]any{"sub": c.other.Name}}}
			return r
		}),
		jwtOnly("x-user-id next to the attacker's token", harness.Missing, func(c *rc) harness.Req {
			return c.jwt(c.u.Name, "POST", "/carts/1", "x-user-id", c.other.Name)
		}),
	)

	// ---------------------------------------------------------------- codes
	codeRow := func(name, want string, build func(c *rc) harness.Req) attack {
		return attack{family: "code", name: name, want: deny(want), req: build}
	}
	add(
		codeRow("replay after the session is gone", harness.Invalid, func(c *rc) harness.Req {
			code := c.code()
			c.mustAllow(c.as("POST", "/carts/1", "x-mfa-code", code))
			c.s.Svc.Sessions.Delete(c.u.Name)
			return c.as("POST", "/carts/1", "x-mfa-code", code)
		}),
		codeRow("replay on a route without grace", harness.Invalid, func(c *rc) harness.Req {
			code := c.code()
			c.mustAllow(c.as("POST", "/checkout", "x-mfa-code", code))
			return c.as("POST", "/checkout", "x-mfa-code", code)
		}),
		codeRow("previous step after the current one was used", harness.Invalid, func(c *rc) harness.Req {
			cur := c.u.Step(time.Now())
			c.mustAllow(c.as("POST", "/checkout", "x-mfa-code", c.u.CodeAtStep(c.t, cur)))
			return c.as("POST", "/checkout", "x-mfa-code", c.u.CodeAtStep(c.t, cur-1))
		}),
		codeRow("another user's code", harness.Invalid, func(c *rc) harness.Req {
			return c.as("POST", "/carts/1", "x-mfa-code", c.other.Code(c.t))
		}),
		codeRow("code of two steps ago (beyond skew)", harness.Invalid, func(c *rc) harness.Req {
			return c.as("POST", "/carts/1", "x-mfa-code", c.u.CodeAtStep(c.t, c.u.Step(time.Now())-2))
		}),
		codeRow("code of two steps ahead (beyond skew)", harness.Invalid, func(c *rc) harness.Req {
			return c.as("POST", "/carts/1", "x-mfa-code", c.u.CodeAtStep(c.t, c.u.Step(time.Now())+2))
		}),
		codeRow("code of step zero", harness.Invalid, func(c *rc) harness.Req {
			return c.as("POST", "/carts/1", "x-mfa-code", c.u.CodeAtStep(c.t, 0))
		}),
		codeRow("8-digit code of the same secret", harness.Invalid, func(c *rc) harness.Req {
			return c.as("POST", "/carts/1", "x-mfa-code", eightDigits(c))
		}),
		codeRow("right TOTP code as an e-mail code", harness.NotEnrolled, func(c *rc) harness.Req {
			return c.as("POST", "/carts/1", "x-mfa-code", "email "+c.code())
		}),
		codeRow("right TOTP code as an SMS code", harness.NotEnrolled, func(c *rc) harness.Req {
			return c.as("POST", "/carts/1", "x-mfa-code", "sms "+c.code())
		}),
		codeRow("right TOTP code as a recovery code", harness.NotEnrolled, func(c *rc) harness.Req {
			return c.as("POST", "/carts/1", "x-mfa-code", "recovery "+c.code())
		}),
		codeRow("code of a replaced enrollment", harness.Invalid, func(c *rc) harness.Req {
			old := c.code()
			reenroll(c)
			return c.as("POST", "/carts/1", "x-mfa-code", old)
		}),
		codeRow("code for an unenrolled user", harness.NotEnrolled, func(c *rc) harness.Req {
			r := c.as("POST", "/carts/1", "x-mfa-code", c.code())
			r.Headers["x-user-id"] = "ghost-" + c.u.Name
			return r
		}),
	)
	return rows
}

// TestAttackCorpus sends every row to the real server and requires the
// denial it names.
func TestAttackCorpus(t *testing.T) {
	main := harness.Start(t, harness.Options{Config: serverConfig})
	jwt := harness.Start(t, harness.Options{Config: jwtOnlyConfig})
	rows := append(append(corpus(), round3()...), selfServiceRows()...)
	families := map[string]int{}
	n := 0
	for _, a := range rows {
		families[a.family]++
		t.Run(a.family+"/"+a.name, func(t *testing.T) {
			s := main
			if a.jwtOnly {
				s = jwt
			}
			n++
			c := &rc{t: t, s: s,
				u:     s.Enroll(t, fmt.Sprintf("attacker-%03d", n)),
				other: s.Enroll(t, fmt.Sprintf("victim-%03d", n))}
			// Codes are computed just before they are sent: keep clear of a
			// step boundary, so "two steps ahead" stays two steps ahead.
			harness.AwaitSafeStep(c.u.Period(), 3*time.Second)
			if a.otherSession {
				if a.jwtOnly {
					c.mustAllow(c.jwtOf(c.other, "x-mfa-code", c.other.Code(t)))
				} else {
					c.mustAllow(harness.Req{Method: "POST", Path: "/carts/1",
						Headers: map[string]string{"x-user-id": c.other.Name, "x-mfa-code": c.other.Code(t)}})
				}
				// The victim's session is live: a request as the victim passes.
				if a.jwtOnly {
					c.mustAllow(c.jwtOf(c.other))
				} else {
					c.mustAllow(harness.Req{Method: "POST", Path: "/carts/1", Headers: map[string]string{"x-user-id": c.other.Name}})
				}
			}
			req := a.req(c)
			got := s.Check(req.Build())
			if !got.Denied() || !wanted(got, a.want) {
				t.Fatalf("%s / %s: got %s, want a denial %v\nrequest: %s %q host %q headers %q header_map %v jwt %v",
					a.family, a.name, got, a.want, req.Method, req.Path, req.Host, req.Headers, req.HeaderMap, req.JWT)
			}
		})
	}
	t.Logf("attack corpus: %d rows", len(rows))
	for _, f := range slices.Sorted(maps.Keys(families)) {
		t.Logf("  %-28s %3d", f, families[f])
	}
}

func wanted(o harness.Outcome, want []string) bool {
	for _, w := range want {
		if w == malformed {
			if o.RPC == codes.InvalidArgument && o.HTTP == 503 {
				return true
			}
			continue
		}
		if o.Code == w && o.RPC == codes.PermissionDenied {
			return true
		}
	}
	return false
}

// mustAllow sends req and requires an allow.
func (c *rc) mustAllow(req harness.Req) {
	c.t.Helper()
	if got := c.s.Check(req.Build()); !got.Allowed {
		c.t.Fatalf("setup request %s %s (headers %q): got %s, want allowed", req.Method, req.Path, req.Headers, got)
	}
}

// jwtOf is a POST to /carts/1 by u as jwt_authn's subject.
func (c *rc) jwtOf(u *harness.User, kv ...string) harness.Req {
	return c.jwt(u.Name, "POST", "/carts/1", kv...)
}

// mapDigits writes the ASCII digits of s with the digits starting at zero.
func mapDigits(s string, zero rune) string {
	var b strings.Builder
	for _, r := range s {
		if r >= '0' && r <= '9' {
			r = zero + (r - '0')
		}
		b.WriteRune(r)
	}
	return b.String()
}
