package authz

import (
	"context"
	"flag"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mfa-authz/mfa-authz/authz/profile"
	"github.com/mfa-authz/mfa-authz/cache"
	"github.com/mfa-authz/mfa-authz/policy"
)

var updateGolden = flag.Bool("update", false, "rewrite golden files")

// wire renders a as a client sees it: the status, every header, a blank
// line and the body.
func wire(a profile.Answer) string {
	var b strings.Builder
	b.WriteString(strconv.Itoa(a.Status) + " " + http.StatusText(a.Status) + "\n")
	a.Headers(func(name, value string) { b.WriteString(name + ": " + value + "\n") })
	return b.String() + "\n" + a.Body
}

func goldenFile(t *testing.T, path, got string) {
	t.Helper()
	if *updateGolden {
		if err := os.WriteFile(path, []byte(got+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("golden file: %v (run go test -update)", err)
	}
	if got != strings.TrimSuffix(string(want), "\n") {
		t.Errorf("%s:\n got: %s\nwant: %s", path, got, want)
	}
}

// denialReasons are the reasons a protected route's denial can have.
var denialReasons = append(append([]profile.Reason{}, profile.Reasons...), profile.Expired, profile.InvalidRecoveryCode)

// withChallenge builds the engine with profile name and
// mfa.step_up_challenge on: /payments accepts acr "phr" or
// "urn:example:loa:3" from the identity provider within 5 minutes, and
// only TOTP codes.
func withChallenge(name string) func(*Options, *policy.Config) {
	return func(o *Options, p *policy.Config) {
		o.StepUpChallenge = true
		o.Profile, _ = profile.New(name, "X-MFA-Code", "https://docs.example.com/")
		p.Rules = append([]policy.RuleConfig{{Path: "/payments", Methods: []string{"POST"}, GracePeriod: ptr(5 * time.Minute),
			Factors:         []string{"totp"},
			AcceptIdPStepUp: &policy.IdPStepUpConfig{ACRValues: []string{"phr", "urn:example:loa:3"}}}}, p.Rules...)
	}
}

// Every denial of a protected route with the challenge on, per profile,
// as the client sees it: the header on the denials an authentication
// cures, the route's acr values and grace period in it, nothing else of
// the glue and problem answers changed.
func TestChallengeGolden(t *testing.T) {
	for _, name := range profile.Names {
		f := newFixture(t, withChallenge(name))
		rule := f.engine.Policy().Match("POST", "shop.example.com", "/payments")
		plain := f.engine.Policy().Match("POST", "shop.example.com", "/checkout/1")
		for _, r := range denialReasons {
			var retry time.Duration
			if r == profile.TooManyAttempts {
				retry = time.Minute
			}
			d := f.engine.deny(&Request{ID: "5e77e3e3-48ab-4955-8ab3-1c62339096ab"}, rule, "alice", r, "", retry)
			goldenFile(t, filepath.Join("testdata", "challenge", name+"_"+r.String()+".http"), wire(d.Answer))

			// A rule without accept_idp_stepup: max_age only, and a user
			// without a factor is not challenged.
			d = f.engine.deny(&Request{}, plain, "alice", r, "", retry)
			want := ""
			if profile.Challenged(r, false) {
				want = profile.Challenge(r, nil, 5*time.Minute)
			} else if name == profile.RFC9470 {
				want = f.engine.profile.Deny(r, profile.Details{}).Challenge
			}
			if d.Answer.Challenge != want {
				t.Errorf("%s %s on /checkout: challenge %q, want %q", name, r, d.Answer.Challenge, want)
			}
		}
	}
}

// With mfa.step_up_challenge off (the default), the glue and problem
// answers are byte for byte the golden files they were: same status,
// headers and body, no WWW-Authenticate.
func TestChallengeOffUnchanged(t *testing.T) {
	for _, name := range []string{profile.Glue, profile.Problem} {
		f := newFixture(t, func(o *Options, p *policy.Config) {
			withChallenge(name)(o, p)
			o.StepUpChallenge = false
			p.Rules[0].Factors = nil // acceptable_factors is another addition
		})
		prof, _ := profile.New(name, "X-MFA-Code", "https://docs.example.com/")
		rule := f.engine.Policy().Match("POST", "shop.example.com", "/payments")
		for _, r := range append(denialReasons, profile.SelfServiceReasons...) {
			flow := "5e77e3e3-48ab-4955-8ab3-1c62339096ab"
			d := f.engine.deny(&Request{ID: flow}, rule, "alice", r, "", time.Minute)
			if want := prof.Deny(r, profile.Details{FlowID: flow, RetryAfter: time.Minute}); d.Answer != want {
				t.Errorf("%s %s: answer %+v, want %+v", name, r, d.Answer, want)
			}
			body, err := os.ReadFile(filepath.Join("profile", "testdata", name+"_"+r.String()+".json"))
			if err != nil {
				t.Fatal(err)
			}
			if d.Answer.Body+"\n" != string(body) {
				t.Errorf("%s %s: body %s, golden %s", name, r, d.Answer.Body, body)
			}
			d.Answer.Headers(func(h, v string) {
				if h == "www-authenticate" {
					t.Errorf("%s %s: www-authenticate %q with the challenge off", name, r, v)
				}
			})
		}
		if f.engine.challenges.Load() != nil {
			t.Errorf("%s: challenges rendered with the setting off", name)
		}
	}
}

// The challenge through Check: a code missing, wrong, or of a factor the
// route does not accept is challenged; a ban, a missing identity and a
// self-service answer are not; a policy reload renders the new grace.
func TestChallengeThroughCheck(t *testing.T) {
	f := newFixture(t, withChallenge(profile.Glue))
	f.enroll("alice")
	const route = `acr_values="phr urn:example:loa:3", max_age=300`
	check := func(path string, h MapHeader) Decision {
		return f.engine.Check(context.Background(), &Request{Method: "POST", Host: "shop.example.com", Path: path, Header: h})
	}
	for _, c := range []struct {
		name, path string
		h          MapHeader
		reason     profile.Reason
		status     int
		want       string
	}{
		{"missing", "/payments", MapHeader{"x-user-id": "alice"}, profile.Missing, 403,
			`Bearer error="insufficient_user_authentication", error_description="Multi-factor authentication is required.", ` + route},
		{"wrong", "/payments", MapHeader{"x-user-id": "alice", "x-mfa-code": "000000"}, profile.Invalid, 403,
			`Bearer error="insufficient_user_authentication", error_description="The multi-factor authentication code is invalid.", ` + route},
		{"factor not accepted", "/payments", MapHeader{"x-user-id": "alice", "x-mfa-code": "recovery ABCD-EFGH"}, profile.Invalid, 403,
			`Bearer error="insufficient_user_authentication", error_description="The multi-factor authentication code is invalid.", ` + route},
		{"malformed", "/payments", MapHeader{"x-user-id": "alice", "x-mfa-code": "pigeon 1"}, profile.MalformedCode, 403,
			`Bearer error="insufficient_user_authentication", error_description="The multi-factor authentication code is malformed.", ` + route},
		{"no factor, idp route", "/payments", MapHeader{"x-user-id": "bob"}, profile.NotEnrolled, 403,
			`Bearer error="insufficient_user_authentication", error_description="Multi-factor authentication is required; no factor is enrolled for this user.", ` + route},
		{"no factor", "/carts/1", MapHeader{"x-user-id": "bob"}, profile.NotEnrolled, 403, ""},
		{"global grace", "/carts/1", MapHeader{"x-user-id": "alice"}, profile.Missing, 403,
			`Bearer error="insufficient_user_authentication", error_description="Multi-factor authentication is required.", max_age=1800`},
		{"no identity", "/payments", nil, profile.NoIdentity, 400, ""},
	} {
		d := check(c.path, c.h)
		expectDeny(t, d, c.reason, c.status, "")
		if d.Answer.Challenge != c.want {
			t.Errorf("%s: challenge %q\nwant %q", c.name, d.Answer.Challenge, c.want)
		}
	}
	if d := check("/payments", MapHeader{"x-user-id": "alice", "x-mfa-code": "recovery ABCD-EFGH"}); d.Detail != DetailFactorNotAccepted {
		t.Errorf("factor not accepted: detail %q", d.Detail)
	}
	for range 10 {
		check("/carts/1", MapHeader{"x-user-id": "carol", "x-mfa-code": "000000"})
	}
	f.enroll("carol")
	for range 10 {
		check("/carts/1", MapHeader{"x-user-id": "carol", "x-mfa-code": "000000"})
	}
	d := check("/carts/1", MapHeader{"x-user-id": "carol", "x-mfa-code": "000000"})
	if d.Reason != profile.TooManyAttempts || d.Answer.Challenge != "" {
		t.Errorf("ban: reason %s, challenge %q", d.Reason, d.Answer.Challenge)
	}
	if a := f.engine.AnswerFor(&Request{}, profile.Missing, 0); a.Challenge != "" {
		t.Errorf("self-service answer challenged: %q", a.Challenge)
	}

	// A reload with another grace period: the next denial says so.
	old := f.engine.Policy().Match("POST", "shop.example.com", "/payments")
	pc := testPolicy
	withChallenge(profile.Glue)(&Options{}, &pc)
	pc.Rules[0].GracePeriod = ptr(90 * time.Second)
	pol, err := policy.Compile(pc)
	if err != nil {
		t.Fatal(err)
	}
	f.engine.SetPolicy(pol)
	if d := check("/payments", MapHeader{"x-user-id": "alice"}); !strings.HasSuffix(d.Answer.Challenge, ", max_age=90") {
		t.Errorf("after reload: %q", d.Answer.Challenge)
	}
	// A check that matched the old policy before the swap still gets its
	// rule's challenge.
	if c := f.engine.challengeFor(old, profile.Missing); !strings.HasSuffix(c, route) {
		t.Errorf("old rule: %q", c)
	}
}

// A missing code (from a user the enrollment cache knows, as in service)
// allocates nothing, with the challenge off or on: the header is looked
// up, not built.
func TestChallengeAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts of pooled code are random under the race detector; `make unit` runs them again without -race")
	}
	for _, on := range []bool{false, true} {
		f := newFixture(t, func(o *Options, p *policy.Config) {
			withChallenge(profile.Glue)(o, p)
			o.StepUpChallenge = on
			p.Rules[0].Factors = nil
			var err error
			if o.Enrolled, err = cache.NewEnrolled(16, time.Hour); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(o.Enrolled.Close)
		})
		f.enroll("alice")
		req := &Request{Method: "POST", Host: "shop.example.com", Path: "/payments", Header: MapHeader{"x-user-id": "alice"}}
		// The enrollment cache shows its entry shortly after the first
		// denial has read the store.
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
			f.engine.Check(context.Background(), req)
			if _, known := f.engine.enrolled.Lookup("alice"); known || time.Now().After(deadline) {
				break
			}
		}
		if n := testing.AllocsPerRun(100, func() { f.engine.Check(context.Background(), req) }); n != 0 {
			t.Errorf("challenge %t: %.0f allocations per denial", on, n)
		}
	}
}
