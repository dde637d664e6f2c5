// Package harness runs mfa-authz in process for the assurance suites
// (test/attack, test/fault, test/soak): the real config parser, service
// wiring, gRPC server (authz/service Run) and encrypted store, on a
// loopback listener, with a client connected to it.
//
// Fault injection replaces the engine's store or clock: the engine is then
// rebuilt from the same config and collaborators, exactly as service.New
// wires it, around the wrapped store.
package harness

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/mfa-authz/mfa-authz/authz"
	"github.com/mfa-authz/mfa-authz/authz/config"
	"github.com/mfa-authz/mfa-authz/authz/service"
	"github.com/mfa-authz/mfa-authz/authz/store"
	"github.com/mfa-authz/mfa-authz/authz/totp"
)

// Glue denial codes (README, "Profiles").
const (
	Missing     = "5900"
	Invalid     = "5901"
	NoIdentity  = "5905"
	NotEnrolled = "5920"
	TooMany     = "5911"
	Unavailable = "5912"
)

// Host is the authority every request is sent with unless it says otherwise.
const Host = "shop.example.com"

// Options shape one in-process server.
type Options struct {
	// Config is YAML for every section but storage, which the harness
	// points at a fresh temporary directory.
	Config string
	// Store, when set, wraps the store the engine decides with.
	Store func(store.Store) store.Store
	// Now, when set, is the engine's clock.
	Now func() time.Time
	// Logger receives the service's logs; nil discards them.
	Logger *zap.Logger
	// Dir, when set, holds the store and its key instead of a fresh
	// directory: a server started on another's Dir is that server
	// restarted (the embedded store allows several at once).
	Dir string
}

// Server is a running in-process mfa-authz and a client of it.
type Server struct {
	Svc    *service.Service
	Config *config.Config
	// Dir holds the store and its key.
	Dir    string
	Addr   string
	Conn   *grpc.ClientConn
	Client authv3.AuthorizationClient

	cancel context.CancelFunc
	done   chan error
}

// Start serves a new mfa-authz on a loopback port until the test ends.
func Start(t testing.TB, o Options) *Server {
	t.Helper()
	dir := o.Dir
	if dir == "" {
		dir = t.TempDir()
	}
	doc := fmt.Sprintf("storage:\n  path: %s\n  key_file: %s\n%s",
		strconv.Quote(filepath.Join(dir, "store")), strconv.Quote(filepath.Join(dir, "secrets", "store.key")), o.Config)
	cfg, err := config.Parse([]byte(doc))
	if err != nil {
		t.Fatalf("config: %v\n%s", err, doc)
	}
	svc, err := service.New(cfg, o.Logger)
	if err != nil {
		t.Fatalf("service: %v", err)
	}
	if o.Store != nil || o.Now != nil {
		st := svc.Store
		if o.Store != nil {
			st = o.Store(st)
		}
		eng, err := authz.New(EngineOptions(svc, st, o.Now))
		if err != nil {
			svc.Close()
			t.Fatalf("engine: %v", err)
		}
		svc.Engine = eng
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		svc.Close()
		t.Fatal(err)
	}
	s := &Server{Svc: svc, Config: cfg, Dir: dir, Addr: lis.Addr().String(), done: make(chan error, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	ready := make(chan struct{})
	go func() {
		s.done <- svc.Run(ctx, service.Listeners{GRPC: lis}, func(service.Listeners) { close(ready) })
	}()
	select {
	case <-ready:
	case err := <-s.done:
		cancel()
		svc.Close()
		t.Fatalf("service did not start: %v", err)
	case <-time.After(10 * time.Second):
		cancel()
		t.Fatal("service not ready within 10s")
	}
	s.Conn, s.Client = s.Dial(t)
	t.Cleanup(func() {
		s.Stop()
		svc.Close()
	})
	return s
}

// EngineOptions wires an engine as service.New does for svc, deciding
// with st and the clock now (nil: time.Now).
func EngineOptions(svc *service.Service, st store.Store, now func() time.Time) authz.Options {
	o := svc.EngineOptions()
	o.Store, o.Now = st, now
	return o
}

// Dial opens another client connection to the server, closed when the test ends.
func (s *Server) Dial(t testing.TB) (*grpc.ClientConn, authv3.AuthorizationClient) {
	t.Helper()
	conn, err := grpc.NewClient(s.Addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn, authv3.NewAuthorizationClient(conn)
}

// Stop shuts the server down gracefully and waits for Run to return. It
// may be called more than once.
func (s *Server) Stop() {
	s.cancel()
	select {
	case err, ok := <-s.done:
		if ok {
			close(s.done)
			_ = err
		}
	case <-time.After(15 * time.Second):
	}
}

// Check sends req over gRPC (at most 10 s) and classifies the answer.
func (s *Server) Check(req *authv3.CheckRequest) Outcome {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return Classify(s.Client.Check(ctx, req))
}

// ---------------------------------------------------------------------------
// Users.

// User is an enrolled user and the TOTP factor the server knows.
type User struct {
	Name string
	TOTP *store.TOTP
}

// Enroll gives name a new TOTP factor with the server's totp settings.
func (s *Server) Enroll(t testing.TB, name string) *User {
	t.Helper()
	f, _, err := totp.Generate(s.Config.TOTP, name, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Svc.Store.PutEnrollment(context.Background(), name, &store.Enrollment{TOTP: f}, false); err != nil {
		t.Fatal(err)
	}
	return &User{Name: name, TOTP: f}
}

// Period is the user's TOTP time step.
func (u *User) Period() time.Duration { return time.Duration(u.TOTP.Period) * time.Second }

// Step is the time step of at.
func (u *User) Step(at time.Time) int64 { return at.Unix() / int64(u.TOTP.Period) }

// CodeAtStep is the code of time step step.
func (u *User) CodeAtStep(t testing.TB, step int64) string {
	t.Helper()
	c, err := totp.Code(u.TOTP, time.Unix(step*int64(u.TOTP.Period), 0))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Code is the code of the current time step.
func (u *User) Code(t testing.TB) string { return u.CodeAtStep(t, u.Step(time.Now())) }

// WrongCode is a well-formed code that matches none of the steps within
// ±3 of now.
func (u *User) WrongCode(t testing.TB, seed int) string {
	t.Helper()
	cur := u.Step(time.Now())
	near := map[string]bool{}
	for s := cur - 3; s <= cur+3; s++ {
		near[u.CodeAtStep(t, s)] = true
	}
	for i := seed; ; i++ {
		c := fmt.Sprintf("%0*d", u.TOTP.Digits, (i*7919+104729)%1_000_000)
		if !near[c] {
			return c
		}
	}
}

// AwaitSafeStep waits, if needed, until at least margin remains before the
// next boundary of period, so that a code computed now is still in the
// same step when the server checks it.
func AwaitSafeStep(period, margin time.Duration) {
	now := time.Now()
	into := time.Duration(now.UnixNano() % int64(period))
	if period-into < margin {
		time.Sleep(period - into + 50*time.Millisecond)
	}
}

// ---------------------------------------------------------------------------
// Requests.

// Req is one HTTP request as Envoy reports it in a CheckRequest.
type Req struct {
	Method, Path string
	// Host is the authority; "" sends Host, "-" sends none.
	Host string
	// Headers are added to Envoy's lower-case headers map.
	Headers map[string]string
	// HeaderMap is sent as header_map (Envoy's encode_raw_headers).
	HeaderMap []*corev3.HeaderValue
	// NoPseudo leaves :method, :path and :authority out of the headers map.
	NoPseudo bool
	// JWT is the jwt_authn payload put in metadata; nil for none.
	JWT map[string]any
	// Metadata is more filter metadata, by namespace.
	Metadata map[string]map[string]any
	// Body is the request body, as Envoy's with_request_body sends it.
	Body string
}

// JWTNamespace is jwt_authn's metadata namespace, as the default config reads it.
const JWTNamespace = "envoy.filters.http.jwt_authn"

// Build returns the CheckRequest.
func (r Req) Build() *authv3.CheckRequest {
	host := r.Host
	switch host {
	case "":
		host = Host
	case "-":
		host = ""
	}
	h := map[string]string{}
	if !r.NoPseudo {
		h[":method"], h[":path"] = r.Method, r.Path
		if host != "" {
			h[":authority"] = host
		}
	}
	for k, v := range r.Headers {
		h[k] = v
	}
	cr := &authv3.CheckRequest{Attributes: &authv3.AttributeContext{Request: &authv3.AttributeContext_Request{
		Http: &authv3.AttributeContext_HttpRequest{Method: r.Method, Path: r.Path, Host: host,
			Scheme: "https", Protocol: "HTTP/1.1", Headers: h, Body: r.Body, Size: int64(len(r.Body))},
	}}}
	if len(r.HeaderMap) > 0 {
		cr.Attributes.Request.Http.HeaderMap = &corev3.HeaderMap{Headers: r.HeaderMap}
	}
	md := map[string]*structpb.Struct{}
	if r.JWT != nil {
		md[JWTNamespace] = mustStruct(map[string]any{"jwt_payload": r.JWT})
	}
	for ns, v := range r.Metadata {
		md[ns] = mustStruct(v)
	}
	if len(md) > 0 {
		cr.Attributes.MetadataContext = &corev3.Metadata{FilterMetadata: md}
	}
	return cr
}

func mustStruct(m map[string]any) *structpb.Struct {
	s, err := structpb.NewStruct(m)
	if err != nil {
		panic(err)
	}
	return s
}

// H is a header_map entry with a Value.
func H(k, v string) *corev3.HeaderValue { return &corev3.HeaderValue{Key: k, Value: v} }

// ---------------------------------------------------------------------------
// Answers.

// Outcome is a Check answer, classified.
type Outcome struct {
	// Err is a transport error; the other fields are then zero.
	Err     error
	Allowed bool
	// RPC is the CheckResponse's status code.
	RPC codes.Code
	// HTTP is the denial's status; Code its glue error code.
	HTTP int
	Code string
	// Method is the x-mfa-method an allow sets, "" when it sets none.
	Method string
	Body   string
}

// Classify reads a Check answer.
func Classify(resp *authv3.CheckResponse, err error) Outcome {
	if err != nil {
		return Outcome{Err: err}
	}
	o := Outcome{RPC: codes.Code(resp.GetStatus().GetCode())}
	if ok := resp.GetOkResponse(); ok != nil && o.RPC == codes.OK {
		o.Allowed = true
		for _, h := range ok.GetHeaders() {
			if strings.EqualFold(h.GetHeader().GetKey(), authz.MethodHeader) {
				o.Method = h.GetHeader().GetValue()
			}
		}
		return o
	}
	d := resp.GetDeniedResponse()
	o.HTTP = int(d.GetStatus().GetCode())
	o.Body = d.GetBody()
	var body struct {
		Errors []struct {
			Code string `json:"code"`
		} `json:"errors"`
	}
	if json.Unmarshal([]byte(o.Body), &body) == nil && len(body.Errors) == 1 {
		o.Code = body.Errors[0].Code
	}
	return o
}

// Denied reports a proper denial: no transport error, no allow, a non-OK
// rpc status and an HTTP status of 400 or more.
func (o Outcome) Denied() bool {
	return o.Err == nil && !o.Allowed && o.RPC != codes.OK && o.HTTP >= 400
}

// Proper reports an answer Envoy can act on: an allow or a denial.
func (o Outcome) Proper() bool { return o.Err == nil && (o.Allowed || o.Denied()) }

func (o Outcome) String() string {
	switch {
	case o.Err != nil:
		return fmt.Sprintf("transport error %v (%v)", status.Code(o.Err), o.Err)
	case o.Allowed:
		return fmt.Sprintf("ALLOWED (x-mfa-method %q)", o.Method)
	default:
		return fmt.Sprintf("denied rpc=%v http=%d code=%s", o.RPC, o.HTTP, o.Code)
	}
}
