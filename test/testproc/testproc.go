// Package testproc runs programs as child processes of tests: the
// mfa-authz binary, built from this module, and the programs a suite needs
// beside it, such as caddy.
//
// Build and BuildT compile cmd/mfa-authz. Require finds a prerequisite
// program, failing the test under CI=true and skipping it elsewhere.
// FreeAddr picks a loopback address. Start runs a command with its output
// collected in an Output and kills it when the test ends; the Process it
// returns waits for the child to answer (WaitHTTP, WaitServing), stops it
// with SIGTERM (Stop) and quotes its last output lines in failure messages
// (Tail).
package testproc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// mainPkg is the package Build compiles.
const mainPkg = "github.com/mfa-authz/mfa-authz/cmd/mfa-authz"

// buildTimeout bounds one Build.
const buildTimeout = 5 * time.Minute

// tailLines is how many output lines Process.Tail quotes.
const tailLines = 30

// Build compiles cmd/mfa-authz into dir and returns the binary's path. The
// binary is static (CGO_ENABLED=0), as `make build` and the container image
// build it, unless race is set: then it is built with the race detector,
// which needs cgo. Build must run inside this module, as a test does, and
// gives up after 5 minutes. It is meant for TestMain; tests use BuildT.
func Build(dir string, race bool) (string, error) {
	bin := filepath.Join(dir, "mfa-authz")
	args := []string{"build", "-o", bin}
	env := os.Environ()
	if race {
		args = append(args, "-race")
	} else {
		env = append(env, "CGO_ENABLED=0")
	}
	args = append(args, mainPkg)
	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Env = env
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return bin, nil
}

// BuildT compiles cmd/mfa-authz, without the race detector, into a
// temporary directory removed when t ends, and returns the binary's path.
// A failed build fails t.
func BuildT(t testing.TB) string {
	t.Helper()
	bin, err := Build(t.TempDir(), false)
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// Require returns the path of the program name, looked up in PATH. A
// missing program fails t when the environment variable CI is "true",
// where `make test-deps` must have installed it, and skips t otherwise.
func Require(t testing.TB, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err == nil {
		return path
	}
	msg := fmt.Sprintf("%s not found (%v): `make test-deps` installs it", name, err)
	if os.Getenv("CI") == "true" {
		t.Fatal(msg + " (required under CI=true)")
	}
	t.Skip(msg)
	return ""
}

// Ports FreeAddr hands out: below Linux's default ephemeral range
// (32768-60999), from which the kernel picks the local ports of outgoing
// connections and of ":0" listeners, so a port handed out here is not
// taken by one of those before the child process binds it.
const (
	firstPort = 20000
	numPorts  = 12000
)

var (
	portsMu    sync.Mutex
	portsGiven = map[int]bool{}
)

// FreeAddr returns a loopback host:port that was free a moment ago, never
// the same one twice in a test binary. Another process may still take it
// before the caller listens on it, but seldom: see firstPort.
func FreeAddr(t testing.TB) string {
	t.Helper()
	portsMu.Lock()
	defer portsMu.Unlock()
	for range 200 {
		port := firstPort + rand.IntN(numPorts)
		if portsGiven[port] {
			continue
		}
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			continue
		}
		l.Close()
		portsGiven[port] = true
		return l.Addr().String()
	}
	t.Fatalf("no free loopback port in %d-%d", firstPort, firstPort+numPorts-1)
	return ""
}

// Output collects a child's output. It is safe for concurrent use, so it
// may serve as both Stdout and Stderr of an exec.Cmd. The zero value is an
// empty Output ready to use.
type Output struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p to the output. It never fails.
func (o *Output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.Write(p)
}

// String returns all the output written so far.
func (o *Output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.String()
}

// Tail returns the last n lines of the output, without the final newline.
func (o *Output) Tail(n int) string {
	lines := strings.Split(strings.TrimRight(o.String(), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Process is a child process started by Start.
type Process struct {
	name    string
	cmd     *exec.Cmd
	out     Output
	done    chan struct{} // closed once the process has exited
	waitErr error         // valid once done is closed
}

// Start starts cmd as a child process of the test, with its stdout and
// stderr collected (Start sets cmd.Stdout and cmd.Stderr). name stands for
// the process in failure messages. The process is killed, if it is still
// running, when t ends. A failed start fails t.
func Start(t testing.TB, name string, cmd *exec.Cmd) *Process {
	t.Helper()
	p := &Process{name: name, cmd: cmd, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = &p.out, &p.out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// Done returns a channel that is closed once the process has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// Err waits for the process to exit and returns the error of its
// exec.Cmd's Wait: nil after an exit status of 0, an *exec.ExitError after
// any other. Call it once Done is closed so as not to block.
func (p *Process) Err() error {
	<-p.done
	return p.waitErr
}

// Output returns all the output the process has written so far.
func (p *Process) Output() string { return p.out.String() }

// Tail returns the process's last output lines under a header naming it,
// starting with a newline, to be appended to a failure message.
func (p *Process) Tail() string {
	return fmt.Sprintf("\n--- %s output (tail) ---\n%s", p.name, p.out.Tail(tailLines))
}

// WaitHTTP polls url with GET requests until accept accepts a response.
// It fails t if the process exits first or timeout passes.
func (p *Process) WaitHTTP(t testing.TB, url string, timeout time.Duration, accept func(*http.Response) bool) {
	t.Helper()
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(timeout)
	last := "no attempt"
	for {
		select {
		case <-p.done:
			t.Fatalf("%s exited before answering %s: %v%s", p.name, url, p.waitErr, p.Tail())
		default:
		}
		resp, err := client.Get(url)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if accept(resp) {
				return
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not answer %s within %s (last: %s)%s", p.name, url, timeout, last, p.Tail())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// WaitServing polls the gRPC health service on conn, for the server as a
// whole, until it answers SERVING. It fails t if the process exits first or
// timeout passes.
func (p *Process) WaitServing(t testing.TB, conn *grpc.ClientConn, timeout time.Duration) {
	t.Helper()
	health := healthpb.NewHealthClient(conn)
	deadline := time.Now().Add(timeout)
	last := "no attempt"
	for {
		select {
		case <-p.done:
			t.Fatalf("%s exited before answering health checks: %v%s", p.name, p.waitErr, p.Tail())
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		resp, err := health.Check(ctx, &healthpb.HealthCheckRequest{})
		cancel()
		if err == nil && resp.GetStatus() == healthpb.HealthCheckResponse_SERVING {
			return
		}
		last = fmt.Sprintf("status %v, error %v", resp.GetStatus(), err)
		if time.Now().After(deadline) {
			t.Fatalf("%s not SERVING within %s (last: %s)%s", p.name, timeout, last, p.Tail())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Signal sends sig to the process, failing t if it cannot be sent.
func (p *Process) Signal(t testing.TB, sig os.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signal %v to %s: %v%s", sig, p.name, err, p.Tail())
	}
}

// Stop sends SIGTERM to the process and waits for it to exit. It returns
// the exit status (-1 if a signal ended the process) and how long the exit
// took. It fails t if the signal cannot be sent or the process is still
// running after timeout.
func (p *Process) Stop(t testing.TB, timeout time.Duration) (code int, took time.Duration) {
	t.Helper()
	start := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM %s: %v%s", p.name, err, p.Tail())
	}
	select {
	case <-p.done:
	case <-time.After(timeout):
		t.Fatalf("%s still running %s after SIGTERM%s", p.name, timeout, p.Tail())
	}
	took = time.Since(start)
	var exit *exec.ExitError
	switch {
	case p.waitErr == nil:
		return 0, took
	case errors.As(p.waitErr, &exit):
		return exit.ExitCode(), took
	default:
		t.Fatalf("wait %s: %v%s", p.name, p.waitErr, p.Tail())
		return -1, took
	}
}
