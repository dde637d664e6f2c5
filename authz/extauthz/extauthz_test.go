package extauthz_test

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/mfa-authz/mfa-authz/authz/extauthz"
	"github.com/mfa-authz/mfa-authz/authz/internal/servicetest"
	"github.com/mfa-authz/mfa-authz/authz/service"
	"github.com/mfa-authz/mfa-authz/authz/store"
	"github.com/mfa-authz/mfa-authz/authz/totp"
)

const testConfig = `
identity:
  header: x-user-id
policy:
  rules:
    - path: /carts/**
`

// newService builds a real service on a temp store, with user alice enrolled.
func newService(t testing.TB, extra string) (*service.Service, *store.TOTP) {
	t.Helper()
	svc := servicetest.New(t, testConfig+extra)
	return svc, servicetest.EnrollTOTP(t, svc, "alice")
}

// dial serves svc's engine on a loopback gRPC server and returns a client.
func dial(t *testing.T, svc *service.Service) authv3.AuthorizationClient {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer()
	authv3.RegisterAuthorizationServer(gs, extauthz.New(svc.Engine, nil))
	go gs.Serve(lis)
	t.Cleanup(gs.Stop)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return authv3.NewAuthorizationClient(conn)
}

func httpReq(method, path string, headers map[string]string) *authv3.CheckRequest {
	return &authv3.CheckRequest{Attributes: &authv3.AttributeContext{Request: &authv3.AttributeContext_Request{
		Http: &authv3.AttributeContext_HttpRequest{Method: method, Path: path, Host: "shop.example.com", Headers: headers},
	}}}
}

func code(t *testing.T, f *store.TOTP) string {
	c, err := totp.Code(f, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestAllowUnprotected(t *testing.T) {
	svc, _ := newService(t, "")
	c := dial(t, svc)
	resp, err := c.Check(context.Background(), httpReq("GET", "/carts/1", map[string]string{"x-mfa-code": "123456"}))
	if err != nil {
		t.Fatal(err)
	}
	ok := resp.GetOkResponse()
	if resp.GetStatus().GetCode() != int32(codes.OK) || ok == nil {
		t.Fatalf("not allowed: %v", resp)
	}
	if got := strings.Join(ok.GetHeadersToRemove(), ","); got != "x-mfa-code,x-mfa-method" {
		t.Fatalf("headers_to_remove %q", got)
	}
	if len(ok.GetHeaders()) != 0 {
		t.Fatalf("unprotected allow adds headers %v", ok.GetHeaders())
	}
}

func TestDenyShape(t *testing.T) {
	svc, _ := newService(t, "")
	c := dial(t, svc)
	resp, err := c.Check(context.Background(), httpReq("POST", "/carts/1", map[string]string{"x-user-id": "alice"}))
	if err != nil {
		t.Fatal(err)
	}
	den := resp.GetDeniedResponse()
	if resp.GetStatus().GetCode() != int32(codes.PermissionDenied) || den == nil {
		t.Fatalf("not denied: %v", resp)
	}
	if den.GetStatus().GetCode() != 403 {
		t.Fatalf("status %d", den.GetStatus().GetCode())
	}
	if want := `{"errors":[{"status":403,"code":"5900","detail":"X-MFA-Code header is missing."}]}`; den.GetBody() != want {
		t.Fatalf("body %s", den.GetBody())
	}
	got := map[string]string{}
	for _, h := range den.GetHeaders() {
		got[h.GetHeader().GetKey()] = h.GetHeader().GetValue()
	}
	if got["content-type"] != "application/json" || got["cache-control"] != "no-store" {
		t.Fatalf("headers %v", got)
	}
}

func TestHeaderMapRawValues(t *testing.T) {
	svc, f := newService(t, "")
	c := dial(t, svc)
	req := httpReq("", "", nil)
	req.Attributes.Request.Http.Host = ""
	req.Attributes.Request.Http.HeaderMap = &corev3.HeaderMap{Headers: []*corev3.HeaderValue{
		{Key: ":method", RawValue: []byte("POST")},
		{Key: ":path", RawValue: []byte("/carts/1?x=1")},
		{Key: ":authority", RawValue: []byte("shop.example.com")},
		{Key: "X-User-Id", RawValue: []byte("alice")},
		{Key: "X-MFA-Code", RawValue: []byte("totp " + code(t, f))},
	}}
	resp, err := c.Check(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	ok := resp.GetOkResponse()
	if ok == nil {
		t.Fatalf("denied: %v", resp)
	}
	if len(ok.GetHeaders()) != 1 || ok.GetHeaders()[0].GetHeader().GetKey() != "x-mfa-method" ||
		ok.GetHeaders()[0].GetHeader().GetValue() != "totp" ||
		ok.GetHeaders()[0].GetAppendAction() != corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD {
		t.Fatalf("headers %v", ok.GetHeaders())
	}
	if got := strings.Join(ok.GetHeadersToRemove(), ","); got != "x-mfa-code" {
		t.Fatalf("headers_to_remove %q", got)
	}
}

func TestMalformedRequests(t *testing.T) {
	svc, _ := newService(t, "mfa:\n  profile: problem\n")
	c := dial(t, svc)
	contradiction := httpReq("GET", "/public", map[string]string{":path": "/carts/1", ":method": "GET"})
	dupPath := httpReq("POST", "", nil)
	dupPath.Attributes.Request.Http.HeaderMap = &corev3.HeaderMap{Headers: []*corev3.HeaderValue{
		{Key: ":path", Value: "/public"}, {Key: ":path", Value: "/carts/1"}}}
	for name, req := range map[string]*authv3.CheckRequest{
		"empty":             {},
		"no http":           {Attributes: &authv3.AttributeContext{}},
		"no path":           httpReq("POST", "", nil),
		"path vs :path":     contradiction,
		"repeated :path":    dupPath,
		"method vs :method": httpReq("GET", "/carts/1", map[string]string{":method": "POST"}),
	} {
		resp, err := c.Check(context.Background(), req)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		den := resp.GetDeniedResponse()
		if resp.GetStatus().GetCode() != int32(codes.InvalidArgument) || den.GetStatus().GetCode() != 503 ||
			!strings.Contains(den.GetBody(), `"type":"/problems/mfa/unavailable"`) {
			t.Fatalf("%s: %v", name, resp)
		}
	}
	// Still serving.
	if resp, err := c.Check(context.Background(), httpReq("GET", "/", nil)); err != nil || resp.GetOkResponse() == nil {
		t.Fatalf("after malformed requests: %v %v", resp, err)
	}
}

func TestFlowIDFromRequestID(t *testing.T) {
	svc, _ := newService(t, "mfa:\n  profile: problem\n")
	c := dial(t, svc)
	req := httpReq("POST", "/carts/1", map[string]string{"x-user-id": "alice", "x-request-id": "req-42"})
	resp, err := c.Check(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	den := resp.GetDeniedResponse()
	if den.GetStatus().GetCode() != 409 || !strings.HasSuffix(den.GetBody(), `"flow_id":"req-42"}`) {
		t.Fatalf("%v", den)
	}
	// Envoy fills attributes.request.http.id with its stream id, a number:
	// the x-request-id header wins; the id serves only without the header.
	req.Attributes.Request.Http.Id = "8571650218428879458"
	if resp, err = c.Check(context.Background(), req); err != nil ||
		!strings.HasSuffix(resp.GetDeniedResponse().GetBody(), `"flow_id":"req-42"}`) {
		t.Fatalf("with a stream id: %v %v", resp, err)
	}
	delete(req.Attributes.Request.Http.Headers, "x-request-id")
	if resp, err = c.Check(context.Background(), req); err != nil ||
		!strings.HasSuffix(resp.GetDeniedResponse().GetBody(), `"flow_id":"8571650218428879458"}`) {
		t.Fatalf("without x-request-id: %v %v", resp, err)
	}
}
