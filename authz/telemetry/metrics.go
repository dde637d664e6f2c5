// Package telemetry is mfa-authz's production instrumentation: Prometheus
// metrics and the structured decision log. Both hang off the engine's
// Observer hook, so every transport (gRPC ext_authz, forward-auth, Envoy
// HTTP mode, the self-service endpoints) is counted by one mechanism.
//
// No metric label ever holds a user id, a code, a token or any other value
// a client chooses: every label value comes from a fixed, small set.
package telemetry

import (
	"net/http"
	"runtime"
	"runtime/debug"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"

	"github.com/mfa-authz/mfa-authz/authz"
	"github.com/mfa-authz/mfa-authz/authz/factor/builtin"
	"github.com/mfa-authz/mfa-authz/authz/profile"
	"github.com/mfa-authz/mfa-authz/cache"
)

// Metric names. Every one is registered by New; the Grafana dashboard in
// envoy/ may only reference these (a test checks it).
const (
	namespace = "mfa_authz"

	MetricChecks            = "mfa_authz_checks_total"
	MetricCheckDuration     = "mfa_authz_check_duration_seconds"
	MetricVerifications     = "mfa_authz_verifications_total"
	MetricCacheHits         = "mfa_authz_session_cache_hits_total"
	MetricCacheMisses       = "mfa_authz_session_cache_misses_total"
	MetricCacheEvictions    = "mfa_authz_session_cache_evictions_total"
	MetricCacheRejections   = "mfa_authz_session_cache_rejections_total"
	MetricCodesSent         = "mfa_authz_codes_sent_total"
	MetricCodeSendFailures  = "mfa_authz_code_send_failures_total"
	MetricBans              = "mfa_authz_bans_total"
	MetricStoreErrors       = "mfa_authz_store_errors_total"
	MetricPolicyReloads     = "mfa_authz_policy_reloads_total"
	MetricPolicyRules       = "mfa_authz_policy_rules"
	MetricPolicyLastReload  = "mfa_authz_policy_last_reload_success_timestamp_seconds"
	MetricTLSCertReloads    = "mfa_authz_tls_certificate_reloads_total"
	MetricTLSCertExpiry     = "mfa_authz_tls_certificate_expiry_timestamp_seconds"
	MetricReady             = "mfa_authz_ready"
	MetricBuildInfo         = "mfa_authz_build_info"
	MetricDecisionsLogged   = "mfa_authz_decisions_logged_total"
	metricCacheHitsShort    = "session_cache_hits_total"
	metricCacheMissesShort  = "session_cache_misses_total"
	metricCacheEvictShort   = "session_cache_evictions_total"
	metricCacheRejectsShort = "session_cache_rejections_total"
)

// Decision label values of MetricChecks.
const (
	DecisionAllow = "allow"
	DecisionDeny  = "deny"
	// DecisionAPI is a request a self-service endpoint answered.
	DecisionAPI = "api"
)

// Allow reasons: why an allowed request was let through (the decision's
// Detail, from a fixed set).
var allowReasons = []string{"unprotected", "session", "verified", "anonymous", "unenrolled", "other"}

// Verification label values.
var (
	// verifyMethods are the shipped factors' names (the method label's
	// bounded set) and "unknown" for anything else.
	verifyMethods = append(builtin.Names(), "unknown")
	verifyResults = []string{"success", "invalid", "expired", "banned", "not_enrolled", "error"}
)

// Store operations counted in MetricStoreErrors.
const (
	StoreOpCheck  = "check"  // an enrollment lookup during a check
	StoreOpVerify = "verify" // a code check that needed the store
	StoreOpPing   = "ping"   // the store health probe
)

// Metrics holds mfa-authz's collectors on a registry of its own. The
// children of labelled counters used on the hot path are resolved once in
// New, so recording a decision does not allocate.
type Metrics struct {
	reg *prometheus.Registry

	checks        *prometheus.CounterVec
	duration      prometheus.Histogram
	denyBy        [256]prometheus.Counter // by profile.Reason
	allowBy       map[string]prometheus.Counter
	allowOther    prometheus.Counter
	apiBy         [6]prometheus.Counter // by the answer's status class (2xx…5xx), 0 for others
	verifications *prometheus.CounterVec
	verifyBy      map[string]map[string]prometheus.Counter
	codesSent     *prometheus.CounterVec
	sendFailures  *prometheus.CounterVec
	bans          prometheus.Counter
	storeErrors   *prometheus.CounterVec
	storeCheck    prometheus.Counter
	storeVerify   prometheus.Counter
	storePing     prometheus.Counter
	reloads       *prometheus.CounterVec
	reloadOK      prometheus.Counter
	reloadFailed  prometheus.Counter
	policyRules   prometheus.Gauge
	lastReload    prometheus.Gauge
	tlsReloads    *prometheus.CounterVec
	tlsExpiry     prometheus.Gauge
	ready         prometheus.Gauge
	logged        prometheus.Counter
	buildInfo     *prometheus.GaugeVec
}

// New registers every metric on a new registry. sessions, when non-nil,
// is the session cache whose counters are exported; version is the build's
// version for MetricBuildInfo ("" reads it from the binary's build info).
func New(sessions *cache.Sessions, version string) *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	f := func(c prometheus.Collector) { m.reg.MustRegister(c) }

	m.checks = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "checks_total",
		Help: "Checks decided, by decision (allow, deny, api) and reason."}, []string{"decision", "reason"})
	f(m.checks)
	reasons := append(append([]profile.Reason{}, profile.Reasons...), profile.SelfServiceReasons...)
	for _, r := range reasons {
		m.denyBy[r] = m.checks.WithLabelValues(DecisionDeny, r.String())
	}
	// A self-service endpoint's answer has no denial reason: its reason
	// label is the status class.
	for i, class := range []string{"other", "1xx", "2xx", "3xx", "4xx", "5xx"} {
		m.apiBy[i] = m.checks.WithLabelValues(DecisionAPI, class)
	}
	m.allowBy = make(map[string]prometheus.Counter, len(allowReasons))
	for _, r := range allowReasons {
		m.allowBy[r] = m.checks.WithLabelValues(DecisionAllow, r)
	}
	m.allowOther = m.allowBy["other"]
	denyOther := m.checks.WithLabelValues(DecisionDeny, "other")
	for i := range m.denyBy {
		if m.denyBy[i] == nil {
			m.denyBy[i] = denyOther
		}
	}

	m.duration = prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: namespace, Name: "check_duration_seconds",
		Help: "Time the engine took to decide a check, whatever the transport.",
		// From a cached session (microseconds) to a store round trip and
		// a code check (milliseconds) to a timeout.
		Buckets: []float64{.00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1}})
	f(m.duration)

	m.verifications = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "verifications_total",
		Help: "MFA codes checked, by method and result."}, []string{"method", "result"})
	f(m.verifications)
	m.verifyBy = make(map[string]map[string]prometheus.Counter, len(verifyMethods))
	for _, meth := range verifyMethods {
		m.verifyBy[meth] = make(map[string]prometheus.Counter, len(verifyResults))
		for _, res := range verifyResults {
			m.verifyBy[meth][res] = m.verifications.WithLabelValues(meth, res)
		}
	}

	m.codesSent = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "codes_sent_total",
		Help: "One-time codes handed to a sender, by sender (smtp, webhook, file)."}, []string{"sender"})
	m.sendFailures = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "code_send_failures_total",
		Help: "One-time codes a sender failed to deliver, by sender."}, []string{"sender"})
	f(m.codesSent)
	f(m.sendFailures)
	for _, s := range []string{senderSMTP, senderWebhook, senderFile} {
		m.codesSent.WithLabelValues(s)
		m.sendFailures.WithLabelValues(s)
	}

	m.bans = prometheus.NewCounter(prometheus.CounterOpts{Namespace: namespace, Name: "bans_total",
		Help: "Users banned after too many wrong codes."})
	f(m.bans)
	m.storeErrors = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "store_errors_total",
		Help: "Enrollment store errors, by operation (check, verify, ping)."}, []string{"op"})
	f(m.storeErrors)
	m.storeCheck = m.storeErrors.WithLabelValues(StoreOpCheck)
	m.storeVerify = m.storeErrors.WithLabelValues(StoreOpVerify)
	m.storePing = m.storeErrors.WithLabelValues(StoreOpPing)

	m.reloads = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "policy_reloads_total",
		Help: "Config reloads (policy and log settings), by result (success, failure)."}, []string{"result"})
	f(m.reloads)
	m.reloadOK = m.reloads.WithLabelValues("success")
	m.reloadFailed = m.reloads.WithLabelValues("failure")
	m.policyRules = prometheus.NewGauge(prometheus.GaugeOpts{Namespace: namespace, Name: "policy_rules",
		Help: "Rules in the policy in force."})
	m.lastReload = prometheus.NewGauge(prometheus.GaugeOpts{Namespace: namespace, Name: "policy_last_reload_success_timestamp_seconds",
		Help: "When the policy in force was loaded (Unix time)."})
	f(m.policyRules)
	f(m.lastReload)

	m.tlsReloads = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "tls_certificate_reloads_total",
		Help: "TLS certificate reloads after the files changed, by result."}, []string{"result"})
	m.tlsReloads.WithLabelValues("success")
	m.tlsReloads.WithLabelValues("failure")
	m.tlsExpiry = prometheus.NewGauge(prometheus.GaugeOpts{Namespace: namespace, Name: "tls_certificate_expiry_timestamp_seconds",
		Help: "When the served TLS certificate expires (Unix time); 0 without TLS."})
	f(m.tlsReloads)
	f(m.tlsExpiry)

	m.ready = prometheus.NewGauge(prometheus.GaugeOpts{Namespace: namespace, Name: "ready",
		Help: "1 while the service is ready (store reachable, policy loaded, not draining)."})
	f(m.ready)
	m.logged = prometheus.NewCounter(prometheus.CounterOpts{Namespace: namespace, Name: "decisions_logged_total",
		Help: "Decision log lines written."})
	f(m.logged)

	if version == "" {
		version = "unknown"
		if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
			version = bi.Main.Version
		}
	}
	m.buildInfo = prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: namespace, Name: "build_info",
		Help: "Always 1; the labels name the build."}, []string{"version", "goversion"})
	f(m.buildInfo)
	m.buildInfo.WithLabelValues(version, runtime.Version()).Set(1)

	if sessions != nil {
		stat := func(pick func(cache.Stats) uint64) func() float64 {
			return func() float64 { return float64(pick(sessions.Stats())) }
		}
		for _, c := range []struct {
			name, help string
			pick       func(cache.Stats) uint64
		}{
			{metricCacheHitsShort, "Session cache lookups that found a session.", func(s cache.Stats) uint64 { return s.Hits }},
			{metricCacheMissesShort, "Session cache lookups that found none.", func(s cache.Stats) uint64 { return s.Misses }},
			{metricCacheEvictShort, "Sessions evicted to make room.", func(s cache.Stats) uint64 { return s.Evictions }},
			{metricCacheRejectsShort, "Sessions the cache declined to store.", func(s cache.Stats) uint64 { return s.Rejections }},
		} {
			f(prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: namespace, Name: c.name, Help: c.help}, stat(c.pick)))
		}
	}
	return m
}

// Registry returns the registry the metrics are on.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the metrics in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg, Timeout: 10 * time.Second})
}

// ObserveCheck records one decision: no allocation, no lock beyond the
// counters' atomics.
func (m *Metrics) ObserveCheck(d authz.Decision, _ string, elapsed time.Duration) {
	m.duration.Observe(elapsed.Seconds())
	switch {
	case d.API:
		class := d.Answer.Status / 100
		if class < 1 || class >= len(m.apiBy) {
			class = 0
		}
		m.apiBy[class].Inc()
	case d.Allowed:
		reason := d.Detail
		if d.Rule == nil || !d.Rule.MFARequired {
			reason = "unprotected"
		}
		if c, ok := m.allowBy[reason]; ok {
			c.Inc()
		} else {
			m.allowOther.Inc()
		}
	default:
		m.denyBy[d.Reason].Inc()
		if d.Detail == "store error" {
			m.storeCheck.Inc()
		}
	}
}

// ObserveVerification records one code checked.
func (m *Metrics) ObserveVerification(method string, p authz.Proof) {
	byResult, ok := m.verifyBy[method]
	if !ok {
		byResult = m.verifyBy["unknown"]
	}
	res := "invalid"
	switch {
	case p.OK:
		res = "success"
	case p.Reason == profile.Expired:
		res = "expired"
	case p.Reason == profile.TooManyAttempts:
		res = "banned"
	case p.Reason == profile.NotEnrolled:
		res = "not_enrolled"
	case p.Reason == profile.Unavailable:
		res = "error"
		m.storeVerify.Inc()
	}
	byResult[res].Inc()
}

// ObserveBan records a new ban.
func (m *Metrics) ObserveBan() { m.bans.Inc() }

// StoreError counts a store failure of op (StoreOpPing for a health probe).
func (m *Metrics) StoreError(op string) {
	switch op {
	case StoreOpCheck:
		m.storeCheck.Inc()
	case StoreOpVerify:
		m.storeVerify.Inc()
	default:
		m.storePing.Inc()
	}
}

// PolicyLoaded records a policy put in force with rules rules at t.
func (m *Metrics) PolicyLoaded(rules int, t time.Time) {
	m.policyRules.Set(float64(rules))
	m.lastReload.Set(float64(t.UnixNano()) / 1e9)
}

// Reloaded counts a config reload attempt.
func (m *Metrics) Reloaded(ok bool) {
	if ok {
		m.reloadOK.Inc()
	} else {
		m.reloadFailed.Inc()
	}
}

// CertificateLoaded records a TLS certificate (re)load; notAfter is the
// served certificate's expiry when ok.
func (m *Metrics) CertificateLoaded(ok bool, notAfter time.Time) {
	if !ok {
		m.tlsReloads.WithLabelValues("failure").Inc()
		return
	}
	m.tlsReloads.WithLabelValues("success").Inc()
	m.tlsExpiry.Set(float64(notAfter.Unix()))
}

// The senders' names as delivery.email and delivery.sms write them: the
// code-send counters are exported for each from the start.
const (
	senderSMTP    = "smtp"
	senderWebhook = "webhook"
	senderFile    = "file"
)

// SetReady exports the readiness state.
func (m *Metrics) SetReady(ready bool) {
	if ready {
		m.ready.Set(1)
	} else {
		m.ready.Set(0)
	}
}

// SendOutcome returns the function that counts one code send by the sender
// called name as configured ("smtp", "webhook" or "file"; any other name
// counts as "other"): a nil error as sent, any other as a failure. Package
// delivery wraps its senders with it (delivery.Counted), so that metrics
// need not know how codes are sent.
func (m *Metrics) SendOutcome(name string) func(error) {
	switch name {
	case senderSMTP, senderWebhook, senderFile:
	default:
		name = "other"
	}
	sent, failed := m.codesSent.WithLabelValues(name), m.sendFailures.WithLabelValues(name)
	return func(err error) {
		if err != nil {
			failed.Inc()
		} else {
			sent.Inc()
		}
	}
}

// Reloads returns how many reloads of one result were counted.
func (m *Metrics) Reloads(ok bool) float64 {
	c := m.reloadFailed
	if ok {
		c = m.reloadOK
	}
	return counterValue(c)
}

func counterValue(c prometheus.Counter) float64 {
	var out dto.Metric
	if err := c.Write(&out); err != nil {
		return -1
	}
	return out.GetCounter().GetValue()
}

// Names lists every mfa-authz metric name (histograms by their base
// name), for the dashboard check and documentation.
func Names() []string {
	return []string{
		MetricChecks, MetricCheckDuration, MetricVerifications, MetricCacheHits, MetricCacheMisses,
		MetricCacheEvictions, MetricCacheRejections, MetricCodesSent, MetricCodeSendFailures, MetricBans,
		MetricStoreErrors, MetricPolicyReloads, MetricPolicyRules, MetricPolicyLastReload, MetricTLSCertReloads,
		MetricTLSCertExpiry, MetricReady, MetricBuildInfo, MetricDecisionsLogged,
	}
}
