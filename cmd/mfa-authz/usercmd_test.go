package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/mfa-authz/mfa-authz/authz/config"
	"github.com/mfa-authz/mfa-authz/authz/service"
	"github.com/mfa-authz/mfa-authz/authz/store"
	"github.com/mfa-authz/mfa-authz/authz/totp"
	"github.com/mfa-authz/mfa-authz/cache"
	"github.com/mfa-authz/mfa-authz/test/redistest"
)

// writeConfig writes a config file with the given storage section body.
func writeConfig(t *testing.T, storage string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "mfa-authz.yaml")
	if err := os.WriteFile(p, []byte("storage:\n"+storage), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// enrollVia opens the store cfg names and gives user an enabled TOTP factor.
func enrollVia(t *testing.T, cfgPath, user string) {
	t.Helper()
	st, err := openStore(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	f, _, err := totp.Generate(testTOTPConfig, user, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := st.PutEnrollment(context.Background(), user, &store.Enrollment{TOTP: f}, false); err != nil {
		t.Fatal(err)
	}
}

// With the embedded store, disable and reset write a revocation that a
// running server polls for, and say so.
func TestUserDisableNoticeEmbedded(t *testing.T) {
	dir := t.TempDir()
	cfg := writeConfig(t, "  path: "+filepath.Join(dir, "store")+"\n  key_file: "+filepath.Join(dir, "key")+"\n")
	for _, args := range [][]string{{"disable", "--method", "totp"}, {"reset"}} {
		enrollVia(t, cfg, "alice")
		var out, errOut bytes.Buffer
		if err := userCmd(append(args, "--user", "alice", "--config", cfg), &out, &errOut); err != nil {
			t.Fatalf("user %s: %v\n%s", args[0], err, errOut.String())
		}
		lines := strings.Split(strings.TrimSpace(out.String()), "\n")
		want := `Ended the session of user "alice" (a running server drops it within a second).`
		if len(lines) != 2 || !strings.HasPrefix(lines[0], "Disabled ") || lines[1] != want {
			t.Fatalf("user %s printed\n%s", args[0], out.String())
		}
		st, err := openStore(cfg)
		if err != nil {
			t.Fatal(err)
		}
		revs, err := st.(store.RevocationLog).Revocations(time.Time{})
		st.Close()
		if err != nil || len(revs) != 1 || revs[0].User != "alice" {
			t.Fatalf("user %s: revocations %+v, %v; want one of alice", args[0], revs, err)
		}
	}
}

// With Redis, disable and reset end the user's session in Redis, which
// every replica reads on each protected request, and say so.
func TestUserResetEndsSessionRedis(t *testing.T) {
	srv := redistest.Start(t)
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "key")
	if _, _, err := store.LoadOrCreateKey(keyFile); err != nil {
		t.Fatal(err)
	}
	cfg := writeConfig(t, "  key_file: "+keyFile+"\n  redis:\n    url: "+srv.URL+"\n")
	for _, args := range [][]string{{"disable", "--method", "email"}, {"reset"}} {
		user := "alice-" + args[0]
		enrollVia(t, cfg, user)
		// A session a replica started, as it sits in Redis.
		c, err := config.Load(cfg)
		if err != nil {
			t.Fatal(err)
		}
		st, err := service.OpenStore(c.Storage, zap.NewNop())
		if err != nil {
			t.Fatal(err)
		}
		ss, ok := st.(store.SharedSessions)
		if !ok {
			t.Fatalf("the Redis store %T does not share sessions", st)
		}
		shared := ss.Sessions()
		ctx := context.Background()
		if err := shared.PutSession(ctx, user, cache.Session{VerifiedAt: time.Now(), Method: "totp"}, time.Minute); err != nil {
			t.Fatal(err)
		}
		var out, errOut bytes.Buffer
		if err := userCmd(append(args, "--user", user, "--config", cfg), &out, &errOut); err != nil {
			t.Fatalf("user %s: %v\n%s", args[0], err, errOut.String())
		}
		lines := strings.Split(strings.TrimSpace(out.String()), "\n")
		if len(lines) != 2 || !strings.HasPrefix(lines[0], "Disabled ") ||
			lines[1] != `Ended the session of user "`+user+`" on every replica.` {
			t.Fatalf("user %s printed\n%s", args[0], out.String())
		}
		if _, _, ok, err := shared.GetSession(ctx, user); ok || err != nil {
			t.Fatalf("user %s: the session is still in Redis (err %v)", args[0], err)
		}
		st.Close()
	}
}
