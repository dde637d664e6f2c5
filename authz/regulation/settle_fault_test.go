package regulation

import (
	"testing"
	"time"
)

// TestSettleOnce: the first settlement counts, later ones do nothing, so a
// deferred Release after Failed or Succeeded neither frees a second slot
// nor forgets the failure.
func TestSettleOnce(t *testing.T) {
	r := New(Config{MaxFailures: 2, Window: time.Minute, Ban: time.Minute})
	a, _, _ := r.Begin("u", t0)
	a.Failed(t0)
	a.Release()
	a.Failed(t0) // a second Failed must not count twice
	if _, banned := r.BannedUntil("u", t0); banned {
		t.Fatal("one attempt settled twice banned the user")
	}
	b, _, _ := r.Begin("u", t0)
	if !b.Failed(t0) {
		t.Fatal("second real failure did not ban at max_failures 2")
	}
	b.Release()
	if _, banned := r.BannedUntil("u", t0); !banned {
		t.Fatal("a Release after Failed lifted the ban")
	}
}

// TestAbandonedAttemptReleased: an attempt whose check panicked is released
// by the caller's deferred Release, so it does not hold a slot forever.
func TestAbandonedAttemptReleased(t *testing.T) {
	r := New(Config{MaxFailures: 1, Window: time.Minute, Ban: time.Minute})
	for i := 0; i < 5; i++ {
		func() {
			defer func() { _ = recover() }()
			a, _, banned := r.Begin("v", t0)
			if banned {
				t.Fatalf("attempt %d refused: an abandoned attempt kept its slot", i)
			}
			defer a.Release()
			panic("verifier panicked")
		}()
	}
}
