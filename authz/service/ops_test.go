package service

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/mfa-authz/mfa-authz/authz"
	"github.com/mfa-authz/mfa-authz/authz/config"
	"github.com/mfa-authz/mfa-authz/authz/profile"
)

// Two valid policies that differ on one route: /customers/** is protected
// under A only. /carts/** is protected under both.
const (
	policyA = `
policy:
  rules:
    - path: /carts/**
    - path: /customers/**
`
	policyB = `
policy:
  rules:
    - path: /carts/**
    - path: /orders/**
`
	invalidPolicy = `
policy:
  rules:
    - path: carts-without-slash
`
)

// writeConfig writes a config file of base plus extra on a temp store and
// returns its path.
func writeConfig(t testing.TB, dir, extra string) string {
	t.Helper()
	doc := "identity:\n  header: x-user-id\n" +
		"storage:\n  path: " + filepath.Join(dir, "store") + "\n  key_file: " + filepath.Join(dir, "key") + "\n" + extra
	path := filepath.Join(dir, "mfa-authz.yaml")
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil { // atomic, as config managers do
		t.Fatal(err)
	}
	return path
}

func newTestService(t testing.TB, extra string) (*Service, string) {
	t.Helper()
	dir := t.TempDir()
	path := writeConfig(t, dir, extra)
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(svc.Close)
	return svc, path
}

func check(e *authz.Engine, method, path string) authz.Decision {
	return e.Check(context.Background(), &authz.Request{Method: method, Path: path, Host: "shop.example.com",
		Header: authz.MapHeader{"x-request-id": "flow-1"}})
}

// answer reduces a decision to what the client sees.
type answer struct {
	allowed bool
	reason  profile.Reason
}

func TestReloadUnderLoad(t *testing.T) {
	svc, path := newTestService(t, policyA)
	dir := filepath.Dir(path)
	r := svc.NewReloader(path)

	// The answers under each policy, computed before any reload.
	same := answer{false, profile.NoIdentity} // POST /carts/1 without identity: protected under both
	differsA := answer{false, profile.NoIdentity}
	differsB := answer{true, 0}
	if d := check(svc.Engine, "POST", "/carts/1"); (answer{d.Allowed, d.Reason}) != same {
		t.Fatalf("POST /carts/1 under A: %+v", d)
	}
	if d := check(svc.Engine, "POST", "/customers/1"); (answer{d.Allowed, d.Reason}) != differsA {
		t.Fatalf("POST /customers/1 under A: %+v", d)
	}

	ctx, cancel := context.WithCancel(context.Background())
	var (
		wg                   sync.WaitGroup
		checks, sawA, sawB   atomic.Int64
		failures             atomic.Int64
		firstFailure         atomic.Value
		stopped              = ctx.Done()
		maxChecksPerWorker   = 2_000_000 // bounds the loop even if cancel never came
		reportFailure        = func(msg string) { failures.Add(1); firstFailure.CompareAndSwap(nil, msg) }
		decisionsDifferRoute = "/customers/1"
	)
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < maxChecksPerWorker; i++ {
				select {
				case <-stopped:
					return
				default:
				}
				d := check(svc.Engine, "POST", "/carts/1")
				if got := (answer{d.Allowed, d.Reason}); got != same {
					reportFailure("POST /carts/1 decided " + d.Reason.String())
				}
				d = check(svc.Engine, "POST", decisionsDifferRoute)
				switch got := (answer{d.Allowed, d.Reason}); got {
				case differsA:
					sawA.Add(1)
				case differsB:
					sawB.Add(1)
				default:
					reportFailure("POST /customers/1 decided " + d.Reason.String())
				}
				checks.Add(2)
			}
		}()
	}
	const reloads = 100
	for i := 0; i < reloads; i++ {
		pol := policyB
		if i%2 == 1 {
			pol = policyA
		}
		writeConfig(t, dir, pol)
		if err := r.Reload(); err != nil {
			t.Errorf("reload %d: %v", i, err)
		}
		time.Sleep(time.Millisecond) // let checks run under each policy
	}
	cancel()
	wg.Wait()
	if n := failures.Load(); n > 0 {
		t.Fatalf("%d wrong decisions under reloads, first: %v", n, firstFailure.Load())
	}
	if sawA.Load() == 0 || sawB.Load() == 0 {
		t.Errorf("the differing route was decided %d times as under A and %d as under B; want both", sawA.Load(), sawB.Load())
	}
	if got := svc.Metrics().Reloads(true); got != reloads {
		t.Errorf("successful reloads counted %v, want %d", got, reloads)
	}
	if got := svc.Metrics().Reloads(false); got != 0 {
		t.Errorf("failed reloads counted %v, want 0", got)
	}
	t.Logf("%d checks during %d reloads", checks.Load(), reloads)
}

func TestReloadRejectsInvalidPolicy(t *testing.T) {
	svc, path := newTestService(t, policyA)
	r := svc.NewReloader(path)
	writeConfig(t, filepath.Dir(path), invalidPolicy)
	if err := r.Reload(); err == nil {
		t.Fatal("an invalid policy was accepted")
	}
	if got := svc.Metrics().Reloads(false); got != 1 {
		t.Errorf("failed reloads counted %v, want 1", got)
	}
	// The old policy keeps serving.
	if d := check(svc.Engine, "POST", "/customers/1"); d.Allowed {
		t.Fatalf("after a rejected reload /customers/1 is no longer protected: %+v", d)
	}
	// A poll of the same bad content does not count it again.
	if changed, _ := r.reload(false); changed {
		t.Error("an unchanged rejected file was tried again")
	}
	// Log settings reload too; the level follows log.level.
	level := zap.NewAtomicLevelAt(zap.InfoLevel)
	svc.Level = &level
	writeConfig(t, filepath.Dir(path), policyB+"log:\n  level: debug\n  decisions: all\n")
	if changed, err := r.reload(false); !changed || err != nil {
		t.Fatalf("poll after a change: changed %v, err %v", changed, err)
	}
	if level.Level() != zap.DebugLevel {
		t.Errorf("log level %v after reload, want debug", level.Level())
	}
	if d := check(svc.Engine, "POST", "/customers/1"); !d.Allowed {
		t.Errorf("policy B not in force after the poll: %+v", d)
	}
}

func TestRestartKeys(t *testing.T) {
	a, _ := config.Parse([]byte(policyA))
	b, _ := config.Parse([]byte(policyB + "log:\n  level: debug\n"))
	if keys := restartKeys(a, b); len(keys) != 0 {
		t.Errorf("policy and log.level need no restart, got %v", keys)
	}
	c, _ := config.Parse([]byte(policyA + "cache:\n  max_sessions: 5\nlog:\n  format: console\n"))
	if keys := strings.Join(restartKeys(a, c), ","); keys != "log.format,cache" {
		t.Errorf("restart keys %q, want log.format,cache", keys)
	}
}

// runService serves svc on loopback until the returned stop is called;
// stop returns how long the shutdown took and Run's error.
func runService(t *testing.T, svc *Service) (Listeners, func() (time.Duration, error)) {
	t.Helper()
	gl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan Listeners, 1)
	errc := make(chan error, 1)
	go func() { errc <- svc.Run(ctx, Listeners{GRPC: gl, HTTP: hl}, func(l Listeners) { ready <- l }) }()
	var l Listeners
	select {
	case l = <-ready:
	case err := <-errc:
		cancel()
		t.Fatalf("Run: %v", err)
	case <-time.After(10 * time.Second):
		cancel()
		t.Fatal("service did not start")
	}
	stopped := false
	stop := func() (time.Duration, error) {
		if stopped {
			return 0, nil
		}
		stopped = true
		start := time.Now()
		cancel()
		select {
		case err := <-errc:
			return time.Since(start), err
		case <-time.After(30 * time.Second):
			t.Fatal("Run did not return")
			return 0, nil
		}
	}
	t.Cleanup(func() { stop() })
	return l, stop
}

func get(t *testing.T, c *http.Client, url string) (int, string) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestHealthReadinessMetricsAndDrain(t *testing.T) {
	svc, _ := newTestService(t, policyA+"server:\n  drain_delay: 300ms\n  shutdown_timeout: 3s\n")
	l, stop := runService(t, svc)
	base := "http://" + l.HTTP.Addr().String()
	c := &http.Client{Timeout: 5 * time.Second}
	if code, _ := get(t, c, base+"/healthz"); code != 200 {
		t.Errorf("/healthz %d", code)
	}
	if code, _ := get(t, c, base+"/readyz"); code != 200 {
		t.Errorf("/readyz %d, want 200", code)
	}

	// A store health probe marks the store down: not ready, still live.
	svc.SetStoreOK(false)
	if code, _ := get(t, c, base+"/readyz"); code != 503 {
		t.Errorf("/readyz with the store down: %d, want 503", code)
	}
	if code, _ := get(t, c, base+"/healthz"); code != 200 {
		t.Errorf("/healthz with the store down: %d, want 200", code)
	}
	svc.SetStoreOK(true)

	// Decisions are counted whichever transport decided them.
	check(svc.Engine, "POST", "/carts/1")
	check(svc.Engine, "GET", "/carts/1")
	code, body := get(t, c, base+"/metrics")
	if code != 200 {
		t.Fatalf("/metrics %d", code)
	}
	for _, want := range []string{
		`mfa_authz_checks_total{decision="deny",reason="no_identity"} 1`,
		`mfa_authz_checks_total{decision="allow",reason="unprotected"} 1`,
		`mfa_authz_check_duration_seconds_count 2`,
		`mfa_authz_ready 1`,
		`mfa_authz_policy_rules 2`,
		`mfa_authz_build_info{`,
		`mfa_authz_session_cache_hits_total`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}

	// On shutdown readiness fails first, while the listener still answers.
	done := make(chan struct{})
	var runErr error
	var took time.Duration
	go func() { took, runErr = stop(); close(done) }()
	deadline := time.Now().Add(2 * time.Second)
	sawNotReady := false
	for time.Now().Before(deadline) && !sawNotReady {
		resp, err := c.Get(base + "/readyz")
		if err != nil {
			break
		}
		resp.Body.Close()
		sawNotReady = resp.StatusCode == 503
		time.Sleep(10 * time.Millisecond)
	}
	<-done
	if !sawNotReady {
		t.Error("readiness never failed during the drain delay")
	}
	if runErr != nil {
		t.Errorf("Run: %v", runErr)
	}
	if took > 3*time.Second+time.Second {
		t.Errorf("shutdown took %s, more than server.shutdown_timeout", took)
	}
	if _, err := c.Get(base + "/healthz"); err == nil {
		t.Error("the HTTP listener still answers after shutdown")
	} else if !errors.Is(err, err) {
		t.Fatal(err)
	}
}
