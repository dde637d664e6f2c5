package cache

import (
	"runtime"
	"strconv"
	"testing"
	"time"
)

// sessionsUnderTest is the number of live sessions TestMillionSessionsMemory
// holds, and maxHeap what they may take.
const (
	sessionsUnderTest = 1_000_000
	maxHeap           = 256 << 20
)

// A million live grace sessions, each for its own user, fit in 256 MiB of
// heap, ristretto's bookkeeping included; every one is found. The figure
// (bytes per session) is logged. It needs a few seconds and ~300 MiB, so it
// is skipped in -short mode and under the race detector (which multiplies
// memory); `make unit` runs it without -race.
func TestMillionSessionsMemory(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("memory figure: run without -short and -race (make unit does)")
	}
	user := func(i int) string { return "customer-" + strconv.Itoa(1_000_000_000+i) }
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	s, err := New(sessionsUnderTest)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	at := time.Now()
	for i := range sessionsUnderTest {
		if !s.Put(user(i), Session{VerifiedAt: at, Method: "totp"}, time.Hour) {
			t.Fatalf("Put of session %d declined", i)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	heap := after.HeapAlloc - before.HeapAlloc
	t.Logf("%d sessions: %.1f MiB of heap, %d bytes per session", sessionsUnderTest, float64(heap)/(1<<20), heap/sessionsUnderTest)
	if heap > maxHeap {
		t.Errorf("%d sessions take %.1f MiB of heap, want at most %d MiB", sessionsUnderTest, float64(heap)/(1<<20), maxHeap>>20)
	}
	for i := range sessionsUnderTest {
		if got, ok := s.Get(user(i)); !ok || !got.VerifiedAt.Equal(at) || got.Method != "totp" {
			t.Fatalf("session %d: %+v %t", i, got, ok)
		}
	}
	runtime.KeepAlive(s)
}

// With more users than cache.max_sessions, the cache keeps at most that
// many; a user whose session was refused or evicted gets no session (and is
// asked for a code again), and a session found is always the one put for
// that user, never another's.
func TestOverMaxSessions(t *testing.T) {
	const max, users = 1000, 5000
	s, err := New(max)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	base := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	methods := []string{"totp", "email", "sms", "recovery"}
	declined := 0
	for i := range users {
		if !s.Put(strconv.Itoa(i), Session{VerifiedAt: base.Add(time.Duration(i) * time.Second), Method: methods[i%4]}, time.Hour) {
			declined++
		}
	}
	found := 0
	for i := range users {
		got, ok := s.Get(strconv.Itoa(i))
		if !ok {
			continue
		}
		found++
		if !got.VerifiedAt.Equal(base.Add(time.Duration(i)*time.Second)) || got.Method != methods[i%4] {
			t.Fatalf("user %d got session %+v: not the one put for them", i, got)
		}
	}
	if found > max || found == 0 {
		t.Errorf("%d of %d sessions found with max_sessions %d", found, users, max)
	}
	t.Logf("max_sessions %d, %d users: %d sessions kept, %d Puts declined, %d evicted", max, users, found, declined, s.Stats().Evictions)
}
