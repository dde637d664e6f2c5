package authz

import (
	"context"
	"testing"

	"github.com/mfa-authz/mfa-authz/authz/profile"
	"github.com/mfa-authz/mfa-authz/policy"
)

// Headers that frameworks honour in place of the target or the Host, and a
// _method in a form body, make the request as protected as the strictest
// reading they allow; without them the same requests pass.
func TestOverrideHeadersAndFormMethod(t *testing.T) {
	f := newFixture(t, func(_ *Options, pc *policy.Config) {
		pc.Rules = append(pc.Rules, policy.RuleConfig{Host: "admin.example.com", Path: "/settings/**", Methods: []string{"GET", "POST"}})
	})
	f.enroll("alice")
	check := func(method, path string, h MapHeader, body string) Decision {
		h["x-user-id"] = "alice"
		return f.engine.Check(context.Background(), &Request{Method: method, Host: "shop.example.com", Path: path, Header: h, Body: []byte(body)})
	}
	for _, c := range []struct {
		name         string
		method, path string
		h            MapHeader
		body         string
	}{
		{"X-Original-URL", "POST", "/catalog", MapHeader{"x-original-url": "/customer-password/1"}, ""},
		{"X-Original-URL with a query", "POST", "/catalog", MapHeader{"x-original-url": "/customer-password/1?a=b"}, ""},
		{"X-Rewrite-URL", "POST", "/catalog", MapHeader{"x-rewrite-url": "/customer-password/1"}, ""},
		{"X-Rewrite-URL in a list", "POST", "/catalog", MapHeader{"x-rewrite-url": "/catalog, /customer-password/1"}, ""},
		{"X-Forwarded-Prefix", "POST", "/1", MapHeader{"x-forwarded-prefix": "/customer-password"}, ""},
		{"X-Forwarded-Prefix with a slash", "POST", "/1", MapHeader{"x-forwarded-prefix": "/customer-password/"}, ""},
		{"X-Forwarded-Host", "GET", "/settings/mfa", MapHeader{"x-forwarded-host": "admin.example.com"}, ""},
		{"X-Forwarded-Host list", "GET", "/settings/mfa", MapHeader{"x-forwarded-host": "shop.example.com, admin.example.com"}, ""},
		{"Forwarded host=", "GET", "/settings/mfa", MapHeader{"forwarded": `for=192.0.2.1;proto=https;host="admin.example.com"`}, ""},
		{"Forwarded HOST= in a second element", "GET", "/settings/mfa", MapHeader{"forwarded": "for=192.0.2.1, for=198.51.100.2;HOST=admin.example.com"}, ""},
		{"_method in a form body", "GET", "/carts/1", MapHeader{"content-type": "application/x-www-form-urlencoded"}, "qty=1&_method=DELETE"},
		{"_method encoded in a form body", "GET", "/carts/1", MapHeader{"content-type": "Application/X-WWW-Form-Urlencoded; charset=utf-8"}, "%5Fmethod=PATCH"},
		{"_method in a multipart body", "GET", "/carts/1", MapHeader{"content-type": "multipart/form-data; boundary=x"}, "--x\r\nContent-Disposition: form-data; name=\"_method\"\r\n\r\nDELETE\r\n--x--"},
	} {
		t.Run(c.name, func(t *testing.T) {
			expectDeny(t, check(c.method, c.path, c.h, c.body), profile.Missing, 403, "no code")
			// The same request without the override passes.
			plain := MapHeader{}
			if ct, ok := c.h["content-type"]; ok {
				plain["content-type"] = ct
			}
			if d := check(c.method, c.path, plain, ""); !d.Allowed {
				t.Fatalf("without the override: denied %s %s", d.Reason, d.Detail)
			}
		})
	}
	// A form body cut short may hide a _method: any method.
	d := f.engine.Check(context.Background(), &Request{Method: "GET", Host: "shop.example.com", Path: "/carts/1",
		Header: MapHeader{"x-user-id": "alice", "content-type": "application/x-www-form-urlencoded"}, Body: []byte("qty=1"), BodyTruncated: true})
	expectDeny(t, d, profile.Missing, 403, "no code")
	// A repeated override header whose copies the transport did not join
	// cannot be read: the strictest rule for the host.
	d = f.engine.Check(context.Background(), &Request{Method: "POST", Host: "shop.example.com", Path: "/catalog",
		Header: twice{MapHeader{"x-user-id": "alice"}, "x-original-url", "/catalog"}})
	expectDeny(t, d, profile.Missing, 403, "no code")
	d = f.engine.Check(context.Background(), &Request{Method: "GET", Host: "shop.example.com", Path: "/settings/mfa",
		Header: twice{MapHeader{"x-user-id": "alice"}, "x-forwarded-host", "shop.example.com"}})
	expectDeny(t, d, profile.Missing, 403, "no code")
	// A body that is not a form says nothing of the method.
	d = check("GET", "/carts/1", MapHeader{"content-type": "application/json"}, `{"_method":"DELETE"}`)
	if !d.Allowed {
		t.Errorf("JSON body: denied %s %s", d.Reason, d.Detail)
	}
}
