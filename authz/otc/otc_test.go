package otc

import (
	"bytes"
	"testing"
	"time"

	"github.com/mfa-authz/mfa-authz/authz/store"
)

func TestGenerateUniform(t *testing.T) {
	var counts [10]int
	for i := 0; i < 2000; i++ {
		c, err := Generate(6)
		if err != nil || len(c) != 6 {
			t.Fatalf("%q %v", c, err)
		}
		for _, d := range c {
			counts[d-'0']++
		}
	}
	for d, n := range counts {
		if n < 1000 || n > 1400 { // 1200 expected
			t.Errorf("digit %d drawn %d times of 12000", d, n)
		}
	}
	if _, err := Generate(3); err == nil {
		t.Error("length 3 accepted")
	}
}

func TestRecovery(t *testing.T) {
	codes, err := GenerateRecovery(RecoveryCount)
	if err != nil || len(codes) != 10 {
		t.Fatal(codes, err)
	}
	for _, c := range codes {
		if normalizeRecovery(c) != c || len(c) != 9 || c[4] != '-' {
			t.Errorf("code %q", c)
		}
	}
	if normalizeRecovery("abcd-efgh") != "ABCD-EFGH" || normalizeRecovery("ABCDEFGH") != "ABCD-EFGH" || normalizeRecovery("ABCD-EFG0") != "" {
		t.Error("normalizeRecovery")
	}
}

func TestCheck(t *testing.T) {
	now := time.Now()
	h := []byte("right")
	p := &store.PendingCode{Hash: h, ExpiresAt: now.Add(time.Minute)}
	if o, next := check(nil, h, now, 3); o != None || next != nil {
		t.Error("no code")
	}
	o, next := check(p, []byte("wrong"), now, 3)
	if o != Wrong || next == nil || next.Attempts != 1 || p.Attempts != 0 {
		t.Fatalf("wrong: %v %+v", o, next)
	}
	o, next = check(next, []byte("wrong"), now, 3)
	if o != Wrong || next == nil || next.Attempts != 2 {
		t.Fatalf("second wrong try: %v %+v", o, next)
	}
	o, next = check(next, []byte("wrong"), now, 3)
	if o != Wrong || next != nil {
		t.Errorf("third wrong try: %v %+v, want the code dropped", o, next)
	}
	if o, _ := check(p, h, now, 3); o != OK {
		t.Error("right code")
	}
	if o, _ := check(p, h, now.Add(time.Minute), 3); o != Expired {
		t.Error("expired code")
	}
	used := *p
	used.Used = true
	if o, _ := check(&used, h, now, 3); o != Expired {
		t.Error("used code")
	}
	if o, _ := check(&store.PendingCode{ExpiresAt: now.Add(time.Minute)}, nil, now, 3); o == OK {
		t.Error("empty hash matched")
	}
	_ = bytes.Equal
}
