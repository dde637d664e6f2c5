package mfaapi_test

import (
	"strings"
	"testing"

	"github.com/mfa-authz/mfa-authz/authz/config"
	"github.com/mfa-authz/mfa-authz/authz/mfaapi"
	"github.com/mfa-authz/mfa-authz/authz/profile"
)

// Every POST endpoint that names a factor reads its JSON:API body the same
// way, before it looks at any state: a body that is absent, cut short, not
// one JSON document, or of another endpoint's data.type is 5913; a
// document naming no type is 5902, one naming a type not offered 5906.
func TestBody(t *testing.T) {
	endpoints := []struct{ path, typ, other string }{
		{config.DefaultActivatePath, mfaapi.TypeActivate, mfaapi.TypeVerify},
		{config.DefaultVerifyPath, mfaapi.TypeVerify, mfaapi.TypeActivate},
		{config.DefaultDeactivatePath, mfaapi.TypeDeactivate, mfaapi.TypeTrigger},
		{config.DefaultTriggerPath, mfaapi.TypeTrigger, mfaapi.TypeDeactivate},
	}
	var rows []row
	for _, ep := range endpoints {
		doc := func(rest string) string { return `{"data":{"type":"` + ep.typ + `"` + rest + `}}` }
		// A valid document of the endpoint padded past max_body_bytes.
		long := doc(`,"attributes":{"type":"totp","destination":"` + strings.Repeat("x", config.DefaultMaxBodyBytes) + `"}`)
		good := body(ep.typ, "totp")
		cases := []struct {
			name      string
			opts      opts
			body      string
			truncated bool
			ctype     string
			want      func(*testing.T) answer
		}{
			// Declared as JSON, or refused: a cross-site form or text/plain
			// POST needs no consent of the site.
			{name: "no content type", body: good, ctype: "-", want: glue(profile.InvalidBody, "5913")},
			{name: "text/plain", body: good, ctype: "text/plain", want: glue(profile.InvalidBody, "5913")},
			{name: "form", body: good, ctype: "application/x-www-form-urlencoded", want: glue(profile.InvalidBody, "5913")},
			{name: "multipart", body: good, ctype: "multipart/form-data; boundary=x", want: glue(profile.InvalidBody, "5913")},
			{name: "JSON suffix of another type", body: good, ctype: "application/problem+json", want: glue(profile.InvalidBody, "5913")},
			{name: "another charset", body: good, ctype: "application/json; charset=utf-16", want: glue(profile.InvalidBody, "5913")},
			{name: "unknown parameter", body: good, ctype: "application/json; x=1", want: glue(profile.InvalidBody, "5913")},
			{name: "two content types joined", body: good, ctype: "application/json, text/plain", want: glue(profile.InvalidBody, "5913")},
			{name: "malformed content type", body: good, ctype: "application/", want: glue(profile.InvalidBody, "5913")},
			{name: "content type, problem", opts: opts{profile: profile.Problem}, body: good, ctype: "text/plain", want: problem(profile.InvalidBody)},
			// One member name, one meaning: no repeats, no case variants of
			// the names read (encoding/json would take the last, or match
			// regardless of case).
			{name: "repeated type", body: `{"data":{"type":"` + ep.typ + `","attributes":{"type":"totp","type":"email"}}}`, want: glue(profile.InvalidBody, "5913")},
			{name: "repeated data", body: good[:len(good)-1] + `,"data":null}`, want: glue(profile.InvalidBody, "5913")},
			{name: "repeated, escaped", body: `{"data":{"type":"` + ep.typ + `","attributes":{"type":"totp","\u0074ype":"email"}}}`, want: glue(profile.InvalidBody, "5913")},
			{name: "repeated in an ignored member", body: `{"meta":{"a":1,"a":2},` + good[1:], want: glue(profile.InvalidBody, "5913")},
			{name: "case variant of type", body: `{"data":{"type":"` + ep.typ + `","attributes":{"Type":"totp"}}}`, want: glue(profile.InvalidBody, "5913")},
			{name: "case variant next to the name", body: `{"data":{"type":"` + ep.typ + `","attributes":{"type":"totp","TYPE":"email"}}}`, want: glue(profile.InvalidBody, "5913")},
			{name: "case variant of data", body: `{"Data":{"type":"` + ep.typ + `","attributes":{"type":"totp"}}}`, want: glue(profile.InvalidBody, "5913")},
			{name: "case variant of attributes", body: `{"data":{"type":"` + ep.typ + `","ATTRIBUTES":{"type":"totp"}}}`, want: glue(profile.InvalidBody, "5913")},
			{name: "long s in attributes", body: `{"data":{"type":"` + ep.typ + `","attributeſ":{"type":"totp"}}}`, want: glue(profile.InvalidBody, "5913")},
			{name: "dotless i in attributes", body: `{"data":{"type":"` + ep.typ + `","attrıbutes":{"type":"totp"}}}`, want: glue(profile.InvalidBody, "5913")},
			{name: "case variant of destination", body: `{"data":{"type":"` + ep.typ + `","attributes":{"type":"totp","Destination":"` + aliceEmail + `"}}}`, want: glue(profile.InvalidBody, "5913")},
			{name: "too deep", body: `{"meta":` + strings.Repeat("[", 40) + strings.Repeat("]", 40) + `,` + good[1:], want: glue(profile.InvalidBody, "5913")},
			{name: "repeated, problem", opts: opts{profile: profile.Problem}, body: `{"data":{"type":"` + ep.typ + `","type":"` + ep.typ + `"}}`, want: problem(profile.InvalidBody)},

			{name: "absent", body: "", want: glue(profile.InvalidBody, "5913")},
			{name: "truncated", body: body(ep.typ, "totp"), truncated: true, want: glue(profile.InvalidBody, "5913")},
			{name: "over max_body_bytes", body: long, want: glue(profile.InvalidBody, "5913")},
			{name: "not JSON", body: "type=totp", want: glue(profile.InvalidBody, "5913")},
			{name: "cut JSON", body: body(ep.typ, "totp")[:30], want: glue(profile.InvalidBody, "5913")},
			{name: "two documents", body: body(ep.typ, "totp") + "{}", want: glue(profile.InvalidBody, "5913")},
			{name: "another endpoint's data.type", body: body(ep.other, "totp"), want: glue(profile.InvalidBody, "5913")},
			{name: "data.type in another case", body: body(strings.ToUpper(ep.typ), "totp"), want: glue(profile.InvalidBody, "5913")},
			{name: "no data", body: `{"meta":{}}`, want: glue(profile.InvalidBody, "5913")},
			{name: "data null", body: `{"data":null}`, want: glue(profile.InvalidBody, "5913")},
			{name: "attributes not an object", body: doc(`,"attributes":"totp"`), want: glue(profile.InvalidBody, "5913")},
			{name: "type not a string", body: doc(`,"attributes":{"type":1}`), want: glue(profile.InvalidBody, "5913")},
			{name: "no attributes", body: doc(""), want: glue(profile.TypeMissing, "5902")},
			{name: "attributes null", body: doc(`,"attributes":null`), want: glue(profile.TypeMissing, "5902")},
			{name: "no type", body: doc(`,"attributes":{"destination":"` + aliceEmail + `"}`), want: glue(profile.TypeMissing, "5902")},
			{name: "blank type", body: body(ep.typ, " \t"), want: glue(profile.TypeMissing, "5902")},
			{name: "unknown type", body: body(ep.typ, "push"), want: glue(profile.TypeNotFound, "5906")},
			{name: "recovery is no type", body: body(ep.typ, "recovery"), want: glue(profile.TypeNotFound, "5906")},
			{name: "type without a sender", opts: opts{noSMS: true}, body: body(ep.typ, "sms"), want: glue(profile.TypeNotFound, "5906")},
			{name: "problem absent", opts: opts{profile: profile.Problem}, body: "", want: problem(profile.InvalidBody)},
			{name: "problem no type", opts: opts{profile: profile.Problem}, body: doc(""), want: problem(profile.TypeMissing)},
			{name: "problem unknown type", opts: opts{profile: profile.Problem}, body: body(ep.typ, "push"), want: problem(profile.TypeNotFound)},
		}
		for _, c := range cases {
			rows = append(rows, row{
				name: ep.typ + " " + c.name,
				opts: c.opts,
				// A user with every factor: no state could be the cause.
				setup: func(t *testing.T, e *env) {
					e.enabledTOTP(t, "alice")
					e.oob(t, "alice", "email", aliceEmail, true)
				},
				req:  req{path: ep.path, user: "alice", code: "123456", body: c.body, truncated: c.truncated, ctype: c.ctype},
				want: c.want,
				after: func(t *testing.T, e *env, _ profile.Answer) {
					if enr := e.enrollment(t, "alice"); enr == nil || len(enr.Methods()) != 2 {
						t.Errorf("enrollment changed: %+v", enr)
					}
					e.expectNothingSent(t)
				},
			})
		}
	}
	run(t, rows)
}

// JSON and JSON:API bodies are read in any letter case, with a UTF-8
// charset or JSON:API's own parameters.
func TestBodyContentTypes(t *testing.T) {
	var rows []row
	for _, ct := range []string{
		"application/vnd.api+json",
		"application/json",
		"Application/JSON; Charset=UTF-8",
		`application/json;charset="utf-8"`,
		`application/vnd.api+json; ext="https://jsonapi.org/ext/atomic"; profile="https://example.com/p"`,
	} {
		rows = append(rows, row{
			name: ct,
			req:  req{path: config.DefaultActivatePath, user: "alice", body: body(mfaapi.TypeActivate, "totp"), ctype: ct},
			want: is(documentLike(`\{"data":\{"type":"multi-factor-auth-type-activate","id":"totp",.*`)),
		})
	}
	run(t, rows)
}
