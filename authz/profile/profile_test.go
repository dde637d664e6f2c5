package profile

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite golden files")

// golden compares got with testdata/name, or rewrites it under -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
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
		t.Errorf("%s:\n got: %s\nwant: %s", name, got, want)
	}
}

func TestGlueGolden(t *testing.T) {
	p, err := New(Glue, "X-MFA-Code", "")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range Reasons {
		d := p.Deny(r, Details{FlowID: "ignored"})
		if d.ContentType != "application/json" {
			t.Errorf("%s: content type %q", r, d.ContentType)
		}
		golden(t, "glue_"+r.String()+".json", d.Body)
		var doc struct {
			Errors []struct {
				Status int    `json:"status"`
				Code   string `json:"code"`
			} `json:"errors"`
		}
		if err := json.Unmarshal([]byte(d.Body), &doc); err != nil || len(doc.Errors) != 1 || doc.Errors[0].Status != d.Status {
			t.Errorf("%s: body %s does not carry status %d: %v", r, d.Body, d.Status, err)
		}
	}
}

// The seed's exact example body.
func TestGlueMissingIsSprykers(t *testing.T) {
	p, _ := New(Glue, "X-MFA-Code", "")
	d := p.Deny(Missing, Details{})
	want := `{"errors":[{"status":403,"code":"5900","detail":"X-MFA-Code header is missing."}]}`
	if d.Status != 403 || d.Body != want {
		t.Errorf("got %d %s, want 403 %s", d.Status, d.Body, want)
	}
	d = p.Deny(Invalid, Details{})
	if want := `{"errors":[{"status":403,"code":"5901","detail":"X-MFA-Code is invalid."}]}`; d.Body != want {
		t.Errorf("invalid: got %s, want %s", d.Body, want)
	}
}

func TestGlueHeaderFollowsConfig(t *testing.T) {
	p, _ := New(Glue, "X-Shop-OTP", "")
	if got := p.Deny(Missing, Details{}).Body; !strings.Contains(got, `"X-Shop-OTP header is missing."`) {
		t.Errorf("body %s does not name the configured header", got)
	}
}

func TestProblemGolden(t *testing.T) {
	p, err := New(Problem, "X-MFA-Code", "https://docs.example.com/")
	if err != nil {
		t.Fatal(err)
	}
	wantStatus := map[Reason]int{Missing: 409, Invalid: 401, NotEnrolled: 409, TooManyAttempts: 429, NoIdentity: 401,
		Unavailable: 503, MalformedCode: 401}
	for _, r := range Reasons {
		d := p.Deny(r, Details{FlowID: "5e77e3e3-48ab-4955-8ab3-1c62339096ab", RetryAfter: time.Minute})
		if d.ContentType != "application/problem+json" || d.Status != wantStatus[r] {
			t.Errorf("%s: %d %q", r, d.Status, d.ContentType)
		}
		golden(t, "problem_"+r.String()+".json", d.Body)
	}
}

// The INVERS seed's body, with the header configured as INVERS names it.
func TestProblemMissingIsInvers(t *testing.T) {
	p, _ := New(Problem, "X-INVERS-MFA-Code", "https://developers.invers.com")
	d := p.Deny(Missing, Details{FlowID: "5e77e3e3-48ab-4955-8ab3-1c62339096ab"})
	want := `{"type":"/problems/mfa/missing-code","type_documentation":"https://developers.invers.com/problems/mfa/missing-code",` +
		`"title":"'X-INVERS-MFA-Code' header missing","status":409,` +
		`"detail":"Action is secured with MFA. Please provide 'X-INVERS-MFA-Code' header.",` +
		`"flow_id":"5e77e3e3-48ab-4955-8ab3-1c62339096ab"}`
	if d.Status != 409 || d.Body != want {
		t.Errorf("got %d\n%s\nwant 409\n%s", d.Status, d.Body, want)
	}
}

var uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func TestProblemFlowID(t *testing.T) {
	p, _ := New(Problem, "X-MFA-Code", "")
	for _, flow := range []string{"", `a"b`, "x\ny", strings.Repeat("a", MaxFlowIDLength+1), "<script>", "é"} {
		d := p.Deny(Invalid, Details{FlowID: flow})
		var doc map[string]any
		if err := json.Unmarshal([]byte(d.Body), &doc); err != nil {
			t.Fatalf("flow %q: body is not JSON: %v: %s", flow, err, d.Body)
		}
		if got, _ := doc["flow_id"].(string); !uuidRE.MatchString(got) {
			t.Errorf("flow %q: flow_id %q is not a fresh UUID", flow, got)
		}
		if doc["type_documentation"] != "/problems/mfa/invalid-code" {
			t.Errorf("empty base URL: type_documentation %v", doc["type_documentation"])
		}
	}
	d := p.Deny(Invalid, Details{FlowID: "req-1.2:3_x"})
	if !strings.HasSuffix(d.Body, `"flow_id":"req-1.2:3_x"}`) {
		t.Errorf("valid flow id not echoed: %s", d.Body)
	}
	if a, b := newFlowID(), newFlowID(); a == b {
		t.Errorf("newFlowID repeated %s", a)
	}
}

func TestNewErrors(t *testing.T) {
	if _, err := New("spryker", "X-MFA-Code", ""); err == nil || err.Error() != `profile: unknown profile "spryker" (want "glue", "problem" or "rfc9470")` {
		t.Errorf("unknown profile: %v", err)
	}
	if _, err := New(Glue, "", ""); err == nil {
		t.Error("empty header accepted")
	}
}

func TestUnknownReasonRendersUnavailable(t *testing.T) {
	for _, name := range Names {
		p, _ := New(name, "X-MFA-Code", "")
		if d := p.Deny(Reason(200), Details{}); d.Status != 503 {
			t.Errorf("%s: unknown reason gave %d, want 503", name, d.Status)
		}
	}
	if Reason(200).String() != "reason(200)" || Missing.String() != "missing_code" {
		t.Error("Reason.String")
	}
}

// INVERS repeats flow_id in the X-INVERS-Flow-ID response header; the
// header's prefix follows the configured MFA header's.
func TestProblemFlowIDHeader(t *testing.T) {
	for _, c := range []struct{ mfa, want string }{
		{"X-INVERS-MFA-Code", "x-invers-flow-id"},
		{"X-MFA-Code", "x-flow-id"},
		{"x-acme-mfa-code", "x-acme-flow-id"},
		{"X-Shop-OTP", "x-flow-id"},
		{"MFA-Code", "x-flow-id"},
	} {
		p, _ := New(Problem, c.mfa, "")
		for _, r := range append(append([]Reason{}, Reasons...), SelfServiceReasons...) {
			d := p.Deny(r, Details{FlowID: "flow-1"})
			var got []string
			d.Headers(func(name, value string) {
				if strings.HasSuffix(name, "flow-id") {
					got = append(got, name+": "+value)
				}
			})
			if want := c.want + ": flow-1"; len(got) != 1 || got[0] != want {
				t.Errorf("%s %s: flow headers %q, want %q", c.mfa, r, got, want)
			}
		}
		d := p.Deny(Invalid, Details{FlowID: `bad"id`})
		var doc struct {
			FlowID string `json:"flow_id"`
		}
		if err := json.Unmarshal([]byte(d.Body), &doc); err != nil || d.FlowID != doc.FlowID || !uuidRE.MatchString(d.FlowID) {
			t.Errorf("%s: header flow id %q, body flow_id %q (%v)", c.mfa, d.FlowID, doc.FlowID, err)
		}
	}
	g, _ := New(Glue, "X-INVERS-MFA-Code", "")
	if d := g.Deny(Missing, Details{FlowID: "flow-1"}); d.FlowHeader != "" {
		t.Errorf("glue answer carries a flow header %q", d.FlowHeader)
	}
}

// A malformed code is its own problem type; in Glue it is Spryker's 5901.
func TestMalformedCode(t *testing.T) {
	p, _ := New(Problem, "X-INVERS-MFA-Code", "https://developers.invers.com")
	d := p.Deny(MalformedCode, Details{FlowID: "f"})
	want := `{"type":"/problems/mfa/invalid-otp-format","type_documentation":"https://developers.invers.com/problems/mfa/invalid-otp-format",` +
		`"title":"MFA code malformed.","status":401,` +
		`"detail":"The 'X-INVERS-MFA-Code' header must hold a code, or a factor type and a code such as 'email 123456'.","flow_id":"f"}`
	if d.Status != 401 || d.Body != want {
		t.Errorf("got %d %s\nwant 401 %s", d.Status, d.Body, want)
	}
	g, _ := New(Glue, "X-MFA-Code", "")
	if d := g.Deny(MalformedCode, Details{}); d.Status != 403 || d.Body != `{"errors":[{"status":403,"code":"5901","detail":"X-MFA-Code is invalid."}]}` {
		t.Errorf("glue: %d %s", d.Status, d.Body)
	}
}

// Glue documents are application/json unless configured as JSON:API;
// nothing else is accepted.
func TestGlueContentType(t *testing.T) {
	for _, c := range []struct {
		opts []Option
		want string
	}{
		{nil, "application/json"},
		{[]Option{WithGlueContentType(GlueContentType)}, "application/vnd.api+json"},
		{[]Option{WithGlueContentType(JSONContentType)}, "application/json"},
	} {
		for _, name := range Names {
			p, err := New(name, "X-MFA-Code", "", c.opts...)
			if err != nil {
				t.Fatal(err)
			}
			if p.DocumentType() != c.want {
				t.Errorf("%s: document type %q, want %q", name, p.DocumentType(), c.want)
			}
			if got := p.Deny(Missing, Details{}).ContentType; name == Glue && got != c.want {
				t.Errorf("glue denial content type %q, want %q", got, c.want)
			}
		}
	}
	if _, err := New(Glue, "X-MFA-Code", "", WithGlueContentType("text/html")); err == nil ||
		err.Error() != `profile: glue content type "text/html" (want "application/json" or "application/vnd.api+json")` {
		t.Errorf("bad content type: %v", err)
	}
}
