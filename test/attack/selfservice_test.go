package attack

import (
	"fmt"
	"time"

	"github.com/mfa-authz/mfa-authz/authz/config"
	"github.com/mfa-authz/mfa-authz/test/attack/harness"
)

// Glue codes of the self-service answers the rows below expect.
const (
	missingCodeCode = "5900"
	invalidBody     = "5913"
	stepUpRequired  = "5919"
)

const jsonAPI = "application/vnd.api+json"

// api is a self-service POST of u with body, identified by the x-user-id
// header, with extra headers as key, value pairs.
func (c *rc) api(path, body string, kv ...string) harness.Req {
	r := c.as("POST", path, append([]string{"content-type", jsonAPI}, kv...)...)
	r.Body = body
	return r
}

// jwtAPI is the same as the jwt_authn subject u, with the token's claims
// issued at iat.
func (c *rc) jwtAPI(iat int64, path, body string, kv ...string) harness.Req {
	r := c.jwt(c.u.Name, "POST", path, append([]string{"content-type", jsonAPI}, kv...)...)
	r.JWT["iat"], r.JWT["exp"] = float64(iat), float64(iat+3600)
	r.Body = body
	return r
}

func doc(typ, attrs string) string {
	return fmt.Sprintf(`{"data":{"type":%q,"attributes":{%s}}}`, typ, attrs)
}

var (
	activateEmail  = doc("multi-factor-auth-type-activate", `"type":"email","destination":"attacker@example.net"`)
	activateTOTP   = doc("multi-factor-auth-type-activate", `"type":"totp"`)
	deactivateTOTP = doc("multi-factor-auth-type-deactivate", `"type":"totp"`)
)

// selfServiceRows are the rows of the third review's factor-change and
// body classes: a live session (the user's, or another token's) never
// authorizes adding, removing or replacing a factor or regenerating
// recovery codes, and self-service bodies are read one way only.
func selfServiceRows() []attack {
	var rows []attack
	add := func(a ...attack) { rows = append(rows, a...) }
	ride := func(name, want string, build func(c *rc) harness.Req) attack {
		return attack{family: "selfservice/ride-session", name: name, want: deny(want), req: build}
	}
	// session opens u's session with a code, as the victim would.
	session := func(c *rc) { c.mustAllow(c.as("POST", "/carts/1", "x-mfa-code", c.code())) }
	tokenSession := func(c *rc, iat int64) {
		r := c.jwtOf(c.u, "x-mfa-code", c.code())
		r.JWT["iat"], r.JWT["exp"] = float64(iat), float64(iat+3600)
		c.mustAllow(r)
	}
	iat := time.Now().Unix()
	add(
		ride("activate a factor in the session", stepUpRequired, func(c *rc) harness.Req {
			session(c)
			return c.api(config.DefaultActivatePath, activateEmail)
		}),
		ride("deactivate the victim's factor in the session", missingCodeCode, func(c *rc) harness.Req {
			session(c)
			return c.api(config.DefaultDeactivatePath, deactivateTOTP)
		}),
		ride("regenerate recovery codes in the session", harness.Missing, func(c *rc) harness.Req {
			session(c)
			return c.api(config.DefaultRecoveryCodesPath, "")
		}),
		ride("activate with another token in the session", stepUpRequired, func(c *rc) harness.Req {
			tokenSession(c, iat)
			return c.jwtAPI(iat+1, config.DefaultActivatePath, activateEmail)
		}),
		ride("deactivate with another token in the session", missingCodeCode, func(c *rc) harness.Req {
			tokenSession(c, iat)
			return c.jwtAPI(iat+1, config.DefaultDeactivatePath, deactivateTOTP)
		}),
		ride("recovery codes with another token in the session", harness.Missing, func(c *rc) harness.Req {
			tokenSession(c, iat)
			return c.jwtAPI(iat+1, config.DefaultRecoveryCodesPath, "")
		}),
		ride("identity header next to the token that verified", stepUpRequired, func(c *rc) harness.Req {
			tokenSession(c, iat)
			return c.api(config.DefaultActivatePath, activateEmail)
		}),
	)

	// Bodies a first enrollment (no code needed) would act on if read
	// leniently: each must be refused before anything is enrolled.
	bodyRow := func(name, ctype, body string) attack {
		return attack{family: "selfservice/body", name: name, want: deny(invalidBody), req: func(c *rc) harness.Req {
			r := c.as("POST", config.DefaultActivatePath)
			r.Headers["x-user-id"] = "new-" + c.u.Name
			if ctype != "" {
				r.Headers["content-type"] = ctype
			}
			r.Body = body
			return r
		}}
	}
	for _, b := range []struct{ name, ctype string }{
		{"no content type", ""},
		{"text/plain (a cross-site POST)", "text/plain"},
		{"text/plain with charset", "text/plain;charset=UTF-8"},
		{"form content type", "application/x-www-form-urlencoded"},
		{"multipart content type", "multipart/form-data; boundary=x"},
		{"another JSON type", "application/problem+json"},
		{"JSON in UTF-16", "application/json; charset=utf-16"},
		{"two content types", "application/json, text/plain"},
	} {
		add(bodyRow(b.name, b.ctype, activateTOTP))
	}
	for _, b := range []struct{ name, body string }{
		{"repeated member", doc("multi-factor-auth-type-activate", `"type":"totp","type":"totp"`)},
		{"repeated member, escaped", doc("multi-factor-auth-type-activate", `"type":"totp","\u0074ype":"totp"`)},
		{"repeated data", `{"data":{"type":"multi-factor-auth-type-activate","attributes":{"type":"totp"}},"data":{"type":"multi-factor-auth-type-activate","attributes":{"type":"totp"}}}`},
		{"case variant of data", `{"DATA":{"type":"multi-factor-auth-type-activate","attributes":{"type":"totp"}}}`},
		{"case variant of type", `{"data":{"Type":"multi-factor-auth-type-activate","attributes":{"type":"totp"}}}`},
		{"case variant of attributes", `{"data":{"type":"multi-factor-auth-type-activate","Attributes":{"type":"totp"}}}`},
		{"long s for s", `{"data":{"type":"multi-factor-auth-type-activate","attributeſ":{"type":"totp"}}}`},
		{"case variant of the factor type", doc("multi-factor-auth-type-activate", `"TYPE":"totp"`)},
	} {
		add(bodyRow(b.name, jsonAPI, b.body))
	}

	// Host-bound rules read the host as an upstream may: escapes decoded,
	// IDNA compatibility forms mapped.
	for _, h := range []struct{ name, host string }{
		{"percent-encoded host letter", "%61dmin.example.com"},
		{"percent-encoded dots", "admin%2Eexample%2Ecom"},
		{"double-encoded host letter", "%2561dmin.example.com"},
		{"full-width host letters", "\uff41\uff44\uff4d\uff49\uff4e.example.com"},
		{"full-width capitals", "\uff21\uff24\uff2d\uff29\uff2e.EXAMPLE.COM"},
		{"ideographic full stops", "admin\u3002example\u3002com"},
		{"full-width full stops and port", "admin\uff0eexample\uff0ecom:443"},
		{"soft hyphen in the host", "ad\u00admin.example.com"},
		{"unreadable escape in the host", "%zzadmin.example.com"},
		{"encoded host after userinfo", "x@%61dmin.example.com"},
	} {
		add(attack{family: "path/host-readings", name: h.name, want: deny(harness.Missing),
			req: func(c *rc) harness.Req { r := c.as("GET", "/admin/users"); r.Host = h.host; return r }})
	}
	add(attack{family: "path/host-readings", name: "encoded exception host", want: deny(harness.Missing),
		req: func(c *rc) harness.Req {
			r := c.as("GET", "/status/all")
			r.Host = "%69nternal.example.com:8080"
			return r
		}})
	return rows
}
