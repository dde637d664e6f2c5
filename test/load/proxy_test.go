package load

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	extauthzv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_authz/v3"
	jwtv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/jwt_authn/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"go.yaml.in/yaml/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/mfa-authz/mfa-authz/test/envoytest"

	// The other typed_config types envoy.yaml uses register themselves.
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/header_mutation/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
)

// wrk 4.1.0's report with --latency, with and without errors.
const wrkOK = `Running 10s test @ http://127.0.0.1:40321/
  2 threads and 20 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     7.64ms    3.59ms  29.73ms   74.10%
    Req/Sec     1.33k   192.27     1.80k    62.50%
  Latency Distribution
     50%  853.00us
     75%    9.45ms
     90%   12.33ms
     99%    1.02s 
  52990 requests in 10.02s, 765.87KB read
Requests/sec:   5288.53
Transfer/sec:    379.33KB
`

func TestParseWRK(t *testing.T) {
	m, err := parseWRK(wrkOK)
	if err != nil {
		t.Fatal(err)
	}
	if m.Requests != 52990 || m.Duration != 10020*time.Millisecond || m.RPS != 5288.53 ||
		m.P50 != 853*time.Microsecond || m.P99 != 1020*time.Millisecond || m.Errors() != 0 {
		t.Errorf("parsed %+v", m)
	}
	withErrors := strings.Replace(wrkOK, "Requests/sec:", "  Socket errors: connect 1, read 2, write 3, timeout 4\n  Non-2xx or 3xx responses: 10\nRequests/sec:", 1)
	m, err = parseWRK(withErrors)
	if err != nil {
		t.Fatal(err)
	}
	if m.Non2xx != 10 || m.Connect != 1 || m.Read != 2 || m.Write != 3 || m.Timeout != 4 || m.Errors() != 20 {
		t.Errorf("errors parsed as %+v", m)
	}
	noLatency := regexp.MustCompile(`(?s)  Latency Distribution.*?99%[^\n]*\n`).ReplaceAllString(wrkOK, "")
	if _, err := parseWRK(noLatency); err == nil {
		t.Error("a report without --latency's distribution parsed")
	}
	if _, err := parseWRK("unable to connect to 127.0.0.1:1 Connection refused\n"); err == nil {
		t.Error("wrk's connection failure parsed")
	}
}

// The HTTP mixes are the gRPC mixes' requests, as a client sends them.
func TestHTTPRequests(t *testing.T) {
	for _, m := range Mixes() {
		reqs := httpRequests(m, func(u string) string { return "token-of-" + u })
		if len(reqs) != len(m.Entries) {
			t.Fatalf("%s: %d requests for %d entries", m.Name, len(reqs), len(m.Entries))
		}
		for i, r := range reqs {
			h := m.Entries[i].Req.GetAttributes().GetRequest().GetHttp()
			hdr := map[string]string{}
			for _, kv := range r.Header {
				hdr[kv[0]] = kv[1]
			}
			want := h.GetMethod()
			if want == "HEAD" {
				want = "GET"
			}
			if r.Method != want || r.Path != h.GetPath() || hdr["Host"] != shopHost || r.Header[0][0] != "Host" || r.Kind != m.Entries[i].Kind {
				t.Errorf("%s[%d]: %s %s %v (%s)", m.Name, i, r.Method, r.Path, r.Header, r.Kind)
			}
			if user := h.GetHeaders()["x-user-id"]; hdr["X-User-Id"] != user || (user != "" && hdr["Authorization"] != "Bearer token-of-"+user) {
				t.Errorf("%s[%d]: identity headers %v, want user %q", m.Name, i, hdr, user)
			}
			if cl := h.GetHeaders()["content-length"]; cl != fmt.Sprint(len(r.Body)) && (cl != "" || r.Body != "") {
				t.Errorf("%s[%d]: body of %d bytes, content-length %q", m.Name, i, len(r.Body), cl)
			}
			if r.Body != "" && !json.Valid([]byte(r.Body)) {
				t.Errorf("%s[%d]: body is not JSON: %s", m.Name, i, r.Body)
			}
		}
	}
}

func TestWRKScript(t *testing.T) {
	if got, want := luaString("a\"b\\c\n\x7f"), `"a\"b\\c\010\127"`; got != want {
		t.Errorf("luaString: %s, want %s", got, want)
	}
	reqs := []HTTPRequest{
		{Method: "GET", Path: "/a?q=1", Header: [][2]string{{"Host", "shop.example.com"}}},
		{Method: "POST", Path: "/b", Header: [][2]string{{"Host", "shop.example.com"}, {"X-User-Id", "alice"}}, Body: `{"x":1}`},
	}
	s := wrkScript(reqs)
	for _, want := range []string{
		`reqs[1] = wrk.format("GET", "/a?q=1", {["Host"] = "shop.example.com"}, nil)`,
		`reqs[2] = wrk.format("POST", "/b", {["Host"] = "shop.example.com", ["X-User-Id"] = "alice"}, "{\"x\":1}")`,
		"i = i % #reqs + 1",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("script lacks %s:\n%s", want, s)
		}
	}
	if d := wrkSeconds(1500 * time.Millisecond); d != 2 {
		t.Errorf("wrkSeconds(1.5s) = %d, want 2", d)
	}
}

// Caddy itself adapts the stage's Caddyfile (when caddy is on PATH).
func TestCaddyfileAdapts(t *testing.T) {
	bin, err := exec.LookPath("caddy")
	if err != nil {
		t.Skip("caddy not on PATH")
	}
	file := filepath.Join(t.TempDir(), "Caddyfile")
	cf := caddyfile("127.0.0.1:8001", "127.0.0.1:8002", "127.0.0.1:8003", "127.0.0.1:9002", "127.0.0.1:9003", "127.0.0.1:8080")
	if err := os.WriteFile(file, []byte(cf), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "adapt", "--config", file, "--adapter", "caddyfile")
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("caddy adapt: %v\n%s", err, cf)
	}
	js := string(out)
	for _, want := range []string{`"listen":["127.0.0.1:8001"]`, `"listen":["127.0.0.1:8002"]`, `"listen":["127.0.0.1:8003"]`, `"127.0.0.1:9002"`, `"127.0.0.1:9003"`, `"/forward-auth"`, `"127.0.0.1:8080"`} {
		if !strings.Contains(js, want) {
			t.Errorf("adapted config lacks %s:\n%s", want, js)
		}
	}
	if n := strings.Count(js, `"127.0.0.1:8080"`); n != 3 {
		t.Errorf("the upstream appears %d times, want 3 (one per site)", n)
	}
}

// The Envoy stage's bootstrap is valid by Envoy's schema and differs from
// envoy/envoy.yaml only where the stage needs it.
func TestEnvoyConfig(t *testing.T) {
	root, err := FindRoot()
	if err != nil {
		t.Fatal(err)
	}
	listeners := [3]string{"127.0.0.1:20001", "127.0.0.1:20002", "127.0.0.1:20003"}
	data, err := envoyConfig(root, listeners, "127.0.0.1:20009", "127.0.0.1:29191", "127.0.0.1:29192", "127.0.0.1:28080")
	if err != nil {
		t.Fatal(err)
	}
	var doc any
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	js, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	b := &bootstrapv3.Bootstrap{}
	if err := (protojson.UnmarshalOptions{Resolver: protoregistry.GlobalTypes}).Unmarshal(js, b); err != nil {
		t.Fatalf("not a bootstrap: %v\n%s", err, data)
	}
	if err := b.ValidateAll(); err != nil {
		t.Fatal(err)
	}
	if got := b.GetAdmin().GetAddress().GetSocketAddress(); got.GetPortValue() != 20009 {
		t.Errorf("admin on %v", got)
	}
	clusters := map[string]uint32{}
	for _, c := range b.GetStaticResources().GetClusters() {
		a := c.GetLoadAssignment().GetEndpoints()[0].GetLbEndpoints()[0].GetEndpoint().GetAddress().GetSocketAddress()
		clusters[c.GetName()] = a.GetPortValue()
		if c.GetLoadAssignment().GetClusterName() != c.GetName() {
			t.Errorf("cluster %s assigns endpoints of %s", c.GetName(), c.GetLoadAssignment().GetClusterName())
		}
	}
	if want := map[string]uint32{"mfa-authz": 29191, "baseline": 29192, "upstream": 28080}; fmt.Sprint(clusters) != fmt.Sprint(want) {
		t.Errorf("clusters %v, want %v", clusters, want)
	}
	ls := b.GetStaticResources().GetListeners()
	if len(ls) != 3 {
		t.Fatalf("%d listeners, want 3", len(ls))
	}
	for i, l := range ls {
		if p := l.GetAddress().GetSocketAddress().GetPortValue(); p != uint32(20001+i) {
			t.Errorf("listener %s on port %d", l.GetName(), p)
		}
		hcm := &hcmv3.HttpConnectionManager{}
		if err := l.GetFilterChains()[0].GetFilters()[0].GetTypedConfig().UnmarshalTo(hcm); err != nil {
			t.Fatal(err)
		}
		if err := hcm.ValidateAll(); err != nil {
			t.Fatal(err)
		}
		var names []string
		cluster := ""
		for _, f := range hcm.GetHttpFilters() {
			names = append(names, f.GetName())
			switch f.GetName() {
			case extAuthzName:
				ea := &extauthzv3.ExtAuthz{}
				if err := f.GetTypedConfig().UnmarshalTo(ea); err != nil {
					t.Fatal(err)
				}
				cluster = ea.GetGrpcService().GetEnvoyGrpc().GetClusterName()
				if ea.GetFailureModeAllow() {
					t.Errorf("%s: ext_authz fails open", l.GetName())
				}
			case "envoy.filters.http.jwt_authn":
				ja := &jwtv3.JwtAuthentication{}
				if err := f.GetTypedConfig().UnmarshalTo(ja); err != nil {
					t.Fatal(err)
				}
				if got := ja.GetProviders()["test"].GetLocalJwks().GetFilename(); got != filepath.Join(root, envoytest.JWKSFile) {
					t.Errorf("%s: local_jwks %q", l.GetName(), got)
				}
			}
		}
		want := [3]string{"", "baseline", "mfa-authz"}[i]
		filters := "envoy.filters.http.header_mutation,envoy.filters.http.jwt_authn," + extAuthzName + ",envoy.filters.http.router"
		if want == "" {
			filters = "envoy.filters.http.header_mutation,envoy.filters.http.jwt_authn,envoy.filters.http.router"
		}
		if strings.Join(names, ",") != filters || cluster != want {
			t.Errorf("%s: filters %v, ext_authz cluster %q; want %s and %q", l.GetName(), names, cluster, filters, want)
		}
		if want == "" && strings.Contains(fmt.Sprint(hcm.GetRouteConfig()), "ExtAuthzPerRoute") {
			t.Errorf("%s: route settings for the removed ext_authz remain", l.GetName())
		}
	}
}
