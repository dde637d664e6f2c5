package telemetry

import (
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/mfa-authz/mfa-authz/authz"
	"github.com/mfa-authz/mfa-authz/authz/profile"
	"github.com/mfa-authz/mfa-authz/policy"
)

const (
	secretUser = "alice@example.com"
	secretCode = "492039"
)

func rule(t *testing.T) *policy.Rule {
	t.Helper()
	p, err := policy.Compile(policy.Config{Rules: []policy.RuleConfig{{Path: "/carts/**", Name: "carts"}}})
	if err != nil {
		t.Fatal(err)
	}
	return p.Rules()[0]
}

func TestDecisionLogFieldsAndNoSecrets(t *testing.T) {
	core, logs := observer.New(zapcore.InfoLevel)
	l := NewDecisionLog(zap.New(core), DecisionsAll, 1, nil)
	r := rule(t)
	l.ObserveCheck(authz.Decision{Allowed: true, Rule: r, Method: "totp", Detail: "verified", User: secretUser},
		"flow-42", 3*time.Millisecond)
	l.ObserveCheck(authz.Decision{Rule: r, Reason: profile.Invalid, Detail: "wrong code", User: secretUser,
		Answer: profile.Answer{Status: 403}}, "flow-43", time.Millisecond)
	entries := logs.All()
	if len(entries) != 2 {
		t.Fatalf("%d lines, want 2", len(entries))
	}
	want := []map[string]any{
		{"decision": "allow", "reason": "verified", "rule": "carts", "method": "totp", "flow_id": "flow-42",
			"user_hash": authz.HashUser(secretUser), "latency": 3 * time.Millisecond},
		{"decision": "deny", "reason": "invalid_code", "rule": "carts", "flow_id": "flow-43",
			"user_hash": authz.HashUser(secretUser), "status": int64(403)},
	}
	for i, e := range entries {
		if e.Message != "decision" || e.LoggerName != "decision" {
			t.Errorf("line %d: message %q logger %q", i, e.Message, e.LoggerName)
		}
		fields := e.ContextMap()
		for k, v := range want[i] {
			if fields[k] != v {
				t.Errorf("line %d: %s = %v (%T), want %v", i, k, fields[k], fields[k], v)
			}
		}
		for k, v := range fields {
			s := strings.ToLower(strings.TrimSpace(toString(v)))
			if strings.Contains(s, "alice") || strings.Contains(s, secretCode) {
				t.Errorf("line %d: field %s leaks %q", i, k, s)
			}
		}
	}
}

func toString(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case time.Duration:
		return v.String()
	default:
		return ""
	}
}

func TestDecisionLogModes(t *testing.T) {
	core, logs := observer.New(zapcore.InfoLevel)
	var counted int
	l := NewDecisionLog(zap.New(core), DecisionsOff, 1, func() { counted++ })
	d := authz.Decision{Allowed: true}
	l.ObserveCheck(d, "", 0)
	if logs.Len() != 0 {
		t.Fatal("off logged a decision")
	}
	l.Configure(DecisionsSampled, 0.5)
	for i := 0; i < 2000; i++ {
		l.ObserveCheck(d, "", 0)
	}
	if n := logs.Len(); n < 800 || n > 1200 {
		t.Errorf("sampled at 0.5 logged %d of 2000", n)
	}
	if counted != logs.Len() {
		t.Errorf("counted %d lines, wrote %d", counted, logs.Len())
	}
}

func TestObserveCheckDoesNotAllocate(t *testing.T) {
	m := New(nil, "test")
	core, _ := observer.New(zapcore.InfoLevel)
	o := &Observer{Metrics: m, Log: NewDecisionLog(zap.New(core), DecisionsOff, 1, nil)}
	r := rule(t)
	r.MFARequired = true
	decisions := []authz.Decision{
		{Allowed: true},
		{Allowed: true, Rule: r, Method: "totp", Detail: "session", User: secretUser},
		{Rule: r, Reason: profile.Missing, Detail: "no code", User: secretUser},
		{API: true, Answer: profile.Answer{Status: 200}},
	}
	for _, d := range decisions {
		if n := testing.AllocsPerRun(200, func() { o.ObserveCheck(d, "flow", time.Millisecond) }); n != 0 {
			t.Errorf("observing %+v allocates %v times", d, n)
		}
	}
	if n := testing.AllocsPerRun(200, func() { o.ObserveVerification("totp", authz.Proof{OK: true, Method: "totp"}) }); n != 0 {
		t.Errorf("observing a verification allocates %v times", n)
	}
}

func TestMetricNamesAndLabels(t *testing.T) {
	m := New(nil, "v1.2.3")
	r := rule(t)
	r.MFARequired = true
	m.ObserveCheck(authz.Decision{Rule: r, Reason: profile.Unavailable, Detail: "store error", User: secretUser}, "", time.Millisecond)
	m.ObserveVerification("totp", authz.Proof{Reason: profile.Invalid, Detail: "wrong code"})
	m.ObserveVerification("bogus", authz.Proof{OK: true})
	m.ObserveBan()
	families, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, f := range families {
		seen[f.GetName()] = true
		for _, mt := range f.GetMetric() {
			for _, lp := range mt.GetLabel() {
				if strings.Contains(lp.GetValue(), "alice") || strings.Contains(lp.GetValue(), secretCode) {
					t.Errorf("%s label %s=%q holds a secret", f.GetName(), lp.GetName(), lp.GetValue())
				}
			}
		}
	}
	for _, name := range Names() {
		if strings.HasPrefix(name, "mfa_authz_session_cache_") {
			continue // registered only with a cache
		}
		if !seen[name] {
			t.Errorf("metric %s not registered", name)
		}
	}
}
