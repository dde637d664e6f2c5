package storetest

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mfa-authz/mfa-authz/authz/store"
)

// limitCases hold Hit and Reserve to their contract: fixed-window send
// counters, counted all or none, never past a limit under concurrency.
var limitCases = []testCase{
	{"hit counts up to the limit per window", func(t *testing.T, _ Backend, open Opener) {
		s := mustOpen(t, open, Key(1))
		now := Now()
		for i, c := range []struct {
			at    time.Duration
			ok    bool
			reset time.Duration
		}{
			{0, true, time.Minute}, {time.Second, true, time.Minute}, {2 * time.Second, true, time.Minute},
			{3 * time.Second, false, time.Minute}, {time.Minute - time.Millisecond, false, time.Minute},
			{time.Minute, true, 2 * time.Minute}, {time.Minute + time.Second, true, 2 * time.Minute},
		} {
			ok, reset, err := s.Hit(ctx, "user\x00email\x00alice", time.Minute, 3, now.Add(c.at))
			if err != nil || ok != c.ok || !reset.Equal(now.Add(c.reset)) {
				t.Errorf("hit #%d at +%s = %v %s %v; want %v until +%s", i, c.at, ok, reset.Sub(now), err, c.ok, c.reset)
			}
		}
		// Counters are per key.
		if ok, _, err := s.Hit(ctx, "user\x00email\x00bob", time.Minute, 3, now.Add(3*time.Second)); !ok || err != nil {
			t.Errorf("another key's hit = %v, %v", ok, err)
		}
	}},

	{"a window from the future moves back and keeps its count", func(t *testing.T, _ Backend, open Opener) {
		s := mustOpen(t, open, Key(1))
		now := Now()
		if ok, _, _ := s.Hit(ctx, "tenant\x00sms", time.Minute, 1, now); !ok {
			t.Fatal("first hit refused")
		}
		// The clock stepped back, or a request that read it earlier
		// arrived later: the window must not last longer than one, and
		// must not forget what it counted (concurrent requests would
		// otherwise restart it and pass the limit together).
		ok, reset, err := s.Hit(ctx, "tenant\x00sms", time.Minute, 1, now.Add(-time.Second))
		if ok || err != nil || !reset.Equal(now.Add(time.Minute-time.Second)) {
			t.Errorf("hit after the clock stepped back = %v %s %v; want refused until +59s", ok, reset.Sub(now), err)
		}
	}},

	{"concurrent hits never pass the limit", func(t *testing.T, _ Backend, open Opener) {
		handles := []store.Store{mustOpen(t, open, Key(1)), mustOpen(t, open, Key(1))}
		now := Now()
		var passed atomic.Int32
		var wg sync.WaitGroup
		for i := range 20 {
			wg.Go(func() {
				ok, _, err := handles[i%2].Hit(ctx, "tenant\x00email", time.Hour, 5, now)
				if err != nil {
					t.Errorf("Hit: %v", err)
				}
				if ok {
					passed.Add(1)
				}
			})
		}
		wg.Wait()
		if passed.Load() != 5 {
			t.Fatalf("%d of 20 concurrent hits passed a limit of 5", passed.Load())
		}
	}},

	// --- Reserve ------------------------------------------------------------

	{"reserve counts every limit or none", func(t *testing.T, _ Backend, open Opener) {
		s := mustOpen(t, open, Key(1))
		now := Now()
		cooldown := store.Limit{Key: "cooldown\x00email\x00alice", Window: 30 * time.Second, Max: 1}
		user := store.Limit{Key: "user\x00email\x00alice", Window: time.Hour, Max: 2}
		if refused, _, err := s.Reserve(ctx, []store.Limit{cooldown, user}, now); refused != -1 || err != nil {
			t.Fatalf("first reserve = %d, %v; want counted", refused, err)
		}
		refused, reset, err := s.Reserve(ctx, []store.Limit{user, cooldown}, now.Add(time.Second))
		if refused != 1 || err != nil || !reset.Equal(now.Add(30*time.Second)) {
			t.Fatalf("reserve in the cooldown = %d, +%s, %v; want limit 1 until +30s", refused, reset.Sub(now), err)
		}
		// The refused reserve did not spend the user limit: one is left.
		if ok, _, _ := s.Hit(ctx, user.Key, user.Window, user.Max, now); !ok {
			t.Fatal("a refused reserve spent another limit's count")
		}
		if ok, _, _ := s.Hit(ctx, user.Key, user.Window, user.Max, now); ok {
			t.Fatal("the user limit counted more than two")
		}
	}},

	{"concurrent reserves pass a cooldown once and count exactly", func(t *testing.T, _ Backend, open Opener) {
		handles := []store.Store{mustOpen(t, open, Key(1)), mustOpen(t, open, Key(1))}
		now := Now()
		tenant := store.Limit{Key: "tenant\x00sms", Window: time.Hour, Max: 1000}
		run := func(limits []store.Limit) int32 {
			var passed atomic.Int32
			var wg sync.WaitGroup
			for i := range 30 {
				wg.Go(func() {
					// Requests read the clock a little apart and reach
					// the store in any order.
					refused, _, err := handles[i%2].Reserve(ctx, limits, now.Add(time.Duration(i%5)*time.Millisecond))
					if err != nil {
						t.Errorf("Reserve: %v", err)
					}
					if refused < 0 {
						passed.Add(1)
					}
				})
			}
			wg.Wait()
			return passed.Load()
		}
		cooldown := store.Limit{Key: "cooldown\x00sms\x00bob", Window: 30 * time.Second, Max: 1}
		if n := run([]store.Limit{cooldown, {Key: "user\x00sms\x00bob", Window: time.Hour, Max: 10}, tenant}); n != 1 {
			t.Fatalf("%d of 30 concurrent sends passed one cooldown, want 1", n)
		}
		if n := run([]store.Limit{{Key: "user\x00sms\x00carol", Window: time.Hour, Max: 5}, tenant}); n != 5 {
			t.Fatalf("%d of 30 concurrent sends passed a limit of 5, want 5", n)
		}
		// The tenant counted exactly the 6 sends that went out.
		if refused, _, _ := handles[0].Reserve(ctx, []store.Limit{{Key: tenant.Key, Window: time.Hour, Max: 7}}, now); refused != -1 {
			t.Fatal("the tenant counter overshot: the 7th send was refused")
		}
		if refused, _, _ := handles[1].Reserve(ctx, []store.Limit{{Key: tenant.Key, Window: time.Hour, Max: 7}}, now); refused != 0 {
			t.Fatal("the tenant counter undercounted: an 8th send passed a limit of 7")
		}
	}},
}
