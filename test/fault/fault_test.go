// Package fault injects failures into a running mfa-authz (the real gRPC
// server of authz/service on a loopback port, deciding with the real
// encrypted store wrapped by a failing one) and requires every protected
// request to be denied with a clear reason, never allowed, while the
// service keeps serving. shutdown_test.go does the same for SIGTERM under
// load, with the real binary.
package fault

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/mfa-authz/mfa-authz/authz/store"
	"github.com/mfa-authz/mfa-authz/test/attack/harness"
)

const baseConfig = `
mfa:
  grace_period: 30m
identity:
  header: x-user-id
regulation:
  max_failures: 3
  window: 5m
  ban: 15m
policy:
  rules:
    - path: /carts/**
    - path: /checkout/**
      methods: [POST]
      grace_period: 0s
`

// fault is what a faulty store call does.
type fault int

const (
	ok         fault = iota // call the real store
	ioError                 // return an I/O error
	corrupt                 // return store.ErrCorrupt
	panics                  // panic
	block                   // block until the request's context ends
	stall                   // sleep, ignoring the context, then call the real store
	nilNoError              // return (nil, nil): no enrollment and no error
)

func (f fault) String() string {
	return [...]string{"ok", "I/O error", "corrupt record", "panic", "block until deadline", "stall", "nil, nil"}[f]
}

// faultStore wraps the real store and fails on demand.
type faultStore struct {
	store.Store
	mu         sync.Mutex
	enrollment fault
	useStep    fault
	stallFor   time.Duration
}

func (f *faultStore) set(enrollment, useStep fault) {
	f.mu.Lock()
	f.enrollment, f.useStep = enrollment, useStep
	f.mu.Unlock()
}

func (f *faultStore) get() (fault, fault, time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.enrollment, f.useStep, f.stallFor
}

var errIO = errors.New("read /var/lib/mfa-authz/enrollments/…: input/output error")

// inject performs fault; done reports whether the call is settled.
func inject[T any](ctx context.Context, fl fault, stallFor time.Duration) (v T, err error, done bool) {
	switch fl {
	case ioError:
		return v, errIO, true
	case corrupt:
		return v, fmt.Errorf("%w: injected", store.ErrCorrupt), true
	case panics:
		panic("injected store panic")
	case block:
		<-ctx.Done()
		return v, ctx.Err(), true
	case stall:
		time.Sleep(stallFor)
	case nilNoError:
		return v, nil, true
	}
	return v, nil, false
}

func (f *faultStore) Enrollment(ctx context.Context, user string) (*store.Enrollment, error) {
	fl, _, d := f.get()
	if e, err, done := inject[*store.Enrollment](ctx, fl, d); done {
		return e, err
	}
	return f.Store.Enrollment(ctx, user)
}

func (f *faultStore) UseTOTPStep(ctx context.Context, user string, step uint64) (bool, error) {
	_, fl, d := f.get()
	if fl == nilNoError {
		fl = ok
	}
	if v, err, done := inject[bool](ctx, fl, d); done {
		return v, err
	}
	return f.Store.UseTOTPStep(ctx, user, step)
}

type env struct {
	t     *testing.T
	s     *harness.Server
	store *faultStore
	n     int
}

func newEnv(t *testing.T, config string, now func() time.Time) *env {
	fs := &faultStore{}
	s := harness.Start(t, harness.Options{Config: config, Now: now,
		Store: func(st store.Store) store.Store { fs.Store = st; return fs }})
	return &env{t: t, s: s, store: fs}
}

// user enrolls a fresh user.
func (e *env) user() *harness.User {
	e.n++
	return e.s.Enroll(e.t, fmt.Sprintf("user-%03d", e.n))
}

func (e *env) post(u *harness.User, path, code string) harness.Outcome {
	h := map[string]string{"x-user-id": u.Name}
	if code != "" {
		h["x-mfa-code"] = code
	}
	return e.s.Check(harness.Req{Method: "POST", Path: path, Headers: h}.Build())
}

// serving checks that the service still answers: an unprotected request
// is allowed and a fresh user with the right code is verified.
func (e *env) serving() {
	e.t.Helper()
	if got := e.s.Check(harness.Req{Method: "GET", Path: "/carts/1"}.Build()); !got.Allowed {
		e.t.Fatalf("after the fault, an unprotected request: got %s", got)
	}
	u := e.user()
	harness.AwaitSafeStep(u.Period(), 2*time.Second)
	if got := e.post(u, "/carts/1", u.Code(e.t)); !got.Allowed {
		e.t.Fatalf("after the fault, a right code: got %s", got)
	}
}

func unavailable(o harness.Outcome) bool {
	return o.Denied() && o.HTTP == 503 && o.Code == harness.Unavailable
}

// TestStoreFaults fails each store call in each way, with and without a
// right code, and requires 503 unavailable (or, for an enrollment lookup
// that finds nothing, the documented not-enrolled denial).
func TestStoreFaults(t *testing.T) {
	e := newEnv(t, baseConfig, nil)
	for _, c := range []struct {
		enrollment, useStep fault
		withCode            bool
		want                func(harness.Outcome) bool
		wantText            string
	}{
		{ioError, ok, false, unavailable, "503 unavailable"},
		{ioError, ok, true, unavailable, "503 unavailable"},
		{corrupt, ok, true, unavailable, "503 unavailable"},
		{panics, ok, false, unavailable, "503 unavailable"},
		{panics, ok, true, unavailable, "503 unavailable"},
		{nilNoError, ok, true, func(o harness.Outcome) bool { return o.Denied() && o.Code == harness.NotEnrolled },
			"not enrolled (5920)"},
		{ok, ioError, true, unavailable, "503 unavailable"},
		{ok, corrupt, true, unavailable, "503 unavailable"},
		{ok, panics, true, unavailable, "503 unavailable"},
	} {
		name := fmt.Sprintf("enrollment %v, replay guard %v, code %t", c.enrollment, c.useStep, c.withCode)
		t.Run(name, func(t *testing.T) {
			u := e.user()
			harness.AwaitSafeStep(u.Period(), 2*time.Second)
			code := ""
			if c.withCode {
				code = u.Code(t)
			}
			e.store.set(c.enrollment, c.useStep)
			got := e.post(u, "/carts/1", code)
			e.store.set(ok, ok)
			if !c.want(got) {
				t.Fatalf("%s: got %s, want %s", name, got, c.wantText)
			}
			// The failure is not the user's: it neither started a session
			// nor used up an attempt, so the same code still works now.
			if c.withCode {
				if got := e.post(u, "/carts/1", code); !got.Allowed {
					t.Fatalf("%s: the same right code once the store recovered: got %s, want allowed", name, got)
				}
			}
			e.serving()
		})
	}
}

// TestVerifierPanicsDoNotLockOut makes the replay guard panic on more
// right codes than the lockout allows: each is a 503, none counts as a
// wrong code, and once the store recovers the user gets in at once.
func TestVerifierPanicsDoNotLockOut(t *testing.T) {
	e := newEnv(t, baseConfig, nil)
	for _, fl := range []fault{panics, ioError} {
		t.Run(fl.String(), func(t *testing.T) {
			u := e.user()
			harness.AwaitSafeStep(u.Period(), 3*time.Second)
			e.store.set(ok, fl)
			for i := 0; i < 3+2; i++ { // max_failures is 3
				if got := e.post(u, "/carts/1", u.Code(t)); !unavailable(got) {
					e.store.set(ok, ok)
					t.Fatalf("attempt %d with the replay guard failing (%v): got %s, want 503 unavailable", i+1, fl, got)
				}
			}
			e.store.set(ok, ok)
			if got := e.post(u, "/carts/1", u.Code(t)); !got.Allowed {
				t.Fatalf("right code once the store recovered: got %s, want allowed", got)
			}
		})
	}
}

// TestSlowStore makes the store slower than the request deadline. A store
// that honours the context makes the check answer 503 by the deadline; one
// that ignores it delays the answer, but the late answer is never an
// allow the client acts on. Meanwhile other requests are served promptly.
func TestSlowStore(t *testing.T) {
	e := newEnv(t, baseConfig, nil)
	t.Run("in-process deadline", func(t *testing.T) {
		u := e.user()
		e.store.set(block, ok)
		defer e.store.set(ok, ok)
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		start := time.Now()
		resp, err := e.s.Client.Check(ctx, harness.Req{Method: "POST", Path: "/carts/1",
			Headers: map[string]string{"x-user-id": u.Name, "x-mfa-code": u.Code(t)}}.Build())
		took := time.Since(start)
		got := harness.Classify(resp, err)
		// The client's deadline travels with the call: the server's store
		// call ends with it, and the client sees DEADLINE_EXCEEDED (Envoy
		// with failure_mode_allow: false denies) or the 503 if it won the race.
		if got.Allowed || (got.Err == nil && !unavailable(got)) {
			t.Fatalf("store slower than the deadline: got %s", got)
		}
		if took > 2*time.Second {
			t.Fatalf("answer took %v, want about the 300ms deadline", took)
		}
	})
	t.Run("engine answers 503 at the deadline", func(t *testing.T) {
		u := e.user()
		e.store.set(block, ok)
		defer e.store.set(ok, ok)
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		r := harness.Req{Method: "POST", Path: "/carts/1", Headers: map[string]string{"x-user-id": u.Name, "x-mfa-code": u.Code(t)}}
		resp, err := extauthzServer(e).Check(ctx, r.Build())
		if got := harness.Classify(resp, err); !unavailable(got) {
			t.Fatalf("in-process check past its deadline: got %s, want 503 unavailable", got)
		}
	})
	t.Run("store ignoring the deadline", func(t *testing.T) {
		u := e.user()
		harness.AwaitSafeStep(u.Period(), 3*time.Second)
		e.store.mu.Lock()
		e.store.enrollment, e.store.stallFor = stall, 600*time.Millisecond
		e.store.mu.Unlock()
		defer e.store.set(ok, ok)
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		resp, err := e.s.Client.Check(ctx, harness.Req{Method: "POST", Path: "/carts/1",
			Headers: map[string]string{"x-user-id": u.Name, "x-mfa-code": u.Code(t)}}.Build())
		if got := harness.Classify(resp, err); got.Allowed {
			t.Fatalf("store ignoring a 200ms deadline for 600ms: got %s, want no allow", got)
		}
		// The server side finished with an expired context: the replay
		// guard refused to run, so the code was not consumed.
		time.Sleep(700 * time.Millisecond)
		e.store.set(ok, ok)
		if got := e.post(u, "/carts/1", u.Code(t)); !got.Allowed {
			t.Fatalf("same code afterwards: got %s, want allowed (a timed-out check must not consume it)", got)
		}
	})
	t.Run("others served while checks hang", func(t *testing.T) {
		stuck := e.user()
		session := e.user()
		harness.AwaitSafeStep(session.Period(), 2*time.Second)
		if got := e.post(session, "/carts/1", session.Code(t)); !got.Allowed {
			t.Fatalf("verify: %s", got)
		}
		e.store.set(block, ok)
		defer e.store.set(ok, ok)
		const hung = 64
		var wg sync.WaitGroup
		results := make([]harness.Outcome, hung)
		for i := range results {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
				defer cancel()
				results[i] = harness.Classify(e.s.Client.Check(ctx, harness.Req{Method: "POST", Path: "/carts/1",
					Headers: map[string]string{"x-user-id": stuck.Name, "x-mfa-code": "123456"}}.Build()))
			}()
		}
		time.Sleep(100 * time.Millisecond)
		for i := 0; i < 20; i++ {
			start := time.Now()
			if got := e.s.Check(harness.Req{Method: "GET", Path: "/carts/1"}.Build()); !got.Allowed {
				t.Fatalf("unprotected while checks hang: %s", got)
			}
			if got := e.post(session, "/carts/1", ""); !got.Allowed {
				t.Fatalf("session while checks hang: %s", got)
			}
			if took := time.Since(start); took > 500*time.Millisecond {
				t.Fatalf("two checks took %v while %d others hang", took, hung)
			}
		}
		wg.Wait()
		for i, got := range results {
			if got.Allowed || (got.Err == nil && !unavailable(got)) {
				t.Fatalf("hung check %d: got %s", i, got)
			}
		}
	})
	e.serving()
}
