// Package delivery sends one-time MFA codes to users: by e-mail over SMTP,
// to a webhook (which may relay them by SMS, chat, …), or, for development
// only, into a local outbox file.
package delivery

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"regexp"
	"strings"
	"time"
)

// Message is one code to deliver.
type Message struct {
	// User is the user id the code is for.
	User string `json:"user"`
	// Method is "email" or "sms".
	Method string `json:"method"`
	// Destination is the e-mail address or phone number.
	Destination string `json:"destination"`
	// Code is the one-time code itself.
	Code string `json:"code"`
	// ExpiresAt is when the code stops working.
	ExpiresAt time.Time `json:"expires_at"`
}

// Sender delivers messages. Implementations are safe for concurrent use.
type Sender interface {
	Send(ctx context.Context, m Message) error
}

// Counted returns s with every send's outcome passed to observe (the
// metrics' counters) after it returns.
func Counted(s Sender, observe func(error)) Sender {
	return &counted{next: s, observe: observe}
}

type counted struct {
	next    Sender
	observe func(error)
}

func (c *counted) Send(ctx context.Context, m Message) error {
	err := c.next.Send(ctx, m)
	c.observe(err)
	return err
}

// Names of the senders, as written in delivery.email and delivery.sms.
const (
	SMTP    = "smtp"
	Webhook = "webhook"
	File    = "file"
)

// Config is the `delivery` config section.
type Config struct {
	// Email and SMS name the sender of each method ("smtp", "webhook" or
	// "file"); empty means the method is not offered.
	Email string `yaml:"email"`
	SMS   string `yaml:"sms"`
	// EmailClaim and PhoneClaim name the JWT claims holding a verified
	// destination; a claim present in the request wins over a destination
	// given in the activation body.
	EmailClaim string `yaml:"email_claim"`
	PhoneClaim string `yaml:"phone_claim"`

	SMTPConfig    SMTPConfig    `yaml:"smtp"`
	WebhookConfig WebhookConfig `yaml:"webhook"`
	FileConfig    FileConfig    `yaml:"file"`
}

// Defaults.
const (
	DefaultEmailClaim   = "email"
	DefaultPhoneClaim   = "phone_number"
	DefaultSubject      = "Your verification code"
	DefaultBodyTemplate = "Your verification code is {{.Code}}.\nIt expires at {{.ExpiresAt.UTC.Format \"15:04 MST\"}}.\nIf you did not ask for it, ignore this message.\n"
	DefaultTimeout      = 10 * time.Second
	DefaultRetries      = 2
	DefaultBackoff      = 500 * time.Millisecond
	DefaultSignHeader   = "X-MFA-Signature"
)

// DefaultConfig returns the section's defaults: no method offered.
func DefaultConfig() Config {
	return Config{
		EmailClaim: DefaultEmailClaim,
		PhoneClaim: DefaultPhoneClaim,
		SMTPConfig: SMTPConfig{Port: 587, TLS: TLSStartTLS, Subject: DefaultSubject, Body: DefaultBodyTemplate,
			Timeout: DefaultTimeout},
		WebhookConfig: WebhookConfig{Timeout: DefaultTimeout, Retries: DefaultRetries, Backoff: DefaultBackoff,
			SignatureHeader: DefaultSignHeader},
	}
}

// Validate checks the section, naming the first bad key of each sender in use.
func (c *Config) Validate() error {
	var errs []error
	used := map[string]bool{}
	for _, m := range c.methods() {
		switch m.sender {
		case "":
		case SMTP, Webhook, File:
			used[m.sender] = true
		default:
			errs = append(errs, fmt.Errorf("config: delivery.%s: want smtp, webhook or file, got %q", m.method, m.sender))
		}
	}
	if c.SMS == SMTP {
		errs = append(errs, errors.New("config: delivery.sms: smtp sends e-mail only; use webhook or file"))
	}
	if c.EmailClaim == "" || c.PhoneClaim == "" {
		errs = append(errs, errors.New("config: delivery.email_claim, delivery.phone_claim: must not be empty"))
	}
	if used[SMTP] {
		errs = append(errs, c.SMTPConfig.validate()...)
	}
	if used[Webhook] {
		errs = append(errs, c.WebhookConfig.validate()...)
	}
	if used[File] && c.FileConfig.Path == "" {
		errs = append(errs, errors.New("config: delivery.file.path: must not be empty when the file sender is used"))
	}
	return errors.Join(errs...)
}

// methodSender is a delivery method and the sender configured for it.
type methodSender struct{ method, sender string }

// methods returns every delivery method with its configured sender ("" for
// none), in order: the one list of the delivery.<method> keys.
func (c *Config) methods() [2]methodSender {
	return [2]methodSender{{"email", c.Email}, {"sms", c.SMS}}
}

// Uses reports whether a method is delivered by sender (SMTP, Webhook or
// File).
func (c *Config) Uses(sender string) bool {
	for _, m := range c.methods() {
		if m.sender == sender {
			return true
		}
	}
	return false
}

// SenderNames returns the sender configured per delivery method, for
// methods that have one.
func (c *Config) SenderNames() map[string]string {
	out := map[string]string{}
	for _, m := range c.methods() {
		if m.sender != "" {
			out[m.method] = m.sender
		}
	}
	return out
}

// UsesFile reports whether a method is delivered to the outbox file.
func (c *Config) UsesFile() bool { return c.Uses(File) }

// Senders builds the sender of each offered method.
func (c *Config) Senders() (map[string]Sender, error) {
	built := map[string]Sender{}
	get := func(name string) (Sender, error) {
		if s, ok := built[name]; ok {
			return s, nil
		}
		var (
			s   Sender
			err error
		)
		switch name {
		case SMTP:
			s, err = newSMTP(c.SMTPConfig)
		case Webhook:
			s, err = newWebhook(c.WebhookConfig)
		case File:
			s, err = NewFile(c.FileConfig.Path)
		default:
			err = fmt.Errorf("delivery: unknown sender %q", name)
		}
		if err != nil {
			return nil, err
		}
		built[name] = s
		return s, nil
	}
	out := map[string]Sender{}
	for method, name := range c.SenderNames() {
		s, err := get(name)
		if err != nil {
			return nil, err
		}
		out[method] = s
	}
	return out, nil
}

// e164 is an international phone number: +, country code, up to 15 digits.
var e164 = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)

// ValidPhone reports whether s is an E.164 phone number.
func ValidPhone(s string) bool { return e164.MatchString(s) }

// ValidEmail reports whether s is a bare e-mail address (no display name),
// of printable ASCII, at most 254 bytes.
func ValidEmail(s string) bool {
	if s == "" || len(s) > 254 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f {
			return false
		}
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || a.Name != "" {
		return false
	}
	at := strings.LastIndexByte(s, '@')
	return at > 0 && strings.Contains(s[at+1:], ".")
}

// Mask hides most of a destination for display: "a***@example.com", "+49******12".
func Mask(dest string) string {
	if at := strings.LastIndexByte(dest, '@'); at > 0 {
		return dest[:1] + "***" + dest[at:]
	}
	if len(dest) > 4 {
		return dest[:3] + strings.Repeat("*", len(dest)-5) + dest[len(dest)-2:]
	}
	return "***"
}

// Mailbox returns the mailbox an e-mail address delivers to, for counting
// codes per destination: the address in lower case, without a
// sub-address (`+tag`, which mail systems deliver to the same inbox) and
// without a trailing dot on the domain. So `Alice+x@Example.COM.` and
// `alice@example.com` are one mailbox. It is not an address to send to.
func Mailbox(addr string) string {
	addr = strings.ToLower(addr)
	at := strings.LastIndexByte(addr, '@')
	if at < 0 {
		return addr
	}
	local, domain := addr[:at], strings.TrimRight(addr[at+1:], ".")
	if plus := strings.IndexByte(local, '+'); plus > 0 {
		local = local[:plus]
	}
	return local + "@" + domain
}
