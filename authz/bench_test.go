package authz

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mfa-authz/mfa-authz/authz/totp"
	"github.com/mfa-authz/mfa-authz/policy"
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

// BenchmarkVerifyTOTPParallel measures many users verifying fresh TOTP codes
// at once, as a replica under load sees them: each verification reads and
// decrypts the enrollment, checks the code, records the step durably in the
// replay guard (whose flushes concurrent verifications share) and starts a
// session. Users take turns; once each has verified at the current time
// step, the clock moves on one step, so every code is new.
func BenchmarkVerifyTOTPParallel(b *testing.B) {
	const users = 256
	var round atomic.Int64
	base := time.Date(2026, 3, 4, 5, 6, 0, 0, time.UTC)
	f := newFixture(b, func(o *Options, _ *policy.Config) {
		o.Now = func() time.Time { return base.Add(time.Duration(round.Load()) * 30 * time.Second) }
	})
	names := make([]string, users)
	for i := range names {
		names[i] = fmt.Sprint("user-", i)
		f.enroll(names[i])
	}
	var next atomic.Int64
	ctx := context.Background()
	b.SetParallelism(16)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			n := next.Add(1) - 1
			r, u := n/users, names[n%users]
			for round.Load() < r {
				round.CompareAndSwap(r-1, r) // the first of the round moves the clock on
			}
			code, err := totp.Code(f.secrets[u], base.Add(time.Duration(r)*30*time.Second))
			if err != nil {
				b.Fatal(err)
			}
			req := &Request{Method: "POST", Host: "shop.example.com", Path: "/order-payments/1",
				Header: MapHeader{"x-user-id": u, "x-mfa-code": code}}
			if d := f.engine.Check(ctx, req); !d.Allowed {
				b.Fatalf("%s, round %d: denied: %s %s", u, r, d.Reason, d.Detail)
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "verifications/s")
}
