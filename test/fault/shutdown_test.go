//go:build linux

package fault

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/mfa-authz/mfa-authz/authz/store"
	"github.com/mfa-authz/mfa-authz/authz/totp"
	"github.com/mfa-authz/mfa-authz/test/attack/harness"
	"github.com/mfa-authz/mfa-authz/test/testproc"
)

// drainUser is an enrolled user whose replay-guard lock the test holds,
// so that the user's verification is in flight in the server, blocked,
// for as long as the test wants.
type drainUser struct {
	user *harness.User
	lock string // the user's lock file in the store
}

// TestGracefulShutdownUnderLoad starts the real binary, keeps checks in
// flight (verifications blocked on their user's store lock, held by the
// test) and a steady load of fast checks, and sends SIGTERM. New
// connections must be refused from then on; every check in flight must
// still get its proper answer once the locks are released; checks of the
// load get a proper answer or, once the server stopped accepting them,
// UNAVAILABLE, never another error; and the server exits 0.
func TestGracefulShutdownUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the real binary")
	}
	dir := t.TempDir()
	bin := testproc.BuildT(t)
	addr := testproc.FreeAddr(t)
	storePath, keyFile := filepath.Join(dir, "data", "store"), filepath.Join(dir, "secrets", "store.key")
	cfg := filepath.Join(dir, "mfa-authz.yaml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`server:
  grpc_address: %s
  shutdown_timeout: 10s
log:
  level: warn
storage:
  path: %s
  key_file: %s
identity:
  header: x-user-id
regulation:
  max_failures: 100
policy:
  rules:
    - path: /carts/**
    - path: /checkout/**
      methods: [POST]
      grace_period: 0s
`, addr, strconv.Quote(storePath), strconv.Quote(keyFile))), 0o600); err != nil {
		t.Fatal(err)
	}
	blocked := enrollDrainUsers(t, storePath, keyFile, 6)
	loadUser := "load-user"

	cmd := exec.Command(bin, "serve", "--config", cfg)
	srv := testproc.Start(t, "mfa-authz serve", cmd)
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := authv3.NewAuthorizationClient(conn)
	srv.WaitServing(t, conn, 15*time.Second)

	// Hold every blocked user's lock, then start their verifications.
	var held []*os.File
	release := func() {
		for _, f := range held {
			f.Close()
		}
		held = nil
	}
	defer release()
	for _, d := range blocked {
		f, err := os.OpenFile(d.lock, os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
			t.Fatal(err)
		}
		held = append(held, f)
	}
	harness.AwaitSafeStep(30*time.Second, 3*time.Second)
	inflight := make([]harness.Outcome, len(blocked))
	var inflightWG sync.WaitGroup
	for i, d := range blocked {
		req := harness.Req{Method: "POST", Path: "/checkout",
			Headers: map[string]string{"x-user-id": d.user.Name, "x-mfa-code": d.user.Code(t)}}.Build()
		inflightWG.Add(1)
		go func() {
			defer inflightWG.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			inflight[i] = harness.Classify(client.Check(ctx, req))
		}()
	}
	waitLocksOpen(t, srv, cmd.Process.Pid, blocked)

	// A steady load of fast checks on their own connections.
	type result struct {
		at time.Time
		o  harness.Outcome
	}
	var (
		loadMu  sync.Mutex
		results []result
		loadWG  sync.WaitGroup
	)
	stopLoad := make(chan struct{})
	for w := 0; w < 4; w++ {
		lconn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		defer lconn.Close()
		lc := authv3.NewAuthorizationClient(lconn)
		loadWG.Add(1)
		go func() {
			defer loadWG.Done()
			reqs := []*authv3.CheckRequest{
				harness.Req{Method: "GET", Path: "/carts/1"}.Build(),
				harness.Req{Method: "POST", Path: "/carts/1", Headers: map[string]string{"x-user-id": loadUser}}.Build(),
			}
			deadline := time.Now().Add(30 * time.Second)
			for i := 0; time.Now().Before(deadline); i++ {
				select {
				case <-stopLoad:
					return
				default:
				}
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				o := harness.Classify(lc.Check(ctx, reqs[i%2]))
				cancel()
				loadMu.Lock()
				results = append(results, result{time.Now(), o})
				loadMu.Unlock()
				if o.Err != nil {
					time.Sleep(5 * time.Millisecond)
				}
			}
		}()
	}
	time.Sleep(300 * time.Millisecond)

	sigterm := time.Now()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// The listener closes at once: new connections are refused while the
	// blocked checks are still in flight.
	refused := false
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			refused = errors.Is(err, syscall.ECONNREFUSED)
			if refused {
				break
			}
			continue
		}
		c.Close()
	}
	if !refused {
		t.Fatalf("new connections still accepted 5s after SIGTERM%s", srv.Tail())
	}
	select {
	case <-srv.Done():
		t.Fatalf("server exited (%v) with checks still in flight%s", srv.Err(), srv.Tail())
	default:
	}
	time.Sleep(200 * time.Millisecond)
	release()
	inflightWG.Wait()
	for i, o := range inflight {
		if !o.Allowed || o.Method != "totp" {
			t.Errorf("check in flight at SIGTERM (%s with a right code): got %s, want allowed%s", blocked[i].user.Name, o, srv.Tail())
		}
	}
	select {
	case <-srv.Done():
		if err := srv.Err(); err != nil {
			t.Fatalf("server exit: %v, want status 0%s", err, srv.Tail())
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("server still running 10s after its last check%s", srv.Tail())
	}
	exitedAt := time.Now()
	time.Sleep(200 * time.Millisecond)
	close(stopLoad)
	loadWG.Wait()

	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Fatal("a new connection was accepted after shutdown")
	} else if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("dial after shutdown: %v, want connection refused", err)
	}
	var before, after, unavailable int
	for _, r := range results {
		switch {
		case r.o.Proper():
			if r.at.Before(sigterm) {
				before++
			} else {
				after++
			}
		case status.Code(r.o.Err) == codes.Unavailable:
			unavailable++
		default:
			t.Errorf("load check at %v after SIGTERM: %s, want an answer or UNAVAILABLE", r.at.Sub(sigterm), r.o)
		}
	}
	t.Logf("load: %d answers before SIGTERM, %d during the drain, %d refused as UNAVAILABLE; %d checks in flight answered; exit %v after SIGTERM",
		before, after, unavailable, len(inflight), exitedAt.Sub(sigterm).Round(time.Millisecond))
	if before == 0 {
		t.Fatal("no load before SIGTERM: the test did not run under load")
	}
	for _, r := range results {
		if r.o.Allowed && r.o.Method != "" {
			t.Fatalf("load check let through a protected request: %s", r.o)
		}
	}
}

// enrollDrainUsers enrolls users, through the store the server will open,
// until n of them have lock files on distinct lock stripes, so that each
// one's verification waits on its own file lock rather than on another's
// stripe.
func enrollDrainUsers(t *testing.T, storePath, keyFile string, n int) []drainUser {
	key, _, err := store.LoadOrCreateKey(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.OpenDir(storePath, key)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	locks := filepath.Join(storePath, "locks")
	seen := map[string]bool{}
	stripes := map[uint64]bool{}
	var out []drainUser
	for i := 0; len(out) < n && i < 200; i++ {
		name := fmt.Sprintf("drain-%d", i)
		f, _, err := totp.Generate(totp.DefaultConfig(), name, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if err := st.PutEnrollment(context.Background(), name, &store.Enrollment{TOTP: f}, false); err != nil {
			t.Fatal(err)
		}
		entries, err := os.ReadDir(locks)
		if err != nil {
			t.Fatal(err)
		}
		var lock string
		for _, e := range entries {
			if !seen[e.Name()] {
				seen[e.Name()] = true
				lock = e.Name()
			}
		}
		if lock == "" {
			t.Fatalf("enrolling %s created no lock file in %s", name, locks)
		}
		// The store spreads users over 64 in-process stripes by the first
		// byte of the lock file's (hex) name.
		b, err := strconv.ParseUint(lock[:2], 16, 8)
		if err != nil || stripes[b%64] {
			continue
		}
		stripes[b%64] = true
		out = append(out, drainUser{user: &harness.User{Name: name, TOTP: f}, lock: filepath.Join(locks, lock)})
	}
	if len(out) < n {
		t.Fatalf("found %d users on distinct stripes, want %d", len(out), n)
	}
	return out
}

// waitLocksOpen waits until the server process has every blocked user's
// lock file open: each verification is then in flight, polling for its lock.
func waitLocksOpen(t *testing.T, srv *testproc.Process, pid int, users []drainUser) {
	want := map[string]bool{}
	for _, u := range users {
		want[u.lock] = true
	}
	fdDir := fmt.Sprintf("/proc/%d/fd", pid)
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		fds, err := os.ReadDir(fdDir)
		if err != nil {
			t.Fatalf("read %s: %v", fdDir, err)
		}
		open := map[string]bool{}
		for _, fd := range fds {
			if target, err := os.Readlink(filepath.Join(fdDir, fd.Name())); err == nil && want[target] {
				open[target] = true
			}
		}
		if len(open) == len(want) {
			return
		}
	}
	t.Fatalf("the blocked verifications did not reach their locks within 10s%s", srv.Tail())
}
