// Package e2e runs the real mfa-authz binary: it enrolls users through the
// CLI, serves ext_authz over gRPC as a child process, and checks the exact
// answers a gRPC client (Envoy's role) gets.
package e2e

import (
	"context"
	"encoding/base32"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
)

// TestGlue is the main scenario: the glue profile, users enrolled through
// the CLI, one server (restarted once at the end).
func TestGlue(t *testing.T) {
	t.Parallel()
	e := newEnv(t, cfgOpts{})
	users := map[string]*factor{}
	must := func(ok bool) {
		if !ok {
			t.FailNow()
		}
	}

	// --- Enrollment through the CLI, before the server runs.

	must(t.Run("enroll json output", func(t *testing.T) {
		f := enrollJSON(t, e.cfg, "alice")
		key, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(f.secret)
		if err != nil || len(key) < 16 {
			t.Fatalf("secret %q is not unpadded base32 of at least 128 bits (%d bytes, %v)", f.secret, len(key), err)
		}
		checkRecoveryCodes(t, f.recovery) // alice's first factor
		users["alice"] = f
	}))

	must(t.Run("enroll text output", func(t *testing.T) {
		res := runCLI(t, "enroll", "totp", "--user", "bob", "--config", e.cfg)
		if res.code != 0 {
			t.Fatalf("want exit status 0\n%s", res)
		}
		// bob's first factor: the recovery codes follow the factor.
		m := regexp.MustCompile(`^Enrolled TOTP for user "bob"\.\nSecret: ([A-Z2-7]+)\nURI:    (otpauth://totp/\S+)\n` +
			fmt.Sprintf(recoveryTextRE, "bob") + `$`).FindStringSubmatch(res.stdout)
		if m == nil {
			t.Fatalf("stdout is not the documented text form\n%s", res)
		}
		if got := uriSecret(t, m[2]); got != m[1] {
			t.Fatalf("URI secret %q differs from the printed secret %q", got, m[1])
		}
		users["bob"] = newFactor(t, "bob", m[1], m[2])
		users["bob"].recovery = parseRecoveryText(t, m[3])
		if users["bob"].secret == users["alice"].secret {
			t.Fatalf("alice and bob got the same secret %q", users["bob"].secret)
		}
	}))

	t.Run("enroll again without --force is refused", func(t *testing.T) {
		res := runCLI(t, "enroll", "totp", "--user", "alice", "--config", e.cfg, "--output", "json")
		if res.code != 1 {
			t.Errorf("want exit status 1\n%s", res)
		}
		if want := `mfa-authz: user "alice" already has a TOTP secret; use --force to replace it`; !strings.Contains(res.stderr, want) {
			t.Errorf("stderr lacks %q\n%s", want, res)
		}
		if res.stdout != "" {
			t.Errorf("a refused enrollment printed to stdout\n%s", res)
		}
	})

	var frankOld *factor
	must(t.Run("enroll --force replaces the secret", func(t *testing.T) {
		frankOld = enrollJSON(t, e.cfg, "frank")
		f := enrollJSON(t, e.cfg, "frank", "--force")
		if f.secret == frankOld.secret {
			t.Fatalf("--force kept the old secret %q", f.secret)
		}
		// Replacing an enabled factor is not a first factor: the codes
		// printed with the first enrollment stay the user's.
		if len(frankOld.recovery) != 10 || f.recovery != nil {
			t.Fatalf("recovery codes: first enrollment printed %q, --force printed %q; want 10, then none", frankOld.recovery, f.recovery)
		}
		res := runCLI(t, "user", "show", "--user", "frank", "--config", e.cfg)
		if want := "User \"frank\"\n  totp   enabled\nUnused recovery codes: 10\n"; res.code != 0 || res.stdout != want {
			t.Fatalf("user show after --force: want %q (the first codes kept)\n%s", want, res)
		}
		users["frank"] = f
	}))

	t.Run("enroll --qr writes a PNG", func(t *testing.T) {
		png := filepath.Join(t.TempDir(), "quinn.png")
		res := runCLI(t, "enroll", "totp", "--user", "quinn", "--config", e.cfg, "--qr", png)
		if res.code != 0 {
			t.Fatalf("want exit status 0\n%s", res)
		}
		// The QR line follows the URI; quinn's first factor's recovery
		// codes come last.
		m := regexp.MustCompile(`^Enrolled TOTP for user "quinn"\.\nSecret: [A-Z2-7]+\nURI:    otpauth://totp/\S+\nQR:     ` +
			regexp.QuoteMeta(png) + `\n` + fmt.Sprintf(recoveryTextRE, "quinn") + `$`).FindStringSubmatch(res.stdout)
		if m == nil {
			t.Errorf("stdout is not the text form with a QR line and recovery codes\n%s", res)
		}
		data, err := os.ReadFile(png)
		if err != nil {
			t.Fatalf("QR file: %v\n%s", err, res)
		}
		if !isPNG(data) || len(data) < 100 {
			t.Errorf("QR file is not a PNG: %d bytes starting %q", len(data), data[:min(len(data), 8)])
		}
		fi, err := os.Stat(png)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("QR file holds the secret but has mode %v, want 0600", fi.Mode().Perm())
		}
	})

	t.Run("enroll --qr to an unwritable path stores nothing", func(t *testing.T) {
		png := filepath.Join(t.TempDir(), "missing-dir", "yusuf.png")
		res := runCLI(t, "enroll", "totp", "--user", "yusuf", "--config", e.cfg, "--qr", png)
		if res.code != 1 || !strings.Contains(res.stderr, "--qr") {
			t.Errorf("want exit status 1 and stderr naming --qr\n%s", res)
		}
		if strings.Contains(res.stdout, "Secret:") {
			t.Errorf("a failed enrollment printed a secret\n%s", res)
		}
		// The secret was never shown to anyone, so it must not have been
		// stored: enrolling again without --force must work.
		again := runCLI(t, "enroll", "totp", "--user", "yusuf", "--config", e.cfg, "--output", "json")
		if again.code != 0 {
			t.Errorf("after the failed --qr enrollment, a plain enrollment is refused: the unseen secret was stored\n%s", again)
		}
	})

	t.Run("enroll bad flags exit 2", func(t *testing.T) {
		for _, tc := range []struct {
			args []string
			want string
		}{
			{[]string{"enroll"}, "enroll: name a method: totp"},
			{[]string{"enroll", "sms", "--user", "xavier", "--config", e.cfg}, `--destination must be an E.164 phone number`},
			{[]string{"enroll", "push", "--user", "xavier", "--config", e.cfg}, `unknown method "push"`},
			{[]string{"enroll", "totp", "--user", "xavier", "--config", e.cfg, "--bogus"}, "flag provided but not defined: -bogus"},
			{[]string{"enroll", "totp", "--config", e.cfg}, "--user ID is required"},
			{[]string{"enroll", "totp", "--user", "xavier"}, "--config FILE is required"},
			{[]string{"enroll", "totp", "--user", "xavier", "--config", e.cfg, "--output", "yaml"}, `--output must be text or json, got "yaml"`},
			{[]string{"enroll", "totp", "--user", "xavier", "--config", e.cfg, "surplus"}, `unexpected argument "surplus"`},
		} {
			res := runCLI(t, tc.args...)
			if res.code != 2 || !strings.Contains(res.stderr, tc.want) {
				t.Errorf("want exit status 2 and stderr naming %q\n%s", tc.want, res)
			}
			if res.stdout != "" {
				t.Errorf("a usage error printed to stdout\n%s", res)
			}
		}
		// None of them enrolled xavier: a plain enrollment still succeeds.
		enrollJSON(t, e.cfg, "xavier")
	})

	must(t.Run("enroll a second factor prints no recovery codes", func(t *testing.T) {
		// hana: e-mail first (codes), then TOTP (none; the e-mail's stay).
		res := runCLI(t, "enroll", "email", "--user", "hana", "--destination", "hana@example.com", "--config", e.cfg, "--output", "json")
		var first struct {
			User, Method, Destination string
			RecoveryCodes             []string `json:"recovery_codes"`
		}
		if res.code != 0 || json.Unmarshal([]byte(res.stdout), &first) != nil || first.User != "hana" || first.Method != "email" {
			t.Fatalf("enroll email: want exit 0 and the JSON object\n%s", res)
		}
		checkRecoveryCodes(t, first.RecoveryCodes)
		f := enrollJSON(t, e.cfg, "hana")
		if f.recovery != nil {
			t.Fatalf("enroll totp as hana's second factor printed recovery codes %q", f.recovery)
		}
		res = runCLI(t, "user", "show", "--user", "hana", "--config", e.cfg)
		if want := "User \"hana\"\n  totp   enabled\n  email  enabled (h***@example.com)\nUnused recovery codes: 10\n"; res.code != 0 || res.stdout != want {
			t.Fatalf("user show: want %q (the e-mail's codes kept)\n%s", want, res)
		}
		f.recovery = first.RecoveryCodes
		users["hana"] = f

		// ivan, in text: TOTP first (codes), then SMS (none).
		res = runCLI(t, "enroll", "totp", "--user", "ivan", "--config", e.cfg)
		m := regexp.MustCompile(`^Enrolled TOTP for user "ivan"\.\nSecret: ([A-Z2-7]+)\nURI:    (otpauth://totp/\S+)\n` +
			fmt.Sprintf(recoveryTextRE, "ivan") + `$`).FindStringSubmatch(res.stdout)
		if res.code != 0 || m == nil {
			t.Fatalf("enroll totp: want exit 0 and the text form with recovery codes\n%s", res)
		}
		res = runCLI(t, "enroll", "sms", "--user", "ivan", "--destination", "+4915112345678", "--config", e.cfg)
		if want := "Enrolled sms for user \"ivan\": +4915112345678\n"; res.code != 0 || res.stdout != want {
			t.Fatalf("enroll sms as ivan's second factor: want exit 0 and exactly %q\n%s", want, res)
		}
		res = runCLI(t, "enroll", "sms", "--user", "ivan", "--destination", "+4915112345679", "--config", e.cfg, "--output", "json", "--force")
		if want := `{"user":"ivan","method":"sms","destination":"+4915112345679"}` + "\n"; res.code != 0 || res.stdout != want {
			t.Fatalf("enroll sms --force: want exit 0 and exactly %q\n%s", want, res)
		}
	}))

	must(t.Run("enroll remaining users", func(t *testing.T) {
		for _, u := range []string{"erin", "gina", "lou", "rita"} {
			users[u] = enrollJSON(t, e.cfg, u)
		}
	}))

	// --- The server.

	s := startServer(t, e)
	alice, bob := users["alice"], users["bob"]

	t.Run("reflection lists the services", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		stream, err := reflectionpb.NewServerReflectionClient(s.conn).ServerReflectionInfo(ctx)
		if err != nil {
			t.Fatalf("reflection: %v%s", err, s.Tail())
		}
		err = stream.Send(&reflectionpb.ServerReflectionRequest{
			MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{ListServices: "*"}})
		if err != nil {
			t.Fatalf("reflection send: %v%s", err, s.Tail())
		}
		resp, err := stream.Recv()
		if err != nil {
			t.Fatalf("reflection recv: %v%s", err, s.Tail())
		}
		_ = stream.CloseSend()
		var names []string
		for _, svc := range resp.GetListServicesResponse().GetService() {
			names = append(names, svc.GetName())
		}
		for _, want := range []string{"envoy.service.auth.v3.Authorization", "grpc.health.v1.Health"} {
			if !slices.Contains(names, want) {
				t.Errorf("reflection lists %q, want %s among them", names, want)
			}
		}
	})

	t.Run("health of the authorization service", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		resp, err := s.health.Check(ctx, &healthpb.HealthCheckRequest{Service: "envoy.service.auth.v3.Authorization"})
		if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			t.Errorf("health of envoy.service.auth.v3.Authorization: %v, %v; want SERVING%s", resp.GetStatus(), err, s.Tail())
		}
	})

	t.Run("logs are json", func(t *testing.T) {
		var found bool
		for _, line := range strings.Split(strings.TrimRight(s.Output(), "\n"), "\n") {
			var rec map[string]any
			if err := json.Unmarshal([]byte(line), &rec); err != nil {
				t.Errorf("log line is not JSON (log.format json): %v: %s", err, line)
				continue
			}
			if strings.Contains(line, "key file") {
				t.Errorf("warning about the key file, which is kept apart from the data with mode 0600: %s", line)
			}
			if rec["msg"] != "mfa-authz serving" {
				continue
			}
			found = true
			if rec["grpc_address"] != e.addr {
				t.Errorf("serving log line names grpc_address %v, want %s: %s", rec["grpc_address"], e.addr, line)
			}
		}
		if !found {
			t.Errorf("no JSON log line with msg \"mfa-authz serving\" (log.format json)%s", s.Tail())
		}
	})

	t.Run("unprotected GET on a protected path", func(t *testing.T) {
		s.expectAllowed(t, s.check(t, req{method: "GET", path: protectedPath, user: "alice"}.build(t)), "")
	})

	t.Run("unprotected POST on another path", func(t *testing.T) {
		s.expectAllowed(t, s.check(t, req{method: "POST", path: "/catalog-search?q=shoes", user: "alice"}.build(t)), "")
	})

	t.Run("protected without a code", func(t *testing.T) {
		r := protected("alice", "")
		r.requestID, r.id = "req-glue-1", "req-glue-1"
		s.expectDenied(t, s.check(t, r.build(t)), deny403(glueMissing))
	})

	t.Run("protected path in another case", func(t *testing.T) {
		r := protected("alice", "")
		r.path = "/Customer-Password/de--42"
		s.expectDenied(t, s.check(t, r.build(t)), deny403(glueMissing))
	})

	t.Run("protected through a method override header", func(t *testing.T) {
		r := req{method: "GET", path: protectedPath, user: "alice", extra: map[string]string{"x-http-method-override": "POST"}}
		s.expectDenied(t, s.check(t, r.build(t)), deny403(glueMissing))
	})

	t.Run("wrong code", func(t *testing.T) {
		s.expectDenied(t, s.check(t, protected("alice", alice.wrongCode(t)).build(t)), deny403(glueInvalid))
	})

	for _, code := range []string{"12ab56", "totp", "push 123456"} {
		t.Run("malformed code "+code, func(t *testing.T) {
			s.expectDenied(t, s.check(t, protected("alice", code).build(t)), deny403(glueInvalid))
		})
	}

	t.Run("sms code for a totp-only user", func(t *testing.T) {
		s.expectDenied(t, s.check(t, protected("alice", "sms 123456").build(t)), deny403(glueNotEnrolled))
	})

	must(t.Run("right code", func(t *testing.T) {
		code := alice.codeAt(t, alice.step())
		s.expectAllowed(t, s.check(t, protected("alice", code).build(t)), "totp")
	}))

	t.Run("grace: same user without a code", func(t *testing.T) {
		s.expectAllowed(t, s.check(t, protected("alice", "").build(t)), "totp")
	})

	t.Run("grace: other user without a code", func(t *testing.T) {
		s.expectDenied(t, s.check(t, protected("bob", "").build(t)), deny403(glueMissing))
	})

	t.Run("grace: other user with own code", func(t *testing.T) {
		s.expectAllowed(t, s.check(t, protected("bob", bob.codeAt(t, bob.step())).build(t)), "totp")
	})

	t.Run("replay with grace_period 0s", func(t *testing.T) {
		g := users["gina"]
		checkout := func(code string) req {
			return req{method: "POST", path: "/checkout/orders", user: "gina", code: code}
		}
		step := g.step()
		s.expectAllowed(t, s.check(t, checkout(g.codeAt(t, step)).build(t)), "totp")
		// Grace 0s: the session does not carry over to the next request.
		s.expectDenied(t, s.check(t, checkout("").build(t)), deny403(glueMissing))
		// The same code again is a replay.
		s.expectDenied(t, s.check(t, checkout(g.codeAt(t, step)).build(t)), deny403(glueInvalid))
		// The next step's code is fresh.
		s.expectAllowed(t, s.check(t, checkout(g.codeAt(t, step+1)).build(t)), "totp")
	})

	t.Run("recovery code printed by enroll works once", func(t *testing.T) {
		// The checkout route has no grace, so every request needs a code.
		for _, u := range []string{"bob", "hana"} {
			code := users[u].recovery[0]
			r := req{method: "POST", path: "/checkout/orders", user: u, code: "recovery " + code}
			s.expectAllowed(t, s.check(t, r.build(t)), "recovery")
			s.expectDenied(t, s.check(t, r.build(t)), deny403(glueInvalid))
			// Typed in lower case, another code works too.
			r.code = "recovery " + strings.ToLower(users[u].recovery[1])
			s.expectAllowed(t, s.check(t, r.build(t)), "recovery")
		}
		// A code of another user is no code of this one.
		r := req{method: "POST", path: "/checkout/orders", user: "hana", code: "recovery " + users["alice"].recovery[0]}
		s.expectDenied(t, s.check(t, r.build(t)), deny403(glueInvalid))
	})

	t.Run("lockout after 5 wrong codes", func(t *testing.T) {
		l := users["lou"]
		for i := range 5 {
			resp := s.check(t, protected("lou", l.wrongCode(t)).build(t))
			t.Logf("wrong code %d", i+1)
			s.expectDenied(t, resp, deny403(glueInvalid))
		}
		want := denial{rpc: codes.PermissionDenied, status: 429, contentType: glueType, body: glueTooMany, retryAfter: 900}
		s.expectDenied(t, s.check(t, protected("lou", l.codeAt(t, l.step())).build(t)), want)
	})

	t.Run("anonymous denied", func(t *testing.T) {
		s.expectDenied(t, s.check(t, protected("", "").build(t)), deny400(glueNoIdentity))
	})

	t.Run("unenrolled user", func(t *testing.T) {
		s.expectDenied(t, s.check(t, protected("carol", "").build(t)), deny403(glueNotEnrolled))
		s.expectDenied(t, s.check(t, protected("carol", "123456").build(t)), deny403(glueNotEnrolled))
	})

	t.Run("jwt metadata identity", func(t *testing.T) {
		f := users["erin"]
		jwt := func(code string) req {
			return req{method: "POST", path: protectedPath, code: code, jwtSub: "erin"}
		}
		// Identified by the claim: asked for a code, not for an identity.
		s.expectDenied(t, s.check(t, jwt("").build(t)), deny403(glueMissing))
		// The claim wins over the header: alice's session does not apply.
		r := jwt("")
		r.user = "alice"
		s.expectDenied(t, s.check(t, r.build(t)), deny403(glueMissing))
		s.expectAllowed(t, s.check(t, jwt(f.codeAt(t, f.step())).build(t)), "totp")
		// The session belongs to the user id, whichever source named it.
		s.expectAllowed(t, s.check(t, protected("erin", "").build(t)), "totp")
	})

	t.Run("enroll --force invalidates the old secret", func(t *testing.T) {
		s.expectDenied(t, s.check(t, protected("frank", frankOld.codeAt(t, frankOld.step())).build(t)), deny403(glueInvalid))
	})

	t.Run("header_map with raw values", func(t *testing.T) {
		f := users["frank"]
		hm := func(code string) *authv3.CheckRequest {
			hs := []*corev3.HeaderValue{
				{Key: ":method", RawValue: []byte("POST")},
				{Key: ":path", RawValue: []byte(protectedPath)},
				{Key: ":authority", RawValue: []byte(host)},
				{Key: "X-User-Id", RawValue: []byte("frank")},
				{Key: "X-Request-Id", RawValue: []byte("req-header-map")},
			}
			if code != "" {
				hs = append(hs, &corev3.HeaderValue{Key: "X-MFA-Code", RawValue: []byte(code)})
			}
			return &authv3.CheckRequest{Attributes: &authv3.AttributeContext{Request: &authv3.AttributeContext_Request{
				Http: &authv3.AttributeContext_HttpRequest{HeaderMap: &corev3.HeaderMap{Headers: hs}},
			}}}
		}
		s.expectDenied(t, s.check(t, hm("")), deny403(glueMissing))
		s.expectAllowed(t, s.check(t, hm(f.codeAt(t, f.step()))), "totp")
	})

	t.Run("malformed check requests", func(t *testing.T) {
		bad := denial{rpc: codes.InvalidArgument, status: 503, contentType: glueType, body: glueUnavailable}
		s.expectDenied(t, s.check(t, &authv3.CheckRequest{}), bad)
		noPath := &authv3.CheckRequest{Attributes: &authv3.AttributeContext{Request: &authv3.AttributeContext_Request{
			Http: &authv3.AttributeContext_HttpRequest{Method: "POST", Headers: map[string]string{"x-user-id": "alice"}},
		}}}
		s.expectDenied(t, s.check(t, noPath), bad)
		// :path contradicting the path field cannot be decided either.
		r := protected("alice", "").build(t)
		r.Attributes.Request.Http.Headers[":path"] = "/catalog-search"
		s.expectDenied(t, s.check(t, r), bad)
	})

	t.Run("enroll while serving", func(t *testing.T) {
		s.expectDenied(t, s.check(t, protected("dave", "").build(t)), deny403(glueNotEnrolled))
		d := enrollJSON(t, e.cfg, "dave")
		// A code-less request may get the not-enrolled denial for up to a
		// second (the server remembers "no factor" that long), then the
		// missing-code one; never anything but a denial.
		deadline := time.Now().Add(3 * time.Second)
		for {
			resp := s.check(t, protected("dave", "").build(t))
			if resp.GetDeniedResponse().GetBody() == glueNotEnrolled && time.Now().Before(deadline) {
				time.Sleep(50 * time.Millisecond)
				continue
			}
			s.expectDenied(t, resp, deny403(glueMissing))
			break
		}
		s.expectAllowed(t, s.check(t, protected("dave", d.codeAt(t, d.step())).build(t)), "totp")
	})

	t.Run("a code is checked against an enrollment made a moment ago", func(t *testing.T) {
		s.expectDenied(t, s.check(t, protected("fay", "").build(t)), deny403(glueNotEnrolled))
		d := enrollJSON(t, e.cfg, "fay")
		s.expectAllowed(t, s.check(t, protected("fay", d.codeAt(t, d.step())).build(t)), "totp")
	})

	t.Run("still serving", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if resp, err := s.health.Check(ctx, &healthpb.HealthCheckRequest{}); err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			t.Fatalf("health: %v, %v; want SERVING%s", resp.GetStatus(), err, s.Tail())
		}
		s.expectAllowed(t, s.check(t, req{method: "GET", path: "/", user: "alice"}.build(t)), "")
		s.expectAllowed(t, s.check(t, protected("alice", "").build(t)), "totp")
	})

	// --- Restart: sessions are in memory, the replay guard is durable.

	rita := users["rita"]
	ritaStep := rita.step()
	must(t.Run("SIGTERM exits 0", func(t *testing.T) {
		s.expectAllowed(t, s.check(t, protected("rita", rita.codeAt(t, ritaStep)).build(t)), "totp")
		code, took := s.Stop(t, 5*time.Second)
		if code != 0 {
			t.Fatalf("exit status %d after SIGTERM, want 0%s", code, s.Tail())
		}
		t.Logf("exited in %s", took)
	}))

	s2 := startServer(t, e)
	t.Run("restart: sessions are gone, used code stays used", func(t *testing.T) {
		if now := rita.step(); now > ritaStep+1 {
			t.Fatalf("too slow: the code of step %d has expired (now step %d), so a replay cannot be told from expiry", ritaStep, now)
		}
		s2.expectDenied(t, s2.check(t, protected("rita", "").build(t)), deny403(glueMissing))
		s2.expectDenied(t, s2.check(t, protected("rita", rita.codeAt(t, ritaStep)).build(t)), deny403(glueInvalid))
		s2.expectAllowed(t, s2.check(t, protected("rita", rita.codeAt(t, ritaStep+1)).build(t)), "totp")
	})

	t.Run("secrets never logged", func(t *testing.T) {
		logs := s.Output() + s2.Output()
		for name, f := range users {
			if strings.Contains(logs, f.secret) {
				t.Errorf("the server log contains %s's TOTP secret", name)
			}
		}
	})

	t.Run("SIGTERM after restart exits 0", func(t *testing.T) {
		if code, _ := s2.Stop(t, 5*time.Second); code != 0 {
			t.Fatalf("exit status %d after SIGTERM, want 0%s", code, s2.Tail())
		}
	})
}

// TestPermissive covers policy.anonymous: allow and mfa.allow_unenrolled.
func TestPermissive(t *testing.T) {
	t.Parallel()
	e := newEnv(t, cfgOpts{Anonymous: "allow", MFA: []string{"allow_unenrolled: true"}})
	pat := enrollJSON(t, e.cfg, "pat")
	s := startServer(t, e)

	t.Run("anonymous allowed", func(t *testing.T) {
		s.expectAllowed(t, s.check(t, protected("", "").build(t)), "none")
	})
	t.Run("unenrolled user allowed", func(t *testing.T) {
		s.expectAllowed(t, s.check(t, protected("carol", "").build(t)), "none")
	})
	t.Run("enrolled user still needs a code", func(t *testing.T) {
		s.expectDenied(t, s.check(t, protected("pat", "").build(t)), deny403(glueMissing))
		s.expectDenied(t, s.check(t, protected("pat", pat.wrongCode(t)).build(t)), deny403(glueInvalid))
		s.expectAllowed(t, s.check(t, protected("pat", pat.codeAt(t, pat.step())).build(t)), "totp")
	})
	t.Run("unprotected request", func(t *testing.T) {
		s.expectAllowed(t, s.check(t, req{method: "GET", path: protectedPath}.build(t)), "")
	})
}

// TestProblemProfile covers mfa.profile: problem (RFC 9457 bodies).
func TestProblemProfile(t *testing.T) {
	t.Parallel()
	e := newEnv(t, cfgOpts{MFA: []string{"profile: problem", "problem_base_url: https://docs.example.com"}})
	paula := enrollJSON(t, e.cfg, "paula")
	rosa := enrollJSON(t, e.cfg, "rosa")
	s := startServer(t, e)

	invalid := func(flow string) denial {
		return denial{rpc: codes.PermissionDenied, status: 401, contentType: problemType, body: problemBody(
			"invalid-code", "MFA code invalid.", 401, "The provided MFA code is invalid or expired.", flow)}
	}

	t.Run("missing code", func(t *testing.T) {
		r := protected("paula", "")
		r.requestID = "5e77e3e3-48ab-4955-8ab3-1c62339096ab"
		want := denial{rpc: codes.PermissionDenied, status: 409, contentType: problemType, body: problemBody(
			"missing-code", "'X-MFA-Code' header missing", 409,
			"Action is secured with MFA. Please provide 'X-MFA-Code' header.", r.requestID)}
		s.expectDenied(t, s.check(t, r.build(t)), want)
	})

	t.Run("no identity", func(t *testing.T) {
		r := protected("", "")
		r.requestID, r.id = "req-problem-anon", "req-problem-anon"
		want := denial{rpc: codes.PermissionDenied, status: 401, contentType: problemType, body: problemBody(
			"missing-identity", "User identity missing.", 401,
			"Action is secured with MFA and requires an authenticated user.", r.id)}
		s.expectDenied(t, s.check(t, r.build(t)), want)
	})

	t.Run("unsafe request id is replaced", func(t *testing.T) {
		r := protected("paula", "")
		r.requestID = `x"},"type":"evil`
		resp := s.check(t, r.build(t))
		var doc map[string]any
		if err := json.Unmarshal([]byte(resp.GetDeniedResponse().GetBody()), &doc); err != nil {
			t.Fatalf("body is not JSON: %v\n%s", err, show(resp))
		}
		uuid := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
		if flow, _ := doc["flow_id"].(string); !uuid.MatchString(flow) || doc["type"] != "/problems/mfa/missing-code" {
			t.Errorf("flow_id %q type %v: want a fresh UUID and the missing-code type\n%s", flow, doc["type"], show(resp))
		}
	})

	t.Run("recovery code printed by enroll works once", func(t *testing.T) {
		r := req{method: "POST", path: "/checkout/orders", user: "rosa", code: "recovery " + rosa.recovery[0], requestID: "req-problem-rc"}
		s.expectAllowed(t, s.check(t, r.build(t)), "recovery")
		want := denial{rpc: codes.PermissionDenied, status: 401, contentType: problemType, body: problemBody(
			"invalid-recovery-code", "Recovery code invalid.", 401,
			"The provided recovery code is invalid or was already used.", r.requestID)}
		s.expectDenied(t, s.check(t, r.build(t)), want)
		// paula's code is not rosa's.
		r.code = "recovery " + paula.recovery[0]
		s.expectDenied(t, s.check(t, r.build(t)), want)
	})

	t.Run("wrong code", func(t *testing.T) {
		r := protected("paula", paula.wrongCode(t))
		r.requestID, r.id = "req-problem-1", "req-problem-1"
		s.expectDenied(t, s.check(t, r.build(t)), invalid(r.id))
	})

	t.Run("lockout", func(t *testing.T) {
		for i := 2; i <= 5; i++ {
			r := protected("paula", paula.wrongCode(t))
			r.requestID = "req-problem-" + strconv.Itoa(i)
			r.id = r.requestID
			t.Logf("wrong code %d", i)
			s.expectDenied(t, s.check(t, r.build(t)), invalid(r.id))
		}
		r := protected("paula", paula.codeAt(t, paula.step()))
		r.requestID, r.id = "req-problem-banned", "req-problem-banned"
		want := denial{rpc: codes.PermissionDenied, status: 429, contentType: problemType, retryAfter: 900, body: problemBody(
			"too-many-attempts", "Too many MFA attempts.", 429,
			"Too many invalid MFA codes were provided. Try again later.", r.id)}
		s.expectDenied(t, s.check(t, r.build(t)), want)
	})
}

// TestPolicyCLI covers `policy check` and `policy explain`.
func TestPolicyCLI(t *testing.T) {
	t.Parallel()
	e := newEnv(t, cfgOpts{})

	t.Run("check", func(t *testing.T) {
		res := runCLI(t, "policy", "check", "--config", e.cfg)
		want := "policy OK: 2 rules, anonymous=deny, case_insensitive=true, grace_period=30m0s\n" +
			"  rule 0 \"/customer-password/**\" [POST PATCH DELETE] mfa=required\n" +
			"  rule 1 \"/checkout/**\" [POST] mfa=required grace=0s\n"
		if res.code != 0 || res.stdout != want {
			t.Errorf("want exit status 0 and stdout\n%s\ngot\n%s", want, res)
		}
	})

	t.Run("explain protected", func(t *testing.T) {
		res := runCLI(t, "policy", "explain", "--config", e.cfg, "POST", "https://"+host+protectedPath)
		if res.code != 0 {
			t.Fatalf("want exit status 0\n%s", res)
		}
		lines := strings.Split(res.stdout, "\n")
		if want := `request:  POST https://shop.example.com/customer-password/DE--42 (host "shop.example.com")`; lines[0] != want {
			t.Errorf("first line: got %q, want %q\n%s", lines[0], want, res)
		}
		if len(lines) < 2 || lines[1] != "readings:" {
			t.Fatalf("no readings section\n%s", res)
		}
		var found bool
		for _, l := range lines[2:] {
			if !strings.HasPrefix(l, "  ") {
				break
			}
			if strings.Contains(strings.ToLower(l), "/customer-password/de--42") {
				found = true
			}
		}
		if !found {
			t.Errorf("no reading of /customer-password/DE--42 is listed\n%s", res)
		}
		if want := "decision: MFA required by rule 0 \"/customer-password/**\" [POST PATCH DELETE] mfa=required (grace 30m0s)\n"; !strings.HasSuffix(res.stdout, want) {
			t.Errorf("stdout does not end with %q\n%s", want, res)
		}
	})

	t.Run("explain unprotected", func(t *testing.T) {
		res := runCLI(t, "policy", "explain", "--config", e.cfg, "GET", "https://"+host+protectedPath)
		if want := "decision: unprotected (no rule matches)\n"; res.code != 0 || !strings.HasSuffix(res.stdout, want) {
			t.Errorf("want exit status 0 and stdout ending with %q\n%s", want, res)
		}
	})

	t.Run("explain rule grace", func(t *testing.T) {
		res := runCLI(t, "policy", "explain", "--config", e.cfg, "post", "/checkout/orders")
		if want := "decision: MFA required by rule 1 \"/checkout/**\" [POST] mfa=required grace=0s (grace 0s)\n"; res.code != 0 || !strings.HasSuffix(res.stdout, want) {
			t.Errorf("want exit status 0 and stdout ending with %q\n%s", want, res)
		}
	})

	t.Run("bad rule", func(t *testing.T) {
		bad := newEnv(t, cfgOpts{Raw: "log:\n  format: json\npolicy:\n  rules:\n    - path: \"/x/{\"\n"})
		for _, args := range [][]string{
			{"policy", "check", "--config", bad.cfg},
			{"serve", "--config", bad.cfg},
		} {
			res := runCLI(t, args...)
			if res.code != 1 || !strings.Contains(res.stderr, "policy.rules[0]") {
				t.Errorf("want exit status 1 and stderr naming policy.rules[0]\n%s", res)
			}
		}
	})

	t.Run("unknown key", func(t *testing.T) {
		bad := newEnv(t, cfgOpts{Raw: "mfa: {headr: X}\n"})
		for _, args := range [][]string{
			{"serve", "--config", bad.cfg},
			{"policy", "check", "--config", bad.cfg},
		} {
			res := runCLI(t, args...)
			if res.code != 1 || !strings.Contains(res.stderr, "mfa.headr") || !strings.Contains(res.stderr, "unknown key") {
				t.Errorf("want exit status 1 and stderr naming mfa.headr as an unknown key\n%s", res)
			}
		}
	})

	t.Run("usage errors exit 2", func(t *testing.T) {
		for _, tc := range []struct {
			args []string
			want string
		}{
			{nil, "Usage:"},
			{[]string{"frobnicate"}, `unknown command "frobnicate"`},
			{[]string{"serve"}, "serve: --config FILE is required"},
			{[]string{"serve", "--config", e.cfg, "extra"}, "serve: --config FILE is required and takes no arguments"},
			{[]string{"policy"}, "policy: name a subcommand"},
			{[]string{"policy", "lint", "--config", e.cfg}, `unknown subcommand "lint"`},
			{[]string{"policy", "explain", "--config", e.cfg, "POST"}, "want METHOD URL, got 1 arguments"},
		} {
			res := runCLI(t, tc.args...)
			if res.code != 2 || !strings.Contains(res.stderr, tc.want) {
				t.Errorf("want exit status 2 and stderr containing %q\n%s", tc.want, res)
			}
		}
	})
}
