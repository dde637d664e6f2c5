package forwardauth_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/mfa-authz/mfa-authz/cache"
)

// recorder is a reusable http.ResponseWriter that keeps only the status,
// so that a benchmark measures the handler, not a recorder's buffers.
type recorder struct {
	h      http.Header
	status int
}

func (r *recorder) Header() http.Header         { return r.h }
func (r *recorder) Write(p []byte) (int, error) { return len(p), nil }
func (r *recorder) WriteHeader(status int)      { r.status = status }

// browserRequest is a typical browser request as Caddy forwards it to the
// forward-auth endpoint.
func browserRequest(method, uri string, extra ...[2]string) *http.Request {
	r := httptest.NewRequest("GET", "/forward-auth", nil)
	for _, kv := range [][2]string{
		{"X-Forwarded-Method", method}, {"X-Forwarded-Uri", uri}, {"X-Forwarded-Host", "shop.example.com"},
		{"X-Forwarded-Proto", "https"}, {"X-Forwarded-For", "203.0.113.7"},
		{"User-Agent", "Mozilla/5.0"}, {"Accept", "application/json"}, {"Accept-Encoding", "gzip, br"},
		{"Accept-Language", "en"}, {"Content-Type", "application/json"}, {"Content-Length", "42"},
		{"Authorization", "Bearer eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2ln"},
		{"X-Request-Id", "5e77e3e3-48ab-4955-8ab3-1c62339096ab"}, {"Cookie", "session=abc"},
	} {
		r.Header.Set(kv[0], kv[1])
	}
	for _, kv := range extra {
		r.Header.Set(kv[0], kv[1])
	}
	return r
}

// BenchmarkForwardAuth measures in-process forward-auth checks through
// the handler, without the network: the cost mfa-authz adds per request.
func BenchmarkForwardAuth(b *testing.B) {
	f := newFixture(b, "")
	run := func(b *testing.B, req *http.Request, want int) {
		w := &recorder{h: http.Header{}}
		b.ReportAllocs()
		for b.Loop() {
			clear(w.h)
			f.handler.ServeHTTP(w, req)
			if w.status != want {
				b.Fatalf("status %d, want %d", w.status, want)
			}
		}
	}
	b.Run("unprotected", func(b *testing.B) {
		run(b, browserRequest("GET", "/carts/1"), http.StatusOK)
	})
	b.Run("session", func(b *testing.B) {
		f.svc.Sessions.Put("alice", cache.Session{VerifiedAt: time.Now(), Method: "totp"}, time.Hour)
		run(b, browserRequest("POST", "/carts/1", [2]string{"X-User-Id", "alice"}), http.StatusOK)
	})
	b.Run("missing-code", func(b *testing.B) {
		f.svc.Sessions.Delete("alice")
		run(b, browserRequest("POST", "/carts/1", [2]string{"X-User-Id", "alice"}), http.StatusForbidden)
	})
}
