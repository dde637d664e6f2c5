// Package envoy holds the Envoy and Istio configuration users deploy and
// load-test mfa-authz with. Its tests prove every shipped Envoy file is a
// valid bootstrap by Envoy's own schema: go-control-plane's generated types
// and protoc-gen-validate rules, with every typed_config resolved.
package envoy

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	"go.yaml.in/yaml/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/known/anypb"

	// The typed_config types the shipped files use register themselves.
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_authz/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/header_mutation/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/jwt_authn/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
)

// parseBootstrap decodes Envoy YAML into a Bootstrap, rejecting unknown
// fields and unresolvable types, then validates it and every message
// packed in an Any (typed_config, typed_per_filter_config, …).
func parseBootstrap(data []byte) (*bootstrapv3.Bootstrap, error) {
	var doc any
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("yaml: %w", err)
	}
	js, err := json.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("yaml to json: %w", err)
	}
	b := &bootstrapv3.Bootstrap{}
	opts := protojson.UnmarshalOptions{DiscardUnknown: false, Resolver: protoregistry.GlobalTypes}
	if err := opts.Unmarshal(js, b); err != nil {
		return nil, fmt.Errorf("schema: %w", err)
	}
	if err := validateDeep(b, "bootstrap"); err != nil {
		return nil, err
	}
	return b, nil
}

type validatorAll interface{ ValidateAll() error }

// validateDeep runs m's generated ValidateAll and recurses into every Any,
// which the generated validators leave opaque.
func validateDeep(m proto.Message, path string) error {
	if v, ok := m.(validatorAll); ok {
		if err := v.ValidateAll(); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
	}
	var err error
	m.ProtoReflect().Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		if fd.Message() == nil {
			return true
		}
		name := path + "." + string(fd.Name())
		visit := func(msg protoreflect.Message, at string) bool {
			err = validateMessage(msg.Interface(), at)
			return err == nil
		}
		switch {
		case fd.IsList():
			l := v.List()
			for i := 0; i < l.Len(); i++ {
				if !visit(l.Get(i).Message(), fmt.Sprintf("%s[%d]", name, i)) {
					return false
				}
			}
		case fd.IsMap():
			if fd.MapValue().Message() == nil {
				return true
			}
			v.Map().Range(func(k protoreflect.MapKey, mv protoreflect.Value) bool {
				return visit(mv.Message(), fmt.Sprintf("%s[%s]", name, k.String()))
			})
		default:
			visit(v.Message(), name)
		}
		return err == nil
	})
	return err
}

func validateMessage(m proto.Message, path string) error {
	if a, ok := m.(*anypb.Any); ok {
		inner, err := a.UnmarshalNew()
		if err != nil {
			return fmt.Errorf("%s: %s: %w", path, a.GetTypeUrl(), err)
		}
		return validateDeep(inner, path+"<"+strings.TrimPrefix(a.GetTypeUrl(), "type.googleapis.com/")+">")
	}
	return validateDeep(m, path)
}

// shipped lists every Envoy bootstrap in this directory.
func shipped(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no Envoy files found: %v", err)
	}
	return files
}

func TestShippedConfigsAreValid(t *testing.T) {
	for _, f := range shipped(t) {
		t.Run(f, func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			b, err := parseBootstrap(data)
			if err != nil {
				t.Fatal(err)
			}
			if len(b.GetStaticResources().GetListeners()) == 0 || len(b.GetStaticResources().GetClusters()) == 0 {
				t.Fatal("no listeners or clusters")
			}
		})
	}
}

// The checker must catch what Envoy would refuse: prove it on broken copies.
func TestBrokenCopiesAreRejected(t *testing.T) {
	data, err := os.ReadFile("envoy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	src := string(data)
	for _, c := range []struct{ name, old, new, want string }{
		{"unknown field", "merge_slashes: true", "merge_slashes: true\n                merge_slashez: true", `unknown field "merge_slashez"`},
		{"unknown field inside typed_config", "failure_mode_allow: false", "failure_mode_allow: false\n                      fail_open: true", `unknown field "fail_open"`},
		{"wrong type", "port_value: 10000", "port_value: ten-thousand", "invalid value for uint32 field portValue"},
		{"bad enum", "path_with_escaped_slashes_action: UNESCAPE_AND_REDIRECT", "path_with_escaped_slashes_action: DECODE_EVERYTHING", "DECODE_EVERYTHING"},
		{"unresolvable type", "envoy.extensions.filters.http.router.v3.Router", "envoy.extensions.filters.http.router.v3.Routr", "Routr"},
		{"missing required field", "stat_prefix: ingress\n", "", "StatPrefix"},
		{"rule violated", "port_value: 9191", "port_value: 70000", "PortValue"},
	} {
		t.Run(c.name, func(t *testing.T) {
			broken := strings.Replace(src, c.old, c.new, 1)
			if broken == src {
				t.Fatalf("test edit %q not applied", c.old)
			}
			_, err := parseBootstrap([]byte(broken))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want an error containing %q", err, c.want)
			}
		})
	}
}

// What mfa-authz relies on must stay configured.
func TestSecuritySettings(t *testing.T) {
	data, err := os.ReadFile("envoy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, must := range []string{
		"failure_mode_allow: false", "transport_api_version: V3", "normalize_path: true", "merge_slashes: true",
		"path_with_escaped_slashes_action: UNESCAPE_AND_REDIRECT", "payload_in_metadata: jwt_payload",
		"- remove: x-user-id", "- envoy.filters.http.jwt_authn", "address: 127.0.0.1, port_value: 9901",
	} {
		if !strings.Contains(string(data), must) {
			t.Errorf("envoy.yaml lost %q", must)
		}
	}
}
