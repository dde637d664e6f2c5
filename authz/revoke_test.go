package authz

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/mfa-authz/mfa-authz/authz/profile"
)

// EndSessions ends a session inside its grace period: the user's next
// protected request is the exact missing-code denial, others' sessions stay.
func TestEndSessions(t *testing.T) {
	f := newFixture(t, nil)
	f.enroll("alice")
	f.enroll("bob")
	for _, u := range []string{"alice", "bob"} {
		expectAllow(t, f.check("POST", "/carts/1", MapHeader{"x-user-id": u, "x-mfa-code": "totp " + f.code(u, 0)}), "totp")
	}
	f.clock.Advance(time.Minute)
	alice := MapHeader{"x-user-id": "alice", "x-request-id": "req-1"}
	if d := f.check("POST", "/carts/1", alice); !d.Allowed || d.Detail != "session" {
		t.Fatalf("inside the grace period: %+v", d)
	}
	if !f.engine.SteppedUp(context.Background(), "alice", f.clock.Now()) {
		t.Fatal("no step-up inside the grace period")
	}
	if err := f.engine.EndSessions(context.Background(), "alice"); err != nil {
		t.Fatal(err)
	}
	d := f.check("POST", "/carts/1", alice)
	expectDeny(t, d, profile.Missing, 403, "no code")
	golden, err := os.ReadFile("profile/testdata/glue_missing_code.json")
	if err != nil {
		t.Fatal(err)
	}
	if want := strings.TrimSpace(string(golden)); d.Answer.Body != want {
		t.Fatalf("body %s, want %s", d.Answer.Body, want)
	}
	if f.engine.SteppedUp(context.Background(), "alice", f.clock.Now()) {
		t.Fatal("an ended session still counts as a step-up")
	}
	if d := f.check("POST", "/carts/1", MapHeader{"x-user-id": "bob"}); !d.Allowed || d.Detail != "session" {
		t.Fatalf("bob's session: %+v", d)
	}
}
