// Package tracing records one OpenTelemetry span per decision and exports
// it over OTLP/gRPC, joined to the trace of the request that Envoy (or
// another proxy) is tracing: the W3C traceparent and tracestate headers of
// the checked request are the span's parent.
//
// A span names the rule, the outcome, the denial reason and the factor,
// and the user only by the keyed hash of the decision log
// (authz.HashUser); never a code, a token, a header value or a user id.
//
// Tracing is off unless tracing.otlp_endpoint is set. Off, the engine has
// no tracer installed and the Check path does not change (BenchmarkTrace
// in package authz measures both).
package tracing

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/mfa-authz/mfa-authz/authz"
	"github.com/mfa-authz/mfa-authz/authz/profile"
)

// Config is the `tracing` section of the config file. The zero value
// traces nothing.
type Config struct {
	// Endpoint is the OTLP/gRPC collector as host:port; empty turns
	// tracing off.
	Endpoint string `yaml:"otlp_endpoint"`
	// Insecure sends spans without TLS (a collector on loopback or a
	// sidecar); otherwise the connection is TLS with the system roots.
	Insecure bool `yaml:"insecure"`
	// SampleRate is the share of requests without a trace context that
	// start a trace of their own (0 to 1). A request whose traceparent
	// comes from a sampled trace is always recorded, an unsampled one never:
	// the proxy's sampling decision stands.
	SampleRate float64 `yaml:"sample_rate"`
	// ServiceName is the service.name resource attribute.
	ServiceName string `yaml:"service_name"`
	// Timeout bounds one export to the collector.
	Timeout time.Duration `yaml:"timeout"`
}

// Defaults of the tracing section.
const (
	DefaultSampleRate  = 0.01
	DefaultServiceName = "mfa-authz"
	DefaultTimeout     = 10 * time.Second
)

// Default returns the section's defaults: tracing off.
func Default() Config {
	return Config{SampleRate: DefaultSampleRate, ServiceName: DefaultServiceName, Timeout: DefaultTimeout}
}

// Enabled reports whether c turns tracing on.
func (c Config) Enabled() bool { return c.Endpoint != "" }

// Validate checks c; each problem is passed to add with the key it is
// about, relative to the section ("otlp_endpoint", …).
func (c Config) Validate(add func(key, format string, args ...any)) {
	if c.Endpoint != "" {
		if host, port, err := net.SplitHostPort(c.Endpoint); err != nil || host == "" || port == "" {
			add("otlp_endpoint", "want host:port of an OTLP/gRPC collector, got %q", c.Endpoint)
		} else if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
			add("otlp_endpoint", "want a port from 1 to 65535, got %q", port)
		}
	}
	if !(c.SampleRate >= 0 && c.SampleRate <= 1) {
		add("sample_rate", "want from 0 to 1, got %v", c.SampleRate)
	}
	if c.ServiceName == "" {
		add("service_name", "must not be empty")
	}
	if c.Timeout <= 0 || c.Timeout > time.Minute {
		add("timeout", "want more than 0s and at most 1m, got %s", c.Timeout)
	}
}

// Tracer records decisions as spans. It implements authz.Tracer.
type Tracer struct {
	provider *sdktrace.TracerProvider
	tracer   trace.Tracer
}

// New starts exporting spans to c.Endpoint. It does not wait for the
// collector: spans are batched and sent in the background, and dropped,
// never waited for, when the collector is away, so a decision never
// blocks on tracing. version is the service.version resource attribute.
func New(c Config, version string) (*Tracer, error) {
	if !c.Enabled() {
		return nil, errors.New("tracing: no tracing.otlp_endpoint")
	}
	opts := []otlptracegrpc.Option{otlptracegrpc.WithEndpoint(c.Endpoint), otlptracegrpc.WithTimeout(c.Timeout)}
	if c.Insecure {
		opts = append(opts, otlptracegrpc.WithInsecure())
	}
	exp, err := otlptracegrpc.New(context.Background(), opts...)
	if err != nil {
		return nil, fmt.Errorf("tracing: OTLP exporter for %s: %w", c.Endpoint, err)
	}
	res := resource.NewSchemaless(
		attribute.String("service.name", c.ServiceName),
		attribute.String("service.version", version),
	)
	provider := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exp),
		sdktrace.WithResource(res),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(c.SampleRate))),
	)
	return &Tracer{provider: provider, tracer: provider.Tracer("github.com/mfa-authz/mfa-authz/authz")}, nil
}

// SpanName is the name of every decision's span.
const SpanName = "mfa-authz check"

// Span attribute keys.
const (
	AttrDecision  = "mfa.decision"   // allow, deny or api (a self-service endpoint answered)
	AttrRule      = "mfa.rule"       // the deciding rule's path pattern; absent when no rule matched
	AttrRuleIndex = "mfa.rule_index" // its position in policy.rules
	AttrReason    = "mfa.reason"     // why a request was denied (profile.Reason's name)
	AttrFactor    = "mfa.factor"     // the factor that verified the user, or "none"
	AttrDetail    = "mfa.detail"     // what the decision log's detail says; never a code
	AttrUserHash  = "mfa.user_hash"  // authz.HashUser of the user id
	AttrStatus    = "http.response.status_code"
)

// TraceCheck implements authz.Tracer: it records d as a span that started
// at start and took elapsed, child of the request's trace context.
func (t *Tracer) TraceCheck(tc authz.TraceContext, d authz.Decision, start time.Time, elapsed time.Duration) {
	ctx := propagation.TraceContext{}.Extract(context.Background(), tc)
	_, span := t.tracer.Start(ctx, SpanName, trace.WithSpanKind(trace.SpanKindServer), trace.WithTimestamp(start))
	if !span.IsRecording() {
		span.End()
		return
	}
	attrs := make([]attribute.KeyValue, 0, 8)
	switch {
	case d.API:
		attrs = append(attrs, attribute.String(AttrDecision, "api"), attribute.Int(AttrStatus, d.Answer.Status))
	case d.Allowed:
		attrs = append(attrs, attribute.String(AttrDecision, "allow"))
	default:
		attrs = append(attrs, attribute.String(AttrDecision, "deny"), attribute.String(AttrReason, d.Reason.String()),
			attribute.Int(AttrStatus, d.Answer.Status))
	}
	if d.Rule != nil {
		attrs = append(attrs, attribute.String(AttrRule, d.Rule.Path), attribute.Int(AttrRuleIndex, d.Rule.Index))
	}
	if d.Method != "" {
		attrs = append(attrs, attribute.String(AttrFactor, d.Method))
	}
	if d.Detail != "" {
		attrs = append(attrs, attribute.String(AttrDetail, d.Detail))
	}
	if d.User != "" {
		attrs = append(attrs, attribute.String(AttrUserHash, authz.HashUser(d.User)))
	}
	span.SetAttributes(attrs...)
	if d.Reason == profile.Unavailable {
		span.SetStatus(codes.Error, "decision unavailable")
	}
	span.End(trace.WithTimestamp(start.Add(elapsed)))
}

// Shutdown sends the spans still batched and stops the exporter, waiting
// at most until ctx ends.
func (t *Tracer) Shutdown(ctx context.Context) error {
	return t.provider.Shutdown(ctx)
}

// ForceFlush sends the spans batched so far, waiting at most until ctx ends.
func (t *Tracer) ForceFlush(ctx context.Context) error {
	return t.provider.ForceFlush(ctx)
}
