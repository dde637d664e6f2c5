package forwardauth_test

import (
	"encoding/json"
	"go/parser"
	"go/token"
	"slices"
	"strings"
	"testing"

	extauthzv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_authz/v3"
	"go.yaml.in/yaml/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/mfa-authz/mfa-authz/authz/config"
)

// TestEnvoyConfigInDoc checks that the Envoy filter config shown in the
// package documentation is valid by Envoy's own schema and asks for what
// the handler relies on.
func TestEnvoyConfigInDoc(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "forwardauth.go", nil, parser.ParseComments|parser.PackageClauseOnly)
	if err != nil {
		t.Fatal(err)
	}
	var block []string
	for _, line := range strings.Split(f.Doc.Text(), "\n") {
		if code, ok := strings.CutPrefix(line, "\t"); ok {
			block = append(block, code)
		}
	}
	var doc struct {
		HTTPFilters []struct {
			Name        string         `yaml:"name"`
			TypedConfig map[string]any `yaml:"typed_config"`
		} `yaml:"http_filters"`
	}
	if err := yaml.Unmarshal([]byte(strings.Join(block, "\n")), &doc); err != nil {
		t.Fatalf("the documented config is not YAML: %v\n%s", err, strings.Join(block, "\n"))
	}
	if len(doc.HTTPFilters) != 1 || doc.HTTPFilters[0].Name != "envoy.filters.http.ext_authz" {
		t.Fatalf("want the one ext_authz filter, got %+v", doc.HTTPFilters)
	}
	js, err := json.Marshal(doc.HTTPFilters[0].TypedConfig)
	if err != nil {
		t.Fatal(err)
	}
	var packed anypb.Any
	if err := protojson.Unmarshal(js, &packed); err != nil {
		t.Fatalf("typed_config: %v", err)
	}
	var c extauthzv3.ExtAuthz
	if err := packed.UnmarshalTo(&c); err != nil {
		t.Fatalf("typed_config is not an ExtAuthz: %v", err)
	}
	if err := c.ValidateAll(); err != nil {
		t.Fatalf("typed_config: %v", err)
	}
	hs := c.GetHttpService()
	var allowed, upstream []string
	for _, p := range c.GetAllowedHeaders().GetPatterns() {
		allowed = append(allowed, p.GetExact())
	}
	for _, p := range hs.GetAuthorizationResponse().GetAllowedUpstreamHeaders().GetPatterns() {
		upstream = append(upstream, p.GetExact())
	}
	switch {
	case c.GetFailureModeAllow():
		t.Error("failure_mode_allow must be false: an unreachable mfa-authz must deny")
	case hs.GetPathPrefix() != config.DefaultEnvoyHTTPPrefix:
		t.Errorf("path_prefix %q, want the default server.envoy_http_prefix %q", hs.GetPathPrefix(), config.DefaultEnvoyHTTPPrefix)
	case !slices.Contains(allowed, "x-mfa-code"):
		t.Errorf("allowed_headers %q lack the MFA header", allowed)
	case !slices.Equal(upstream, []string{"x-mfa-method"}):
		t.Errorf("allowed_upstream_headers %q, want exactly x-mfa-method", upstream)
	}
}
