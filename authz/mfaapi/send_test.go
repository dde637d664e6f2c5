package mfaapi_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mfa-authz/mfa-authz/authz/config"
	"github.com/mfa-authz/mfa-authz/authz/mfaapi"
	"github.com/mfa-authz/mfa-authz/authz/profile"
	"github.com/mfa-authz/mfa-authz/authz/store"
	"github.com/mfa-authz/mfa-authz/authz/store/redisstore"
	"github.com/mfa-authz/mfa-authz/test/redistest"
)

// sendBackend is the store a sending test runs on: the service's embedded
// Dir, or a Redis store on a real redis-server.
type sendBackend struct {
	name string
	// api returns the endpoints over the backend's store, and the store.
	api func(t *testing.T, e *env) (handle func(req) profile.Answer, st store.Store)
}

func sendBackends() []sendBackend {
	return []sendBackend{
		{"dir", func(t *testing.T, e *env) (func(req) profile.Answer, store.Store) {
			return func(r req) profile.Answer {
				got, _ := e.svc.API.Handle(context.Background(), r.build())
				return got
			}, e.st
		}},
		{"redis", func(t *testing.T, e *env) (func(req) profile.Answer, store.Store) {
			c := redisstore.DefaultConfig()
			c.URL = redistest.Start(t).URL
			rs, err := redisstore.Open(context.Background(), c, make([]byte, store.KeySize), nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { rs.Close() })
			api := newAPI(t, e, rs, nil) // user and tenant limits of 10
			return func(r req) profile.Answer {
				got, _ := api.Handle(context.Background(), r.build())
				return got
			}, rs
		}},
	}
}

// enableEmail gives user an enabled e-mail factor in st.
func enableEmail(t *testing.T, st store.Store, user, dest string) {
	t.Helper()
	err := st.UpdateEnrollment(context.Background(), user, func(*store.Enrollment) (*store.Enrollment, error) {
		return &store.Enrollment{Email: &store.OOB{Destination: dest, Enabled: true, CreatedAt: time.Now().UTC()}}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// fire sends n copies of r at once and counts the answers by status and
// code ("204", "429 5916", ...).
func fire(t *testing.T, handle func(req) profile.Answer, r req, n int) map[string]int {
	t.Helper()
	start := make(chan struct{})
	answers := make([]profile.Answer, n)
	var wg sync.WaitGroup
	for i := range answers {
		wg.Go(func() {
			<-start
			answers[i] = handle(r)
		})
	}
	close(start)
	wg.Wait()
	counts := map[string]int{}
	for _, a := range answers {
		k := strings.TrimSpace(strings.Join([]string{itoa(a.Status), glueCode(a)}, " "))
		counts[k]++
	}
	return counts
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}

// glueCode is the code of a glue error body, "" for none.
func glueCode(a profile.Answer) string {
	_, rest, ok := strings.Cut(string(a.Body), `"code":"`)
	if !ok {
		return ""
	}
	code, _, _ := strings.Cut(rest, `"`)
	return code
}

// TestParallelTriggersOneCooldown: 30 triggers at once pass the resend
// cooldown once: one code is sent, every other request is answered 5916.
func TestParallelTriggersOneCooldown(t *testing.T) {
	for _, b := range sendBackends() {
		t.Run(b.name, func(t *testing.T) {
			e := newEnv(t, opts{})
			handle, st := b.api(t, e)
			enableEmail(t, st, "alice", aliceEmail)
			r := req{path: config.DefaultTriggerPath, user: "alice", body: body(mfaapi.TypeTrigger, "email")}
			got := fire(t, handle, r, 30)
			if got["204"] != 1 || got["429 5916"] != 29 {
				t.Fatalf("answers %v, want one 204 and 29 × 429 5916", got)
			}
			if msgs := e.sent(t); len(msgs) != 1 {
				t.Fatalf("%d codes sent, want 1", len(msgs))
			}
		})
	}
}

// TestParallelTriggersExactQuota: without a cooldown, 30 triggers at once
// send exactly the user's quota; the tenant counted exactly those, so the
// next user meets the tenant limit.
func TestParallelTriggersExactQuota(t *testing.T) {
	for _, b := range sendBackends() {
		t.Run(b.name, func(t *testing.T) {
			quota := 10 // newAPI's limits
			o := opts{limits: "  resend_cooldown: 0s"}
			if b.name == "dir" {
				quota = 3
				o.limits = "  user_max_sends: 3\n  tenant_max_sends: 3\n  resend_cooldown: 0s"
			}
			e := newEnv(t, o)
			handle, st := b.api(t, e)
			enableEmail(t, st, "alice", aliceEmail)
			enableEmail(t, st, "bob", "bob@example.com")
			r := req{path: config.DefaultTriggerPath, user: "alice", body: body(mfaapi.TypeTrigger, "email")}
			got := fire(t, handle, r, 30)
			if got["204"] != quota || got["429 5914"] != 30-quota {
				t.Fatalf("answers %v, want %d × 204 and %d × 429 5914", got, quota, 30-quota)
			}
			if msgs := e.sent(t); len(msgs) != quota {
				t.Fatalf("%d codes sent, want %d", len(msgs), quota)
			}
			r.user = "bob"
			if a := handle(r); a.Status != 429 || glueCode(a) != "5915" {
				t.Fatalf("bob's trigger: %d %s, want 429 5915 (the tenant counted %d)", a.Status, a.Body, quota)
			}
		})
	}
}

// TestCooldownAcrossEndpoints: the resend cooldown is one per user and
// method, whichever endpoint sent the code and whatever became of it: a
// code sent by activate and verified at once still holds a trigger back,
// and a code sent by a trigger, used to remove the factor, still holds
// back a new activation.
func TestCooldownAcrossEndpoints(t *testing.T) {
	lastCode := func(t *testing.T, e *env) string {
		t.Helper()
		msgs := e.sent(t)
		if len(msgs) == 0 {
			t.Fatal("no code sent")
		}
		return msgs[len(msgs)-1].Code
	}
	t.Run("activate, verify, trigger", func(t *testing.T) {
		e := newEnv(t, opts{})
		handle := func(r req) profile.Answer { got, _ := e.svc.API.Handle(context.Background(), r.build()); return got }
		act := req{path: config.DefaultActivatePath, user: "alice", body: body(mfaapi.TypeActivate, "email", `"destination":`+quote(aliceEmail))}
		if a := handle(act); a.Status != 204 {
			t.Fatalf("activate: %d %s", a.Status, a.Body)
		}
		ver := req{path: config.DefaultVerifyPath, user: "alice", code: "email " + lastCode(t, e), body: body(mfaapi.TypeVerify, "email")}
		if a := handle(ver); a.Status/100 != 2 {
			t.Fatalf("verify: %d %s", a.Status, a.Body)
		}
		trig := req{path: config.DefaultTriggerPath, user: "alice", body: body(mfaapi.TypeTrigger, "email")}
		a := handle(trig)
		if a.Status != 429 || glueCode(a) != "5916" || a.RetryAfter <= 25*time.Second || a.RetryAfter > 30*time.Second {
			t.Fatalf("trigger right after verify: %d %s retry %s, want 429 5916 for about 30s", a.Status, a.Body, a.RetryAfter)
		}
		if n := len(e.sent(t)); n != 1 {
			t.Fatalf("%d codes sent, want 1", n)
		}
	})
	t.Run("trigger, deactivate, activate", func(t *testing.T) {
		e := newEnv(t, opts{})
		handle := func(r req) profile.Answer { got, _ := e.svc.API.Handle(context.Background(), r.build()); return got }
		e.oob(t, "alice", "email", aliceEmail, true)
		trig := req{path: config.DefaultTriggerPath, user: "alice", body: body(mfaapi.TypeTrigger, "email")}
		if a := handle(trig); a.Status != 204 {
			t.Fatalf("trigger: %d %s", a.Status, a.Body)
		}
		deact := req{path: config.DefaultDeactivatePath, user: "alice", code: "email " + lastCode(t, e), body: body(mfaapi.TypeDeactivate, "email")}
		if a := handle(deact); a.Status != 204 {
			t.Fatalf("deactivate: %d %s", a.Status, a.Body)
		}
		act := req{path: config.DefaultActivatePath, user: "alice", body: body(mfaapi.TypeActivate, "email", `"destination":`+quote(aliceEmail))}
		a := handle(act)
		if a.Status != 429 || glueCode(a) != "5916" || a.RetryAfter <= 25*time.Second || a.RetryAfter > 30*time.Second {
			t.Fatalf("activate right after a trigger: %d %s retry %s, want 429 5916 for about 30s", a.Status, a.Body, a.RetryAfter)
		}
		if n := len(e.sent(t)); n != 1 {
			t.Fatalf("%d codes sent, want 1", n)
		}
	})
}

// TestDestinationLimitPerMailbox: sub-addresses and spellings of one
// mailbox count as one destination: activations to them share its limit.
func TestDestinationLimitPerMailbox(t *testing.T) {
	for _, variant := range []string{"alice+mfa@example.com", "Alice+x@EXAMPLE.com", "ALICE@Example.Com"} {
		t.Run(variant, func(t *testing.T) {
			e := newEnv(t, opts{limits: "  user_max_sends: 1\n  resend_cooldown: 0s"})
			handle := func(r req) profile.Answer { got, _ := e.svc.API.Handle(context.Background(), r.build()); return got }
			first := req{path: config.DefaultActivatePath, user: "bob", body: body(mfaapi.TypeActivate, "email", `"destination":`+quote(aliceEmail))}
			if a := handle(first); a.Status != 204 {
				t.Fatalf("bob's activation: %d %s", a.Status, a.Body)
			}
			r := req{path: config.DefaultActivatePath, user: "carol", body: body(mfaapi.TypeActivate, "email", `"destination":`+quote(variant))}
			if a := handle(r); a.Status != 429 || glueCode(a) != "5914" {
				t.Fatalf("carol's activation to %s: %d %s, want 429 5914", variant, a.Status, a.Body)
			}
			if n := len(e.sent(t)); n != 1 {
				t.Fatalf("%d codes sent, want 1", n)
			}
		})
	}
}
