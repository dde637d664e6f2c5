package cache

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

func TestPutIsVisibleAtOnce(t *testing.T) {
	s, err := New(1000)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	now := time.Now()
	for i := 0; i < 200; i++ {
		u := fmt.Sprint("user", i)
		if !s.Put(u, Session{VerifiedAt: now, Method: "totp"}, time.Minute) {
			t.Fatalf("%s: Put declined", u)
		}
		got, ok := s.Get(u)
		if !ok || !got.VerifiedAt.Equal(now) || got.Method != "totp" {
			t.Fatalf("%s: Get right after Put = %+v %t", u, got, ok)
		}
	}
	if _, ok := s.Get("nobody"); ok {
		t.Fatal("unknown user has a session")
	}
}

func TestExpiry(t *testing.T) {
	s, _ := New(10)
	defer s.Close()
	s.Put("u", Session{VerifiedAt: time.Now()}, 50*time.Millisecond)
	time.Sleep(60 * time.Millisecond)
	if _, ok := s.Get("u"); ok {
		t.Fatal("session served past its TTL")
	}
	if s.Put("u", Session{}, 0) {
		t.Fatal("zero TTL stored")
	}
	s.Put("v", Session{VerifiedAt: time.Now()}, time.Minute)
	s.Delete("v")
	if _, ok := s.Get("v"); ok {
		t.Fatal("deleted session served")
	}
}

func TestBounded(t *testing.T) {
	const max = 100
	s, _ := New(max)
	defer s.Close()
	for i := 0; i < 20*max; i++ {
		s.Put(fmt.Sprint("u", i), Session{VerifiedAt: time.Now()}, time.Hour)
	}
	n := 0
	for i := 0; i < 20*max; i++ {
		if _, ok := s.Get(fmt.Sprint("u", i)); ok {
			n++
		}
	}
	if n > max {
		t.Fatalf("%d sessions held, bound %d", n, max)
	}
}

func TestConcurrent(t *testing.T) {
	s, _ := New(1000)
	defer s.Close()
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				u := fmt.Sprint("g", g, "u", i%20)
				s.Put(u, Session{VerifiedAt: time.Now(), Method: "totp"}, time.Minute)
				if _, ok := s.Get(u); !ok {
					t.Errorf("%s: not visible after Put", u)
					return
				}
			}
		}(g)
	}
	wg.Wait()
}

func TestNewRejectsNegative(t *testing.T) {
	if _, err := New(-1); err == nil || err.Error() != "cache: max_sessions must not be negative, got -1" {
		t.Fatalf("got %v", err)
	}
}
