// Package soak holds a steady mixed load against mfa-authz for a bounded
// time and checks that it stays healthy: no errors, a stable p99, and a
// flat heap and goroutine count. The server runs in process (authz/service
// on a loopback port, real store) so that its runtime statistics are
// readable; the load comes over gRPC like Envoy's.
//
// It runs only when SOAK_DURATION is set: `make soak` (10 minutes by
// default) or `make soak-ci` (60 s, part of `make test`).
package soak

import (
	"context"
	"fmt"
	"math"
	"os"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"

	"github.com/mfa-authz/mfa-authz/test/attack/harness"
)

// grace is short so that sessions expire during the run and the memory
// they hold must be given back.
const grace = 3 * time.Second

// TOTP keeps its defaults (30 s steps, skew 1): a code stays good for a
// step or two even if the machine stalls a verification for seconds.
const soakConfig = `
mfa:
  grace_period: 3s
identity:
  header: x-user-id
policy:
  rules:
    - path: /carts/**
      methods: [POST, PATCH, DELETE]
    - path: /checkout/**
      methods: [POST]
`

// The mix, per 20 checks: 40% unprotected, 35% riding a session, 15%
// missing the code, 10% verifying a code.
var mix = [20]kind{
	unprotected, unprotected, unprotected, unprotected, unprotected, unprotected, unprotected, unprotected,
	session, session, session, session, session, session, session,
	missing, missing, missing,
	verify, verify,
}

type kind int

const (
	unprotected kind = iota
	session
	missing
	verify
	kinds
)

var kindNames = [kinds]string{"unprotected", "session", "missing-code", "verify"}

type window struct {
	p50, p99, max time.Duration
	n             int
	heap          uint64
	goroutines    int
}

type stats struct {
	mu       sync.Mutex
	lat      []time.Duration
	counts   [kinds]atomic.Int64
	errors   atomic.Int64
	byKind   [kinds]atomic.Int64
	firstErr atomic.Value
}

func (s *stats) record(d time.Duration) {
	s.mu.Lock()
	s.lat = append(s.lat, d)
	s.mu.Unlock()
}

func (s *stats) fail(k kind, format string, args ...any) {
	s.errors.Add(1)
	s.byKind[k].Add(1)
	s.firstErr.CompareAndSwap(nil, fmt.Sprintf(format, args...))
}

// roll closes the current window.
func (s *stats) roll() window {
	s.mu.Lock()
	lat := s.lat
	s.lat = make([]time.Duration, 0, cap(lat))
	s.mu.Unlock()
	w := window{n: len(lat)}
	if len(lat) > 0 {
		slices.Sort(lat)
		w.p50, w.p99, w.max = lat[len(lat)/2], lat[int(math.Ceil(0.99*float64(len(lat))))-1], lat[len(lat)-1]
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	w.heap, w.goroutines = ms.HeapInuse, runtime.NumGoroutine()
	return w
}

// idle returns the live heap and goroutine count at rest.
func idle() (uint64, int) {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc, runtime.NumGoroutine()
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

func TestSoak(t *testing.T) {
	spec := os.Getenv("SOAK_DURATION")
	if spec == "" {
		t.Skip("set SOAK_DURATION (make soak, make soak-ci) to run the soak")
	}
	duration, err := time.ParseDuration(spec)
	if err != nil || duration < 20*time.Second {
		t.Fatalf("SOAK_DURATION=%q: want a duration of at least 20s", spec)
	}
	if dl, ok := t.Deadline(); ok && time.Until(dl) < duration+time.Minute {
		t.Fatalf("the test deadline (-timeout) leaves %v, the soak needs %v plus a minute", time.Until(dl).Round(time.Second), duration)
	}
	rate := envInt("SOAK_RATE", 1000) // checks per second, all workers together
	const workers = 8
	// A user verifies once per 30 s step at most; 10% of 1000 checks/s
	// over 8 workers needs about 375 users each.
	usersPerWorker := max(64, rate*30/10/workers*11/10)
	windowLen := min(10*time.Second, duration/6)

	s := harness.Start(t, harness.Options{Config: soakConfig})
	type worker struct {
		client   authv3.AuthorizationClient
		users    []*harness.User
		lastStep []int64
		next     int
		idleUser *harness.User
		recent   *harness.User
		recentAt time.Time
	}
	ws := make([]*worker, workers)
	for w := range ws {
		_, c := s.Dial(t)
		wk := &worker{client: c, idleUser: s.Enroll(t, fmt.Sprintf("idle-%d", w)),
			users: make([]*harness.User, usersPerWorker), lastStep: make([]int64, usersPerWorker)}
		for i := range wk.lastStep {
			wk.lastStep[i] = -1
		}
		ws[w] = wk
	}
	var enrollWG sync.WaitGroup
	for w, wk := range ws {
		enrollWG.Add(1)
		go func() {
			defer enrollWG.Done()
			for i := range wk.users {
				wk.users[i] = s.Enroll(t, fmt.Sprintf("soak-%d-%d", w, i))
			}
		}()
	}
	enrollWG.Wait()
	st := &stats{}
	unprotectedReq := harness.Req{Method: "GET", Path: "/carts/1"}.Build()

	// one sends a check of kind k for worker wk and judges the answer.
	one := func(wk *worker, k kind) {
		var req *authv3.CheckRequest
		want := "allowed"
		now := time.Now()
		switch k {
		case session:
			if wk.recent == nil || now.Sub(wk.recentAt) > grace-time.Second {
				k = verify
				break
			}
			req = harness.Req{Method: "POST", Path: "/carts/1", Headers: map[string]string{"x-user-id": wk.recent.Name}}.Build()
		case missing:
			req = harness.Req{Method: "POST", Path: "/checkout", Headers: map[string]string{"x-user-id": wk.idleUser.Name}}.Build()
			want = harness.Missing
		}
		if k == verify {
			// A TOTP step is accepted once per user: take a user whose
			// last used step is behind the current one.
			step := wk.users[0].Step(now)
			i := -1
			for j := 0; j < len(wk.users); j++ {
				c := (wk.next + j) % len(wk.users)
				if wk.lastStep[c] < step {
					i = c
					break
				}
			}
			if i < 0 {
				k, req, want = missing, harness.Req{Method: "POST", Path: "/checkout",
					Headers: map[string]string{"x-user-id": wk.idleUser.Name}}.Build(), harness.Missing
			} else {
				wk.next = i + 1
				u := wk.users[i]
				code := u.CodeAtStep(t, step)
				// The server records the latest step the code matches: if a
				// later step in its window has the same code, that one is used.
				wk.lastStep[i] = step
				for later := step + 1; later <= step+2; later++ {
					if u.CodeAtStep(t, later) == code {
						wk.lastStep[i] = later
					}
				}
				req = harness.Req{Method: "POST", Path: "/carts/1",
					Headers: map[string]string{"x-user-id": u.Name, "x-mfa-code": code}}.Build()
				defer func() { wk.recent, wk.recentAt = u, now }()
			}
		}
		if k == unprotected {
			req = unprotectedReq
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		start := time.Now()
		resp, err := wk.client.Check(ctx, req)
		lat := time.Since(start)
		cancel()
		st.record(lat)
		st.counts[k].Add(1)
		o := harness.Classify(resp, err)
		switch {
		case want == "allowed" && !o.Allowed, want != "allowed" && (!o.Denied() || o.Code != want):
			st.fail(k, "%s check: got %s, want %s", kindNames[k], o, want)
		}
	}

	// Warm up, then let the warm-up's sessions expire: the baseline.
	run := func(d time.Duration, onWindow func(window)) {
		end := time.Now().Add(d)
		var wg sync.WaitGroup
		interval := time.Duration(float64(time.Second) * workers / float64(rate))
		for w, wk := range ws {
			wg.Add(1)
			go func() {
				defer wg.Done()
				next := time.Now().Add(time.Duration(w) * interval / workers)
				for i := w; time.Now().Before(end); i++ {
					if d := time.Until(next); d > 0 {
						time.Sleep(d)
					}
					next = next.Add(interval)
					one(wk, mix[i%len(mix)])
				}
			}()
		}
		if onWindow != nil {
			tick := time.NewTicker(windowLen)
			for time.Now().Before(end) {
				select {
				case <-tick.C:
					onWindow(st.roll())
				case <-time.After(time.Until(end)):
				}
			}
			tick.Stop()
		}
		wg.Wait()
	}
	run(5*time.Second, nil)
	st.roll()
	time.Sleep(grace + 2*time.Second)
	heap0, gor0 := idle()
	for k := range st.counts {
		st.counts[k].Store(0)
	}
	if n := st.errors.Load(); n > 0 {
		t.Fatalf("%d errors during the warm-up; first: %v", n, st.firstErr.Load())
	}

	var windows []window
	began := time.Now()
	run(duration, func(w window) { windows = append(windows, w) })
	if tailWin := st.roll(); tailWin.n > 0 && tailWin.n > windows[0].n/2 {
		windows = append(windows, tailWin)
	}
	// The machine may be shared: a burst of someone else's work can lift
	// one window's p99. A service that degrades stays degraded, so a last
	// window over the bound gets up to three more windows of the same load
	// to come back under it; the best of them is the end figure.
	first := windows[0]
	p99Bound := max(3*first.p99, first.p99+25*time.Millisecond)
	last, extra := windows[len(windows)-1], 0
	for ; last.p99 > p99Bound && extra < 3; extra++ {
		run(windowLen, nil)
		w := st.roll()
		windows = append(windows, w)
		if w.p99 < last.p99 {
			last = w
		}
	}
	elapsed := time.Since(began)
	// Let every session expire and the cache let go of it.
	time.Sleep(grace + 3*time.Second)
	heap1, gor1 := idle()

	var total int64
	for k := range st.counts {
		total += st.counts[k].Load()
	}
	var peakHeap uint64
	peakGor := 0
	for _, w := range windows {
		peakHeap, peakGor = max(peakHeap, w.heap), max(peakGor, w.goroutines)
	}
	ms := func(d time.Duration) string { return fmt.Sprintf("%.2f", float64(d)/float64(time.Millisecond)) }
	mib := func(b uint64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }
	summary := fmt.Sprintf(`soak summary (in-process server, loopback gRPC, %d client connections, GOMAXPROCS %d)
  duration %v, target %d checks/s: %d checks (%.0f/s): unprotected %d, session %d, missing-code %d, verify %d
  errors: %d
  latency p50/p99/max (ms): first %v window %s/%s/%s, last window %s/%s/%s (%d windows%s)
  heap live at rest: start %s, end %s; heap in use under load: peak %s
  goroutines at rest: start %d, end %d; under load: peak %d`,
		workers, runtime.GOMAXPROCS(0),
		elapsed.Round(time.Second), rate, total, float64(total)/elapsed.Seconds(),
		st.counts[unprotected].Load(), st.counts[session].Load(), st.counts[missing].Load(), st.counts[verify].Load(),
		st.errors.Load(),
		windowLen.Round(100*time.Millisecond), ms(first.p50), ms(first.p99), ms(first.max), ms(last.p50), ms(last.p99), ms(last.max), len(windows), extraNote(extra),
		mib(heap0), mib(heap1), mib(peakHeap),
		gor0, gor1, peakGor)
	fmt.Println(summary)
	for i, w := range windows {
		t.Logf("window %2d: %6d checks p50 %s p99 %s max %s ms, heap in use %s, goroutines %d",
			i+1, w.n, ms(w.p50), ms(w.p99), ms(w.max), mib(w.heap), w.goroutines)
	}

	if n := st.errors.Load(); n > 0 {
		t.Errorf("%d errors (unprotected %d, session %d, missing-code %d, verify %d); first: %v", n,
			st.byKind[unprotected].Load(), st.byKind[session].Load(), st.byKind[missing].Load(), st.byKind[verify].Load(),
			st.firstErr.Load())
	}
	if got, want := float64(total)/elapsed.Seconds(), 0.8*float64(rate); got < want {
		t.Errorf("held %.0f checks/s, want at least %.0f (80%% of the target)", got, want)
	}
	// Generous bounds: the machine may be shared; a leak or a queue that
	// builds up exceeds them by far.
	if last.p99 > p99Bound {
		t.Errorf("p99 grew from %s ms (first window) to %s ms (best of the last window and %d more), bound %s ms",
			ms(first.p99), ms(last.p99), extra, ms(p99Bound))
	}
	if bound := heap0 + heap0/2 + 8<<20; heap1 > bound {
		t.Errorf("live heap at rest grew from %s to %s (bound %s)", mib(heap0), mib(heap1), mib(bound))
	}
	if gor1 > gor0+5 {
		t.Errorf("goroutines at rest grew from %d to %d", gor0, gor1)
	}
	half := windows[len(windows)/2:]
	var lateHeap uint64
	for _, w := range half {
		lateHeap = max(lateHeap, w.heap)
	}
	var earlyHeap uint64
	for _, w := range windows[:max(1, len(windows)/2)] {
		earlyHeap = max(earlyHeap, w.heap)
	}
	if bound := earlyHeap + earlyHeap/2 + 16<<20; lateHeap > bound {
		t.Errorf("heap in use under load grew from %s (first half) to %s (second half)", mib(earlyHeap), mib(lateHeap))
	}
}

func extraNote(extra int) string {
	if extra == 0 {
		return ""
	}
	return fmt.Sprintf(", %d added after a p99 spike in the last one", extra)
}
