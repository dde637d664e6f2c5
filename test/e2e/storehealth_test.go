package e2e

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// An embedded store that can no longer be written (here: its directory
// gone) makes the server not ready within a few seconds, gRPC health
// NOT_SERVING, and protected requests are denied as unavailable; once the
// directory is back, the server is ready again by itself.
func TestStoreThatCannotWriteIsNotReady(t *testing.T) {
	t.Parallel()
	e := newEnv(t, cfgOpts{})
	f := enrollJSON(t, e.cfg, "stella")
	s := startServer(t, e)
	status := func() healthpb.HealthCheckResponse_ServingStatus {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		resp, _ := s.health.Check(ctx, &healthpb.HealthCheckRequest{})
		return resp.GetStatus()
	}
	waitStatus := func(want healthpb.HealthCheckResponse_ServingStatus) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for status() != want {
			if time.Now().After(deadline) {
				t.Fatalf("health %v after 5 s, want %v%s", status(), want, s.Tail())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	dir := filepath.Join(e.dir, "data", "store")
	if err := os.Rename(dir, dir+".away"); err != nil {
		t.Fatal(err)
	}
	waitStatus(healthpb.HealthCheckResponse_NOT_SERVING)
	s.expectDenied(t, s.check(t, protected("stella", f.codeAt(t, f.step())).build(t)), denial{rpc: codes.PermissionDenied, status: 503, contentType: glueType, body: glueUnavailable})
	if err := os.Rename(dir+".away", dir); err != nil {
		t.Fatal(err)
	}
	waitStatus(healthpb.HealthCheckResponse_SERVING)
	s.expectAllowed(t, s.check(t, protected("stella", f.codeAt(t, f.step()+1)).build(t)), "totp")
}
