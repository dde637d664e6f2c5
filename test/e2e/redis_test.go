package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/mfa-authz/mfa-authz/authz/delivery"
	"github.com/mfa-authz/mfa-authz/authz/store"
	"github.com/mfa-authz/mfa-authz/test/redistest"
	"github.com/mfa-authz/mfa-authz/test/testproc"
)

// redisEnv writes the config of one replica sharing the Redis at url and
// the key file keyFile; its embedded store path and outbox are its own.
func redisEnv(t *testing.T, url, keyFile string) *testEnv {
	t.Helper()
	dir := t.TempDir()
	e := &testEnv{dir: dir, cfg: filepath.Join(dir, "mfa-authz.yaml"), addr: testproc.FreeAddr(t)}
	cfg := fmt.Sprintf(`server:
  grpc_address: %s
  shutdown_timeout: 5s
storage:
  path: %q
  key_file: %q
  redis:
    url: %s
    read_timeout: 300ms
    dial_timeout: 300ms
log:
  level: debug
identity:
  header: x-user-id
regulation:
  max_failures: 5
  window: 5m
  ban: 15m
api:
  enabled: true
delivery:
  email: file
  sms: file
  file:
    path: %q
limits:
  resend_cooldown: 0s
policy:
  rules:
%s`, e.addr, filepath.Join(dir, "data", "store"), keyFile, url, filepath.Join(dir, "outbox.jsonl"), defaultRules)
	if err := os.WriteFile(e.cfg, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return e
}

// sharedKey creates the key file every replica uses.
func sharedKey(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "secrets", "store.key")
	if _, _, err := store.LoadOrCreateKey(p); err != nil {
		t.Fatal(err)
	}
	return p
}

// outboxCode returns the last code the file sender wrote for user.
func outboxCode(t *testing.T, e *testEnv, user string) string {
	t.Helper()
	f, err := os.Open(filepath.Join(e.dir, "outbox.jsonl"))
	if err != nil {
		t.Fatalf("outbox: %v", err)
	}
	defer f.Close()
	code := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var m delivery.Message
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("outbox line %q: %v", sc.Text(), err)
		}
		if m.User == user {
			code = m.Code
		}
	}
	if code == "" {
		t.Fatalf("no code for %s in the outbox", user)
	}
	return code
}

const checkoutPath = "/checkout/1" // grace_period 0s: every request needs a code

func checkout(user, code string) req {
	return req{method: "POST", path: checkoutPath, user: user, code: code}
}

// TestRedisTwoReplicas runs two mfa-authz processes on one Redis: what one
// learns, the other knows.
func TestRedisTwoReplicas(t *testing.T) {
	t.Parallel()
	rs := redistest.Start(t)
	keyFile := sharedKey(t)
	ea, eb := redisEnv(t, rs.URL, keyFile), redisEnv(t, rs.URL, keyFile)
	alice := enrollJSON(t, ea.cfg, "alice") // through the CLI, into Redis
	bob := enrollJSON(t, eb.cfg, "bob")
	carol := enrollJSON(t, ea.cfg, "carol")
	if res := runCLI(t, "enroll", "email", "--user", "dave", "--destination", "dave@example.com", "--config", eb.cfg); res.code != 0 {
		t.Fatalf("enroll email: %s", res)
	}
	a, b := startServer(t, ea), startServer(t, eb)

	t.Run("code verified on A gives a session on B", func(t *testing.T) {
		b.expectDenied(t, b.check(t, protected("alice", "").build(t)), deny403(glueMissing))
		a.expectAllowed(t, a.check(t, protected("alice", alice.codeAt(t, alice.step())).build(t)), "totp")
		b.expectAllowed(t, b.check(t, protected("alice", "").build(t)), "totp")
	})

	t.Run("TOTP code used on A is a replay on B", func(t *testing.T) {
		code := bob.codeAt(t, bob.step())
		a.expectAllowed(t, a.check(t, checkout("bob", code).build(t)), "totp")
		b.expectDenied(t, b.check(t, checkout("bob", code).build(t)), deny403(glueInvalid))
	})

	t.Run("failures spread over A and B ban on both", func(t *testing.T) {
		wrong := carol.wrongCode(t)
		for i := range 5 {
			s := []*server{a, b}[i%2]
			s.expectDenied(t, s.check(t, checkout("carol", wrong).build(t)), deny403(glueInvalid))
		}
		banned := denial{rpc: codes.PermissionDenied, status: 429, contentType: glueType, body: glueTooMany, retryAfter: 900}
		for _, s := range []*server{a, b} {
			s.expectDenied(t, s.check(t, checkout("carol", carol.codeAt(t, carol.step())).build(t)), banned)
			s.expectDenied(t, s.check(t, protected("carol", "").build(t)), banned)
		}
	})

	t.Run("e-mail code sent via A verifies on B", func(t *testing.T) {
		trigger := apiReq{method: "POST", path: "/multi-factor-auth-trigger", user: "dave",
			body: body("multi-factor-auth-trigger", "email")}
		a.answer(t, trigger, 204, "")
		code := outboxCode(t, ea, "dave")
		b.expectAllowed(t, b.check(t, checkout("dave", "email "+code).build(t)), "email")
		// Used once: A refuses it now.
		a.expectDenied(t, a.check(t, checkout("dave", "email "+code).build(t)), deny403(glueInvalid))
	})
}

// waitHealth polls s's gRPC health until it reports want (at most 10 s).
func (s *server) waitHealth(t *testing.T, want healthpb.HealthCheckResponse_ServingStatus) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		resp, err := s.health.Check(ctx, &healthpb.HealthCheckRequest{})
		cancel()
		if err == nil && resp.GetStatus() == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("health not %v within 10s (last %v, %v)%s", want, resp.GetStatus(), err, s.Tail())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestRedisOutage stops Redis under a running server: protected requests
// fail closed with 503, unprotected ones pass, health is NOT_SERVING; once
// Redis is back, the server serves again by itself.
func TestRedisOutage(t *testing.T) {
	t.Parallel()
	rs := redistest.Start(t)
	e := redisEnv(t, rs.URL, sharedKey(t))
	f := enrollJSON(t, e.cfg, "erin")
	s := startServer(t, e)
	s.expectAllowed(t, s.check(t, checkout("erin", f.codeAt(t, f.step())).build(t)), "totp")

	rs.Stop()
	s.waitHealth(t, healthpb.HealthCheckResponse_NOT_SERVING)
	unavailable := denial{rpc: codes.PermissionDenied, status: 503, contentType: glueType, body: glueUnavailable}
	start := time.Now()
	s.expectDenied(t, s.check(t, checkout("erin", f.codeAt(t, f.step()+1)).build(t)), unavailable)
	s.expectDenied(t, s.check(t, protected("someone", "").build(t)), unavailable)
	if took := time.Since(start); took > 4*time.Second {
		t.Errorf("two denials took %s with Redis down: want them fast", took)
	}
	s.expectAllowed(t, s.check(t, req{method: "GET", path: "/catalog", user: "erin"}.build(t)), "")

	rs.Start() // empty: this Redis keeps nothing on disk
	s.waitHealth(t, healthpb.HealthCheckResponse_SERVING)
	// Redis is the truth about sessions: the empty Redis took erin's
	// session (this replica's cache does not outlive it) and enrollment.
	s.expectDenied(t, s.check(t, protected("erin", "").build(t)), deny403(glueNotEnrolled))
	s.expectDenied(t, s.check(t, checkout("erin", f.codeAt(t, f.step())).build(t)), deny403(glueNotEnrolled))
	f = enrollJSON(t, e.cfg, "erin")
	s.expectAllowed(t, s.check(t, checkout("erin", f.codeAt(t, f.step())).build(t)), "totp")
}

// TestMigrateToRedis copies an embedded store into Redis with the CLI.
func TestMigrateToRedis(t *testing.T) {
	t.Parallel()
	rs := redistest.Start(t)
	embedded := newEnv(t, cfgOpts{})
	f := enrollJSON(t, embedded.cfg, "frank")
	storePath := filepath.Join(embedded.dir, "data", "store")
	keyFile := filepath.Join(embedded.dir, "secrets", "store.key")
	res := runCLI(t, "migrate", "--from", storePath, "--to", rs.URL, "--config", embedded.cfg)
	if res.code != 0 || !strings.Contains(res.stdout, "Copied 1 enrollments") {
		t.Fatalf("migrate: %s", res)
	}
	s := startServer(t, redisEnv(t, rs.URL, keyFile))
	s.expectAllowed(t, s.check(t, checkout("frank", f.codeAt(t, f.step())).build(t)), "totp")
	// Running it again skips what is there.
	if res := runCLI(t, "migrate", "--from", storePath, "--to", rs.URL, "--config", embedded.cfg); res.code != 0 || !strings.Contains(res.stdout, "skipped 1 existing") {
		t.Fatalf("second migrate: %s", res)
	}
}
