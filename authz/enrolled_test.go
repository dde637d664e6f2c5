package authz

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/mfa-authz/mfa-authz/authz/profile"
	"github.com/mfa-authz/mfa-authz/cache"
	"github.com/mfa-authz/mfa-authz/policy"
)

// withEnrolled gives the fixture's engine an enrollment cache.
func withEnrolled(t *testing.T, allowUnenrolled bool) func(*Options, *policy.Config) {
	return func(o *Options, _ *policy.Config) {
		c, err := cache.NewEnrolled(100, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.Close)
		o.Enrolled = c
		o.AllowUnenrolled = allowUnenrolled
	}
}

// eventually retries check until it returns a decision with want, for the
// enrollment cache's asynchronous Set.
func eventually(t *testing.T, check func() Decision, want profile.Reason, detail string) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for {
		d := check()
		if d.Reason == want && d.Detail == detail || time.Now().After(deadline) {
			expectDeny(t, d, want, d.Answer.Status, detail)
			return
		}
		time.Sleep(time.Millisecond)
	}
}

// A code-less request from a user known to have a factor is denied as
// missing its code without reading the store; a request with a code always
// reads it, and fails closed when it cannot.
func TestCodelessDenialSkipsTheStore(t *testing.T) {
	f := newFixture(t, withEnrolled(t, false))
	f.enroll("alice")
	codeless := func() Decision { return f.check("POST", "/carts/1", MapHeader{"x-user-id": "alice"}) }
	expectDeny(t, codeless(), profile.Missing, 403, "no code")
	f.store.err = errors.New("store down")
	eventually(t, codeless, profile.Missing, "no code")
	expectDeny(t, f.check("POST", "/carts/1", MapHeader{"x-user-id": "alice", "x-mfa-code": " "}), profile.Missing, 403, "no code")
	d := f.check("POST", "/carts/1", MapHeader{"x-user-id": "alice", "x-mfa-code": f.code("alice", 0)})
	expectDeny(t, d, profile.Unavailable, 503, "store error")
	// A repeated header is no missing code: the store decides.
	d = f.engine.Check(context.Background(), &Request{Method: "POST", Host: "shop.example.com", Path: "/carts/1",
		Header: twice{MapHeader{"x-user-id": "alice"}, "x-mfa-code", ""}})
	expectDeny(t, d, profile.Unavailable, 503, "store error")
}

// "Has no factor" is remembered too, so that not-enrolled denials skip the
// store as well: a factor added behind the engine's back (the CLI, another
// replica) changes only which denial a code-less request gets until the
// entry expires; one added in this process (ForgetEnrollment) is seen at
// once, and a request with a code always reads the store.
func TestNewEnrollment(t *testing.T) {
	f := newFixture(t, withEnrolled(t, false))
	codeless := func() Decision { return f.check("POST", "/carts/1", MapHeader{"x-user-id": "bob"}) }
	expectDeny(t, codeless(), profile.NotEnrolled, 403, "no factor enrolled")
	f.store.err = errors.New("store down")
	eventually(t, codeless, profile.NotEnrolled, "no factor enrolled") // now from the cache
	f.store.err = nil
	f.enroll("bob")
	expectDeny(t, codeless(), profile.NotEnrolled, 403, "no factor enrolled")
	expectAllow(t, f.check("POST", "/carts/1", MapHeader{"x-user-id": "bob", "x-mfa-code": f.code("bob", 0)}), "totp")
	f.engine.ForgetEnrollment("bob")
	f.engine.sessions.Delete("bob")
	expectDeny(t, codeless(), profile.Missing, 403, "no code")
}

// With mfa.allow_unenrolled "has no factor" lets requests through, so it
// is never taken from the cache: an enrollment made while the server runs
// is seen by the very next request.
func TestNewEnrollmentSeenAtOnceWhenUnenrolledPass(t *testing.T) {
	f := newFixture(t, withEnrolled(t, true))
	codeless := func() Decision { return f.check("POST", "/carts/1", MapHeader{"x-user-id": "bob"}) }
	for range 3 {
		expectAllow(t, codeless(), MethodNone)
		time.Sleep(10 * time.Millisecond)
	}
	f.enroll("bob")
	expectDeny(t, codeless(), profile.Missing, 403, "no code")
}

// A factor removed in this process (ForgetEnrollment, as the self-service
// endpoints and EndSessions call it) is seen at once; one removed behind
// the engine's back still gets a denial, never an allow, even with
// mfa.allow_unenrolled.
func TestRemovedEnrollment(t *testing.T) {
	for _, allow := range []bool{false, true} {
		f := newFixture(t, withEnrolled(t, allow))
		f.enroll("carol")
		codeless := func() Decision { return f.check("POST", "/carts/1", MapHeader{"x-user-id": "carol"}) }
		expectDeny(t, codeless(), profile.Missing, 403, "no code")
		f.store.err = errors.New("store down")
		eventually(t, codeless, profile.Missing, "no code") // now from the cache
		f.store.err = nil
		if err := f.store.DeleteEnrollment(context.Background(), "carol"); err != nil {
			t.Fatal(err)
		}
		// Removed behind the engine's back: still denied.
		expectDeny(t, codeless(), profile.Missing, 403, "no code")
		f.engine.ForgetEnrollment("carol")
		d := codeless()
		if allow {
			expectAllow(t, d, MethodNone)
		} else {
			expectDeny(t, d, profile.NotEnrolled, 403, "no factor enrolled")
		}
	}
}
