package extauthz_test

import (
	"context"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"

	"github.com/mfa-authz/mfa-authz/authz/extauthz"
	"github.com/mfa-authz/mfa-authz/authz/internal/tracing"
	"github.com/mfa-authz/mfa-authz/cache"
	"github.com/mfa-authz/mfa-authz/test/otlptest"
)

// envoyHeaders is a typical browser request as Envoy forwards it.
func envoyHeaders(extra map[string]string) map[string]string {
	h := map[string]string{
		":method": "POST", ":path": "/carts/1", ":authority": "shop.example.com", ":scheme": "https",
		"user-agent": "Mozilla/5.0", "accept": "application/json", "accept-encoding": "gzip, br",
		"accept-language": "en", "content-type": "application/json", "content-length": "42",
		"authorization":   "Bearer eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2ln",
		"x-forwarded-for": "203.0.113.7", "x-forwarded-proto": "https", "x-request-id": "5e77e3e3-48ab-4955-8ab3-1c62339096ab",
		"x-envoy-expected-rq-timeout-ms": "1000", "cookie": "session=abc",
	}
	for k, v := range extra {
		h[k] = v
	}
	return h
}

// BenchmarkCheck measures in-process Check through the ext_authz adapter,
// without the network: the cost mfa-authz adds per request.
func BenchmarkCheck(b *testing.B) {
	svc, f := newService(b, "")
	s := extauthz.New(svc.Engine, nil)
	ctx := context.Background()
	run := func(b *testing.B, req *authv3.CheckRequest, wantOK bool) {
		b.ReportAllocs()
		for b.Loop() {
			resp, _ := s.Check(ctx, req)
			if (resp.GetOkResponse() != nil) != wantOK {
				b.Fatalf("unexpected answer %v", resp)
			}
		}
	}
	b.Run("unprotected", func(b *testing.B) {
		h := envoyHeaders(map[string]string{":method": "GET"})
		run(b, httpReq("GET", "/carts/1", h), true)
	})
	b.Run("session", func(b *testing.B) {
		svc.Sessions.Put("alice", cache.Session{VerifiedAt: time.Now(), Method: "totp"}, time.Hour)
		run(b, httpReq("POST", "/carts/1", envoyHeaders(map[string]string{"x-user-id": "alice"})), true)
	})
	b.Run("missing-code", func(b *testing.B) {
		svc.Sessions.Delete("alice")
		run(b, httpReq("POST", "/carts/1", envoyHeaders(map[string]string{"x-user-id": "alice"})), false)
	})
	b.Run("not-enrolled", func(b *testing.B) {
		run(b, httpReq("POST", "/carts/1", envoyHeaders(map[string]string{"x-user-id": "nobody"})), false)
	})
	_ = f
}

// BenchmarkCheckTracing measures the cached-session Check with tracing off
// (no tracer installed: tracing's default, the same path as
// BenchmarkCheck/session) and on, exporting to a loopback OTLP receiver:
// "sampled" with a sampled traceparent from the proxy (a span recorded and
// batched per check), "unsampled" with an unsampled one.
func BenchmarkCheckTracing(b *testing.B) {
	svc, _ := newService(b, "")
	s := extauthz.New(svc.Engine, nil)
	ctx := context.Background()
	svc.Sessions.Put("alice", cache.Session{VerifiedAt: time.Now(), Method: "totp"}, time.Hour)
	run := func(b *testing.B, traceFlags string) {
		h := map[string]string{"x-user-id": "alice"}
		if traceFlags != "" {
			h["traceparent"] = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-" + traceFlags
		}
		req := httpReq("POST", "/carts/1", envoyHeaders(h))
		b.ReportAllocs()
		for b.Loop() {
			if resp, _ := s.Check(ctx, req); resp.GetOkResponse() == nil {
				b.Fatalf("unexpected answer %v", resp)
			}
		}
	}
	b.Run("off", func(b *testing.B) { run(b, "01") })
	rcv := otlptest.Start(b)
	c := tracing.Default()
	c.Endpoint, c.Insecure, c.SampleRate = rcv.Addr, true, 0
	tr, err := tracing.New(c, "bench")
	if err != nil {
		b.Fatal(err)
	}
	defer tr.Shutdown(context.Background())
	svc.Engine.SetTracer(tr)
	defer svc.Engine.SetTracer(nil)
	b.Run("sampled", func(b *testing.B) { run(b, "01") })
	b.Run("unsampled", func(b *testing.B) { run(b, "00") })
}
