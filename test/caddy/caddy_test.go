// Package caddy runs mfa-authz's forward-auth endpoint behind a real
// Caddy: the real mfa-authz binary, users enrolled through its CLI, Caddy's
// forward_auth in front of an upstream that echoes what it received. The
// assertions are made on what a client gets through Caddy and on what the
// upstream saw.
package caddy

import (
	"testing"

	"github.com/mfa-authz/mfa-authz/test/testproc"
)

const protectedPath = "/customer-password/DE--42"

func TestCaddyForwardAuth(t *testing.T) {
	caddyBin := testproc.Require(t, "caddy")
	bin := testproc.BuildT(t)
	up := startUpstream(t)
	glue, alice := startMFAAuthz(t, bin, "glue", "alice")
	problem, _ := startMFAAuthz(t, bin, "problem", "alice")
	glueSite, problemSite := testproc.FreeAddr(t), testproc.FreeAddr(t)
	caddy := startCaddy(t, caddyBin, []site{{glueSite, glue.httpAddr}, {problemSite, problem.httpAddr}}, up.addr)
	logs := func() string { return caddy.Tail() + glue.Tail() + problem.Tail() }

	// denied asserts that a request got exactly this denial and did not
	// reach the upstream.
	denied := func(t *testing.T, addr string, r request, status int, contentType, body string) {
		t.Helper()
		before := up.hits.Load()
		resp := send(t, addr, r)
		if resp.status != status || resp.body != body {
			t.Fatalf("got %d %s\nwant %d %s%s", resp.status, resp.body, status, body, logs())
		}
		if got := resp.header.Values("Content-Type"); len(got) != 1 || got[0] != contentType {
			t.Errorf("content-type %q, want %q", got, contentType)
		}
		if got := resp.header.Get("Cache-Control"); got != "no-store" {
			t.Errorf("cache-control %q, want no-store", got)
		}
		if n := up.hits.Load() - before; n != 0 {
			t.Errorf("a denied request reached the upstream %d times", n)
		}
	}
	// allowed asserts that a request reached the upstream and returns what
	// the upstream saw. No MFA code ever reaches it.
	allowed := func(t *testing.T, r request) echo {
		t.Helper()
		resp := send(t, glueSite, r)
		if resp.status != 200 {
			t.Fatalf("got %d %s, want the upstream's answer%s", resp.status, resp.body, logs())
		}
		e := upstreamEcho(t, resp)
		if e.Method != r.method || e.URI != r.path {
			t.Errorf("upstream saw %s %s, want %s %s", e.Method, e.URI, r.method, r.path)
		}
		if got := e.Header.Values("X-Mfa-Code"); len(got) != 0 {
			t.Errorf("the MFA code reached the upstream: %q", got)
		}
		return e
	}
	user := [2]string{"X-User-Id", "alice"}

	t.Run("protected without code: glue denial", func(t *testing.T) {
		denied(t, glueSite, request{"POST", protectedPath, [][2]string{user}}, 403, "application/json",
			`{"errors":[{"status":403,"code":"5900","detail":"X-MFA-Code header is missing."}]}`)
	})

	t.Run("protected without code: problem denial", func(t *testing.T) {
		denied(t, problemSite, request{"POST", protectedPath, [][2]string{user, {"X-Request-Id", "req-42"}}},
			409, "application/problem+json",
			`{"type":"/problems/mfa/missing-code","type_documentation":"https://docs.example.com/problems/mfa/missing-code",`+
				`"title":"'X-MFA-Code' header missing","status":409,`+
				`"detail":"Action is secured with MFA. Please provide 'X-MFA-Code' header.","flow_id":"req-42"}`)
	})

	t.Run("protected with a wrong code", func(t *testing.T) {
		wrong := wrongCode(t, alice)
		denied(t, glueSite, request{"POST", protectedPath, [][2]string{user, {"X-MFA-Code", wrong}}}, 403,
			"application/json", `{"errors":[{"status":403,"code":"5901","detail":"X-MFA-Code is invalid."}]}`)
	})

	if !t.Run("protected with the right code", func(t *testing.T) {
		// The client also claims a factor of its own: the upstream must see
		// only the one mfa-authz names.
		e := allowed(t, request{"POST", protectedPath, [][2]string{user, {"X-MFA-Code", code(t, alice)}, {"X-Mfa-Method", "sms"}}})
		if got := e.Header.Values("X-Mfa-Method"); len(got) != 1 || got[0] != "totp" {
			t.Errorf("upstream saw X-Mfa-Method %q, want exactly [totp]", got)
		}
	}) {
		t.FailNow()
	}

	t.Run("grace: the next request needs no code", func(t *testing.T) {
		e := allowed(t, request{"PATCH", protectedPath, [][2]string{user}})
		if got := e.Header.Values("X-Mfa-Method"); len(got) != 1 || got[0] != "totp" {
			t.Errorf("upstream saw X-Mfa-Method %q, want exactly [totp]", got)
		}
	})

	// noFactor asserts that the upstream saw no X-Mfa-Method at all.
	noFactor := func(t *testing.T, e echo) {
		t.Helper()
		if got, ok := e.Header["X-Mfa-Method"]; ok {
			t.Errorf("upstream saw X-Mfa-Method %q on an unprotected route, want none", got)
		}
	}

	t.Run("unprotected", func(t *testing.T) {
		noFactor(t, allowed(t, request{"GET", protectedPath, nil}))
	})

	t.Run("self-service endpoints are answered by mfa-authz", func(t *testing.T) {
		before := up.hits.Load()
		resp := send(t, glueSite, request{"GET", "/multi-factor-auth-types", [][2]string{user}})
		want := `{"data":[{"type":"multi-factor-auth-types","id":"totp","attributes":{"type":"totp","status":2}}]}`
		if resp.status != 200 || resp.body != want || resp.header.Get("Content-Type") != "application/json" {
			t.Errorf("got %d %q %s\nwant 200 application/json %s%s", resp.status, resp.header.Get("Content-Type"), resp.body, want, logs())
		}
		// The body reaches mfa-authz through Caddy, and its error answer
		// comes back as it is.
		resp = sendBody(t, glueSite, request{"POST", "/multi-factor-auth-type-activate", [][2]string{user, {"Content-Type", "application/json"}}},
			`{"data":{"type":"multi-factor-auth-type-activate","attributes":{"type":"totp"}}}`)
		want = `{"errors":[{"status":400,"code":"5904","detail":"MFA type already activated."}]}`
		if resp.status != 400 || resp.body != want {
			t.Errorf("activate an enabled factor: got %d %s, want 400 %s%s", resp.status, resp.body, want, logs())
		}
		if n := up.hits.Load() - before; n != 0 {
			t.Errorf("self-service requests reached the upstream %d times", n)
		}
	})

	t.Run("forged method and code on an unprotected route", func(t *testing.T) {
		// Caddy removes the client's X-Mfa-Method before forward_auth and
		// mfa-authz names no factor here, so none reaches the upstream;
		// allowed checks that the code does not either.
		noFactor(t, allowed(t, request{"GET", "/catalog?page=2", [][2]string{{"X-Mfa-Method", "totp"}, {"X-MFA-Code", "123456"}}}))
	})
}
