package service_test

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/mfa-authz/mfa-authz/authz"
	"github.com/mfa-authz/mfa-authz/authz/internal/servicetest"
	"github.com/mfa-authz/mfa-authz/authz/profile"
	"github.com/mfa-authz/mfa-authz/authz/service"
	"github.com/mfa-authz/mfa-authz/authz/store"
	"github.com/mfa-authz/mfa-authz/authz/totp"
)

// A revocation another process (the CLI) writes to the embedded store ends
// the session the running service granted: within a few seconds the next
// protected request needs a code again.
func TestWatchRevocationsEndsSession(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	svc := servicetest.New(t, "identity:\n  header: x-user-id\npolicy:\n  rules:\n    - path: /checkout\n")
	core, logs := observer.New(zap.InfoLevel)
	svc.Log = zap.New(core)
	f := servicetest.EnrollTOTP(t, svc, "alice")

	check := func(code string) authz.Decision {
		h := authz.MapHeader{"x-user-id": "alice"}
		if code != "" {
			h["x-mfa-code"] = code
		}
		return svc.Engine.Check(ctx, &authz.Request{Method: "POST", Path: "/checkout", Header: h})
	}
	code, err := totp.Code(f, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if d := check(code); !d.Allowed || d.Detail != "verified" {
		t.Fatalf("verifying: %+v", d)
	}
	if d := check(""); !d.Allowed || d.Detail != "session" {
		t.Fatalf("inside the grace period: %+v", d)
	}

	done := make(chan struct{})
	go func() {
		defer close(done)
		svc.WatchRevocations(ctx)
	}()
	defer func() { cancel(); <-done }()

	// The CLI's own handle on the same directory.
	key, err := store.LoadKey(svc.Config.Storage.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	cli, err := store.OpenDir(svc.Config.Storage.Path, key)
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	if err := cli.RevokeSessions(ctx, "bob"); err != nil { // someone else's
		t.Fatal(err)
	}
	time.Sleep(2 * service.RevocationInterval)
	if d := check(""); !d.Allowed || d.Detail != "session" {
		t.Fatalf("after another user's revocation: %+v", d)
	}
	if err := cli.RevokeSessions(ctx, "alice"); err != nil {
		t.Fatal(err)
	}

	want, err := os.ReadFile("../profile/testdata/glue_missing_code.json")
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(3 * time.Second)
	var d authz.Decision
	for {
		d = check("")
		if !d.Allowed || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if d.Allowed || d.Reason != profile.Missing || d.Answer.Status != 403 ||
		strings.TrimSpace(d.Answer.Body) != string(bytes.TrimSpace(want)) {
		t.Fatalf("3 s after the revocation: %+v, want the missing-code denial %s", d, want)
	}

	// The watcher logs right after it ends the session, so the log may
	// trail the denial by a moment.
	hash := authz.HashUser("alice")
	for logDeadline := time.Now().Add(time.Second); time.Now().Before(logDeadline); time.Sleep(10 * time.Millisecond) {
		if logs.FilterMessage("session revoked").FilterField(zap.String("user_hash", hash)).Len() > 0 {
			break
		}
	}
	revoked := logs.FilterMessage("session revoked").All()
	found := false
	for _, e := range revoked {
		h := e.ContextMap()["user_hash"]
		if h == authz.HashUser("bob") {
			continue
		}
		if h != hash {
			t.Fatalf("session revoked logged %v, want alice's hash %s or bob's", e.ContextMap(), hash)
		}
		found = true
	}
	if !found {
		t.Fatalf("no \"session revoked\" log for alice: %v", revoked)
	}
	for _, e := range logs.All() {
		if strings.Contains(e.Message, "alice") || strings.Contains(strings.Join(fieldStrings(e), " "), "alice") {
			t.Fatalf("a log names the user: %v", e)
		}
	}

	// A fresh verification after the revocation is not ended again.
	svc.Engine.StartSession("alice", store.MethodTOTP, time.Now())
	time.Sleep(2 * service.RevocationInterval)
	if d := check(""); !d.Allowed || d.Detail != "session" {
		t.Fatalf("a session granted after the revocation was ended: %+v", d)
	}
}

func fieldStrings(e observer.LoggedEntry) []string {
	var out []string
	for k, v := range e.ContextMap() {
		out = append(out, k, toString(v))
	}
	return out
}

func toString(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	return ""
}
