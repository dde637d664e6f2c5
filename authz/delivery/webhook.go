package delivery

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"time"
)

// WebhookConfig is `delivery.webhook`.
type WebhookConfig struct {
	// URL receives a POST of the message as JSON.
	URL string `yaml:"url"`
	// Secret (or the content of SecretFile) keys the HMAC-SHA256 signature
	// sent in SignatureHeader as "sha256=<hex>" over the exact body.
	Secret          string `yaml:"secret"`
	SecretFile      string `yaml:"secret_file"`
	SignatureHeader string `yaml:"signature_header"`
	// Timeout bounds each attempt; Retries is how many more attempts follow
	// a 5xx answer or a transport error, Backoff the first pause (doubled
	// after each retry).
	Timeout time.Duration `yaml:"timeout"`
	Retries int           `yaml:"retries"`
	Backoff time.Duration `yaml:"backoff"`
}

func (c *WebhookConfig) validate() []error {
	var errs []error
	add := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("config: delivery.webhook.%s: "+format, append([]any{key}, args...)...))
	}
	u, err := url.Parse(c.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		// The URL may hold a token or password: quote it without them.
		add("url", "want an http(s) URL, got %q", redactURL(c.URL))
	}
	if c.Secret == "" && c.SecretFile == "" {
		add("secret", "set secret or secret_file: webhook calls are always signed")
	}
	if c.Secret != "" && c.SecretFile != "" {
		add("secret_file", "set secret or secret_file, not both")
	}
	if c.SignatureHeader == "" {
		add("signature_header", "must not be empty")
	}
	if c.Timeout <= 0 {
		add("timeout", "must be positive, got %s", c.Timeout)
	}
	if c.Retries < 0 || c.Retries > 10 {
		add("retries", "want 0 to 10, got %d", c.Retries)
	}
	if c.Backoff < 0 {
		add("backoff", "must not be negative, got %s", c.Backoff)
	}
	return errs
}

// WebhookSender POSTs messages to a URL, signed.
type WebhookSender struct {
	cfg    WebhookConfig
	secret []byte
	client *http.Client
}

// newWebhook returns a webhook sender, reading the secret file if set.
func newWebhook(c WebhookConfig) (*WebhookSender, error) {
	if errs := c.validate(); len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	secret := []byte(c.Secret)
	if c.SecretFile != "" {
		b, err := os.ReadFile(c.SecretFile)
		if err != nil {
			return nil, fmt.Errorf("delivery.webhook.secret_file: %w", err)
		}
		secret = bytes.TrimSpace(b)
		if len(secret) == 0 {
			return nil, fmt.Errorf("delivery.webhook.secret_file: %s is empty", c.SecretFile)
		}
	}
	return &WebhookSender{cfg: c, secret: secret, client: &http.Client{
		Timeout: c.Timeout,
		// A redirect could carry the code elsewhere: never follow one.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}, nil
}

// Sign returns the signature header value of body under secret.
func Sign(secret, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Send implements Sender: one POST, retried with exponential backoff on a
// transport error or a 5xx answer; any other non-2xx answer is final.
func (w *WebhookSender) Send(ctx context.Context, m Message) error {
	body, err := json.Marshal(struct {
		User        string `json:"user"`
		Method      string `json:"method"`
		Destination string `json:"destination"`
		Code        string `json:"code"`
		ExpiresAt   string `json:"expires_at"`
	}{m.User, m.Method, m.Destination, m.Code, m.ExpiresAt.UTC().Format(time.RFC3339)})
	if err != nil {
		return err
	}
	sig := Sign(w.secret, body)
	pause := w.cfg.Backoff
	var last error
	for attempt := 0; attempt <= w.cfg.Retries; attempt++ {
		if attempt > 0 {
			t := time.NewTimer(pause)
			select {
			case <-ctx.Done():
				t.Stop()
				return fmt.Errorf("delivery: webhook: %w (last: %v)", ctx.Err(), last)
			case <-t.C:
			}
			pause *= 2
		}
		retry, err := w.post(ctx, body, sig)
		if err == nil {
			return nil
		}
		last = err
		if !retry {
			break
		}
	}
	return fmt.Errorf("delivery: webhook: %w", last)
}

func (w *WebhookSender) post(ctx context.Context, body []byte, sig string) (retry bool, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.cfg.URL, bytes.NewReader(body))
	if err != nil {
		// url.Parse errors quote the whole URL, secrets included.
		return false, fmt.Errorf("POST %s: invalid URL", redactURL(w.cfg.URL))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(w.cfg.SignatureHeader, sig)
	req.Header.Set("User-Agent", "mfa-authz")
	resp, err := w.client.Do(req)
	if err != nil {
		// A *url.Error quotes the URL as net/http rewrote it (scheme
		// lower-cased, userinfo and query kept), so no replacement of the
		// configured URL can be relied on: keep only the cause, and name
		// the URL without its secrets.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return ctx.Err() == nil, fmt.Errorf("POST %s: %v", redactURL(w.cfg.URL), err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return false, nil
	case resp.StatusCode >= 500:
		return true, errors.New("status " + strconv.Itoa(resp.StatusCode))
	default:
		return false, errors.New("status " + strconv.Itoa(resp.StatusCode))
	}
}

// redactURL returns raw as scheme://host, for logs and errors: the
// userinfo, query and fragment may hold secrets, and so may the path (some
// providers put the token there). An unparsable URL yields "webhook URL".
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "webhook URL"
	}
	r := url.URL{Scheme: u.Scheme, Host: u.Host}
	return r.String()
}
