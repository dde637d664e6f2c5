package tracing

import (
	"context"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
	"time"

	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"

	"github.com/mfa-authz/mfa-authz/authz"
	"github.com/mfa-authz/mfa-authz/authz/profile"
	"github.com/mfa-authz/mfa-authz/policy"
	"github.com/mfa-authz/mfa-authz/test/otlptest"
)

const (
	traceID      = "4bf92f3577b34da6a3ce929d0e0e4736"
	parentSpanID = "00f067aa0ba902b7"
	user         = "alice@example.com"
)

func start(t *testing.T, rate float64) (*Tracer, *otlptest.Receiver) {
	t.Helper()
	rcv := otlptest.Start(t)
	c := Default()
	c.Endpoint, c.Insecure, c.SampleRate = rcv.Addr, true, rate
	tr, err := New(c, "test-version")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tr.Shutdown(context.Background()) })
	return tr, rcv
}

func flush(t *testing.T, tr *Tracer) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := tr.ForceFlush(ctx); err != nil {
		t.Fatal(err)
	}
}

// A decision becomes a server span in the request's trace, child of the
// proxy's span, with the rule, outcome, reason and factor, and the user only
// as the decision log's keyed hash.
func TestSpanJoinsTheRequestTrace(t *testing.T) {
	tr, rcv := start(t, 0)
	rule := &policy.Rule{Index: 2, Path: "/customer-password/**", MFARequired: true}
	at := time.Now().Add(-time.Second)
	parent := authz.TraceContext{Parent: "00-" + traceID + "-" + parentSpanID + "-01", State: "vendor=x"}
	tr.TraceCheck(parent, authz.Decision{Rule: rule, User: user, Reason: profile.Missing, Detail: "no code",
		Answer: profile.Answer{Status: 403}}, at, 3*time.Millisecond)
	tr.TraceCheck(parent, authz.Decision{Allowed: true, Rule: rule, User: user, Method: "totp", Detail: "session"}, at, time.Millisecond)
	tr.TraceCheck(parent, authz.Decision{Rule: rule, User: user, Reason: profile.Unavailable, Detail: "store error",
		Answer: profile.Answer{Status: 503}}, at, time.Millisecond)
	flush(t, tr)
	spans := rcv.WaitSpans(3, 10*time.Second)
	if len(spans) != 3 {
		t.Fatalf("%d spans, want 3", len(spans))
	}
	want := []map[string]string{
		{AttrDecision: "deny", AttrReason: "missing_code", AttrStatus: "403", AttrRule: "/customer-password/**", AttrRuleIndex: "2", AttrDetail: "no code", AttrFactor: ""},
		{AttrDecision: "allow", AttrReason: "", AttrStatus: "", AttrFactor: "totp", AttrDetail: "session"},
		{AttrDecision: "deny", AttrReason: "unavailable", AttrStatus: "503"},
	}
	for i, sp := range spans {
		if sp.GetName() != SpanName || sp.GetKind() != tracepb.Span_SPAN_KIND_SERVER {
			t.Errorf("span %d: %q kind %v", i, sp.GetName(), sp.GetKind())
		}
		if got := hex.EncodeToString(sp.GetTraceId()); got != traceID {
			t.Errorf("span %d: trace id %s, want the request's %s", i, got, traceID)
		}
		if got := hex.EncodeToString(sp.GetParentSpanId()); got != parentSpanID {
			t.Errorf("span %d: parent %s, want the proxy's span %s", i, got, parentSpanID)
		}
		if sp.GetTraceState() != "vendor=x" {
			t.Errorf("span %d: trace state %q", i, sp.GetTraceState())
		}
		for k, v := range want[i] {
			if got := sp.Attr(k); got != v {
				t.Errorf("span %d: %s = %q, want %q", i, k, got, v)
			}
		}
		if got := sp.Attr(AttrUserHash); got != authz.HashUser(user) {
			t.Errorf("span %d: user hash %q, want %q", i, got, authz.HashUser(user))
		}
		for _, kv := range sp.GetAttributes() {
			if strings.Contains(kv.GetValue().String(), user) {
				t.Errorf("span %d: attribute %s carries the user id", i, kv.GetKey())
			}
		}
		if d := sp.GetEndTimeUnixNano() - sp.GetStartTimeUnixNano(); sp.GetStartTimeUnixNano() != uint64(at.UnixNano()) || d == 0 {
			t.Errorf("span %d: start %d (want %d), duration %d", i, sp.GetStartTimeUnixNano(), at.UnixNano(), d)
		}
		if sp.Resource["service.name"] != DefaultServiceName || sp.Resource["service.version"] != "test-version" {
			t.Errorf("span %d: resource %v", i, sp.Resource)
		}
	}
	if c := spans[2].GetStatus().GetCode(); c != tracepb.Status_STATUS_CODE_ERROR {
		t.Errorf("unavailable decision: status %v, want error", c)
	}
	if c := spans[0].GetStatus().GetCode(); c == tracepb.Status_STATUS_CODE_ERROR {
		t.Errorf("a denial is no error: status %v", c)
	}
}

// The proxy's sampling decision stands; requests without a trace context
// start one at sample_rate.
func TestSampling(t *testing.T) {
	for _, c := range []struct {
		name string
		rate float64
		tc   authz.TraceContext
		want int
	}{
		{"sampled parent, rate 0", 0, authz.TraceContext{Parent: "00-" + traceID + "-" + parentSpanID + "-01"}, 1},
		{"unsampled parent, rate 1", 1, authz.TraceContext{Parent: "00-" + traceID + "-" + parentSpanID + "-00"}, 0},
		{"no parent, rate 0", 0, authz.TraceContext{}, 0},
		{"no parent, rate 1", 1, authz.TraceContext{}, 1},
		{"malformed parent, rate 1: a new root", 1, authz.TraceContext{Parent: "00-zz-" + parentSpanID + "-01"}, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			tr, rcv := start(t, c.rate)
			tr.TraceCheck(c.tc, authz.Decision{Allowed: true}, time.Now(), time.Millisecond)
			flush(t, tr)
			spans := rcv.WaitSpans(c.want, 2*time.Second)
			if len(spans) != c.want {
				t.Fatalf("%d spans, want %d", len(spans), c.want)
			}
			if c.want == 1 && c.tc.Parent == "" && len(spans[0].GetParentSpanId()) != 0 {
				t.Errorf("root span has parent %x", spans[0].GetParentSpanId())
			}
		})
	}
}

func TestValidate(t *testing.T) {
	for _, c := range []struct {
		mod  func(*Config)
		want string
	}{
		{func(c *Config) {}, ""},
		{func(c *Config) { c.Endpoint = "collector:4317" }, ""},
		{func(c *Config) { c.Endpoint = "collector" }, `otlp_endpoint: want host:port of an OTLP/gRPC collector, got "collector"`},
		{func(c *Config) { c.Endpoint = "collector:99999" }, `otlp_endpoint: want a port from 1 to 65535, got "99999"`},
		{func(c *Config) { c.SampleRate = 1.5 }, "sample_rate: want from 0 to 1, got 1.5"},
		{func(c *Config) { c.ServiceName = "" }, "service_name: must not be empty"},
		{func(c *Config) { c.Timeout = 0 }, "timeout: want more than 0s and at most 1m, got 0s"},
	} {
		cfg := Default()
		c.mod(&cfg)
		var got []string
		cfg.Validate(func(key, format string, args ...any) {
			got = append(got, key+": "+strings.TrimSpace(fmtf(format, args...)))
		})
		if strings.Join(got, "; ") != c.want {
			t.Errorf("%+v: %q, want %q", cfg, got, c.want)
		}
	}
	if _, err := New(Default(), "v"); err == nil {
		t.Error("New without an endpoint: no error")
	}
}

func fmtf(format string, args ...any) string { return fmt.Sprintf(format, args...) }
