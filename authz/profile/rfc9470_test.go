package profile

import (
	"encoding/json"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

// wire renders a as a client sees it: the status, every header Headers
// sends, a blank line and the body.
func wire(a Answer) string {
	var b strings.Builder
	b.WriteString(strconv.Itoa(a.Status) + " " + http.StatusText(a.Status) + "\n")
	a.Headers(func(name, value string) { b.WriteString(name + ": " + value + "\n") })
	return b.String() + "\n" + a.Body
}

// allReasons are the denial and the self-service reasons.
func allReasons() []Reason { return append(append([]Reason{}, Reasons...), SelfServiceReasons...) }

// Every answer of the rfc9470 profile as the client sees it. A denial an
// authentication cures is 401 with the step-up challenge; the others keep
// the problem profile's status; every 401 carries a challenge; bodies are
// plain RFC 9457 documents.
func TestRFC9470Golden(t *testing.T) {
	p, err := New(RFC9470, "X-MFA-Code", "https://docs.example.com/")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range allReasons() {
		d := Details{FlowID: "flow-1"}
		if ProblemTypes[r].Status == http.StatusTooManyRequests {
			d.RetryAfter = time.Minute
		}
		a := p.Deny(r, d)
		golden(t, "rfc9470_"+r.String()+".http", wire(a))

		want := ProblemTypes[r]
		switch {
		case Challenged(r, false):
			if a.Status != 401 || a.Challenge != Challenge(r, nil, -1) {
				t.Errorf("%s: %d %q, want 401 with the step-up challenge", r, a.Status, a.Challenge)
			}
		case a.Status != want.Status:
			t.Errorf("%s: status %d, want the problem profile's %d", r, a.Status, want.Status)
		case a.Status == 401 && a.Challenge != BearerChallenge:
			t.Errorf("%s: 401 with challenge %q, want %q", r, a.Challenge, BearerChallenge)
		case a.Status != 401 && a.Challenge != "":
			t.Errorf("%s: %d carries a challenge %q", r, a.Status, a.Challenge)
		}
		if a.ContentType != ProblemContentType || a.FlowHeader != "" {
			t.Errorf("%s: content type %q, flow header %q", r, a.ContentType, a.FlowHeader)
		}
		var doc map[string]any
		if err := json.Unmarshal([]byte(a.Body), &doc); err != nil {
			t.Fatalf("%s: %v: %s", r, err, a.Body)
		}
		wantDoc := map[string]any{"type": "https://docs.example.com" + want.Type, "title": sprintfHeader(want.Title, "X-MFA-Code"),
			"status": float64(a.Status), "detail": sprintfHeader(want.Detail, "X-MFA-Code")}
		if want.Field != "" {
			wantDoc["field"] = want.Field
		}
		if !reflect.DeepEqual(doc, wantDoc) {
			t.Errorf("%s: body %v, want %v", r, doc, wantDoc)
		}
	}
}

// A user without a factor, on a route that accepts a step-up at the
// identity provider: a sign-in there cures it, so it is challenged.
func TestRFC9470NotEnrolledIdP(t *testing.T) {
	p, _ := New(RFC9470, "X-MFA-Code", "https://docs.example.com/")
	a := p.Deny(NotEnrolled, Details{IdPStepUp: true})
	golden(t, "rfc9470_not_enrolled_idp_stepup.http", wire(a))
	if a.Status != 401 || a.Challenge != Challenge(NotEnrolled, nil, -1) || !strings.Contains(a.Body, `"status":401`) {
		t.Errorf("got %d %q %s", a.Status, a.Challenge, a.Body)
	}
	for _, r := range allReasons() {
		if r != NotEnrolled && p.Deny(r, Details{IdPStepUp: true}) != p.Deny(r, Details{}) {
			t.Errorf("%s: the route's idp step-up changed the answer", r)
		}
	}
	for _, name := range []string{Glue, Problem} {
		q, _ := New(name, "X-MFA-Code", "")
		if a, b := q.Deny(NotEnrolled, Details{FlowID: "f", IdPStepUp: true}), q.Deny(NotEnrolled, Details{FlowID: "f"}); a != b {
			t.Errorf("%s: the route's idp step-up changed the answer: %+v", name, a)
		}
	}
}

// Without a base URL the types are the problem profile's relative
// references; a request id never reaches a body.
func TestRFC9470Types(t *testing.T) {
	p, _ := New(RFC9470, "X-INVERS-MFA-Code", "")
	a := p.Deny(Missing, Details{FlowID: "req-1"})
	want := `{"type":"/problems/mfa/missing-code","title":"'X-INVERS-MFA-Code' header missing","status":401,` +
		`"detail":"Action is secured with MFA. Please provide 'X-INVERS-MFA-Code' header."}`
	if a.Body != want {
		t.Errorf("body %s\nwant %s", a.Body, want)
	}
	if p.Deny(Missing, Details{FlowID: "req-2"}) != a {
		t.Error("answers differ between requests")
	}
	if p.Name() != RFC9470 || p.DocumentType() != JSONContentType {
		t.Errorf("name %q, document type %q", p.Name(), p.DocumentType())
	}
}

func TestChallenged(t *testing.T) {
	for _, r := range allReasons() {
		want := false
		switch r {
		case Missing, Invalid, MalformedCode, Expired, InvalidRecoveryCode:
			want = true
		}
		if Challenged(r, false) != want {
			t.Errorf("Challenged(%s, false) = %t", r, !want)
		}
		if r == NotEnrolled {
			want = true
		}
		if Challenged(r, true) != want {
			t.Errorf("Challenged(%s, true) = %t", r, !want)
		}
	}
}

func TestChallenge(t *testing.T) {
	for _, c := range []struct {
		name   string
		reason Reason
		acr    []string
		maxAge time.Duration
		want   string
	}{
		{"route", Missing, []string{"phr", "urn:example:loa:3"}, 30 * time.Minute,
			`Bearer error="insufficient_user_authentication", error_description="Multi-factor authentication is required.", acr_values="phr urn:example:loa:3", max_age=1800`},
		{"no acr values", Invalid, nil, 5 * time.Minute,
			`Bearer error="insufficient_user_authentication", error_description="The multi-factor authentication code is invalid.", max_age=300`},
		{"grace 0", Expired, nil, 0,
			`Bearer error="insufficient_user_authentication", error_description="The multi-factor authentication code has expired.", max_age=0`},
		{"rounded down", MalformedCode, nil, 90*time.Second + 999*time.Millisecond,
			`Bearer error="insufficient_user_authentication", error_description="The multi-factor authentication code is malformed.", max_age=90`},
		{"no route", InvalidRecoveryCode, nil, -1,
			`Bearer error="insufficient_user_authentication", error_description="The recovery code is invalid."`},
		{"quoted-pair", NotEnrolled, []string{`a"b`, `c\d`}, time.Minute,
			`Bearer error="insufficient_user_authentication", error_description="Multi-factor authentication is required; no factor is enrolled for this user.", acr_values="a\"b c\\d", max_age=60`},
		{"control bytes left out", Missing, []string{"a\r\nx-evil: 1", "é"}, -1,
			`Bearer error="insufficient_user_authentication", error_description="Multi-factor authentication is required.", acr_values="ax-evil: 1 "`},
	} {
		if got := Challenge(c.reason, c.acr, c.maxAge); got != c.want {
			t.Errorf("%s:\n got %s\nwant %s", c.name, got, c.want)
		}
	}
	// RFC 6750: error_description is %x20-21 / %x23-5B / %x5D-7E.
	for r, desc := range challengeDescriptions {
		if strings.ContainsFunc(desc, func(c rune) bool { return c < 0x20 || c > 0x7e || c == '"' || c == '\\' }) {
			t.Errorf("%s: error_description %q has a character RFC 6750 does not allow", r, desc)
		}
		if !Challenged(r, true) {
			t.Errorf("%s has a description but is never challenged", r)
		}
	}
	for _, r := range allReasons() {
		if _, ok := challengeDescriptions[r]; Challenged(r, true) && !ok {
			t.Errorf("%s is challenged but has no description", r)
		}
	}
}
