package testproc

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// fakeTB records a Fatal or Skip instead of reporting it, ending the
// goroutine as the real ones do. Everything else goes to the real test.
type fakeTB struct {
	testing.TB
	failed, skipped string
}

func (f *fakeTB) Helper() {}

func (f *fakeTB) Fatal(args ...any) { f.failed = fmt.Sprint(args...); runtime.Goexit() }

func (f *fakeTB) Fatalf(format string, args ...any) {
	f.failed = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func (f *fakeTB) Skip(args ...any) { f.skipped = fmt.Sprint(args...); runtime.Goexit() }

// capture runs fn with a fakeTB on its own goroutine and returns the
// fakeTB once fn has returned or stopped.
func capture(t *testing.T, fn func(testing.TB)) *fakeTB {
	f := &fakeTB{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(f)
	}()
	<-done
	return f
}

func TestStartOutputAndExit(t *testing.T) {
	p := Start(t, "sh", exec.Command("sh", "-c", "echo hi; echo oops >&2; exit 3"))
	select {
	case <-p.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("sh still running after 10s")
	}
	if got, want := p.Output(), "hi\noops\n"; got != want {
		t.Errorf("Output() = %q, want %q", got, want)
	}
	var exit *exec.ExitError
	if err := p.Err(); !errors.As(err, &exit) || exit.ExitCode() != 3 {
		t.Errorf("Err() = %v, want exit status 3", err)
	}
	if got, want := p.Tail(), "\n--- sh output (tail) ---\nhi\noops"; got != want {
		t.Errorf("Tail() = %q, want %q", got, want)
	}
}

func TestStop(t *testing.T) {
	// The trap is set before "ready" is printed.
	p := Start(t, "sh", exec.Command("sh", "-c", `trap 'echo bye; exit 7' TERM; echo ready; while :; do sleep 0.05; done`))
	for end := time.Now().Add(10 * time.Second); !strings.Contains(p.Output(), "ready"); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("sh not ready within 10s%s", p.Tail())
		}
	}
	code, took := p.Stop(t, 5*time.Second)
	if code != 7 {
		t.Errorf("Stop: exit status %d, want 7%s", code, p.Tail())
	}
	if took <= 0 || took > 5*time.Second {
		t.Errorf("Stop took %s, want within (0, 5s]", took)
	}
	if !strings.HasSuffix(p.Output(), "bye\n") {
		t.Errorf("output %q: the TERM trap did not run", p.Output())
	}
}

func TestKilledOnCleanup(t *testing.T) {
	var p *Process
	t.Run("sub", func(t *testing.T) {
		p = Start(t, "sleep", exec.Command("sleep", "60"))
	})
	select {
	case <-p.Done():
	default:
		t.Fatal("the process still runs after its test ended")
	}
	if p.Err() == nil {
		t.Error("Err() = nil, want the kill's error")
	}
}

func TestOutputTail(t *testing.T) {
	var o Output
	if got := o.Tail(2); got != "" {
		t.Errorf("empty Tail(2) = %q, want \"\"", got)
	}
	fmt.Fprint(&o, "a\nb\nc\n")
	if got := o.Tail(2); got != "b\nc" {
		t.Errorf("Tail(2) = %q, want %q", got, "b\nc")
	}
	if got := o.Tail(5); got != "a\nb\nc" {
		t.Errorf("Tail(5) = %q, want %q", got, "a\nb\nc")
	}
}

func TestRequire(t *testing.T) {
	if got := Require(t, "sh"); got == "" {
		t.Error(`Require("sh") = ""`)
	}
	const missing = "testproc-no-such-program"
	t.Setenv("CI", "")
	if f := capture(t, func(tb testing.TB) { Require(tb, missing) }); f.skipped == "" || f.failed != "" {
		t.Errorf("CI unset: skipped %q, failed %q; want a skip", f.skipped, f.failed)
	}
	t.Setenv("CI", "true")
	f := capture(t, func(tb testing.TB) { Require(tb, missing) })
	if f.failed == "" || f.skipped != "" {
		t.Errorf("CI=true: skipped %q, failed %q; want a failure", f.skipped, f.failed)
	}
	if !strings.Contains(f.failed, missing) {
		t.Errorf("failure %q does not name %s", f.failed, missing)
	}
}

func TestFreeAddr(t *testing.T) {
	addr := FreeAddr(t)
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen on FreeAddr's %s: %v", addr, err)
	}
	l.Close()
}

func TestWaitHTTP(t *testing.T) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hits.Add(1) < 3 {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	p := Start(t, "sleep", exec.Command("sleep", "60"))
	p.WaitHTTP(t, srv.URL, 10*time.Second, func(r *http.Response) bool { return r.StatusCode == 200 })
	if n := hits.Load(); n != 3 {
		t.Errorf("%d requests, want 3", n)
	}

	gone := Start(t, "true", exec.Command("true"))
	<-gone.Done()
	f := capture(t, func(tb testing.TB) {
		gone.WaitHTTP(tb, srv.URL, 10*time.Second, func(*http.Response) bool { return true })
	})
	if !strings.Contains(f.failed, "true exited before answering") {
		t.Errorf("WaitHTTP on an exited process: failure %q, want \"true exited before answering ...\"", f.failed)
	}
}

func TestWaitServing(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := health.NewServer()
	hs.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
	gs := grpc.NewServer()
	healthpb.RegisterHealthServer(gs, hs)
	go gs.Serve(l)
	defer gs.Stop()
	conn, err := grpc.NewClient(l.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()

	p := Start(t, "sleep", exec.Command("sleep", "60"))
	f := capture(t, func(tb testing.TB) { p.WaitServing(tb, conn, 300*time.Millisecond) })
	if !strings.Contains(f.failed, "sleep not SERVING within 300ms (last: status NOT_SERVING") {
		t.Errorf("WaitServing while NOT_SERVING: failure %q, want \"sleep not SERVING within 300ms ...\"", f.failed)
	}
	time.AfterFunc(100*time.Millisecond, func() { hs.SetServingStatus("", healthpb.HealthCheckResponse_SERVING) })
	p.WaitServing(t, conn, 10*time.Second)
}
