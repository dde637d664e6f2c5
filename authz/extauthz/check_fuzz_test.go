package extauthz_test

import (
	"context"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/mfa-authz/mfa-authz/authz"
	"github.com/mfa-authz/mfa-authz/authz/extauthz"
	"github.com/mfa-authz/mfa-authz/authz/profile"
	"github.com/mfa-authz/mfa-authz/authz/regulation"
	"github.com/mfa-authz/mfa-authz/authz/store"
	"github.com/mfa-authz/mfa-authz/authz/totp"
	"github.com/mfa-authz/mfa-authz/cache"
	"github.com/mfa-authz/mfa-authz/policy"
)

// The fuzzed Check runs with no session ever (grace 0 everywhere), no
// anonymous or unenrolled allowance, a fixed clock and no lockout in
// reach: the only way to be allowed on a protected route is a valid code,
// and the oracle knows the only valid codes. Any other allow of a request
// that a reading of the policy protects is a bug.

var fzNow = time.Date(2026, 7, 8, 9, 10, 11, 0, time.UTC)

const fzUser = "alice"

var fzPolicy = policy.Config{Rules: []policy.RuleConfig{
	{Path: "/carts/{id}/public", Methods: []string{"GET", "POST"}, MFA: "none"},
	{Path: "/customer-password/**", Methods: []string{"POST", "PATCH", "DELETE"}},
	{Path: "/carts/**"},
	{Path: "/checkout/**", Methods: []string{"POST"}},
	{Path: "/admin/**", Host: "admin.example.com", Methods: []string{"*"}},
	{Path: "/orders/*/cancel", Host: "*.example.com", Methods: []string{"PUT"}},
}}

// overrideHeaders are the method-override headers frameworks honour.
var overrideHeaders = []string{"x-http-method-override", "x-http-method", "x-method-override"}

type fzEnv struct {
	srv   *extauthz.Server
	eng   *authz.Engine
	st    *store.Dir
	tf    *store.TOTP
	ses   *cache.Sessions
	pol   *policy.Policy
	reg   *regulation.Regulator
	logs  *observer.ObservedLogs
	valid []string // the codes of fzUser accepted at fzNow
	execs atomic.Int64
}

func newFzEnv(f *testing.F) *fzEnv {
	dir := f.TempDir()
	key := make([]byte, store.KeySize)
	for i := range key {
		key[i] = byte(7 * i)
	}
	st, err := store.OpenDir(dir, key)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { st.Close() })
	tf, _, err := totp.Generate(totp.DefaultConfig(), fzUser, fzNow)
	if err != nil {
		f.Fatal(err)
	}
	if err := st.PutEnrollment(context.Background(), fzUser, &store.Enrollment{TOTP: tf}, false); err != nil {
		f.Fatal(err)
	}
	e := &fzEnv{st: st, tf: tf}
	for _, d := range []time.Duration{-30 * time.Second, 0, 30 * time.Second} {
		c, err := totp.Code(tf, fzNow.Add(d))
		if err != nil {
			f.Fatal(err)
		}
		e.valid = append(e.valid, c)
	}
	sessions, err := cache.New(1000)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(sessions.Close)
	e.ses = sessions
	if e.pol, err = policy.Compile(fzPolicy); err != nil {
		f.Fatal(err)
	}
	prof, err := profile.New(profile.Glue, "X-MFA-Code", "")
	if err != nil {
		f.Fatal(err)
	}
	e.reg = regulation.New(regulation.Config{MaxFailures: 1 << 30, Window: time.Minute, Ban: time.Minute})
	core, logs := observer.New(zapcore.ErrorLevel)
	e.logs = logs
	eng, err := authz.New(authz.Options{
		Config: authz.Config{Header: "X-MFA-Code", GracePeriod: 0, TOTPSkew: 1,
			Identity: authz.IdentityConfig{Header: "x-user-id",
				Namespace: "envoy.filters.http.jwt_authn", PayloadKey: "jwt_payload", Claim: "sub"}},
		Policy: e.pol, Profile: prof, Store: st, Sessions: sessions, Regulator: e.reg,
		Logger: zap.New(core), Now: func() time.Time { return fzNow },
	})
	if err != nil {
		f.Fatal(err)
	}
	e.eng = eng
	e.srv = extauthz.New(eng, zap.New(core))
	return e
}

// check runs req through the adapter and judges the answer.
func (e *fzEnv) check(t *testing.T, req *authv3.CheckRequest) {
	if e.execs.Add(1)%4096 == 0 {
		e.reg.Sweep(fzNow.Add(time.Hour)) // bound the regulator's memory
	}
	resp, err := e.srv.Check(context.Background(), req)
	if err != nil || resp == nil {
		t.Fatalf("Check returned %v, %v: it must always answer", resp, err)
	}
	if entries := e.logs.TakeAll(); len(entries) > 0 {
		t.Fatalf("Check logged an error (a recovered panic or a failure to decide): %s %v", entries[0].Message, entries[0].ContextMap())
	}
	rpc := codes.Code(resp.GetStatus().GetCode())
	if ok := resp.GetOkResponse(); ok != nil {
		if rpc != codes.OK {
			t.Fatalf("OkResponse with rpc status %v", rpc)
		}
		if !contains(ok.GetHeadersToRemove(), "x-mfa-code") {
			t.Fatalf("allow does not remove the MFA header: %v", ok.GetHeadersToRemove())
		}
		r, problem := extauthz.Request(req)
		if problem != "" {
			t.Fatalf("allowed a request the adapter cannot read (%s)", problem)
		}
		if m, protected := e.protected(r, req); protected && !e.carriesValidCode(req) {
			t.Fatalf("allowed a protected request without a valid code: method %q (read as %q) host %q path %q",
				r.Method, m, r.Host, r.Path)
		}
		return
	}
	den := resp.GetDeniedResponse()
	if den == nil || rpc == codes.OK || den.GetStatus().GetCode() < 400 {
		t.Fatalf("neither a proper allow nor a proper denial: rpc %v, %v", rpc, resp)
	}
}

// protected reports whether any method the request could be read as
// (its own, any value of an override header, any _method-like query
// parameter, any method at all when the query cannot be parsed) makes
// any reading of its path protected.
func (e *fzEnv) protected(r authz.Request, req *authv3.CheckRequest) (string, bool) {
	methods := []string{r.Method}
	http := req.GetAttributes().GetRequest().GetHttp()
	for k, v := range http.GetHeaders() {
		if contains(overrideHeaders, strings.ToLower(k)) {
			methods = append(methods, strings.Split(v, ",")...)
		}
	}
	for _, hv := range http.GetHeaderMap().GetHeaders() {
		if contains(overrideHeaders, strings.ToLower(hv.GetKey())) {
			v := hv.GetValue()
			if len(hv.GetRawValue()) > 0 {
				v = string(hv.GetRawValue())
			}
			methods = append(methods, strings.Split(v, ",")...)
		}
	}
	if _, q, ok := strings.Cut(r.Path, "?"); ok {
		q, _, _ = strings.Cut(q, "#")
		vals, err := url.ParseQuery(q)
		if err != nil && (strings.Contains(q, "method") || strings.Contains(q, "%")) {
			// An unreadable query that may hide a method parameter.
			methods = append(methods, "")
		}
		for k, vs := range vals {
			// Rails, Laravel, Symfony, Express and Spring read "_method";
			// PHP also reads " _method", ".method" and "[method" so.
			k = strings.TrimLeft(k, " ")
			if len(k) == 7 && k[1:] == "method" && strings.ContainsRune("_.[", rune(k[0])) {
				methods = append(methods, vs...)
			}
		}
	}
	for _, m := range methods {
		m = strings.TrimSpace(m)
		if rule := e.pol.Match(m, r.Host, r.Path); rule != nil && rule.MFARequired {
			return m, true
		}
	}
	return "", false
}

// carriesValidCode reports whether any header value holds a valid code.
func (e *fzEnv) carriesValidCode(req *authv3.CheckRequest) bool {
	http := req.GetAttributes().GetRequest().GetHttp()
	var values []string
	for _, v := range http.GetHeaders() {
		values = append(values, v)
	}
	for _, hv := range http.GetHeaderMap().GetHeaders() {
		values = append(values, hv.GetValue(), string(hv.GetRawValue()))
	}
	for _, v := range values {
		for _, c := range e.valid {
			if strings.Contains(v, c) {
				return true
			}
		}
	}
	return false
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// fzSeeds are CheckRequests in the shapes Envoy sends, and tricky ones.
func fzSeeds() []*authv3.CheckRequest {
	h := func(method, path, host string, hdr map[string]string) *authv3.CheckRequest {
		all := map[string]string{":method": method, ":path": path, ":authority": host}
		for k, v := range hdr {
			all[k] = v
		}
		return &authv3.CheckRequest{Attributes: &authv3.AttributeContext{Request: &authv3.AttributeContext_Request{
			Http: &authv3.AttributeContext_HttpRequest{Method: method, Path: path, Host: host, Headers: all}}}}
	}
	jwt := h("POST", "/carts/1", "shop.example.com", map[string]string{"x-mfa-code": "123456"})
	payload, _ := structpb.NewStruct(map[string]any{"jwt_payload": map[string]any{"sub": fzUser}})
	jwt.Attributes.MetadataContext = &corev3.Metadata{FilterMetadata: map[string]*structpb.Struct{"envoy.filters.http.jwt_authn": payload}}
	raw := &authv3.CheckRequest{Attributes: &authv3.AttributeContext{Request: &authv3.AttributeContext_Request{
		Http: &authv3.AttributeContext_HttpRequest{HeaderMap: &corev3.HeaderMap{Headers: []*corev3.HeaderValue{
			{Key: ":method", RawValue: []byte("GET")}, {Key: ":path", RawValue: []byte("/customer-password/1")},
			{Key: ":authority", RawValue: []byte("shop.example.com")}, {Key: "x-user-id", RawValue: []byte(fzUser)},
			{Key: "x-http-method-override", RawValue: []byte("GET")}, {Key: "X-HTTP-Method-Override", RawValue: []byte("DELETE")},
		}}}}}}
	return []*authv3.CheckRequest{
		{},
		h("GET", "/", "shop.example.com", nil),
		h("POST", "/carts/1", "shop.example.com", map[string]string{"x-user-id": fzUser}),
		h("POST", "/carts/1", "shop.example.com", map[string]string{"x-user-id": fzUser, "x-mfa-code": "123456"}),
		h("POST", "/carts/1/public", "shop.example.com", map[string]string{"x-user-id": fzUser}),
		h("POST", "/carts/1/public/../../2", "shop.example.com", map[string]string{"x-user-id": fzUser}),
		h("GET", "/customer-password/1?_method=DELETE", "shop.example.com", map[string]string{"x-user-id": fzUser}),
		h("GET", "/customer-password/1?%5Fmethod=DELETE", "shop.example.com", nil),
		h("GET", "/customer-password/1", "shop.example.com", map[string]string{"x-http-method-override": "POST", "x-user-id": "bob"}),
		h("GET", "/admin/x", "ADMIN.example.com.", nil),
		h("PUT", "https://a.example.com/orders/7/cancel", "shop.example.com", nil),
		h("POST", "//customer-password//1%2f..", "", map[string]string{"x-user-id": fzUser, "x-mfa-code": "email 123456"}),
		h("post", `\customer-password\1`, "shop.example.com", map[string]string{"X-User-Id": fzUser, "X-MFA-Code": "totp 1234567"}),
		jwt, raw,
	}
}

// FuzzCheckProto unmarshals the fuzzer's bytes as a CheckRequest, as the
// gRPC server would, and checks it.
func FuzzCheckProto(f *testing.F) {
	for _, r := range fzSeeds() {
		b, err := proto.Marshal(r)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	e := newFzEnv(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		req := &authv3.CheckRequest{}
		if err := proto.Unmarshal(data, req); err != nil {
			return // the gRPC server refuses it before Check
		}
		e.check(t, req)
	})
}

// Flags of FuzzCheck's structured requests.
const (
	fzPseudo    = 1 << iota // method, path and host as pseudo-headers only
	fzBoth                  // as attributes and pseudo-headers
	fzHeaderMap             // headers in header_map (raw values) instead of the map
	fzJWT                   // the user as jwt_authn's sub instead of x-user-id
	fzDupCode               // the code header twice (header_map) or comma-joined (map)
	fzExtra                 // add the extra header
	fzUpperKeys             // header names in upper case
	fzNoUser                // no identity at all
)

// FuzzCheck builds CheckRequests from fuzzed method, path, host, header
// values and shape flags, and checks them.
func FuzzCheck(f *testing.F) {
	f.Add("POST", "/carts/1", "shop.example.com", "123456", fzUser, "x-http-method-override", "GET", uint8(0))
	f.Add("GET", "/customer-password/DE--42", "shop.example.com", "", fzUser, "x-http-method-override", "DELETE", uint8(fzExtra))
	f.Add("GET", "/customer-password/1?_method=PATCH", "", "", fzUser, "", "", uint8(fzPseudo))
	f.Add("post", "/%63arts/1", "shop.example.com:443", "totp 000000", fzUser, "x-method-override", "put", uint8(fzHeaderMap|fzExtra))
	f.Add("DELETE", "https://shop.example.com/carts/1;x", "", "email 123456", fzUser, "cookie", "x", uint8(fzJWT|fzBoth))
	f.Add("GET", "/admin/users", "admin.example.com.", "", "", "x-user-id", fzUser, uint8(fzNoUser|fzExtra))
	f.Add("PUT", "/orders/1/cancel", "x.EXAMPLE.com", "recovery ab-12", fzUser, "x-http-method", "GET", uint8(fzUpperKeys|fzDupCode|fzExtra))
	f.Add("GET", "/carts/2/public/..%2f..%2f3", "shop.example.com", "", fzUser, "X-HTTP-Method-Override", "POST", uint8(fzHeaderMap|fzUpperKeys|fzExtra))
	e := newFzEnv(f)
	f.Fuzz(func(t *testing.T, method, path, host, code, user, hname, hvalue string, flags uint8) {
		headers := map[string]string{}
		type kv struct{ k, v string }
		var list []kv
		set := func(k, v string) {
			if flags&fzUpperKeys != 0 && !strings.HasPrefix(k, ":") {
				k = strings.ToUpper(k)
			}
			if flags&fzHeaderMap != 0 {
				list = append(list, kv{k, v})
			} else {
				headers[k] = v
			}
		}
		http := &authv3.AttributeContext_HttpRequest{}
		if flags&fzPseudo == 0 || flags&fzBoth != 0 {
			http.Method, http.Path, http.Host = method, path, host
		}
		if flags&(fzPseudo|fzBoth) != 0 {
			set(":method", method)
			set(":path", path)
			set(":authority", host)
		}
		var md *corev3.Metadata
		switch {
		case flags&fzNoUser != 0:
		case flags&fzJWT != 0:
			if payload, err := structpb.NewStruct(map[string]any{"jwt_payload": map[string]any{"sub": user}}); err == nil {
				md = &corev3.Metadata{FilterMetadata: map[string]*structpb.Struct{"envoy.filters.http.jwt_authn": payload}}
			}
		default:
			set("x-user-id", user)
		}
		if code != "" {
			if flags&fzDupCode != 0 && flags&fzHeaderMap == 0 {
				set("x-mfa-code", code+","+code)
			} else {
				set("x-mfa-code", code)
				if flags&fzDupCode != 0 {
					set("x-mfa-code", code)
				}
			}
		}
		if flags&fzExtra != 0 && hname != "" {
			set(hname, hvalue)
		}
		if len(headers) > 0 {
			http.Headers = headers
		}
		if len(list) > 0 {
			http.HeaderMap = &corev3.HeaderMap{}
			for _, h := range list {
				http.HeaderMap.Headers = append(http.HeaderMap.Headers, &corev3.HeaderValue{Key: h.k, RawValue: []byte(h.v)})
			}
		}
		req := &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
			Request: &authv3.AttributeContext_Request{Http: http}, MetadataContext: md}}
		e.check(t, req)
	})
}
