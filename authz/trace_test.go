package authz

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/mfa-authz/mfa-authz/authz/profile"
)

type traced struct {
	tc      TraceContext
	d       Decision
	start   time.Time
	elapsed time.Duration
}

// recordingTracer keeps what the engine reports.
type recordingTracer struct {
	mu  sync.Mutex
	got []traced
}

func (r *recordingTracer) TraceCheck(tc TraceContext, d Decision, start time.Time, elapsed time.Duration) {
	r.mu.Lock()
	r.got = append(r.got, traced{tc, d, start, elapsed})
	r.mu.Unlock()
}

// Every Check reaches the tracer with the request's W3C trace context and
// its decision; a repeated trace header is no context; SetTracer(nil) stops
// the reports.
func TestTracerSeesEveryCheck(t *testing.T) {
	f := newFixture(t, nil)
	f.enroll("alice")
	rec := &recordingTracer{}
	f.engine.SetTracer(rec)
	const parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	before := time.Now()
	d := f.check("POST", "/customer-password/1", MapHeader{"x-user-id": "alice", "traceparent": parent, "tracestate": "a=b"})
	expectDeny(t, d, profile.Missing, 403, "")
	f.check("GET", "/catalog", MapHeader{"traceparent": parent})
	f.engine.Check(context.Background(), &Request{Method: "GET", Host: "shop.example.com", Path: "/catalog",
		Header: twice{MapHeader{"tracestate": "a=b"}, "traceparent", parent}})
	f.engine.Check(context.Background(), nil)
	f.engine.SetTracer(nil)
	f.check("GET", "/catalog", MapHeader{"traceparent": parent})

	if len(rec.got) != 4 {
		t.Fatalf("%d checks traced, want 4", len(rec.got))
	}
	want := []struct {
		tc      TraceContext
		allowed bool
		reason  profile.Reason
	}{
		{TraceContext{Parent: parent, State: "a=b"}, false, profile.Missing},
		{TraceContext{Parent: parent}, true, 0},
		{TraceContext{State: "a=b"}, true, 0},
		{TraceContext{}, false, profile.Unavailable},
	}
	for i, w := range want {
		g := rec.got[i]
		if g.tc != w.tc || g.d.Allowed != w.allowed || g.d.Reason != w.reason {
			t.Errorf("check %d: traced %+v allowed=%t reason=%s; want %+v allowed=%t reason=%s",
				i, g.tc, g.d.Allowed, g.d.Reason, w.tc, w.allowed, w.reason)
		}
		if g.start.Before(before) || g.elapsed <= 0 {
			t.Errorf("check %d: start %v, elapsed %v", i, g.start, g.elapsed)
		}
	}
}

func TestTraceContextCarrier(t *testing.T) {
	tc := TraceContext{Parent: "p", State: "s"}
	if tc.Get("traceparent") != "p" || tc.Get("tracestate") != "s" || tc.Get("baggage") != "" {
		t.Errorf("Get: %q %q %q", tc.Get("traceparent"), tc.Get("tracestate"), tc.Get("baggage"))
	}
	tc.Set("traceparent", "x")
	if tc.Get("traceparent") != "p" {
		t.Error("Set changed a request's trace context")
	}
	if k := tc.Keys(); len(k) != 2 || k[0] != "traceparent" || k[1] != "tracestate" {
		t.Errorf("Keys: %v", k)
	}
}
