package redisstore

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mfa-authz/mfa-authz/authz/regulation"
	"github.com/mfa-authz/mfa-authz/authz/store"
	"github.com/mfa-authz/mfa-authz/cache"
	"github.com/mfa-authz/mfa-authz/test/redistest"
)

func key(b byte) []byte { return bytes.Repeat([]byte{b}, store.KeySize) }

func open(t *testing.T, srv *redistest.Server, k []byte) *Store {
	t.Helper()
	c := DefaultConfig()
	c.URL = srv.URL
	s, err := Open(context.Background(), c, k, nil)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func totpFactor(secret string) *store.TOTP {
	return &store.TOTP{Secret: secret, Algorithm: "SHA1", Digits: 6, Period: 30, CreatedAt: time.Unix(1700000000, 0).UTC()}
}

const secret1, secret2 = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ", "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"

func TestEnrollmentAndReplay(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	a, b := open(t, srv, key(1)), open(t, srv, key(1))
	if _, err := a.Enrollment(ctx, "alice"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Enrollment before put: %v", err)
	}
	if err := a.PutEnrollment(ctx, "alice", &store.Enrollment{TOTP: totpFactor(secret1)}, false); err != nil {
		t.Fatal(err)
	}
	if err := b.PutEnrollment(ctx, "alice", &store.Enrollment{TOTP: totpFactor(secret2)}, false); !errors.Is(err, store.ErrExists) {
		t.Fatalf("second put: %v, want ErrExists", err)
	}
	got, err := b.Enrollment(ctx, "alice")
	if err != nil || got.TOTP.Secret != secret1 {
		t.Fatalf("Enrollment on b = %+v, %v", got, err)
	}
	if ok, err := a.UseTOTPStep(ctx, "alice", 100); !ok || err != nil {
		t.Fatalf("UseTOTPStep(100) = %v, %v", ok, err)
	}
	for _, step := range []uint64{100, 99} {
		if ok, err := b.UseTOTPStep(ctx, "alice", step); ok || err != nil {
			t.Fatalf("UseTOTPStep(%d) on b = %v, %v; want replay", step, ok, err)
		}
	}
	// Replacing with the same factor keeps the guard; a new factor resets it.
	if err := a.PutEnrollment(ctx, "alice", &store.Enrollment{TOTP: totpFactor(secret1)}, true); err != nil {
		t.Fatal(err)
	}
	if ok, _ := a.UseTOTPStep(ctx, "alice", 100); ok {
		t.Fatal("same factor: guard was reset")
	}
	if err := a.PutEnrollment(ctx, "alice", &store.Enrollment{TOTP: totpFactor(secret2)}, true); err != nil {
		t.Fatal(err)
	}
	if ok, _ := a.UseTOTPStep(ctx, "alice", 100); !ok {
		t.Fatal("new factor: guard was not reset")
	}
	if err := b.DeleteEnrollment(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if err := b.DeleteEnrollment(ctx, "alice"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
	// A store opened with another key is refused.
	c := DefaultConfig()
	c.URL = srv.URL
	if _, err := Open(ctx, c, key(2), nil); !errors.Is(err, store.ErrCorrupt) {
		t.Fatalf("Open with another key: %v, want ErrCorrupt", err)
	}
}

func TestConcurrentStepIsUsedOnce(t *testing.T) {
	srv := redistest.Start(t)
	stores := []*Store{open(t, srv, key(1)), open(t, srv, key(1))}
	var wins atomic.Int32
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if ok, err := stores[i%2].UseTOTPStep(context.Background(), "bob", 7); err == nil && ok {
				wins.Add(1)
			}
		}()
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Fatalf("%d calls accepted step 7, want 1", wins.Load())
	}
}

func TestPendingCodeConsumedOnce(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	stores := []*Store{open(t, srv, key(1)), open(t, srv, key(1))}
	hash := stores[0].SecretHash("carol", "code:email", "123456")
	err := stores[0].UpdatePendingCode(ctx, "carol", "email", func(*store.PendingCode) (*store.PendingCode, error) {
		return &store.PendingCode{Hash: hash, SentAt: time.Now(), ExpiresAt: time.Now().Add(time.Minute)}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var used atomic.Int32
	var wg sync.WaitGroup
	for i := range 12 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := stores[i%2]
			var mine bool
			err := s.UpdatePendingCode(ctx, "carol", "email", func(cur *store.PendingCode) (*store.PendingCode, error) {
				mine = false
				if cur == nil || cur.Used || !bytes.Equal(cur.Hash, s.SecretHash("carol", "code:email", "123456")) {
					return nil, store.ErrNoChange
				}
				mine = true
				return nil, nil
			})
			if err == nil && mine {
				used.Add(1)
			}
		}()
	}
	wg.Wait()
	if used.Load() != 1 {
		t.Fatalf("code consumed %d times, want 1", used.Load())
	}
}

func TestHit(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	a, b := open(t, srv, key(1)), open(t, srv, key(1))
	now := time.Now()
	for i := range 3 {
		s := []*Store{a, b}[i%2]
		if ok, _, err := s.Hit(ctx, "user\x00email\x00dave", time.Minute, 3, now); !ok || err != nil {
			t.Fatalf("hit %d = %v, %v", i, ok, err)
		}
	}
	ok, reset, err := b.Hit(ctx, "user\x00email\x00dave", time.Minute, 3, now)
	if ok || err != nil || !reset.Equal(time.UnixMilli(now.UnixMilli()).Add(time.Minute)) {
		t.Fatalf("4th hit = %v, %v, %v; want refused until the window ends", ok, reset, err)
	}
	if ok, _, _ := a.Hit(ctx, "user\x00email\x00dave", time.Minute, 3, now.Add(time.Minute)); !ok {
		t.Fatal("next window refused")
	}
}

func TestLimiterSharedBan(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	cfg := regulation.Config{MaxFailures: 5, Window: time.Minute, Ban: 10 * time.Minute}
	la, lb := open(t, srv, key(1)).Limiter(cfg), open(t, srv, key(1)).Limiter(cfg)
	now := time.Now()
	// Five attempts in flight at once are all the limit allows.
	var atts []regulation.Attempt
	for i := range 5 {
		att, _, banned, err := []regulation.Limiter{la, lb}[i%2].Begin(ctx, "erin", now)
		if banned || err != nil {
			t.Fatalf("Begin %d: banned=%v err=%v", i, banned, err)
		}
		atts = append(atts, att)
	}
	if _, _, banned, err := la.Begin(ctx, "erin", now); !banned || err != nil {
		t.Fatalf("6th concurrent Begin: banned=%v err=%v, want refused", banned, err)
	}
	atts[0].Release()
	atts[0].Failed(now) // settled already: no effect
	for i, att := range atts[1:] {
		if att.Failed(now) {
			t.Fatalf("failure %d banned the user", i+1)
		}
	}
	att, _, banned, _ := la.Begin(ctx, "erin", now)
	if banned {
		t.Fatal("banned after 4 failures")
	}
	if !att.Failed(now) {
		t.Fatal("5th failure did not ban")
	}
	for _, l := range []regulation.Limiter{la, lb} {
		until, banned, err := l.BannedUntil(ctx, "erin", now)
		if !banned || err != nil || until.Sub(now) < 9*time.Minute {
			t.Fatalf("BannedUntil = %v, %v, %v", until, banned, err)
		}
	}
	// A success forgets the failures.
	att, _, _, _ = la.Begin(ctx, "frank", now)
	att.Failed(now)
	att, _, _, _ = lb.Begin(ctx, "frank", now)
	att.Succeeded()
	for range 4 {
		att, _, _, _ = la.Begin(ctx, "frank", now)
		if att.Failed(now) {
			t.Fatal("banned: the success did not reset the failures")
		}
	}
}

func TestSharedSessions(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	a, b := open(t, srv, key(1)), open(t, srv, key(1))
	l1a, _ := cache.New(100)
	l1b, _ := cache.New(100)
	defer l1a.Close()
	defer l1b.Close()
	l1a.SetShared(a.Sessions())
	l1b.SetShared(b.Sessions())
	at := time.Now().Truncate(time.Millisecond)
	if !l1a.Put("gina", cache.Session{VerifiedAt: at, Method: "totp"}, time.Minute) {
		t.Fatal("Put refused")
	}
	if _, ok := l1b.Get("gina"); ok {
		t.Fatal("L1 of b has a session it never read")
	}
	s, ok, err := l1b.GetShared(ctx, "gina")
	if !ok || err != nil || !s.VerifiedAt.Equal(at) || s.Method != "totp" {
		t.Fatalf("GetShared = %+v, %v, %v", s, ok, err)
	}
	if _, ok := l1b.Get("gina"); !ok {
		t.Fatal("GetShared did not fill L1")
	}
	// A session record from another user does not authenticate.
	rec, _ := a.rdb.Get(ctx, a.userKey(a.keys.Name("gina"), "session")).Bytes()
	a.rdb.Set(ctx, a.userKey(a.keys.Name("mallory"), "session"), rec, time.Minute)
	if _, ok, _ := l1b.GetShared(ctx, "mallory"); ok {
		t.Fatal("a session copied from another user was accepted")
	}
	l1a.Delete("gina")
	if _, _, ok, _ := (sessions{b}).GetSession(ctx, "gina"); ok {
		t.Fatal("Delete did not reach Redis")
	}
}

func TestDownIsAnError(t *testing.T) {
	srv := redistest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s := open(t, srv, key(1))
	srv.Stop()
	if err := s.Ping(ctx); err == nil {
		t.Fatal("Ping succeeded with Redis down")
	}
	if _, err := s.Enrollment(ctx, "alice"); err == nil || errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Enrollment with Redis down: %v, want an error other than ErrNotFound", err)
	}
	if _, _, err := s.Limiter(regulation.DefaultConfig()).BannedUntil(ctx, "alice", time.Now()); err == nil {
		t.Fatal("BannedUntil with Redis down: no error")
	}
	srv.Start()
	deadline := time.Now().Add(5 * time.Second)
	for s.Ping(ctx) != nil {
		if time.Now().After(deadline) {
			t.Fatal("no recovery after Redis restarted")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestConfigValidate(t *testing.T) {
	for name, c := range map[string]Config{
		"both":       {URL: "redis://127.0.0.1:6379", Addresses: []string{"a:1"}},
		"bad url":    {URL: "http://x"},
		"many":       {Addresses: []string{"a:1", "b:2"}},
		"no port":    {Addresses: []string{"a"}},
		"cluster db": {Addresses: []string{"a:1"}, Cluster: true, DB: 1},
		"orphan":     {Password: "x"},
	} {
		d := DefaultConfig()
		d.URL, d.Addresses, d.Cluster, d.DB, d.Password = c.URL, c.Addresses, c.Cluster, c.DB, c.Password
		if err := d.Validate(); err == nil {
			t.Errorf("%s: Validate accepted %+v", name, d)
		}
	}
	d := DefaultConfig()
	d.Addresses = []string{"a:1", "b:2"}
	d.SentinelMaster = "mymaster"
	if err := d.Validate(); err != nil {
		t.Errorf("sentinel: %v", err)
	}
}
