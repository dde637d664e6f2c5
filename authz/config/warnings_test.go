package config

import (
	"reflect"
	"strings"
	"testing"
)

// The parser (go.yaml.in/yaml/v3) decodes YAML 1.1 words such as yes and
// on into a Go bool; the config must not.
func TestBoolKeysTakeOnlyTrueOrFalse(t *testing.T) {
	for _, v := range []string{"yes", "no", "on", "off", "y", "n", "Yes", "ON", `"true"`, "'false'", "1", "!!bool yes"} {
		doc := "mfa:\n  allow_unenrolled: " + v + "\n"
		_, err := Parse([]byte(doc))
		want := "config: mfa.allow_unenrolled (line 2): invalid value"
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "want true or false") {
			t.Errorf("%q: got %v, want error containing %q and \"want true or false\"", doc, err, want)
		}
	}
	// Other bool keys, a pointer (*bool) among them.
	for _, c := range []struct{ yaml, want string }{
		{"api:\n  enabled: off\n", `config: api.enabled (line 2): invalid value "off": want true or false`},
		{"policy:\n  case_insensitive: no\n", `config: policy.case_insensitive (line 2): invalid value "no": want true or false`},
		{"identity:\n  bearer_fingerprint: on\n", `config: identity.bearer_fingerprint (line 2): invalid value "on": want true or false`},
	} {
		if _, err := Parse([]byte(c.yaml)); err == nil || err.Error() != c.want {
			t.Errorf("%q: got %v, want %q", c.yaml, err, c.want)
		}
	}
	for _, v := range []string{"true", "True", "TRUE"} {
		c, err := Parse([]byte("api:\n  enabled: false\nidentity:\n  bearer_fingerprint: " + v + "\n"))
		if err != nil || !c.Identity.BearerFingerprint {
			t.Errorf("%s: %v, %+v", v, err, c)
		}
	}
	for _, v := range []string{"false", "False", "FALSE"} {
		c, err := Parse([]byte("api:\n  enabled: " + v + "\n"))
		if err != nil || c.API.Enabled {
			t.Errorf("%s: %v, %+v", v, err, c)
		}
	}
}

func TestOneDocumentOnly(t *testing.T) {
	for _, c := range []struct{ yaml, want string }{
		{"mfa:\n  header: X-A\n---\npolicy:\n  anonymous: allow\n", `config: line 3: a second YAML document`},
		{"---\n---\nmfa:\n  header: X-A\n", `config: line 2: a second YAML document`},
		{"mfa:\n  header: X-A\n---\n", `config: line 3: a second YAML document`},
		{"mfa:\n  header: X-A\n---\nb: [\n", "config: yaml: line 4"},
	} {
		if _, err := Parse([]byte(c.yaml)); err == nil || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("%q: got %v, want error starting %q", c.yaml, err, c.want)
		}
	}
	// One document, with the optional markers.
	for _, doc := range []string{"---\nmfa:\n  header: X-A\n", "# comment\n---\nmfa:\n  header: X-A\n...\n", "---\n"} {
		if _, err := Parse([]byte(doc)); err != nil {
			t.Errorf("%q: %v", doc, err)
		}
	}
}

func TestUnenrolledWithBearerFingerprintIsAnError(t *testing.T) {
	_, err := Parse([]byte("mfa:\n  allow_unenrolled: true\nidentity:\n  bearer_fingerprint: true\n"))
	if err == nil || !strings.Contains(err.Error(), "config: mfa.allow_unenrolled: must not be true with identity.bearer_fingerprint: true") {
		t.Fatalf("got %v", err)
	}
	// Each alone is valid.
	for _, doc := range []string{"mfa:\n  allow_unenrolled: true\n", "identity:\n  bearer_fingerprint: true\n"} {
		if _, err := Parse([]byte(doc)); err != nil {
			t.Errorf("%q: %v", doc, err)
		}
	}
}

const smtpBase = "delivery:\n  email: smtp\n  smtp:\n    from: mfa@example.com\n"
const webhookBase = "delivery:\n  sms: webhook\n  webhook:\n    secret: s3cret\n"

func TestWarnings(t *testing.T) {
	for _, c := range []struct {
		name, yaml string
		want       []Warning
	}{
		{"defaults", "", nil},
		{"anonymous deny", "policy:\n  anonymous: deny\n", nil},
		{"anonymous allow", "policy:\n  anonymous: allow\n", []Warning{{"policy.anonymous",
			"allow: requests that carry no identity pass rules requiring MFA"}}},
		{"allow_unenrolled", "mfa:\n  allow_unenrolled: true\n", []Warning{{"mfa.allow_unenrolled",
			"true: users with no factor pass rules requiring MFA without a code"}}},
		{"both", "mfa:\n  allow_unenrolled: true\npolicy:\n  anonymous: allow\n", []Warning{
			{"policy.anonymous", "allow: requests that carry no identity pass rules requiring MFA"},
			{"mfa.allow_unenrolled", "true: users with no factor pass rules requiring MFA without a code"}}},
		{"smtp none remote", smtpBase + "    host: smtp.example.com\n    tls: none\n", []Warning{{"delivery.smtp.tls",
			"none: codes are sent in clear text to smtp.example.com, which is not a loopback host"}}},
		{"smtp none private ip", smtpBase + "    host: 10.0.0.5\n    tls: none\n", []Warning{{"delivery.smtp.tls",
			"none: codes are sent in clear text to 10.0.0.5, which is not a loopback host"}}},
		{"smtp none localhost", smtpBase + "    host: localhost\n    tls: none\n", nil},
		{"smtp none 127.0.0.2", smtpBase + "    host: 127.0.0.2\n    tls: none\n", nil},
		{"smtp none ::1", smtpBase + "    host: \"::1\"\n    tls: none\n", nil},
		{"smtp starttls remote", smtpBase + "    host: smtp.example.com\n", nil},
		{"smtp implicit remote", smtpBase + "    host: smtp.example.com\n    tls: implicit\n    port: 465\n", nil},
		{"smtp none unused", "delivery:\n  smtp:\n    host: smtp.example.com\n    tls: none\n", nil},
		{"webhook http remote", webhookBase + "    url: http://sms.example.com/send\n", []Warning{{"delivery.webhook.url",
			"http://: codes are sent in clear text to sms.example.com, which is not a loopback host"}}},
		{"webhook HTTP remote", webhookBase + "    url: HTTP://sms.example.com:8080/send\n", []Warning{{"delivery.webhook.url",
			"http://: codes are sent in clear text to sms.example.com, which is not a loopback host"}}},
		{"webhook http loopback", webhookBase + "    url: http://127.0.0.1:8080/send\n", nil},
		{"webhook http localhost", webhookBase + "    url: http://localhost/send\n", nil},
		{"webhook http [::1]", webhookBase + "    url: http://[::1]:8080/send\n", nil},
		{"webhook https remote", webhookBase + "    url: https://sms.example.com/send\n", nil},
		{"webhook http unused", "delivery:\n  webhook:\n    url: http://sms.example.com/send\n", nil},
		{"file sender", "delivery:\n  email: file\n  file:\n    path: /tmp/outbox\n", nil},
	} {
		cfg, err := Parse([]byte(c.yaml))
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if got := cfg.Warnings(); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: warnings %v, want %v", c.name, got, c.want)
		}
	}
}

func TestExampleConfigHasNoWarnings(t *testing.T) {
	c, err := Load("../../mfa-authz.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if ws := c.Warnings(); len(ws) != 0 {
		t.Fatalf("example config warns: %v", ws)
	}
	if !c.Delivery.UsesFile() {
		t.Fatal("the example config should use the file sender (make run reads codes from it)")
	}
}

func TestWarningString(t *testing.T) {
	w := Warning{Key: "policy.anonymous", Message: "allow: x"}
	if s := w.String(); s != "config: policy.anonymous: allow: x" {
		t.Fatalf("%q", s)
	}
}
