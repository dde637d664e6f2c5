// Package redistest runs a real redis-server for tests: on a free loopback
// port, without persistence, stopped when the test ends.
//
// A missing redis-server skips the test, except under CI=true, where it
// fails it (`make test-deps` installs Debian's redis-server package).
package redistest

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mfa-authz/mfa-authz/test/testproc"
)

// Server is one redis-server process. Stop and Start may be called to
// simulate an outage; the port stays the same.
type Server struct {
	t    testing.TB
	bin  string
	dir  string
	Port int
	// Addr is host:port, URL redis://host:port/0.
	Addr, URL string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

// Binary returns redis-server's path, or skips (fails under CI=true) t.
func Binary(t testing.TB) string {
	t.Helper()
	return testproc.Require(t, "redis-server")
}

// Start starts a redis-server on a free loopback port and stops it when t ends.
func Start(t testing.TB) *Server {
	t.Helper()
	s := &Server{t: t, bin: Binary(t), dir: t.TempDir()}
	for try := 0; ; try++ {
		// Outside the ephemeral range, so the port is still free when the
		// server is restarted on it (see Server.Start).
		s.Addr = testproc.FreeAddr(t)
		_, port, _ := net.SplitHostPort(s.Addr)
		s.Port, _ = strconv.Atoi(port)
		s.URL = "redis://" + s.Addr + "/0"
		err := s.start()
		if err == nil {
			break
		}
		if try == 4 {
			t.Fatalf("redis-server: %v", err)
		}
	}
	t.Cleanup(s.Stop)
	return s
}

// Start restarts a stopped server on the same port (empty: no persistence).
func (s *Server) Start() {
	s.t.Helper()
	var err error
	for try := 0; try < 20; try++ { // the port may linger briefly
		if err = s.start(); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.t.Fatalf("restart redis-server on %s: %v", s.Addr, err)
}

func (s *Server) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	cmd := exec.Command(s.bin, "--port", strconv.Itoa(s.Port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", s.dir, "--protected-mode", "yes")
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan struct{})
	ready := make(chan bool, 1)
	var log strings.Builder
	go func() {
		sc := bufio.NewScanner(out)
		sent := false
		for sc.Scan() {
			line := sc.Text()
			if log.Len() < 8192 {
				log.WriteString(line + "\n")
			}
			if !sent && strings.Contains(line, "Ready to accept connections") {
				ready <- true
				sent = true
			}
		}
		if !sent {
			ready <- false
		}
		_ = cmd.Wait()
		close(done)
	}()
	select {
	case ok := <-ready:
		if !ok {
			<-done
			return fmt.Errorf("exited at start:\n%s", log.String())
		}
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		return fmt.Errorf("not ready within 10s")
	}
	s.cmd, s.done = cmd, done
	return nil
}

// Stop kills the server (an outage, not a clean shutdown) and waits for it.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
	}
	s.cmd = nil
}

// Dial checks that the server accepts connections within d.
func (s *Server) Dial(ctx context.Context) error {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", s.Addr)
	if err == nil {
		c.Close()
	}
	return err
}
