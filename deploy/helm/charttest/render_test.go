package charttest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/releaseutil"
	meshv1alpha1 "istio.io/api/mesh/v1alpha1"
	securityv1beta1 "istio.io/api/security/v1beta1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

const (
	chartDir  = "../mfa-authz"
	release   = "mfa"
	namespace = "mfa-authz"
	fullname  = "mfa-mfa-authz"
	// kubeVersion is the cluster version the render assumes.
	kubeVersion = "v1.33.0"
)

// rendered is one release rendered the way `helm template` renders it,
// every object decoded into its Go type.
type rendered struct {
	notes   string
	objects map[string]any // "Kind/name" -> *corev1.Service, *securityv1beta1.AuthorizationPolicy, ...
	meta    map[string]metav1.ObjectMeta
}

// render installs the chart client-only (no cluster: lookup finds
// nothing), as `helm template` does, with the values' JSON Schema applied.
func render(vals map[string]any) (*rendered, error) {
	chrt, err := loader.Load(chartDir)
	if err != nil {
		return nil, fmt.Errorf("load chart: %w", err)
	}
	install := action.NewInstall(&action.Configuration{Log: func(string, ...any) {}})
	install.DryRun = true
	install.DryRunOption = "client"
	install.ClientOnly = true
	install.Replace = true
	install.ReleaseName = release
	install.Namespace = namespace
	// Helm's client-only default is Kubernetes v1.20; the chart wants >= 1.25.
	kv, err := chartutil.ParseKubeVersion(kubeVersion)
	if err != nil {
		return nil, err
	}
	install.KubeVersion = kv
	rel, err := install.Run(chrt, vals)
	if err != nil {
		return nil, err
	}
	r := &rendered{notes: rel.Info.Notes, objects: map[string]any{}, meta: map[string]metav1.ObjectMeta{}}
	if len(rel.Hooks) != 0 {
		return nil, fmt.Errorf("the chart has %d hooks, want none", len(rel.Hooks))
	}
	for file, doc := range releaseutil.SplitManifests(rel.Manifest) {
		if strings.TrimSpace(doc) == "" {
			continue
		}
		if err := r.decode(doc); err != nil {
			return nil, fmt.Errorf("%s: %w\n%s", file, err, doc)
		}
	}
	return r, nil
}

// k8sKinds are the Kubernetes objects the chart may render.
var k8sKinds = map[string]func() any{
	"v1/ServiceAccount":                       func() any { return &corev1.ServiceAccount{} },
	"v1/ConfigMap":                            func() any { return &corev1.ConfigMap{} },
	"v1/Secret":                               func() any { return &corev1.Secret{} },
	"v1/Service":                              func() any { return &corev1.Service{} },
	"v1/PersistentVolumeClaim":                func() any { return &corev1.PersistentVolumeClaim{} },
	"apps/v1/Deployment":                      func() any { return &appsv1.Deployment{} },
	"policy/v1/PodDisruptionBudget":           func() any { return &policyv1.PodDisruptionBudget{} },
	"monitoring.coreos.com/v1/ServiceMonitor": func() any { return &monitoringv1.ServiceMonitor{} },
}

func (r *rendered) decode(doc string) error {
	js, err := yaml.YAMLToJSONStrict([]byte(doc))
	if err != nil {
		return err
	}
	var m map[string]any
	if err := json.Unmarshal(js, &m); err != nil {
		return err
	}
	apiVersion, _ := m["apiVersion"].(string)
	kind, _ := m["kind"].(string)
	var meta metav1.ObjectMeta
	var obj any
	switch {
	case k8sKinds[apiVersion+"/"+kind] != nil:
		obj = k8sKinds[apiVersion+"/"+kind]()
		if err := strictJSON(js, obj); err != nil {
			return fmt.Errorf("%s %s: %w", apiVersion, kind, err)
		}
		b, _ := json.Marshal(m["metadata"])
		if err := json.Unmarshal(b, &meta); err != nil {
			return err
		}
	case apiVersion == "security.istio.io/v1" && kind == "AuthorizationPolicy":
		for k := range m {
			if k != "apiVersion" && k != "kind" && k != "metadata" && k != "spec" {
				return fmt.Errorf("%s: unknown field %q", kind, k)
			}
		}
		b, _ := json.Marshal(m["metadata"])
		if err := strictJSON(b, &meta); err != nil {
			return fmt.Errorf("%s metadata: %w", kind, err)
		}
		spec := &securityv1beta1.AuthorizationPolicy{}
		b, _ = json.Marshal(m["spec"])
		if err := strictProto(b, spec); err != nil {
			return fmt.Errorf("%s spec: %w", kind, err)
		}
		obj = spec
	default:
		return fmt.Errorf("unexpected object %s %s", apiVersion, kind)
	}
	key := kind + "/" + meta.Name
	if _, dup := r.objects[key]; dup {
		return fmt.Errorf("%s rendered twice", key)
	}
	r.objects[key], r.meta[key] = obj, meta
	return nil
}

func (r *rendered) keys() []string {
	var ks []string
	for k := range r.objects {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// get returns the rendered object kind/name as T, failing the test if absent.
func get[T any](t *testing.T, r *rendered, key string) T {
	t.Helper()
	o, ok := r.objects[key]
	if !ok {
		t.Fatalf("no %s rendered; have %v", key, r.keys())
	}
	v, ok := o.(T)
	if !ok {
		t.Fatalf("%s is a %T", key, o)
	}
	return v
}

// strictJSON decodes into a Kubernetes type with unknown fields rejected;
// since encoding/json matches names without regard to case where the API
// server does not, the re-encoded object must spell every name the same.
func strictJSON(js []byte, into any) error {
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	if err := dec.Decode(into); err != nil {
		return err
	}
	back, err := json.Marshal(into)
	if err != nil {
		return err
	}
	return sameNames(js, back)
}

// strictProto decodes into an Istio proto with unknown fields rejected and
// the CRD's lowerCamel names required (protojson also takes proto names).
func strictProto(js []byte, into proto.Message) error {
	if err := (protojson.UnmarshalOptions{DiscardUnknown: false}).Unmarshal(js, into); err != nil {
		return err
	}
	back, err := protojson.MarshalOptions{EmitUnpopulated: true}.Marshal(into)
	if err != nil {
		return err
	}
	return sameNames(js, back)
}

func sameNames(origJS, backJS []byte) error {
	var orig, back any
	if err := json.Unmarshal(origJS, &orig); err != nil {
		return err
	}
	if err := json.Unmarshal(backJS, &back); err != nil {
		return err
	}
	return walkNames(orig, back, "")
}

// walkNames reports a field of orig missing, by exact name, from back:
// a name the decoder took loosely.
func walkNames(orig, back any, path string) error {
	switch o := orig.(type) {
	case map[string]any:
		b, ok := back.(map[string]any)
		if !ok {
			return nil // a type with its own JSON form (Quantity, IntOrString, Duration)
		}
		for k, v := range o {
			bv, ok := b[k]
			if !ok {
				if v == nil || isEmpty(v) {
					continue // omitted when empty on the way back
				}
				return fmt.Errorf("field %s%s is not spelled as the schema spells it", path, k)
			}
			if err := walkNames(v, bv, path+k+"."); err != nil {
				return err
			}
		}
	case []any:
		b, ok := back.([]any)
		if !ok || len(b) != len(o) {
			return nil
		}
		for i := range o {
			if err := walkNames(o[i], b[i], fmt.Sprintf("%s%d.", path, i)); err != nil {
				return err
			}
		}
	}
	return nil
}

func isEmpty(v any) bool {
	switch x := v.(type) {
	case map[string]any:
		return len(x) == 0
	case []any:
		return len(x) == 0
	case string:
		return x == ""
	case bool:
		return !x
	case float64:
		return x == 0
	}
	return false
}

// meshConfigFrom decodes the meshConfig snippet (NOTES.txt or the
// ConfigMap) as Istio's MeshConfig, strictly.
func meshConfigFrom(t *testing.T, snippet string) *meshv1alpha1.MeshConfig {
	t.Helper()
	js, err := yaml.YAMLToJSONStrict([]byte(snippet))
	if err != nil {
		t.Fatalf("meshConfig snippet: %v\n%s", err, snippet)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(js, &m); err != nil || len(m) != 1 || m["meshConfig"] == nil {
		t.Fatalf("meshConfig snippet must hold exactly meshConfig, got %s (%v)", js, err)
	}
	mesh := &meshv1alpha1.MeshConfig{}
	if err := strictProto(m["meshConfig"], mesh); err != nil {
		t.Fatalf("meshConfig: %v", err)
	}
	return mesh
}
