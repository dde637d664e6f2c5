package delivery

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mfa-authz/mfa-authz/test/smtptest"
)

var msg = Message{User: "alice", Method: "email", Destination: "alice@example.com", Code: "123456",
	ExpiresAt: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)}

func smtpConfig(t *testing.T, s *smtptest.Server, mode string) SMTPConfig {
	t.Helper()
	host, port, _ := net.SplitHostPort(s.Addr)
	p, _ := strconv.Atoi(port)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, s.CAPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	c := DefaultConfig().SMTPConfig
	c.Host, c.Port, c.From, c.TLS, c.CAFile = host, p, "Shop <no-reply@shop.example.com>", mode, ca
	return c
}

func TestSMTPStartTLSWithAuth(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{Username: "mailer", Password: "s3cret"})
	c := smtpConfig(t, srv, TLSStartTLS)
	c.Username, c.Password = "mailer", "s3cret"
	s, err := newSMTP(c)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Send(context.Background(), msg); err != nil {
		t.Fatal(err)
	}
	m, ok := srv.Next(5 * time.Second)
	if !ok {
		t.Fatal("no message arrived")
	}
	if !m.TLS || m.User != "mailer" {
		t.Errorf("session: tls %v user %q", m.TLS, m.User)
	}
	if m.From != "no-reply@shop.example.com" || len(m.To) != 1 || m.To[0] != "alice@example.com" {
		t.Errorf("envelope: from %q to %q", m.From, m.To)
	}
	if m.Subject != DefaultSubject {
		t.Errorf("subject %q", m.Subject)
	}
	want := "Your verification code is 123456.\nIt expires at 03:04 UTC.\nIf you did not ask for it, ignore this message.\n"
	if m.Body != want && m.Body != want+"\n" {
		t.Errorf("body:\n%q\nwant\n%q", m.Body, want)
	}
}

func TestSMTPImplicitTLS(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{Implicit: true})
	c := smtpConfig(t, srv, TLSImplicit)
	c.Subject = "Code for {{.User}}"
	c.Body = "code={{.Code}} method={{.Method}}"
	s, err := newSMTP(c)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Send(context.Background(), msg); err != nil {
		t.Fatal(err)
	}
	m, ok := srv.Next(5 * time.Second)
	if !ok {
		t.Fatal("no message arrived")
	}
	if !m.TLS || m.Subject != "Code for alice" || !strings.HasPrefix(m.Body, "code=123456 method=email") {
		t.Errorf("got tls %v subject %q body %q", m.TLS, m.Subject, m.Body)
	}
}

func TestSMTPFailures(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{Username: "mailer", Password: "s3cret"})
	c := smtpConfig(t, srv, TLSStartTLS)
	c.Username, c.Password = "mailer", "wrong"
	s, _ := newSMTP(c)
	if err := s.Send(context.Background(), msg); err == nil || !strings.Contains(err.Error(), "AUTH") {
		t.Errorf("wrong password: %v", err)
	}
	// Without the CA, the server's certificate is refused.
	c.CAFile, c.Password = "", "s3cret"
	s, _ = newSMTP(c)
	if err := s.Send(context.Background(), msg); err == nil || !strings.Contains(err.Error(), "STARTTLS") {
		t.Errorf("untrusted certificate: %v", err)
	}
	// A password is never sent in the clear.
	c = smtpConfig(t, srv, TLSNone)
	c.Username, c.Password = "mailer", "s3cret"
	s, _ = newSMTP(c)
	if err := s.Send(context.Background(), msg); err == nil || !strings.Contains(err.Error(), "without TLS") {
		t.Errorf("plain-text auth: %v", err)
	}
	bad := msg
	bad.Destination = "not an address"
	if err := s.Send(context.Background(), bad); err == nil {
		t.Error("invalid recipient accepted")
	}
	if n := len(srv.Messages()); n != 0 {
		t.Errorf("%d messages delivered, want none", n)
	}
	// Nobody listening: a dial error within the timeout.
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := l.Addr().(*net.TCPAddr)
	l.Close()
	c = smtpConfig(t, srv, TLSStartTLS)
	c.Port, c.Timeout = addr.Port, 2*time.Second
	s, _ = newSMTP(c)
	if err := s.Send(context.Background(), msg); err == nil || !strings.Contains(err.Error(), "dial") {
		t.Errorf("closed port: %v", err)
	}
}

type hookCall struct {
	body []byte
	sig  string
}

func TestWebhookSignedAndRetried(t *testing.T) {
	var n atomic.Int32
	calls := make(chan hookCall, 10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		calls <- hookCall{b, r.Header.Get("X-MFA-Signature")}
		if n.Add(1) < 3 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	c := DefaultConfig().WebhookConfig
	c.URL, c.Secret, c.Backoff = srv.URL, "hook-secret", 10*time.Millisecond
	w, err := newWebhook(c)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Send(context.Background(), msg); err != nil {
		t.Fatal(err)
	}
	if n.Load() != 3 {
		t.Fatalf("%d calls, want 3 (two 503s retried)", n.Load())
	}
	call := <-calls
	want := `{"user":"alice","method":"email","destination":"alice@example.com","code":"123456","expires_at":"2030-01-02T03:04:05Z"}`
	if string(call.body) != want {
		t.Errorf("body %s\nwant %s", call.body, want)
	}
	if call.sig != Sign([]byte("hook-secret"), call.body) || !strings.HasPrefix(call.sig, "sha256=") {
		t.Errorf("signature %q", call.sig)
	}
}

func TestWebhookFailures(t *testing.T) {
	var n atomic.Int32
	status := atomic.Int32{}
	status.Store(http.StatusBadRequest)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		if status.Load() == 0 {
			time.Sleep(300 * time.Millisecond)
			return
		}
		w.WriteHeader(int(status.Load()))
	}))
	defer srv.Close()
	c := DefaultConfig().WebhookConfig
	c.URL, c.Secret, c.Backoff, c.Retries = srv.URL, "s", time.Millisecond, 2
	w, _ := newWebhook(c)
	if err := w.Send(context.Background(), msg); err == nil || n.Load() != 1 {
		t.Errorf("4xx: err %v after %d calls, want an error after 1 (no retry)", err, n.Load())
	}
	n.Store(0)
	status.Store(http.StatusInternalServerError)
	if err := w.Send(context.Background(), msg); err == nil || n.Load() != 3 {
		t.Errorf("5xx: err %v after %d calls, want an error after 3", err, n.Load())
	}
	n.Store(0)
	status.Store(0)
	c.Timeout, c.Retries = 50*time.Millisecond, 0
	w, _ = newWebhook(c)
	start := time.Now()
	if err := w.Send(context.Background(), msg); err == nil || time.Since(start) > 2*time.Second {
		t.Errorf("timeout: err %v after %s", err, time.Since(start))
	} else if strings.Contains(err.Error(), "123456") {
		t.Errorf("error leaks the code: %v", err)
	}
}

func TestFileSender(t *testing.T) {
	p := filepath.Join(t.TempDir(), "outbox", "codes.jsonl")
	f, err := NewFile(p)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if err := f.Send(context.Background(), msg); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d lines, want 2", len(lines))
	}
	var got Message
	if err := json.Unmarshal([]byte(lines[1]), &got); err != nil || got != msg {
		t.Errorf("line %s: %+v %v", lines[1], got, err)
	}
	if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o600 {
		t.Errorf("outbox mode %v", fi.Mode().Perm())
	}
}

func TestConfigValidate(t *testing.T) {
	c := DefaultConfig()
	if err := c.Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	c.Email, c.SMS = "smtp", "pigeon"
	c.SMTPConfig.Port = 0
	err := c.Validate()
	for _, want := range []string{"delivery.sms: want smtp, webhook or file", "delivery.smtp.host: must not be empty",
		"delivery.smtp.port", "delivery.smtp.from"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v lacks %q", err, want)
		}
	}
	c = DefaultConfig()
	c.SMS = "webhook"
	c.WebhookConfig.URL = "ftp://x"
	err = c.Validate()
	for _, want := range []string{"delivery.webhook.url", "delivery.webhook.secret"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v lacks %q", err, want)
		}
	}
	c = DefaultConfig()
	c.Email = "file"
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "delivery.file.path") {
		t.Errorf("file without path: %v", err)
	}
}

func TestValidators(t *testing.T) {
	for s, want := range map[string]bool{"a@example.com": true, "Alice <a@example.com>": false, "a@b": false, "": false, "a b@example.com": false} {
		if ValidEmail(s) != want {
			t.Errorf("ValidEmail(%q) = %v", s, !want)
		}
	}
	for s, want := range map[string]bool{"+4915112345678": true, "015112345678": false, "+0123456789": false, "+49 151": false} {
		if ValidPhone(s) != want {
			t.Errorf("ValidPhone(%q) = %v", s, !want)
		}
	}
	if Mask("alice@example.com") != "a***@example.com" {
		t.Error(Mask("alice@example.com"))
	}
}
