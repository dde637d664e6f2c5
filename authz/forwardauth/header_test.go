package forwardauth

import (
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"strings"
	"testing"
)

func TestHeadersLookup(t *testing.T) {
	parsed := http.Header{}
	parsed.Set("X-Mfa-Code", "123456")
	parsed.Set("X-User-Id", "alice")
	parsed.Add("X-Forwarded-Uri", "/a")
	parsed.Add("X-Forwarded-Uri", "/b")
	parsed.Set("Empty", "")
	parsed["Weird Key"] = []string{"kept as sent"} // net/http keeps non-token names verbatim
	parsed["None"] = []string{}

	// Keys not in canonical form break http.Header's contract; like
	// http.Header.Get, Lookup does not find them.
	handBuilt := http.Header{"x-user-id": {"alice"}}

	for _, c := range []struct {
		name   string
		h      http.Header
		lookup string
		value  string
		n      int
	}{
		{"canonical hit", parsed, "x-mfa-code", "123456", 1},
		{"second header", parsed, "x-user-id", "alice", 1},
		{"repeated lines count apart", parsed, "x-forwarded-uri", "/a", 2},
		{"empty value is present", parsed, "empty", "", 1},
		{"no values is absent", parsed, "none", "", 0},
		{"absent", parsed, "authorization", "", 0},
		{"non-token name searched", parsed, "weird key", "kept as sent", 1},
		{"non-canonical key", handBuilt, "x-user-id", "", 0},
		{"nil map", nil, "x-mfa-code", "", 0},
	} {
		v, n := header(c.h).Lookup(c.lookup)
		if n != c.n || (c.n == 1 && v != c.value) || (c.n == 0 && v != "") {
			t.Errorf("%s: Lookup(%q) = %q, %d; want %q, %d", c.name, c.lookup, v, n, c.value, c.n)
		}
	}
}

func TestLongNameIsSearched(t *testing.T) {
	name := "x-" + strings.Repeat("a", maxCanonical)
	h := http.Header{}
	h.Set(name, "v")
	if v, n := header(h).Lookup(name); v != "v" || n != 1 {
		t.Fatalf("Lookup(long name) = %q, %d", v, n)
	}
}

func TestCanonicalKeyMatchesTextproto(t *testing.T) {
	for _, name := range []string{"x-mfa-code", "X-MFA-CODE", "authorization", "x-request-id", "content-md5",
		"x--double", "-lead", "trail-", "x_under_score", "a1-b2", "x-http-method-override"} {
		var buf [maxCanonical]byte
		got, ok := canonicalKey(&buf, name)
		want := textproto.CanonicalMIMEHeaderKey(name)
		if !ok || string(got) != want {
			t.Errorf("canonicalKey(%q) = %q, %v; want %q", name, got, ok, want)
		}
	}
	for _, name := range []string{"", "a b", "a:b", "é"} {
		var buf [maxCanonical]byte
		if _, ok := canonicalKey(&buf, name); ok {
			t.Errorf("canonicalKey(%q) accepted a non-token", name)
		}
	}
}

func TestLookupDoesNotAllocate(t *testing.T) {
	h := http.Header{}
	h.Set("X-User-Id", "alice")
	h.Set("X-Mfa-Code", "123456")
	hv := header(h)
	allocs := testing.AllocsPerRun(100, func() {
		hv.Lookup("x-user-id")
		hv.Lookup("x-mfa-code")
		hv.Lookup("x-http-method-override")
	})
	if allocs != 0 {
		t.Fatalf("Lookup allocates %.1f times per run", allocs)
	}
}

func TestCutPrefix(t *testing.T) {
	for _, c := range []struct {
		uri, rest string
		ok        bool
	}{
		{"/ext-authz/carts/1?x=1", "/carts/1?x=1", true},
		{"/ext-authz//carts/../carts/1", "//carts/../carts/1", true},
		{"/ext-authz", "", true},
		{"/ext-authz?x=1", "?x=1", true},
		{"/ext-authzfoo/carts", "", false},
		{"/other/ext-authz/carts", "", false},
		{"http://shop/ext-authz/carts", "", false},
	} {
		rest, ok := cutPrefix(c.uri, "/ext-authz")
		if rest != c.rest || ok != c.ok {
			t.Errorf("cutPrefix(%q) = %q, %v; want %q, %v", c.uri, rest, ok, c.rest, c.ok)
		}
	}
}

func TestDeliverable(t *testing.T) {
	for _, c := range []struct {
		status         int
		forward, envoy bool
	}{
		{100, false, false}, {103, false, false},
		{200, false, false}, {201, false, true}, {204, false, true}, {299, false, true},
		{302, true, true}, {401, true, true}, {403, true, true}, {409, true, true}, {429, true, true},
		{503, true, true}, {600, false, false}, {0, false, false}, {-1, false, false},
	} {
		if got := deliverable(c.status, false); got != c.forward {
			t.Errorf("deliverable(%d, forward-auth) = %v", c.status, got)
		}
		if got := deliverable(c.status, true); got != c.envoy {
			t.Errorf("deliverable(%d, envoy) = %v", c.status, got)
		}
	}
}

func TestEnvoyRequestBody(t *testing.T) {
	for _, c := range []struct {
		name      string
		body      string
		partial   bool
		want      int
		truncated bool
	}{
		{"none", "", false, 0, false},
		{"small", `{"type":"totp"}`, false, 15, false},
		{"marked partial by Envoy", `{"type":`, true, 8, true},
		{"over the limit", strings.Repeat("x", maxBody+10), false, maxBody, true},
	} {
		req := httptest.NewRequest("POST", "/ext-authz/x", strings.NewReader(c.body))
		if c.partial {
			req.Header.Set("X-Envoy-Auth-Partial-Body", "true")
		}
		r, problem := envoyRequest(req, "/x")
		if problem != "" || len(r.Body) != c.want || r.BodyTruncated != c.truncated {
			t.Errorf("%s: body %d bytes, truncated %v, problem %q; want %d, %v", c.name, len(r.Body), r.BodyTruncated, problem, c.want, c.truncated)
		}
	}
}
