package delivery

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"net"
	"net/mail"
	"net/smtp"
	"net/textproto"
	"os"
	"strconv"
	"strings"
	"text/template"
	"time"
)

// TLS modes of delivery.smtp.tls.
const (
	TLSNone     = "none"     // plain text (only for a relay on loopback)
	TLSStartTLS = "starttls" // STARTTLS is required
	TLSImplicit = "implicit" // TLS from the first byte (port 465)
)

// SMTPConfig is `delivery.smtp`.
type SMTPConfig struct {
	Host string `yaml:"host"`
	Port int    `yaml:"port"`
	// From is the sender address, optionally with a display name.
	From string `yaml:"from"`
	// Username and Password (or PasswordFile) enable AUTH PLAIN, which is
	// only used over TLS.
	Username     string `yaml:"username"`
	Password     string `yaml:"password"`
	PasswordFile string `yaml:"password_file"`
	TLS          string `yaml:"tls"`
	// CAFile, if set, is the PEM bundle the server's certificate must
	// chain to (else the system roots). ServerName overrides the name
	// checked (else Host).
	CAFile     string `yaml:"ca_file"`
	ServerName string `yaml:"server_name"`
	// Subject and Body are text/template templates over the Message
	// (.Code, .User, .Method, .Destination, .ExpiresAt).
	Subject string        `yaml:"subject"`
	Body    string        `yaml:"body"`
	Timeout time.Duration `yaml:"timeout"`
}

func (c *SMTPConfig) validate() []error {
	var errs []error
	add := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("config: delivery.smtp.%s: "+format, append([]any{key}, args...)...))
	}
	if c.Host == "" {
		add("host", "must not be empty")
	}
	if c.Port < 1 || c.Port > 65535 {
		add("port", "want 1 to 65535, got %d", c.Port)
	}
	if a, err := mail.ParseAddress(c.From); err != nil || a.Address == "" {
		add("from", "want an e-mail address, got %q", c.From)
	}
	switch c.TLS {
	case TLSNone, TLSStartTLS, TLSImplicit:
	default:
		add("tls", "want none, starttls or implicit, got %q", c.TLS)
	}
	if c.Password != "" && c.PasswordFile != "" {
		add("password_file", "set password or password_file, not both")
	}
	if (c.Password != "" || c.PasswordFile != "") && c.Username == "" {
		add("username", "must be set with a password")
	}
	if _, err := template.New("s").Parse(c.Subject); err != nil || c.Subject == "" {
		add("subject", "not a valid template: %v", err)
	}
	if _, err := template.New("b").Parse(c.Body); err != nil || c.Body == "" {
		add("body", "not a valid template: %v", err)
	}
	if c.Timeout <= 0 {
		add("timeout", "must be positive, got %s", c.Timeout)
	}
	return errs
}

// SMTPSender sends messages as plain-text e-mail with net/smtp.
type SMTPSender struct {
	cfg      SMTPConfig
	from     *mail.Address
	password string
	subject  *template.Template
	body     *template.Template
	tls      *tls.Config
}

// newSMTP returns an SMTP sender.
func newSMTP(c SMTPConfig) (*SMTPSender, error) {
	if errs := c.validate(); len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	from, _ := mail.ParseAddress(c.From)
	s := &SMTPSender{cfg: c, from: from, password: c.Password}
	if c.PasswordFile != "" {
		b, err := os.ReadFile(c.PasswordFile)
		if err != nil {
			return nil, fmt.Errorf("delivery.smtp.password_file: %w", err)
		}
		s.password = strings.TrimSpace(string(b))
	}
	s.subject = template.Must(template.New("subject").Parse(c.Subject))
	s.body = template.Must(template.New("body").Parse(c.Body))
	name := c.ServerName
	if name == "" {
		name = c.Host
	}
	s.tls = &tls.Config{ServerName: name, MinVersion: tls.VersionTLS12}
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("delivery.smtp.ca_file: %w", err)
		}
		pool := newCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("delivery.smtp.ca_file: %s holds no PEM certificate", c.CAFile)
		}
		s.tls.RootCAs = pool
	}
	return s, nil
}

// SetTLSConfig replaces the TLS client configuration (tests trust their own CA).
func (s *SMTPSender) SetTLSConfig(c *tls.Config) { s.tls = c }

// Render returns the subject and body of m.
func (s *SMTPSender) Render(m Message) (subject, body string, err error) {
	var sb, bb bytes.Buffer
	if err := s.subject.Execute(&sb, m); err != nil {
		return "", "", fmt.Errorf("delivery: smtp subject: %w", err)
	}
	if err := s.body.Execute(&bb, m); err != nil {
		return "", "", fmt.Errorf("delivery: smtp body: %w", err)
	}
	return strings.TrimSpace(strings.NewReplacer("\r", " ", "\n", " ").Replace(sb.String())), bb.String(), nil
}

// message builds the RFC 5322 message.
func (s *SMTPSender) message(m Message, now time.Time) ([]byte, error) {
	subject, body, err := s.Render(m)
	if err != nil {
		return nil, err
	}
	var id [12]byte
	_, _ = rand.Read(id[:])
	domain := s.from.Address[strings.LastIndexByte(s.from.Address, '@')+1:]
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: %s\r\n", s.from.String())
	fmt.Fprintf(&b, "To: %s\r\n", (&mail.Address{Address: m.Destination}).String())
	fmt.Fprintf(&b, "Subject: %s\r\n", mime.QEncoding.Encode("utf-8", subject))
	fmt.Fprintf(&b, "Date: %s\r\n", now.Format(time.RFC1123Z))
	fmt.Fprintf(&b, "Message-ID: <%s@%s>\r\n", hex.EncodeToString(id[:]), domain)
	b.WriteString("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n")
	for _, line := range strings.Split(strings.ReplaceAll(body, "\r\n", "\n"), "\n") {
		if strings.HasPrefix(line, ".") {
			line = "." + line
		}
		b.WriteString(line + "\r\n")
	}
	return b.Bytes(), nil
}

// Send implements Sender.
func (s *SMTPSender) Send(ctx context.Context, m Message) error {
	if !ValidEmail(m.Destination) {
		return errors.New("delivery: smtp: invalid recipient address")
	}
	msg, err := s.message(m, time.Now())
	if err != nil {
		return err
	}
	deadline := time.Now().Add(s.cfg.Timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	addr := net.JoinHostPort(s.cfg.Host, strconv.Itoa(s.cfg.Port))
	dialer := &net.Dialer{Deadline: deadline}
	var conn net.Conn
	if s.cfg.TLS == TLSImplicit {
		conn, err = (&tls.Dialer{NetDialer: dialer, Config: s.tls}).DialContext(ctx, "tcp", addr)
	} else {
		conn, err = dialer.DialContext(ctx, "tcp", addr)
	}
	if err != nil {
		return fmt.Errorf("delivery: smtp: dial %s: %w", addr, err)
	}
	_ = conn.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Now()) })
	defer stop()
	c, err := smtp.NewClient(conn, s.cfg.Host)
	if err != nil {
		conn.Close()
		return fmt.Errorf("delivery: smtp %s: greeting: %w", addr, redactReply(err))
	}
	defer c.Close()
	if err := s.converse(c, m.Destination, msg); err != nil {
		return fmt.Errorf("delivery: smtp %s: %w", addr, err)
	}
	return nil
}

// redactReply replaces an SMTP server's reply by its code: the reply text
// often repeats the recipient's address ("550 <alice@example.com>: no such
// user"), and these errors are logged. Other errors (network, TLS, local
// checks) are returned as they are.
func redactReply(err error) error {
	var te *textproto.Error
	if errors.As(err, &te) {
		return fmt.Errorf("server replied %d", te.Code)
	}
	return err
}

// converse runs the SMTP dialogue. Its errors name the step and, for a
// server's refusal, only the reply code (see redactReply).
func (s *SMTPSender) converse(c *smtp.Client, to string, msg []byte) error {
	if err := c.Hello("localhost"); err != nil {
		return fmt.Errorf("EHLO: %w", redactReply(err))
	}
	if s.cfg.TLS == TLSStartTLS {
		if ok, _ := c.Extension("STARTTLS"); !ok {
			return errors.New("server does not offer STARTTLS, which delivery.smtp.tls requires")
		}
		if err := c.StartTLS(s.tls); err != nil {
			return fmt.Errorf("STARTTLS: %w", redactReply(err))
		}
	}
	if s.cfg.Username != "" {
		if s.cfg.TLS == TLSNone {
			return errors.New("refusing to send a password without TLS")
		}
		if err := c.Auth(smtp.PlainAuth("", s.cfg.Username, s.password, s.cfg.Host)); err != nil {
			return fmt.Errorf("AUTH: %w", redactReply(err))
		}
	}
	if err := c.Mail(s.from.Address); err != nil {
		return fmt.Errorf("MAIL FROM: %w", redactReply(err))
	}
	if err := c.Rcpt(to); err != nil {
		return fmt.Errorf("RCPT TO: %w", redactReply(err))
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("DATA: %w", redactReply(err))
	}
	if _, err := w.Write(msg); err != nil {
		w.Close()
		return fmt.Errorf("DATA: %w", redactReply(err))
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("DATA: %w", redactReply(err))
	}
	if err := c.Quit(); err != nil {
		return fmt.Errorf("QUIT: %w", redactReply(err))
	}
	return nil
}
