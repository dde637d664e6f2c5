package service

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/mfa-authz/mfa-authz/authz/config"
)

const (
	anonymousAllow  = "policy:\n  anonymous: allow\n  rules:\n    - path: /carts/**\n"
	allowUnenrolled = "mfa:\n  allow_unenrolled: true\n"
	clearSMTP       = "delivery:\n  email: smtp\n  smtp:\n    host: smtp.example.com\n    from: mfa@example.com\n    tls: none\n"
)

// warned returns the keys of the config warnings logged since the last
// call, in order, and checks they were logged at WARN.
func warned(t *testing.T, logs *observer.ObservedLogs) []string {
	t.Helper()
	var keys []string
	for _, e := range logs.TakeAll() {
		key, ok := e.ContextMap()["key"].(string)
		if !ok {
			continue
		}
		if e.Level != zapcore.WarnLevel {
			t.Errorf("%q logged at %v, want warn", e.Message, e.Level)
		}
		if !strings.HasPrefix(e.Message, "config: "+key+": ") {
			t.Errorf("message %q does not name the key %s", e.Message, key)
		}
		keys = append(keys, key)
	}
	return keys
}

func newObservedService(t *testing.T, extra string) (*Service, string, *observer.ObservedLogs) {
	t.Helper()
	path := writeConfig(t, t.TempDir(), extra)
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	core, logs := observer.New(zapcore.DebugLevel)
	svc, err := New(cfg, zap.New(core))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(svc.Close)
	return svc, path, logs
}

func TestWarningsLoggedAtStart(t *testing.T) {
	_, _, logs := newObservedService(t, anonymousAllow+allowUnenrolled+clearSMTP)
	if got, want := warned(t, logs), []string{"policy.anonymous", "mfa.allow_unenrolled", "delivery.smtp.tls"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("warned about %v at start, want %v", got, want)
	}
	_, _, logs = newObservedService(t, policyA)
	if got := warned(t, logs); len(got) != 0 {
		t.Fatalf("warned about %v for a safe config", got)
	}
}

func TestExampleConfigStartsWithoutConfigWarnings(t *testing.T) {
	data, err := os.ReadFile("../../mfa-authz.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cfg.Storage.Path, cfg.Storage.KeyFile = filepath.Join(dir, "store"), filepath.Join(dir, "key")
	cfg.Delivery.FileConfig.Path = filepath.Join(dir, "outbox.jsonl")
	core, logs := observer.New(zapcore.DebugLevel)
	svc, err := New(cfg, zap.New(core))
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	if got := warned(t, logs); len(got) != 0 {
		t.Fatalf("example config: warned about %v", got)
	}
}

func TestReloadLogsWarningsItIntroduces(t *testing.T) {
	svc, path, logs := newObservedService(t, policyA)
	dir := filepath.Dir(path)
	r := svc.NewReloader(path)
	step := func(name, extra string, want []string) {
		t.Helper()
		writeConfig(t, dir, extra)
		if err := r.Reload(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got := warned(t, logs); !reflect.DeepEqual(got, want) {
			t.Errorf("%s: warned about %v, want %v", name, got, want)
		}
	}
	step("anonymous switched on", anonymousAllow, []string{"policy.anonymous"})
	if !svc.Engine.Policy().AnonymousAllowed() {
		t.Fatal("policy.anonymous: allow not applied by the reload")
	}
	step("same file again", anonymousAllow, nil)
	step("allow_unenrolled added (needs a restart)", anonymousAllow+allowUnenrolled, []string{"mfa.allow_unenrolled"})
	step("clear-text smtp added", anonymousAllow+allowUnenrolled+clearSMTP, []string{"delivery.smtp.tls"})
	step("all removed", policyA, nil)
	step("anonymous switched on again", anonymousAllow, []string{"policy.anonymous"})

	// A rejected file logs an error, no warning, and changes nothing.
	doc := "mfa:\n  allow_unenrolled: true\nidentity:\n  bearer_fingerprint: true\n" + anonymousAllow
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := r.Reload(); err == nil || !strings.Contains(err.Error(), "config: mfa.allow_unenrolled: must not be true with identity.bearer_fingerprint") {
		t.Fatalf("allow_unenrolled with bearer_fingerprint: got %v", err)
	}
	if got := warned(t, logs); len(got) != 0 {
		t.Errorf("a rejected reload warned about %v", got)
	}
	step("back to the same warnings", anonymousAllow, nil)
}
