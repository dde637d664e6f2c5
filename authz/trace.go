package authz

import "time"

// Tracer records every decision as a span of the trace the checked request
// belongs to (package tracing exports them over OTLP). It is separate from
// Observer because it needs the request's trace context, which only a
// tracer reads: with none installed, Check reads no trace headers.
// Implementations must be safe for concurrent use and must not block.
type Tracer interface {
	// TraceCheck is called once per Check with the request's trace
	// context, the decision, when the check started and how long it took.
	TraceCheck(tc TraceContext, d Decision, start time.Time, elapsed time.Duration)
}

// TraceContext is the W3C trace context of a checked request: the values
// of its traceparent and tracestate headers, "" when absent or repeated.
// It is an OpenTelemetry propagation.TextMapCarrier.
type TraceContext struct {
	Parent, State string
}

// Get returns the value of the trace header key ("traceparent" or
// "tracestate").
func (tc TraceContext) Get(key string) string {
	switch key {
	case "traceparent":
		return tc.Parent
	case "tracestate":
		return tc.State
	}
	return ""
}

// Set does nothing: a request's trace context is only read.
func (TraceContext) Set(string, string) {}

// Keys returns the names of the trace headers.
func (TraceContext) Keys() []string { return []string{"traceparent", "tracestate"} }

// traceContext reads r's trace headers. A repeated header is ignored, as
// W3C Trace Context requires of a traceparent that cannot be told apart.
func traceContext(r *Request) TraceContext {
	if r == nil || r.Header == nil {
		return TraceContext{}
	}
	var tc TraceContext
	if v, n := lookup(r.Header, "traceparent"); n == 1 {
		tc.Parent = v
	}
	if v, n := lookup(r.Header, "tracestate"); n == 1 {
		tc.State = v
	}
	return tc
}

type tracerHolder struct{ t Tracer }

// SetTracer installs t; nil removes the tracer. Checks already running may
// still report to the previous one.
func (e *Engine) SetTracer(t Tracer) {
	if t == nil {
		e.tracer.Store(nil)
		return
	}
	e.tracer.Store(&tracerHolder{t})
}
