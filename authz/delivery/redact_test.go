package delivery

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestWebhookErrorsHideURLSecrets: a transport error names the webhook URL
// without its userinfo, query or fragment, whatever case its scheme has.
func TestWebhookErrorsHideURLSecrets(t *testing.T) {
	// A port nobody listens on: every POST fails in the transport.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hostPort := l.Addr().String()
	l.Close()
	for _, raw := range []string{
		"http://hookuser:PASSWORD-SECRET@" + hostPort + "/send?token=TOKEN-SECRET",
		"HTTP://" + hostPort + "/send?token=TOKEN-SECRET",
		"Http://hookuser:PASSWORD-SECRET@" + hostPort + "/send?token=TOKEN-SECRET&x=1#FRAG-SECRET",
		"http://" + hostPort + "/send?token=TOKEN%2DSECRET",
	} {
		c := DefaultConfig().WebhookConfig
		c.URL, c.Secret, c.Retries, c.Timeout = raw, "s", 0, 2*time.Second
		w, err := newWebhook(c)
		if err != nil {
			t.Fatalf("%s: %v", raw, err)
		}
		err = w.Send(context.Background(), msg)
		if err == nil {
			t.Fatalf("%s: no error", raw)
		}
		text := err.Error()
		for _, secret := range []string{"SECRET", "hookuser", "token", msg.Code, msg.Destination} {
			if strings.Contains(text, secret) {
				t.Errorf("%s: error %q contains %q", raw, text, secret)
			}
		}
		if want := "POST http://" + hostPort + ": "; !strings.Contains(text, want) {
			t.Errorf("%s: error %q does not name %q", raw, text, want)
		}
	}
}

// TestWebhookStatusErrorHidesURLSecrets: a refused call says the status only.
func TestWebhookStatusErrorHidesURLSecrets(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusForbidden)
	}))
	defer srv.Close()
	c := DefaultConfig().WebhookConfig
	c.URL, c.Secret = strings.Replace(srv.URL, "http://", "http://u:PASSWORD-SECRET@", 1)+"/x?token=TOKEN-SECRET", "s"
	w, err := newWebhook(c)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Send(context.Background(), msg); err == nil || strings.Contains(err.Error(), "SECRET") || !strings.Contains(err.Error(), "403") {
		t.Errorf("err %v: want status 403 and no secret", err)
	}
}

func TestRedactURL(t *testing.T) {
	for raw, want := range map[string]string{
		"https://u:p@hooks.example.com:8443/a/b?token=x#f": "https://hooks.example.com:8443",
		"HTTPS://hooks.example.com/send":                   "https://hooks.example.com",
		"http://hooks.example.com":                         "http://hooks.example.com",
		"https://hooks.example.com/services/T0/B0/SECRET":  "https://hooks.example.com",
		"http://[::1]:80/p%2Fq?k=v":                        "http://[::1]:80",
		"not a url ?token=x":                               "webhook URL",
		"http://bad host/?token=x":                         "webhook URL",
	} {
		if got := redactURL(raw); got != want {
			t.Errorf("redactURL(%q) = %q, want %q", raw, got, want)
		}
	}
}

// fakeSMTP serves one session with canned replies: reply maps a command
// (EHLO, MAIL, RCPT, DATA) to its reply line; others get 250.
func fakeSMTP(t *testing.T, reply map[string]string) (host string, port int) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		conn, err := l.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
		r := bufio.NewReader(conn)
		send := func(s string) { _, _ = conn.Write([]byte(s + "\r\n")) }
		if g, ok := reply["GREETING"]; ok {
			send(g)
			return
		}
		send("220 fake ESMTP")
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			verb := strings.ToUpper(strings.Fields(line + " x")[0])
			if rep, ok := reply[verb]; ok {
				send(rep)
				continue
			}
			switch verb {
			case "EHLO":
				send("250 fake")
			case "DATA":
				send("354 go on")
				for {
					l, err := r.ReadString('\n')
					if err != nil {
						return
					}
					if l == ".\r\n" {
						break
					}
				}
				if rep, ok := reply["END"]; ok {
					send(rep)
				} else {
					send("250 queued")
				}
			case "QUIT":
				send("221 bye")
				return
			default:
				send("250 ok")
			}
		}
	}()
	h, p, _ := net.SplitHostPort(l.Addr().String())
	port, _ = strconv.Atoi(p)
	return h, port
}

// TestSMTPErrorsHideRecipient: a server's refusal that repeats the
// recipient address yields an error with the step and reply code only.
func TestSMTPErrorsHideRecipient(t *testing.T) {
	for _, c := range []struct {
		reply map[string]string
		want  string
	}{
		{map[string]string{"RCPT": "550 5.1.1 <alice@example.com>: Recipient address rejected: User unknown"}, "RCPT TO: server replied 550"},
		{map[string]string{"MAIL": "553 5.7.1 sender refused for alice@example.com"}, "MAIL FROM: server replied 553"},
		{map[string]string{"DATA": "554 5.7.1 no mail for alice@example.com"}, "DATA: server replied 554"},
		{map[string]string{"END": "552 5.2.2 mailbox of alice@example.com is full"}, "DATA: server replied 552"},
		{map[string]string{"EHLO": "554 go away alice@example.com", "HELO": "554 go away alice@example.com"}, "EHLO: server replied 554"},
		{map[string]string{"GREETING": "554 5.3.2 alice@example.com is not welcome"}, "greeting: server replied 554"},
	} {
		host, port := fakeSMTP(t, c.reply)
		cfg := DefaultConfig().SMTPConfig
		cfg.Host, cfg.Port, cfg.From, cfg.TLS, cfg.Timeout = host, port, "no-reply@shop.example.com", TLSNone, 5*time.Second
		s, err := newSMTP(cfg)
		if err != nil {
			t.Fatal(err)
		}
		err = s.Send(context.Background(), msg)
		if err == nil {
			t.Fatalf("%v: no error", c.reply)
		}
		if text := err.Error(); strings.Contains(text, "alice") || strings.Contains(text, msg.Code) || !strings.Contains(text, c.want) {
			t.Errorf("%v: error %q; want %q and no address", c.reply, text, c.want)
		}
	}
}

// TestWebhookConfigErrorHidesSecrets: a refused URL is quoted without its
// userinfo, path and query.
func TestWebhookConfigErrorHidesSecrets(t *testing.T) {
	c := DefaultConfig().WebhookConfig
	c.URL, c.Secret = "ftp://u:PASSWORD-SECRET@hooks.example.com/send?token=TOKEN-SECRET", "s"
	_, err := newWebhook(c)
	if err == nil || strings.Contains(err.Error(), "SECRET") || !strings.Contains(err.Error(), `got "ftp://hooks.example.com"`) {
		t.Errorf("err %v: want the URL refused, quoted without secrets", err)
	}
}
