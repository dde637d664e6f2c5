// Package otlptest runs an OTLP/gRPC trace receiver on loopback for tests:
// the collector's TraceService, keeping every span it is sent so that a
// test can read what an exporter really put on the wire.
package otlptest

import (
	"context"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	collectorpb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/grpc"
)

// Span is one received span with its resource's attributes.
type Span struct {
	*tracepb.Span
	// Resource holds the resource attributes (service.name, …) as strings.
	Resource map[string]string
}

// Attr returns the span attribute key as a string ("" when absent); ints
// are formatted in decimal.
func (s Span) Attr(key string) string {
	for _, kv := range s.GetAttributes() {
		if kv.GetKey() == key {
			return value(kv.GetValue())
		}
	}
	return ""
}

// Receiver is a running OTLP/gRPC trace receiver.
type Receiver struct {
	collectorpb.UnimplementedTraceServiceServer
	// Addr is the loopback host:port it listens on.
	Addr  string
	mu    sync.Mutex
	spans []Span
	added chan struct{}
}

// Start runs a Receiver on a free loopback port until t ends.
func Start(t testing.TB) *Receiver {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &Receiver{Addr: l.Addr().String(), added: make(chan struct{}, 1)}
	srv := grpc.NewServer()
	collectorpb.RegisterTraceServiceServer(srv, r)
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(srv.Stop)
	return r
}

// Export implements the collector's TraceService.
func (r *Receiver) Export(_ context.Context, req *collectorpb.ExportTraceServiceRequest) (*collectorpb.ExportTraceServiceResponse, error) {
	r.mu.Lock()
	for _, rs := range req.GetResourceSpans() {
		res := map[string]string{}
		for _, kv := range rs.GetResource().GetAttributes() {
			res[kv.GetKey()] = value(kv.GetValue())
		}
		for _, ss := range rs.GetScopeSpans() {
			for _, sp := range ss.GetSpans() {
				r.spans = append(r.spans, Span{Span: sp, Resource: res})
			}
		}
	}
	r.mu.Unlock()
	select {
	case r.added <- struct{}{}:
	default:
	}
	return &collectorpb.ExportTraceServiceResponse{}, nil
}

// Spans returns every span received so far.
func (r *Receiver) Spans() []Span {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Span(nil), r.spans...)
}

// WaitSpans waits until at least n spans have arrived, at most timeout,
// and returns all received spans (fewer than n when it timed out).
func (r *Receiver) WaitSpans(n int, timeout time.Duration) []Span {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		if s := r.Spans(); len(s) >= n {
			return s
		}
		select {
		case <-r.added:
		case <-deadline.C:
			return r.Spans()
		}
	}
}

func value(v *commonpb.AnyValue) string {
	switch x := v.GetValue().(type) {
	case *commonpb.AnyValue_StringValue:
		return x.StringValue
	case *commonpb.AnyValue_IntValue:
		return strconv.FormatInt(x.IntValue, 10)
	case *commonpb.AnyValue_BoolValue:
		if x.BoolValue {
			return "true"
		}
		return "false"
	}
	return v.String()
}
