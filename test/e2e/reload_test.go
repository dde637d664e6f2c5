package e2e

import (
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The running binary picks up a changed policy without a restart, keeps
// serving the last good policy when the file turns invalid, and re-reads the
// file on SIGHUP.
func TestHotReload(t *testing.T) {
	t.Parallel()
	e := newEnv(t, cfgOpts{})
	enrollJSON(t, e.cfg, "alice")
	s := startServer(t, e)
	wishlist := req{method: "POST", path: "/wishlists/1/items", user: "alice"}
	s.expectAllowed(t, s.check(t, wishlist.build(t)), "")

	// A new rule protects the route once the file changes.
	cfg, err := os.ReadFile(e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	protectedCfg := strings.Replace(string(cfg), "  rules:\n", "  rules:\n    - path: /wishlists/**\n      methods: [POST]\n", 1)
	if protectedCfg == string(cfg) {
		t.Fatalf("no rules list in the config:\n%s", cfg)
	}
	writeConfig(t, e.cfg, protectedCfg)
	s.waitLog(t, `"config reloaded"`, 1)
	s.expectDenied(t, s.check(t, wishlist.build(t)), deny403(glueMissing))

	// An invalid file is rejected; the running policy keeps serving.
	writeConfig(t, e.cfg, strings.Replace(protectedCfg, "methods: [POST]", "methods: [P OST]", 1))
	s.waitLog(t, `"config reload rejected; the running policy keeps serving"`, 1)
	s.expectDenied(t, s.check(t, wishlist.build(t)), deny403(glueMissing))
	s.expectAllowed(t, s.check(t, req{method: "GET", path: "/wishlists/1", user: "alice"}.build(t)), "")

	// SIGHUP re-reads the file even though it has not changed since.
	writeConfig(t, e.cfg, string(cfg))
	s.waitLog(t, `"config reloaded"`, 2)
	s.expectAllowed(t, s.check(t, wishlist.build(t)), "")
	s.Signal(t, syscall.SIGHUP)
	s.waitLog(t, `"SIGHUP: reloading the config"`, 1)
	s.waitLog(t, `"config reloaded"`, 3)
	s.expectAllowed(t, s.check(t, wishlist.build(t)), "")
	if code, _ := s.Stop(t, 5*time.Second); code != 0 {
		t.Fatalf("exit status %d after reloads%s", code, s.Tail())
	}
}

// writeConfig replaces the config file in one rename, as an editor or a
// config-map update does, so the server never reads half a file.
func writeConfig(t *testing.T, path, content string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// waitLog waits up to 5 s until the server's output holds msg at least n
// times.
func (s *server) waitLog(t *testing.T, msg string, n int) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if strings.Count(s.Output(), msg) >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("server did not log %s %d times within 5s%s", msg, n, s.Tail())
		}
	}
}
