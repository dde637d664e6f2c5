package service_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mfa-authz/mfa-authz/authz"
	"github.com/mfa-authz/mfa-authz/authz/config"
	"github.com/mfa-authz/mfa-authz/authz/service"
	"github.com/mfa-authz/mfa-authz/authz/store"
	"github.com/mfa-authz/mfa-authz/authz/totp"
	"github.com/mfa-authz/mfa-authz/test/redistest"
)

// BenchmarkVerifyTOTPParallel measures many users verifying fresh TOTP codes
// at once, as a replica under load sees them, with the embedded store and
// with Redis: each verification reads and decrypts the enrollment, checks
// the code, records the step in the durable replay guard (whose flushes
// concurrent verifications share, in the embedded store) and starts a
// session. Users take turns; once each has verified at the current time
// step, the engine's clock moves on one step, so every code is new. The
// engine is the service's own, rebuilt around that clock.
func BenchmarkVerifyTOTPParallel(b *testing.B) {
	b.Run("dir", func(b *testing.B) { benchVerify(b, "") })
	b.Run("redis", func(b *testing.B) { benchVerify(b, redistest.Start(b).URL) })
}

func benchVerify(b *testing.B, redisURL string) {
	const users = 256
	dir := b.TempDir()
	keyFile := filepath.Join(dir, "key")
	if err := os.WriteFile(keyFile, []byte(strings.Repeat("ab", store.KeySize)+"\n"), 0o600); err != nil {
		b.Fatal(err)
	}
	yaml := fmt.Sprintf("identity:\n  header: x-user-id\npolicy:\n  rules:\n    - path: /order-payments/**\n      grace_period: 0s\n"+
		"storage:\n  path: %s\n  key_file: %s\n", filepath.Join(dir, "store"), keyFile)
	if redisURL != "" {
		yaml += "  redis:\n    url: " + redisURL + "\n"
	}
	cfg, err := config.Parse([]byte(yaml))
	if err != nil {
		b.Fatal(err)
	}
	svc, err := service.New(cfg, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer svc.Close()
	var round atomic.Int64
	base := time.Date(2026, 3, 4, 5, 6, 0, 0, time.UTC)
	o := svc.EngineOptions()
	o.Now = func() time.Time { return base.Add(time.Duration(round.Load()) * 30 * time.Second) }
	eng, err := authz.New(o)
	if err != nil {
		b.Fatal(err)
	}
	type user struct {
		name   string
		secret *store.TOTP
	}
	us := make([]user, users)
	for i := range us {
		u := &us[i]
		u.name = fmt.Sprint("user-", i)
		if u.secret, _, err = totp.Generate(cfg.TOTP, u.name, base); err != nil {
			b.Fatal(err)
		}
		if err := svc.Store.PutEnrollment(context.Background(), u.name, &store.Enrollment{TOTP: u.secret}, false); err != nil {
			b.Fatal(err)
		}
	}
	var next, done atomic.Int64
	ctx := context.Background()
	b.SetParallelism(16)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			n := next.Add(1) - 1
			r, u := n/users, &us[n%users]
			// A round starts once every verification of the one before has
			// ended, so that all codes in flight are of the clock's step.
			for done.Load() < r*users {
				runtime.Gosched()
			}
			if round.Load() < r {
				round.Store(r)
			}
			code, err := totp.Code(u.secret, base.Add(time.Duration(r)*30*time.Second))
			if err != nil {
				done.Add(1)
				b.Error(err)
				return
			}
			req := &authz.Request{Method: "POST", Host: "shop.example.com", Path: "/order-payments/1",
				Header: authz.MapHeader{"x-user-id": u.name, "x-mfa-code": code}}
			d := eng.Check(ctx, req)
			done.Add(1)
			if !d.Allowed {
				b.Errorf("%s, round %d: denied: %s %s", u.name, r, d.Reason, d.Detail)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "verifications/s")
}
