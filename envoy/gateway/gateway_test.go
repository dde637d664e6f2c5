// Package gateway checks the Envoy Gateway manifests in this directory the
// way the API server would read them: every document decodes into its
// published Go type (github.com/envoyproxy/gateway's api/v1alpha1,
// sigs.k8s.io/gateway-api) with unknown fields rejected, and what
// mfa-authz relies on is configured. It is a module of its own so that
// the Kubernetes dependencies stay out of mfa-authz's go.mod; `make
// gateway-check` runs it.
package gateway

import (
	"bytes"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"

	egv1a1 "github.com/envoyproxy/gateway/api/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
	gwapiv1b1 "sigs.k8s.io/gateway-api/apis/v1beta1"
	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// manifests holds the decoded documents of gateway.yaml, by kind and name.
type manifests struct {
	envoyProxy *egv1a1.EnvoyProxy
	gateway    *gwapiv1.Gateway
	client     *egv1a1.ClientTrafficPolicy
	routes     map[string]*gwapiv1.HTTPRoute
	policies   map[string]*egv1a1.SecurityPolicy
	grant      *gwapiv1b1.ReferenceGrant
}

// documents splits a YAML stream into its documents.
func documents(t *testing.T, file string) [][]byte {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var docs [][]byte
	for _, d := range bytes.Split(data, []byte("\n---\n")) {
		if len(bytes.TrimSpace(d)) > 0 {
			docs = append(docs, d)
		}
	}
	return docs
}

// strict decodes doc into v as the API server's strict field validation
// does: field names case-sensitively, unknown and duplicate fields
// rejected.
func strict(t *testing.T, doc []byte, v any) {
	t.Helper()
	if err := decodeStrict(doc, v); err != nil {
		t.Fatalf("%T: %v\n%s", v, err, doc)
	}
}

func decodeStrict(doc []byte, v any) error {
	js, err := yaml.YAMLToJSON(doc)
	if err != nil {
		return err
	}
	strictErrs, err := sigsjson.UnmarshalStrict(js, v, sigsjson.DisallowDuplicateFields, sigsjson.DisallowUnknownFields)
	if err != nil {
		return err
	}
	return errors.Join(strictErrs...)
}

func load(t *testing.T) manifests {
	t.Helper()
	m := manifests{routes: map[string]*gwapiv1.HTTPRoute{}, policies: map[string]*egv1a1.SecurityPolicy{}}
	for _, doc := range documents(t, "gateway.yaml") {
		var meta struct{ APIVersion, Kind string }
		if err := yaml.Unmarshal(doc, &meta); err != nil {
			t.Fatal(err)
		}
		switch meta.APIVersion + " " + meta.Kind {
		case "gateway.envoyproxy.io/v1alpha1 EnvoyProxy":
			m.envoyProxy = &egv1a1.EnvoyProxy{}
			strict(t, doc, m.envoyProxy)
		case "gateway.networking.k8s.io/v1 Gateway":
			m.gateway = &gwapiv1.Gateway{}
			strict(t, doc, m.gateway)
		case "gateway.envoyproxy.io/v1alpha1 ClientTrafficPolicy":
			m.client = &egv1a1.ClientTrafficPolicy{}
			strict(t, doc, m.client)
		case "gateway.networking.k8s.io/v1 HTTPRoute":
			r := &gwapiv1.HTTPRoute{}
			strict(t, doc, r)
			m.routes[r.Name] = r
		case "gateway.envoyproxy.io/v1alpha1 SecurityPolicy":
			p := &egv1a1.SecurityPolicy{}
			strict(t, doc, p)
			m.policies[p.Name] = p
		case "gateway.networking.k8s.io/v1beta1 ReferenceGrant":
			m.grant = &gwapiv1b1.ReferenceGrant{}
			strict(t, doc, m.grant)
		default:
			t.Fatalf("unexpected document %s %s", meta.APIVersion, meta.Kind)
		}
	}
	if m.envoyProxy == nil || m.gateway == nil || m.client == nil || m.grant == nil || len(m.routes) != 2 || len(m.policies) != 2 {
		t.Fatalf("gateway.yaml lacks a document: %+v", m)
	}
	return m
}

// The manifests are valid by the published types, and a misspelled field
// is caught: the check has teeth.
func TestManifestsDecodeStrictly(t *testing.T) {
	load(t)
	for _, c := range []struct{ name, doc string }{
		{"field in another case", "apiVersion: gateway.envoyproxy.io/v1alpha1\nkind: SecurityPolicy\nmetadata: {name: x}\nspec:\n  extAuth:\n    failopen: true\n"},
		{"unknown field", "apiVersion: gateway.envoyproxy.io/v1alpha1\nkind: SecurityPolicy\nmetadata: {name: x}\nspec:\n  extAuth:\n    grpc:\n      backendRef: {name: a}\n      service: {name: a}\n"},
	} {
		if err := decodeStrict([]byte(c.doc), &egv1a1.SecurityPolicy{}); err == nil {
			t.Errorf("%s: accepted", c.name)
		}
	}
}

// What mfa-authz relies on: fail closed, gRPC to the mfa-authz Service,
// the headers it reads, jwt_authn before ext_authz, client identity and
// override headers removed early, the body only on the self-service route.
func TestWhatMFAAuthzNeeds(t *testing.T) {
	m := load(t)
	if got := m.envoyProxy.Spec.FilterOrder; len(got) != 1 || got[0].Name != egv1a1.EnvoyFilterJWTAuthn ||
		got[0].Before == nil || *got[0].Before != egv1a1.EnvoyFilterExtAuthz {
		t.Errorf("filter order %+v: jwt_authn must run before ext_authz", got)
	}
	if p := m.gateway.Spec.Infrastructure.ParametersRef; p == nil || p.Name != m.envoyProxy.Name || p.Kind != "EnvoyProxy" {
		t.Errorf("the Gateway does not use the EnvoyProxy: %+v", p)
	}
	removed := m.client.Spec.Headers.EarlyRequestHeaders.Remove
	for _, h := range []string{"x-user-id", "x-mfa-method", "x-original-url", "x-rewrite-url", "x-forwarded-prefix", "x-forwarded-host", "forwarded"} {
		if !slices.Contains(removed, h) {
			t.Errorf("client's %s is not removed early", h)
		}
	}
	if a := m.client.Spec.Path.EscapedSlashesAction; a == nil || *a != egv1a1.UnescapeAndRedirect {
		t.Errorf("escaped slashes: %v, want UnescapeAndRedirect", a)
	}
	svc := mfaAuthzService(t)
	for name, p := range m.policies {
		ea := p.Spec.ExtAuth
		if ea == nil || ea.GRPC == nil || ea.HTTP != nil {
			t.Fatalf("%s: no gRPC ext_authz", name)
		}
		if ea.FailOpen == nil || *ea.FailOpen {
			t.Errorf("%s: failOpen must be false", name)
		}
		refs := ea.GRPC.BackendRefs
		if len(refs) != 1 || string(refs[0].Name) != svc.Name || refs[0].Namespace == nil || string(*refs[0].Namespace) != svc.Namespace ||
			refs[0].Port == nil || int32(*refs[0].Port) != grpcPort(t, svc) {
			t.Errorf("%s: ext_authz backend %+v, want Service %s/%s port %d", name, refs, svc.Namespace, svc.Name, grpcPort(t, svc))
		}
		for _, h := range []string{"x-mfa-code", "x-request-id", "x-user-id"} {
			if !slices.Contains(ea.HeadersToExtAuth, h) {
				t.Errorf("%s: %s is not sent to mfa-authz", name, h)
			}
		}
		jwt := p.Spec.JWT
		if jwt == nil || len(jwt.Providers) != 1 || len(jwt.Providers[0].ClaimToHeaders) != 1 ||
			jwt.Providers[0].ClaimToHeaders[0] != (egv1a1.ClaimToHeader{Header: "x-user-id", Claim: "sub"}) {
			t.Errorf("%s: the verified token's sub is not x-user-id: %+v", name, jwt)
		}
		if len(p.Spec.TargetRefs) != 1 || m.routes[string(p.Spec.TargetRefs[0].Name)] == nil {
			t.Errorf("%s: targets %+v, want one of the HTTPRoutes", name, p.Spec.TargetRefs)
			continue
		}
		route := m.routes[string(p.Spec.TargetRefs[0].Name)]
		prefix := *route.Spec.Rules[0].Matches[0].Path.Value
		if body := ea.BodyToExtAuth != nil; body != strings.HasPrefix(prefix, "/multi-factor-auth-") {
			t.Errorf("%s: request body sent to mfa-authz: %t, for the route of %q", name, body, prefix)
		}
	}
	g := m.grant.Spec
	if m.grant.Namespace != svc.Namespace || len(g.From) != 1 || g.From[0].Kind != "SecurityPolicy" || string(g.From[0].Namespace) != m.gateway.Namespace ||
		len(g.To) != 1 || g.To[0].Kind != "Service" || g.To[0].Name == nil || string(*g.To[0].Name) != svc.Name {
		t.Errorf("the ReferenceGrant does not let the policies reach %s/%s: %+v", svc.Namespace, svc.Name, m.grant)
	}
}

// mfaAuthzService is the Service envoy/istio/deployment.yaml deploys.
func mfaAuthzService(t *testing.T) *corev1.Service {
	t.Helper()
	for _, doc := range documents(t, "../istio/deployment.yaml") {
		var meta struct{ Kind string }
		if err := yaml.Unmarshal(doc, &meta); err != nil {
			t.Fatal(err)
		}
		if meta.Kind == "Service" {
			s := &corev1.Service{}
			strict(t, doc, s)
			return s
		}
	}
	t.Fatal("no Service in ../istio/deployment.yaml")
	return nil
}

func grpcPort(t *testing.T, s *corev1.Service) int32 {
	t.Helper()
	for _, p := range s.Spec.Ports {
		if p.Name == "grpc" {
			return p.Port
		}
	}
	t.Fatalf("Service %s has no grpc port", s.Name)
	return 0
}
