package store

import (
	"bufio"
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// The helper process is this test binary run again with these variables
// set; it stands in for a second mfa-authz process (the CLI or another
// server) working on the same directory.
const (
	helperEnvDir  = "MFA_AUTHZ_STORE_HELPER_DIR"
	helperEnvKey  = "MFA_AUTHZ_STORE_HELPER_KEY"
	helperEnvMode = "MFA_AUTHZ_STORE_HELPER_MODE"
)

const helperGoroutines = 10

// crashUsers is how many users the crash helper verifies for at once.
const crashUsers = 8

// TestHelperProcess is not a real test: it runs only as a child of the
// tests below.
func TestHelperProcess(t *testing.T) {
	dir := os.Getenv(helperEnvDir)
	if dir == "" {
		t.Skip("helper process only")
	}
	key, err := hex.DecodeString(os.Getenv(helperEnvKey))
	if err != nil {
		fmt.Fprintln(os.Stderr, "bad key")
		os.Exit(2)
	}
	d, err := OpenDir(dir, key)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	ctx := context.Background()
	mode, arg, _ := strings.Cut(os.Getenv(helperEnvMode), ":")
	switch mode {
	case "enroll":
		if err := d.PutEnrollment(ctx, arg, &Enrollment{TOTP: testTOTP(1)}, false); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
	case "use":
		step, _ := strconv.ParseUint(arg, 10, 64)
		// Report readiness, then wait for the parent's go so that all
		// processes race for the same step at the same moment.
		fmt.Println("ready")
		io.ReadAll(os.Stdin)
		var wins atomic.Int32
		var wg sync.WaitGroup
		for range helperGoroutines {
			wg.Go(func() {
				ok, err := d.UseTOTPStep(ctx, "alice", step)
				if err != nil {
					fmt.Fprintln(os.Stderr, err)
					os.Exit(2)
				}
				if ok {
					wins.Add(1)
				}
			})
		}
		wg.Wait()
		fmt.Println(wins.Load())
	case "crash":
		// Verify ever greater steps for several users at once, from the
		// step given, printing each accepted one, until killed.
		from, _ := strconv.ParseUint(arg, 10, 64)
		out := bufio.NewWriter(os.Stdout)
		var mu sync.Mutex
		var wg sync.WaitGroup
		for u := range crashUsers {
			wg.Go(func() {
				for step := from; ; step++ {
					ok, err := d.UseTOTPStep(ctx, fmt.Sprint("crash-user-", u), step)
					if err != nil || !ok {
						fmt.Fprintln(os.Stderr, "step", step, ok, err)
						os.Exit(2)
					}
					mu.Lock()
					fmt.Fprintln(out, u, step)
					out.Flush()
					mu.Unlock()
				}
			})
		}
		wg.Wait()
	}
	os.Exit(0)
}

func helperCommand(t *testing.T, dir string, key []byte, mode string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$")
	cmd.Env = append(os.Environ(),
		helperEnvDir+"="+dir,
		helperEnvKey+"="+hex.EncodeToString(key),
		helperEnvMode+"="+mode,
	)
	cmd.Stderr = os.Stderr
	return cmd
}

func TestMultiProcessEnrollmentVisible(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	ctx := context.Background()
	dir, key := t.TempDir(), testKey(3)
	server := openTestDir(t, dir, key)
	if err := helperCommand(t, dir, key, "enroll:alice").Run(); err != nil {
		t.Fatalf("enrolling process: %v", err)
	}
	got, err := server.Enrollment(ctx, "alice")
	if err != nil {
		t.Fatalf("server does not see the other process's enrollment: %v", err)
	}
	if got.TOTP.Secret != testTOTP(1).Secret {
		t.Error("server sees a different secret")
	}
	if err := helperCommand(t, dir, key, "enroll:alice").Run(); err == nil {
		t.Error("second enrolling process did not fail with ErrExists")
	}
}

func TestMultiProcessUseTOTPStep(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	dir, key := t.TempDir(), testKey(3)
	openTestDir(t, dir, key) // creates the key check before the race
	const procs = 4
	type child struct {
		cmd   *exec.Cmd
		stdin io.WriteCloser
		out   *bufio.Scanner
	}
	children := make([]child, procs)
	for i := range children {
		cmd := helperCommand(t, dir, key, "use:42")
		stdin, err := cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		children[i] = child{cmd, stdin, bufio.NewScanner(stdout)}
	}
	for i, c := range children {
		if !c.out.Scan() || c.out.Text() != "ready" {
			t.Fatalf("process %d did not get ready: %q", i, c.out.Text())
		}
	}
	for _, c := range children {
		c.stdin.Close()
	}
	total := 0
	for i, c := range children {
		if !c.out.Scan() {
			t.Fatalf("process %d reported nothing", i)
		}
		n, err := strconv.Atoi(c.out.Text())
		if err != nil {
			t.Fatalf("process %d: %q", i, c.out.Text())
		}
		total += n
		if err := c.cmd.Wait(); err != nil {
			t.Fatalf("process %d: %v", i, err)
		}
	}
	if total != 1 {
		t.Errorf("%d of %d uses across %d processes succeeded, want exactly 1", total, procs*helperGoroutines, procs)
	}
}
