package config

// TLS is the `server.tls` section: certificates for the gRPC and HTTP
// listeners. The files are re-read when they change, so a rotated
// certificate is served without a restart.
type TLS struct {
	// CertFile and KeyFile are the server's PEM certificate chain and key;
	// both empty serve plain text.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// ClientCAFile, when set, turns on mutual TLS: clients must present a
	// certificate signed by one of these CAs.
	ClientCAFile string `yaml:"client_ca_file"`
}

// Enabled reports whether the listeners serve TLS.
func (t TLS) Enabled() bool { return t.CertFile != "" }

// Decision log modes (log.decisions).
const (
	DecisionsOff     = "off"
	DecisionsSampled = "sampled"
	DecisionsAll     = "all"
)

// Operations defaults.
const (
	DefaultDecisionSampleRate = 0.01
	// MetricsPath is where the HTTP listener serves Prometheus metrics.
	MetricsPath = "/metrics"
)

// validateOps checks server.tls, server.drain_delay and the decision log keys.
func (c *Config) validateOps(add func(key, format string, args ...any)) {
	t := c.Server.TLS
	if (t.CertFile == "") != (t.KeyFile == "") {
		add("server.tls", "cert_file and key_file must be set together")
	}
	if t.ClientCAFile != "" && t.CertFile == "" {
		add("server.tls.client_ca_file", "needs cert_file and key_file")
	}
	if d := c.Server.DrainDelay; d < 0 || d >= c.Server.ShutdownTimeout && d > 0 {
		add("server.drain_delay", "want 0s up to less than server.shutdown_timeout (%s), got %s", c.Server.ShutdownTimeout, d)
	}
	switch c.Log.Decisions {
	case DecisionsOff, DecisionsSampled, DecisionsAll:
	default:
		add("log.decisions", "want off, sampled or all, got %q", c.Log.Decisions)
	}
	if r := c.Log.DecisionSampleRate; !(r > 0 && r <= 1) {
		add("log.decision_sample_rate", "want more than 0 and at most 1, got %v", r)
	}
}
