package config

import (
	"net"
	"net/url"
	"strings"

	"github.com/mfa-authz/mfa-authz/authz/delivery"
)

// Warning is a setting that is valid but weakens MFA or exposes codes: the
// service starts with it, and logs it at start and on every reload that
// brings it in.
type Warning struct {
	// Key is the config key, as written in the file (policy.anonymous).
	Key string
	// Message says what the setting does.
	Message string
}

func (w Warning) String() string { return "config: " + w.Key + ": " + w.Message }

// Warnings returns the risky settings of a validated config, in a fixed
// order; none for the defaults. The file sender (delivery.file) is warned
// about by the service when it builds the sender, not here.
func (c *Config) Warnings() []Warning {
	var ws []Warning
	add := func(key, msg string) { ws = append(ws, Warning{Key: key, Message: msg}) }
	if c.Policy.Anonymous == "allow" {
		add("policy.anonymous", "allow: requests that carry no identity pass rules requiring MFA")
	}
	if c.MFA.AllowUnenrolled {
		add("mfa.allow_unenrolled", "true: users with no factor pass rules requiring MFA without a code")
	}
	d := &c.Delivery
	if d.Uses(delivery.SMTP) && d.SMTPConfig.TLS == delivery.TLSNone && !loopbackHost(d.SMTPConfig.Host) {
		add("delivery.smtp.tls", "none: codes are sent in clear text to "+d.SMTPConfig.Host+", which is not a loopback host")
	}
	if d.Uses(delivery.Webhook) {
		if u, err := url.Parse(d.WebhookConfig.URL); err == nil && strings.EqualFold(u.Scheme, "http") && !loopbackHost(u.Hostname()) {
			add("delivery.webhook.url", "http://: codes are sent in clear text to "+u.Hostname()+", which is not a loopback host")
		}
	}
	return ws
}

// loopbackHost reports whether host is localhost or a loopback address
// (127.0.0.0/8, ::1). Other names are not resolved: a name may point
// anywhere.
func loopbackHost(host string) bool {
	host = strings.TrimSuffix(strings.Trim(host, "[]"), ".")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
