package attack

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"

	"github.com/mfa-authz/mfa-authz/test/attack/harness"
)

const maxFailures = 5 // regulation.max_failures in serverConfig

// TestBruteForceWithinLimits guesses up to the regulation limit: every
// wrong code is invalid, the limit bans the user, and during the ban even
// the right code is refused, on every protected route, with retry-after.
// Other users are not affected.
func TestBruteForceWithinLimits(t *testing.T) {
	s := harness.Start(t, harness.Options{Config: serverConfig})
	u := s.Enroll(t, "mallory")
	bystander := s.Enroll(t, "bystander")
	guess := func(code, path string) harness.Outcome {
		return s.Check(harness.Req{Method: "POST", Path: path,
			Headers: map[string]string{"x-user-id": u.Name, "x-mfa-code": code}}.Build())
	}
	for i := 0; i < maxFailures; i++ {
		if got := guess(u.WrongCode(t, i), "/carts/1"); !got.Denied() || got.Code != harness.Invalid {
			t.Fatalf("wrong guess %d: got %s, want invalid code (%s)", i+1, got, harness.Invalid)
		}
	}
	harness.AwaitSafeStep(u.Period(), 3*time.Second)
	for _, path := range []string{"/carts/1", "/customer-password/DE--42", "/checkout"} {
		got := guess(u.Code(t), path)
		if !got.Denied() || got.Code != harness.TooMany || got.HTTP != 429 {
			t.Fatalf("right code during the ban on %s: got %s, want 429 too many attempts (%s)", path, got, harness.TooMany)
		}
	}
	resp, err := s.Client.Check(t.Context(), harness.Req{Method: "POST", Path: "/carts/1",
		Headers: map[string]string{"x-user-id": u.Name, "x-mfa-code": u.Code(t)}}.Build())
	if err != nil {
		t.Fatal(err)
	}
	if ra := retryAfter(resp); ra < 14*60 || ra > 15*60 {
		t.Fatalf("retry-after %d s, want about the 15 min ban", ra)
	}
	got := s.Check(harness.Req{Method: "POST", Path: "/carts/1",
		Headers: map[string]string{"x-user-id": bystander.Name, "x-mfa-code": bystander.Code(t)}}.Build())
	if !got.Allowed {
		t.Fatalf("another user with the right code: got %s, want allowed", got)
	}
}

func retryAfter(resp *authv3.CheckResponse) int {
	for _, h := range resp.GetDeniedResponse().GetHeaders() {
		if h.GetHeader().GetKey() == "retry-after" {
			n, _ := strconv.Atoi(h.GetHeader().GetValue())
			return n
		}
	}
	return -1
}

// TestParallelGuesses races many wrong guesses for one user through the
// real gRPC server, over several connections at once: at most
// max_failures of them may be judged (invalid code); every other one must
// be refused as too many attempts, and none may be allowed or fail.
func TestParallelGuesses(t *testing.T) {
	const guesses = 160
	s := harness.Start(t, harness.Options{Config: serverConfig})
	u := s.Enroll(t, "racer")
	clients := []authv3.AuthorizationClient{s.Client}
	for i := 0; i < 3; i++ {
		_, c := s.Dial(t)
		clients = append(clients, c)
	}
	reqs := make([]*authv3.CheckRequest, guesses)
	for i := range reqs {
		reqs[i] = harness.Req{Method: "POST", Path: "/carts/1",
			Headers: map[string]string{"x-user-id": u.Name, "x-mfa-code": u.WrongCode(t, i)}}.Build()
	}
	// Warm the connections up, so the guesses start together.
	for _, c := range clients {
		if _, err := c.Check(t.Context(), harness.Req{Method: "GET", Path: "/"}.Build()); err != nil {
			t.Fatal(err)
		}
	}
	start := make(chan struct{})
	out := make([]harness.Outcome, guesses)
	var wg sync.WaitGroup
	for i := range reqs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			out[i] = harness.Classify(clients[i%len(clients)].Check(ctx, reqs[i]))
		}()
	}
	close(start)
	wg.Wait()
	counts := map[string]int{}
	for i, o := range out {
		switch {
		case o.Err != nil || o.Allowed:
			t.Fatalf("guess %d: got %s, want a denial", i, o)
		case o.Code == harness.Invalid, o.Code == harness.TooMany:
			counts[o.Code]++
		default:
			t.Fatalf("guess %d: got %s, want invalid code or too many attempts", i, o)
		}
	}
	t.Logf("%d parallel guesses: %d judged invalid, %d refused as too many attempts",
		guesses, counts[harness.Invalid], counts[harness.TooMany])
	if counts[harness.Invalid] > maxFailures {
		t.Fatalf("%d guesses were judged, want at most max_failures = %d", counts[harness.Invalid], maxFailures)
	}
	harness.AwaitSafeStep(u.Period(), 3*time.Second)
	got := s.Check(harness.Req{Method: "POST", Path: "/carts/1",
		Headers: map[string]string{"x-user-id": u.Name, "x-mfa-code": u.Code(t)}}.Build())
	if got.Code != harness.TooMany {
		t.Fatalf("right code after the race: got %s, want the ban (too many attempts)", got)
	}
}

// TestParallelCodeReuse verifies one code from many connections at once:
// exactly one request may consume it; the others, which raced past the
// session check before the session existed, must see a replay.
func TestParallelCodeReuse(t *testing.T) {
	const racers = 64
	s := harness.Start(t, harness.Options{Config: serverConfig})
	u := s.Enroll(t, "twins")
	harness.AwaitSafeStep(u.Period(), 5*time.Second)
	code := u.Code(t)
	req := harness.Req{Method: "POST", Path: "/checkout", // grace 0s: no session to ride
		Headers: map[string]string{"x-user-id": u.Name, "x-mfa-code": code}}.Build()
	start := make(chan struct{})
	out := make([]harness.Outcome, racers)
	var wg sync.WaitGroup
	for i := range out {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			out[i] = harness.Classify(s.Client.Check(ctx, req))
		}()
	}
	close(start)
	wg.Wait()
	allowed := 0
	for i, o := range out {
		switch {
		case o.Allowed:
			allowed++
		case o.Code == harness.Invalid, o.Code == harness.TooMany:
		default:
			t.Fatalf("racer %d: got %s", i, o)
		}
	}
	if allowed != 1 {
		t.Fatalf("one code was accepted %d times, want exactly once", allowed)
	}
}
