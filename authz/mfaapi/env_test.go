package mfaapi_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/structpb"

	"github.com/mfa-authz/mfa-authz/authz"
	"github.com/mfa-authz/mfa-authz/authz/config"
	"github.com/mfa-authz/mfa-authz/authz/delivery"
	"github.com/mfa-authz/mfa-authz/authz/internal/servicetest"
	"github.com/mfa-authz/mfa-authz/authz/mfaapi"
	"github.com/mfa-authz/mfa-authz/authz/otc"
	"github.com/mfa-authz/mfa-authz/authz/profile"
	"github.com/mfa-authz/mfa-authz/authz/service"
	"github.com/mfa-authz/mfa-authz/authz/store"
	"github.com/mfa-authz/mfa-authz/authz/totp"
)

// The tests in this package call API.Handle in plain Go on a real service
// (servicetest: config parsed from YAML, store in a temporary directory),
// one fresh service per row, and assert the exact answer. Error bodies
// are the profile package's golden files (authz/profile/testdata), so a
// row names the reason and the Glue code it must carry; the full
// client-to-binary journeys are test/e2e's.

// flowID is the request id of every call; the problem profile's golden
// files carry it as flow_id.
const flowID = "5e77e3e3-48ab-4955-8ab3-1c62339096ab"

// Destinations registered in the fixtures.
const (
	aliceEmail = "alice@example.com"
	alicePhone = "+4915112345678"
)

// opts vary the service a row runs on.
type opts struct {
	profile string // mfa.profile; "" is glue
	subject string // api.subject; "" is customer
	limits  string // the limits section's body, indented by two spaces
	noSMS   bool   // offer e-mail only
	badBox  bool   // the outbox is a directory: every delivery fails
}

// env is a real service with the self-service endpoints on, e-mail and
// SMS codes written to an outbox file.
type env struct {
	svc    *service.Service
	st     store.Store
	outbox string
	// totp and codes are the last TOTP factor and recovery codes the
	// fixture gave a user, for rows to compute the MFA header from.
	totp  *store.TOTP
	codes []string
	// api, when set, replaces the service's API (a stopped clock).
	api *mfaapi.API
}

func newEnv(t *testing.T, o opts) *env {
	t.Helper()
	outbox := filepath.Join(t.TempDir(), "outbox.jsonl")
	if o.badBox {
		if err := os.Mkdir(outbox, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	var y strings.Builder
	// A small session cache: closing the default one clears megabytes,
	// which would dominate a test that builds a service per row.
	fmt.Fprintf(&y, "cache:\n  max_sessions: 100\n")
	fmt.Fprintf(&y, "identity:\n  header: x-user-id\n")
	fmt.Fprintf(&y, "mfa:\n  problem_base_url: https://docs.example.com/\n")
	if o.profile != "" {
		fmt.Fprintf(&y, "  profile: %s\n", o.profile)
	}
	if o.subject != "" {
		fmt.Fprintf(&y, "api:\n  subject: %s\n", o.subject)
	}
	fmt.Fprintf(&y, "delivery:\n  email: file\n")
	if !o.noSMS {
		fmt.Fprintf(&y, "  sms: file\n")
	}
	fmt.Fprintf(&y, "  file:\n    path: %s\n", outbox)
	if o.limits != "" {
		fmt.Fprintf(&y, "limits:\n%s\n", o.limits)
	}
	svc := servicetest.New(t, y.String())
	if svc.API == nil {
		t.Fatal("the service has no API")
	}
	return &env{svc: svc, st: svc.Store, outbox: outbox}
}

// req is one call of an endpoint.
type req struct {
	method    string // "" is POST
	path      string
	user      string // x-user-id; "" sends none
	code      string // x-mfa-code; "" sends none
	body      string
	truncated bool
	claims    map[string]any // a jwt_authn payload; its sub is the user
	// ctype is the Content-Type of a body: "" is application/vnd.api+json,
	// "-" sends none.
	ctype string
}

func (r req) build() *authz.Request {
	h := authz.MapHeader{}
	if r.user != "" {
		h["x-user-id"] = r.user
	}
	if r.code != "" {
		h["x-mfa-code"] = r.code
	}
	ar := &authz.Request{Method: r.method, Path: r.path, ID: flowID, Header: h, BodyTruncated: r.truncated}
	if ar.Method == "" {
		ar.Method = "POST"
	}
	if r.body != "" {
		ar.Body = []byte(r.body)
		switch r.ctype {
		case "":
			h["content-type"] = "application/vnd.api+json"
		case "-":
		default:
			h["content-type"] = r.ctype
		}
	}
	if r.claims != nil {
		payload, err := structpb.NewStruct(r.claims)
		if err != nil {
			panic(err)
		}
		ar.Metadata = map[string]*structpb.Struct{config.DefaultJWTNamespace: {Fields: map[string]*structpb.Value{
			config.DefaultJWTPayloadKey: structpb.NewStructValue(payload)}}}
	}
	return ar
}

// answer is an expected answer. body is exact unless pattern is set, in
// which case the whole body must match it.
type answer struct {
	status  int
	ctype   string
	body    string
	pattern *regexp.Regexp
	// retry, when set, is the Retry-After the answer must carry, give or
	// take the seconds the clock runs between setup and call.
	retry time.Duration
}

// noContent is the answer of a success with nothing to show.
var noContent = answer{status: 204}

// document is a 200 JSON:API document.
func document(body string) answer {
	return answer{status: 200, ctype: profile.JSONContentType, body: body}
}

// documentLike is a 200 JSON:API document matching pattern.
func documentLike(pattern string) answer {
	return answer{status: 200, ctype: profile.JSONContentType, pattern: regexp.MustCompile("^" + pattern + "$")}
}

// glueErr is the Glue error document of reason, which must carry code.
func glueErr(t *testing.T, reason profile.Reason, code string) answer {
	t.Helper()
	body := golden(t, profile.Glue, reason)
	var doc struct {
		Errors []profile.GlueError `json:"errors"`
	}
	if err := json.Unmarshal([]byte(body), &doc); err != nil || len(doc.Errors) != 1 {
		t.Fatalf("glue golden file of %s: %v", reason, err)
	}
	if doc.Errors[0].Code != code {
		t.Fatalf("reason %s carries Glue code %s, the row expects %s", reason, doc.Errors[0].Code, code)
	}
	return answer{status: doc.Errors[0].Status, ctype: profile.JSONContentType, body: body}
}

// problemErr is the problem document of reason.
func problemErr(t *testing.T, reason profile.Reason) answer {
	t.Helper()
	body := golden(t, profile.Problem, reason)
	var doc struct{ Status int }
	if err := json.Unmarshal([]byte(body), &doc); err != nil {
		t.Fatalf("problem golden file of %s: %v", reason, err)
	}
	return answer{status: doc.Status, ctype: profile.ProblemContentType, body: body}
}

func golden(t *testing.T, prof string, reason profile.Reason) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "profile", "testdata", prof+"_"+reason.String()+".json"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

func (w answer) with(retry time.Duration) answer {
	w.retry = retry
	return w
}

// expect asserts that got is w.
func expect(t *testing.T, got profile.Answer, w answer) {
	t.Helper()
	if got.Status != w.status || got.ContentType != w.ctype {
		t.Errorf("answer %d %q, want %d %q; body %s", got.Status, got.ContentType, w.status, w.ctype, got.Body)
	}
	switch {
	case w.pattern != nil:
		if !w.pattern.MatchString(got.Body) {
			t.Errorf("body %s\ndoes not match %s", got.Body, w.pattern)
		}
	case got.Body != w.body:
		t.Errorf("body %s\nwant %s", got.Body, w.body)
	}
	if w.retry == 0 {
		if got.RetryAfter != 0 {
			t.Errorf("Retry-After %s, want none", got.RetryAfter)
		}
	} else if got.RetryAfter > w.retry || got.RetryAfter <= w.retry-5*time.Second {
		t.Errorf("Retry-After %s, want %s", got.RetryAfter, w.retry)
	}
}

// row is one table row: a fresh service, state set up, one call, the
// exact answer, and the state it must leave.
type row struct {
	name  string
	opts  opts
	setup func(t *testing.T, e *env)
	req   req
	// code, when set, is the MFA header, computed after setup.
	code  func(t *testing.T, e *env) string
	want  func(t *testing.T) answer
	after func(t *testing.T, e *env, got profile.Answer)
}

func run(t *testing.T, rows []row) {
	t.Helper()
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, r.opts)
			if r.setup != nil {
				r.setup(t, e)
			}
			rq := r.req
			if r.code != nil {
				rq.code = r.code(t, e)
			}
			got, ok := e.svc.API.Handle(context.Background(), rq.build())
			if !ok {
				t.Fatalf("%s %s was not answered", r.req.method, r.req.path)
			}
			expect(t, got, r.want(t))
			if r.after != nil {
				r.after(t, e, got)
			}
		})
	}
}

// is returns a want func for a fixed answer.
func is(a answer) func(*testing.T) answer { return func(*testing.T) answer { return a } }

// glue and problem return want funcs of error documents.
func glue(reason profile.Reason, code string) func(*testing.T) answer {
	return func(t *testing.T) answer { return glueErr(t, reason, code) }
}

func glueRetry(reason profile.Reason, code string, retry time.Duration) func(*testing.T) answer {
	return func(t *testing.T) answer { return glueErr(t, reason, code).with(retry) }
}

func problem(reason profile.Reason) func(*testing.T) answer {
	return func(t *testing.T) answer { return problemErr(t, reason) }
}

// ---------------------------------------------------------------------------
// Fixture state.

// body is a POST body of resource type typ naming method; extra holds
// more attributes as "key":"value" JSON members.
func body(typ, method string, extra ...string) string {
	attrs := append([]string{`"type":` + quote(method)}, extra...)
	return `{"data":{"type":"` + typ + `","attributes":{` + strings.Join(attrs, ",") + `}}}`
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func (e *env) enrollment(t *testing.T, user string) *store.Enrollment {
	t.Helper()
	enr, err := e.st.Enrollment(context.Background(), user)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return enr
}

// update changes the user's enrollment (an empty one when none).
func (e *env) update(t *testing.T, user string, fn func(enr *store.Enrollment)) {
	t.Helper()
	err := e.st.UpdateEnrollment(context.Background(), user, func(cur *store.Enrollment) (*store.Enrollment, error) {
		next := &store.Enrollment{}
		if cur != nil {
			c := *cur
			next = &c
		}
		fn(next)
		return next, nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// enabledTOTP gives the user an enabled TOTP factor.
func (e *env) enabledTOTP(t *testing.T, user string) *store.TOTP {
	t.Helper()
	e.totp = servicetest.EnrollTOTP(t, e.svc, user)
	return e.totp
}

// pendingTOTP gives the user a TOTP factor whose activation is in progress.
func (e *env) pendingTOTP(t *testing.T, user string) *store.TOTP {
	t.Helper()
	f, _, err := totp.Generate(e.svc.Config.TOTP, user, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	f.Pending = true
	e.update(t, user, func(enr *store.Enrollment) { enr.TOTP = f })
	e.totp = f
	return f
}

// oob gives the user an e-mail or SMS factor at dest.
func (e *env) oob(t *testing.T, user, method, dest string, enabled bool) {
	t.Helper()
	f := &store.OOB{Destination: dest, Enabled: enabled, CreatedAt: time.Now().UTC()}
	e.update(t, user, func(enr *store.Enrollment) {
		if method == store.MethodEmail {
			enr.Email = f
		} else {
			enr.SMS = f
		}
	})
}

// recovery gives the user recovery codes and returns them.
func (e *env) recovery(t *testing.T, user string) []string {
	t.Helper()
	codes, err := otc.GenerateRecovery(otc.RecoveryCount)
	if err != nil {
		t.Fatal(err)
	}
	e.update(t, user, func(enr *store.Enrollment) { enr.Recovery = otc.HashRecovery(e.st, user, codes) })
	e.codes = codes
	return codes
}

// useRecovery marks the user's i-th recovery code of e.codes used.
func (e *env) useRecovery(t *testing.T, user string, i int) {
	t.Helper()
	if ok, err := otc.UseRecovery(context.Background(), e.st, user, e.codes[i]); !ok || err != nil {
		t.Fatalf("UseRecovery: %v %v", ok, err)
	}
}

// ban spends the user's wrong tries, so the user is banned for the
// regulation's ban time (15 minutes by default).
func (e *env) ban(t *testing.T, user string) {
	t.Helper()
	now := time.Now()
	for {
		a, _, banned := e.svc.Regulator.Begin(user, now)
		if banned {
			return
		}
		a.Failed(now)
	}
}

// pendingCode stores code as the user's pending code of method, sent ago
// and good for ttl from then, to the destination of the user's factor of
// method (as activate and trigger send codes).
func (e *env) pendingCode(t *testing.T, user, method, code string, ago, ttl time.Duration) {
	t.Helper()
	dest := ""
	if enr := e.enrollment(t, user); enr != nil {
		if f := enr.Email; method == store.MethodEmail && f != nil {
			dest = f.Destination
		}
		if f := enr.SMS; method == store.MethodSMS && f != nil {
			dest = f.Destination
		}
	}
	e.pendingCodeTo(t, user, method, code, dest, ago, ttl)
}

// pendingCodeTo is pendingCode with the destination the code went to.
func (e *env) pendingCodeTo(t *testing.T, user, method, code, dest string, ago, ttl time.Duration) {
	t.Helper()
	sent := time.Now().Add(-ago)
	err := e.st.UpdatePendingCode(context.Background(), user, method, func(*store.PendingCode) (*store.PendingCode, error) {
		return &store.PendingCode{Hash: e.st.SecretHash(user, otc.Purpose(method), code), Destination: dest,
			SentAt: sent.UTC(), ExpiresAt: sent.Add(ttl).UTC()}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func (e *env) pending(t *testing.T, user, method string) *store.PendingCode {
	t.Helper()
	var got *store.PendingCode
	err := e.st.UpdatePendingCode(context.Background(), user, method, func(cur *store.PendingCode) (*store.PendingCode, error) {
		got = cur
		return nil, store.ErrNoChange
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// stepUp leaves what activate leaves after the user proved an enabled
// factor with a code: a fresh session, and a step-up bound to each
// activation the user has in progress.
func (e *env) stepUp(t *testing.T, user string) {
	t.Helper()
	now := time.Now()
	e.svc.Engine.StartSession(user, store.MethodTOTP, now)
	enr := e.enrollment(t, user)
	if enr == nil {
		return
	}
	if enr.TOTP != nil && enr.TOTP.Pending {
		e.svc.Engine.RecordActivation(user, store.MethodTOTP, enr.TOTP.CreatedAt, now)
	}
	for method, f := range map[string]*store.OOB{store.MethodEmail: enr.Email, store.MethodSMS: enr.SMS} {
		if f != nil && !f.Enabled {
			e.svc.Engine.RecordActivation(user, method, f.CreatedAt, now)
		}
	}
}

// sent returns the messages written to the outbox.
func (e *env) sent(t *testing.T) []delivery.Message {
	t.Helper()
	fh, err := os.Open(e.outbox)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	var out []delivery.Message
	sc := bufio.NewScanner(fh)
	for sc.Scan() {
		var m delivery.Message
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}

// expectSent asserts that exactly one code went to dest by method, and
// that it is the user's pending code.
func (e *env) expectSent(t *testing.T, user, method, dest string) {
	t.Helper()
	msgs := e.sent(t)
	if len(msgs) != 1 || msgs[0].User != user || msgs[0].Method != method || msgs[0].Destination != dest {
		t.Fatalf("sent %+v, want one %s code to %s", msgs, method, dest)
	}
	p := e.pending(t, user, method)
	if p == nil || string(p.Hash) != string(e.st.SecretHash(user, otc.Purpose(method), msgs[0].Code)) || p.Destination != dest {
		t.Fatalf("pending %s code %+v is not the one sent", method, p)
	}
}

func (e *env) expectNothingSent(t *testing.T) {
	t.Helper()
	if msgs := e.sent(t); len(msgs) != 0 {
		t.Fatalf("sent %+v, want nothing", msgs)
	}
}

// totpCode is the factor's current code.
func totpCode(t *testing.T, f *store.TOTP) string {
	t.Helper()
	c, err := totp.Code(f, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// wrongTOTP is a code the factor accepts at no step near now.
func wrongTOTP(t *testing.T, f *store.TOTP) string {
	t.Helper()
	near := map[string]bool{}
	for d := -3; d <= 3; d++ {
		c, err := totp.Code(f, time.Now().Add(time.Duration(d*f.Period)*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		near[c] = true
	}
	for i := 0; ; i++ {
		if c := fmt.Sprintf("%06d", i); !near[c] {
			return c
		}
	}
}

// recoveryDocument matches the recovery-codes document with ten codes.
const recoveryDocument = `\{"data":\{"type":"multi-factor-auth-recovery-codes","id":"recovery","attributes":\{"codes":\[` +
	`"[A-Z2-9]{4}-[A-Z2-9]{4}"(,"[A-Z2-9]{4}-[A-Z2-9]{4}"){9}\]\}\}\}`

// expectRecoveryShown asserts that the codes the answer shows are the
// user's stored recovery codes, all unused.
func (e *env) expectRecoveryShown(t *testing.T, user string, got profile.Answer) {
	t.Helper()
	var doc struct {
		Data struct {
			Attributes struct{ Codes []string }
		}
	}
	if err := json.Unmarshal([]byte(got.Body), &doc); err != nil {
		t.Fatal(err)
	}
	enr := e.enrollment(t, user)
	if enr == nil || len(enr.Recovery) != len(doc.Data.Attributes.Codes) {
		t.Fatalf("stored recovery codes %+v, shown %q", enr, doc.Data.Attributes.Codes)
	}
	for i, c := range doc.Data.Attributes.Codes {
		if rc := enr.Recovery[i]; rc.Used || string(rc.Hash) != string(e.st.SecretHash(user, otc.RecoveryPurpose, c)) {
			t.Errorf("shown code %d (%s) is not stored unused", i, c)
		}
	}
}
