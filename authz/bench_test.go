package authz

import (
	"context"
	"testing"
	"time"
)

// BenchmarkVerifyTOTP measures a protected request that carries a fresh
// TOTP code: enrollment read and decryption, code check, the durable replay
// guard write and the session write. Each iteration moves the clock one
// time step on, so every code is new.
func BenchmarkVerifyTOTP(b *testing.B) {
	f := newFixture(b, nil)
	f.enroll("alice")
	ctx := context.Background()
	h := MapHeader{"x-user-id": "alice", "x-mfa-code": ""}
	r := &Request{Method: "POST", Host: "shop.example.com", Path: "/order-payments/1", Header: h}
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		f.clock.Advance(30 * time.Second)
		h["x-mfa-code"] = f.code("alice", 0)
		b.StartTimer()
		if d := f.engine.Check(ctx, r); !d.Allowed {
			b.Fatalf("denied: %s %s", d.Reason, d.Detail)
		}
	}
}
