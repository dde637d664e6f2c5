package forwardauth_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/mfa-authz/mfa-authz/authz"
	"github.com/mfa-authz/mfa-authz/authz/config"
	"github.com/mfa-authz/mfa-authz/authz/forwardauth"
	"github.com/mfa-authz/mfa-authz/authz/otc"
	"github.com/mfa-authz/mfa-authz/authz/profile"
	"github.com/mfa-authz/mfa-authz/authz/store"
	"github.com/mfa-authz/mfa-authz/authz/totp"
)

// spyAPI is the service's real API, counting the requests handed to it.
type spyAPI struct {
	authz.API
	handled atomic.Int32
}

func (s *spyAPI) Handle(ctx context.Context, r *authz.Request) (profile.Answer, bool) {
	s.handled.Add(1)
	return s.API.Handle(ctx, r)
}

// selfService is a fixture whose users are in every state some endpoint
// would change, with the real API behind a spy and codes written to an
// outbox file:
//   - alice: TOTP, e-mail and ten recovery codes enabled (deactivate,
//     trigger and recovery-codes would act);
//   - carol: a TOTP activation in progress (verify would enable it and
//     store recovery codes);
//   - dave: nothing (activate would start an activation, send a code).
type selfService struct {
	*fixture
	spy      *spyAPI
	outbox   string
	carol    *store.TOTP
	recovery []string
}

func newSelfService(t *testing.T, extra string) *selfService {
	t.Helper()
	outbox := filepath.Join(t.TempDir(), "outbox.jsonl")
	f := newFixture(t, "delivery:\n  email: file\n  sms: file\n  file:\n    path: "+outbox+"\n"+extra)
	if f.svc.API == nil {
		t.Fatal("the service has no self-service API")
	}
	st := f.svc.Store
	ctx := context.Background()
	codes, err := otc.GenerateRecovery(otc.RecoveryCount)
	if err != nil {
		t.Fatal(err)
	}
	alice := &store.Enrollment{TOTP: f.factor,
		Email:    &store.OOB{Destination: "alice@example.com", Enabled: true, CreatedAt: time.Now().UTC()},
		Recovery: otc.HashRecovery(st, "alice", codes)}
	if err := st.PutEnrollment(ctx, "alice", alice, true); err != nil {
		t.Fatal(err)
	}
	carol, _, err := totp.Generate(f.svc.Config.TOTP, "carol", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	carol.Pending = true
	if err := st.PutEnrollment(ctx, "carol", &store.Enrollment{TOTP: carol}, false); err != nil {
		t.Fatal(err)
	}
	spy := &spyAPI{API: f.svc.API}
	f.svc.Engine.SetAPI(spy)
	return &selfService{fixture: f, spy: spy, outbox: outbox, carol: carol, recovery: codes}
}

var selfServiceUsers = []string{"alice", "carol", "dave"}

// state is everything an endpoint could have changed.
type state struct {
	enrollments map[string]*store.Enrollment
	pending     map[string]*store.PendingCode // by user/method
	files       map[string]string             // the store directory: path to SHA-256
	outbox      string
	steppedUp   map[string]bool
}

func (s *selfService) state(t *testing.T) state {
	t.Helper()
	ctx := context.Background()
	st := s.svc.Store
	got := state{enrollments: map[string]*store.Enrollment{}, pending: map[string]*store.PendingCode{},
		files: map[string]string{}, steppedUp: map[string]bool{}}
	for _, u := range selfServiceUsers {
		enr, err := st.Enrollment(ctx, u)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			t.Fatal(err)
		}
		got.enrollments[u] = enr
		for _, m := range []string{store.MethodEmail, store.MethodSMS} {
			err := st.UpdatePendingCode(ctx, u, m, func(cur *store.PendingCode) (*store.PendingCode, error) {
				got.pending[u+"/"+m] = cur
				return nil, store.ErrNoChange
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		got.steppedUp[u] = s.svc.Engine.SteppedUp(ctx, u, time.Now())
	}
	// After the reads above, so that whatever they create is there both
	// times. Records are sealed with fresh nonces: any write shows.
	root := s.svc.Config.Storage.Path
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		got.files[strings.TrimPrefix(p, root)] = hex.EncodeToString(sum[:])
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(s.outbox); err == nil {
		got.outbox = string(b)
	} else if !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	return got
}

func (s *selfService) expectUnchanged(t *testing.T, before state) {
	t.Helper()
	after := s.state(t)
	if !reflect.DeepEqual(after.enrollments, before.enrollments) {
		t.Errorf("enrollments changed:\nbefore %+v\nafter  %+v", before.enrollments, after.enrollments)
	}
	if !reflect.DeepEqual(after.pending, before.pending) {
		t.Errorf("pending codes changed:\nbefore %+v\nafter  %+v", before.pending, after.pending)
	}
	if !reflect.DeepEqual(after.files, before.files) {
		t.Errorf("store files changed:\nbefore %v\nafter  %v", before.files, after.files)
	}
	if after.outbox != before.outbox {
		t.Errorf("codes were sent: %s", after.outbox)
	}
	if !reflect.DeepEqual(after.steppedUp, before.steppedUp) {
		t.Errorf("sessions changed: before %v, after %v", before.steppedUp, after.steppedUp)
	}
	if n := s.spy.handled.Load(); n != 0 {
		t.Errorf("the API handled %d requests", n)
	}
}

func apiBody(typ, method string, extra ...string) string {
	attrs := append([]string{`"type":"` + method + `"`}, extra...)
	return `{"data":{"type":"` + typ + `","attributes":{` + strings.Join(attrs, ",") + `}}}`
}

// apiCall is one call of a self-service endpoint that, answered, would act.
type apiCall struct {
	name, method, path, user, body string
	code                           func(t *testing.T, s *selfService) string
}

func apiCalls() []apiCall {
	aliceCode := func(t *testing.T, s *selfService) string { return "totp " + s.code(t) }
	return []apiCall{
		{name: "types", method: "GET", path: config.DefaultTypesPath, user: "alice"},
		{name: "activate totp", method: "POST", path: config.DefaultActivatePath, user: "dave",
			body: apiBody("multi-factor-auth-type-activate", "totp")},
		{name: "activate email", method: "POST", path: config.DefaultActivatePath, user: "dave",
			body: apiBody("multi-factor-auth-type-activate", "email", `"destination":"dave@example.com"`)},
		{name: "verify with the right code", method: "POST", path: config.DefaultVerifyPath, user: "carol",
			body: apiBody("multi-factor-auth-type-verify", "totp"),
			code: func(t *testing.T, s *selfService) string {
				c, err := totp.Code(s.carol, time.Now())
				if err != nil {
					t.Fatal(err)
				}
				return c
			}},
		{name: "deactivate with the right code", method: "POST", path: config.DefaultDeactivatePath, user: "alice",
			body: apiBody("multi-factor-auth-type-deactivate", "totp"), code: aliceCode},
		{name: "deactivate with a recovery code", method: "POST", path: config.DefaultDeactivatePath, user: "alice",
			body: apiBody("multi-factor-auth-type-deactivate", "email"),
			code: func(_ *testing.T, s *selfService) string { return "recovery " + s.recovery[0] }},
		{name: "trigger", method: "POST", path: config.DefaultTriggerPath, user: "alice",
			body: apiBody("multi-factor-auth-trigger", "email")},
		{name: "recovery codes with the right code", method: "POST", path: config.DefaultRecoveryCodesPath, user: "alice",
			code: aliceCode},
	}
}

// request builds c's request to target over forward-auth or Envoy's HTTP
// mode, with c's body (Envoy sends it with with_request_body; a
// forward-auth proxy may too, and it is never read).
func (c apiCall) request(t *testing.T, s *selfService, envoyMode bool, method, target string) *http.Request {
	t.Helper()
	h := hdr{{"X-User-Id", c.user}, {"X-Request-Id", "req-self-service"}}
	if c.code != nil {
		h = append(h, [2]string{"X-Mfa-Code", c.code(t, s)})
	}
	if envoyMode {
		r := httptest.NewRequest(method, "/ext-authz"+target, strings.NewReader(c.body))
		r.Host = "shop.example.com"
		for _, kv := range h {
			r.Header.Add(kv[0], kv[1])
		}
		return r
	}
	r := forwarded(method, target, h)
	r.Body, r.ContentLength = io.NopCloser(strings.NewReader(c.body)), int64(len(c.body))
	return r
}

// TestSelfServiceRefused checks every self-service endpoint with the real
// API, in a state where it would act, over forward-auth and Envoy's HTTP
// mode: the exact unavailable denial, and nothing in the store, the
// outbox or the sessions changed.
func TestSelfServiceRefused(t *testing.T) {
	s := newSelfService(t, "")
	before := s.state(t)
	if len(before.files) == 0 || before.enrollments["alice"] == nil || before.enrollments["carol"] == nil {
		t.Fatalf("fixture state missing: %+v", before)
	}
	for _, envoyMode := range []bool{false, true} {
		for _, c := range apiCalls() {
			for _, target := range []string{c.path, c.path + "?x=1", c.path + "?"} {
				for _, method := range []string{c.method, strings.ToLower(c.method)} {
					resp := s.serve(c.request(t, s, envoyMode, method, target))
					if b := body(t, resp); resp.StatusCode != 503 || b != glueUnavailable {
						t.Errorf("%s %s %s (envoy %v): got %d %s, want the unavailable denial",
							c.name, method, target, envoyMode, resp.StatusCode, b)
						continue
					}
					if resp.Header.Get("Content-Type") != glueType || resp.Header.Get("Cache-Control") != "no-store" ||
						resp.Header.Get("X-Mfa-Method") != "" || resp.Header.Get("X-Envoy-Auth-Headers-To-Remove") != "" {
						t.Errorf("%s %s (envoy %v): headers %v", c.name, target, envoyMode, resp.Header)
					}
				}
			}
		}
	}
	s.expectUnchanged(t, before)

	// The same endpoints work over gRPC, where the answer is delivered:
	// the spy is in the engine's path.
	status, _, b := grpcDenial(t, s.fixture, "GET", config.DefaultTypesPath, map[string]string{"x-user-id": "alice"})
	if status != 200 || !strings.Contains(b, `"id":"totp","attributes":{"type":"totp","status":2}`) || s.spy.handled.Load() != 1 {
		t.Errorf("gRPC types: %d %s, %d handled", status, b, s.spy.handled.Load())
	}
}

// TestSelfServiceSpellings sends every endpoint's request under other
// spellings of its path. None reaches the API: the engine recognizes an
// endpoint by exactly the path the API routes on, so a spelling is either
// that path (refused) or no endpoint's, decided by the policy like any
// other path (here: unprotected, allowed).
func TestSelfServiceSpellings(t *testing.T) {
	s := newSelfService(t, "")
	before := s.state(t)
	// spellings of p that the API does not serve.
	spellings := func(p string, envoyMode bool) []string {
		out := []string{
			p + "/", "/" + p, p + "//", p + "/.", "/." + p, "/x/.." + p, "/%2e" + p, p + ";x", p + "%2F", p + "%00",
			strings.ToUpper(p), p[:len(p)-1] + "%" + strings.ToUpper(hex.EncodeToString([]byte{p[len(p)-1]})),
			p[:len(p)-1] + "%" + hex.EncodeToString([]byte{p[len(p)-1]}),
			strings.Replace(p, "multi", "%6dulti", 1), strings.Replace(p, "-", "%2D", 1), p + "%3Fx=1", p + "/?x=1",
		}
		if strings.HasSuffix(p, "activate") {
			out = append(out, strings.TrimSuffix(p, "activate")+"%61ctivate")
		}
		if !envoyMode {
			// Forms only a forward-auth header can carry: below Envoy's
			// prefix, a path starts with a slash.
			out = append(out, "https://shop.example.com"+p, "http://shop.example.com"+p+"?x=1", p+"#x", p+" ",
				strings.Replace(p, "/", "%2F", 1), strings.Replace(p, "/", "\\", 1), p[1:])
		}
		return out
	}
	for _, envoyMode := range []bool{false, true} {
		for _, c := range apiCalls() {
			for _, target := range spellings(c.path, envoyMode) {
				resp := s.serve(c.request(t, s, envoyMode, c.method, target))
				remove := ""
				if envoyMode {
					remove = "x-mfa-code, x-mfa-method"
				}
				t.Run(fmt.Sprintf("envoy=%v %s %s", envoyMode, c.method, target), func(t *testing.T) {
					expectAllowed(t, resp, "", remove)
				})
			}
		}
	}
	s.expectUnchanged(t, before)
}

// TestSelfServiceRefusedProblem checks the refusal in the problem profile:
// the profile's unavailable denial, with the request id as flow_id.
func TestSelfServiceRefusedProblem(t *testing.T) {
	s := newSelfService(t, "mfa:\n  profile: problem\n  problem_base_url: https://docs.example.com\n")
	before := s.state(t)
	want := s.svc.Engine.Answer(profile.Unavailable, "req-self-service")
	if want.Status != 503 || !strings.Contains(want.Body, `"flow_id":"req-self-service"`) {
		t.Fatalf("unexpected unavailable denial %+v", want)
	}
	for _, envoyMode := range []bool{false, true} {
		for _, c := range apiCalls() {
			expectDenied(t, s.serve(c.request(t, s, envoyMode, c.method, c.path)), 503, problemType, want.Body)
		}
	}
	s.expectUnchanged(t, before)
}

// TestSelfServiceRefusalLog checks the debug line that tells an operator
// why a self-service request was refused, without the query or the code.
func TestSelfServiceRefusalLog(t *testing.T) {
	s := newSelfService(t, "")
	core, logs := observer.New(zap.DebugLevel)
	h := forwardauth.New(s.svc.Engine, zap.New(core), forwardauth.Options{Path: "/forward-auth", EnvoyPrefix: "/ext-authz"})
	c := apiCalls()[4] // deactivate with alice's code
	for _, envoyMode := range []bool{false, true} {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, c.request(t, s, envoyMode, "POST", c.path+"?secret=1"))
		if w.Code != 503 {
			t.Fatalf("envoy %v: got %d", envoyMode, w.Code)
		}
	}
	var lines []map[string]any
	for _, e := range logs.All() {
		if strings.Contains(e.Message, "secret") || strings.Contains(e.Message, s.code(t)) {
			t.Errorf("log message %q", e.Message)
		}
		if strings.HasPrefix(e.Message, "self-service endpoint refused over HTTP ext_authz") {
			if e.Level != zap.DebugLevel {
				t.Errorf("level %s", e.Level)
			}
			lines = append(lines, e.ContextMap())
		}
		if e.Message == "decision" && e.ContextMap()["detail"] != authz.DetailNoSelfService {
			t.Errorf("decision line %v", e.ContextMap())
		}
	}
	want := []map[string]any{
		{"path": config.DefaultDeactivatePath, "envoy": false},
		{"path": config.DefaultDeactivatePath, "envoy": true},
	}
	if !reflect.DeepEqual(lines, want) {
		t.Errorf("refusal lines %v, want %v", lines, want)
	}
}
