package envoy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	meshv1alpha1 "istio.io/api/mesh/v1alpha1"
	securityv1beta1 "istio.io/api/security/v1beta1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/mfa-authz/mfa-authz/authz/config"
)

// The Istio and Kubernetes files in istio/ are checked the way the API
// server and istiod would read them: every YAML document decodes into its
// real type (k8s.io/api, istio.io/api) with unknown fields rejected, and
// field names spelled exactly as the schema spells them.

// istioObject is one decoded YAML document.
type istioObject struct {
	file  string
	index int    // document number in the file, from 0
	kind  string // "MeshConfig" for the meshConfig snippet
	name  string
	obj   any // a k8s.io/api pointer, or a proto.Message for Istio specs
	meta  metav1.ObjectMeta
}

func (o istioObject) String() string {
	return fmt.Sprintf("%s[%d] %s/%s", o.file, o.index, o.kind, o.name)
}

// k8sKinds are the Kubernetes objects the manifests may hold.
var k8sKinds = map[string]func() any{
	"v1/Namespace":             func() any { return &corev1.Namespace{} },
	"v1/ServiceAccount":        func() any { return &corev1.ServiceAccount{} },
	"v1/ConfigMap":             func() any { return &corev1.ConfigMap{} },
	"v1/Service":               func() any { return &corev1.Service{} },
	"v1/PersistentVolumeClaim": func() any { return &corev1.PersistentVolumeClaim{} },
	"apps/v1/Deployment":       func() any { return &appsv1.Deployment{} },
}

// istioKinds are Istio's security resources, by kind; the spec is the proto.
// security.istio.io/v1 is v1beta1's schema under a new version (its Go types
// are aliases of v1beta1's).
var istioKinds = map[string]func() proto.Message{
	"AuthorizationPolicy":   func() proto.Message { return &securityv1beta1.AuthorizationPolicy{} },
	"RequestAuthentication": func() proto.Message { return &securityv1beta1.RequestAuthentication{} },
}

// parseIstioFile decodes every document of one file in istio/.
func parseIstioFile(name string, data []byte) ([]istioObject, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var out []istioObject
	for i := 0; ; i++ {
		var doc any
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s[%d]: yaml: %w", name, i, err)
		}
		if doc == nil {
			continue
		}
		o, err := parseIstioDoc(name, i, doc)
		if err != nil {
			return nil, fmt.Errorf("%s[%d]: %w", name, i, err)
		}
		out = append(out, o)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no documents", name)
	}
	return out, nil
}

func parseIstioDoc(file string, i int, doc any) (istioObject, error) {
	o := istioObject{file: file, index: i}
	m, ok := doc.(map[string]any)
	if !ok {
		return o, fmt.Errorf("document is a %T, want a mapping", doc)
	}
	// The meshConfig snippet: exactly one key, decoded as Istio's MeshConfig.
	if mc, ok := m["meshConfig"]; ok {
		if len(m) != 1 {
			return o, fmt.Errorf("a meshConfig document holds meshConfig only, got keys %v", keys(m))
		}
		mesh := &meshv1alpha1.MeshConfig{}
		if err := strictProto(mc, mesh); err != nil {
			return o, fmt.Errorf("meshConfig: %w", err)
		}
		o.kind, o.name, o.obj = "MeshConfig", "meshConfig", mesh
		return o, nil
	}
	apiVersion, _ := m["apiVersion"].(string)
	kind, _ := m["kind"].(string)
	o.kind = kind
	if newObj, ok := k8sKinds[apiVersion+"/"+kind]; ok {
		obj := newObj()
		if err := strictJSON(doc, obj); err != nil {
			return o, fmt.Errorf("%s %s: %w", apiVersion, kind, err)
		}
		o.obj = obj
		o.meta = reflect.ValueOf(obj).Elem().FieldByName("ObjectMeta").Interface().(metav1.ObjectMeta)
		o.name = o.meta.Name
		return o, nil
	}
	newSpec, ok := istioKinds[kind]
	if !ok || (apiVersion != "security.istio.io/v1" && apiVersion != "security.istio.io/v1beta1") {
		return o, fmt.Errorf("unknown object %s %s", apiVersion, kind)
	}
	for k := range m {
		if k != "apiVersion" && k != "kind" && k != "metadata" && k != "spec" {
			return o, fmt.Errorf("%s: unknown field %q", kind, k)
		}
	}
	if err := strictJSON(m["metadata"], &o.meta); err != nil {
		return o, fmt.Errorf("%s metadata: %w", kind, err)
	}
	spec := newSpec()
	if err := strictProto(m["spec"], spec); err != nil {
		return o, fmt.Errorf("%s spec: %w", kind, err)
	}
	o.name, o.obj = o.meta.Name, spec
	return o, nil
}

// strictJSON decodes a YAML value into a Kubernetes type: unknown fields
// are errors, and, since encoding/json matches field names without regard
// to case where the API server does not, so is a name in another case.
func strictJSON(v any, into any) error {
	js, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("yaml to json: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	if err := dec.Decode(into); err != nil {
		return err
	}
	back, err := json.Marshal(into)
	if err != nil {
		return err
	}
	var round any
	if err := json.Unmarshal(back, &round); err != nil {
		return err
	}
	var orig any
	if err := json.Unmarshal(js, &orig); err != nil {
		return err
	}
	return sameNames(orig, round, "")
}

// strictProto decodes a YAML value into an Istio proto: unknown fields are
// errors (DiscardUnknown false), and so are proto field names where the CRD
// schema wants the JSON (lowerCamel) name, which protojson would accept.
func strictProto(v any, into proto.Message) error {
	js, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("yaml to json: %w", err)
	}
	if err := (protojson.UnmarshalOptions{DiscardUnknown: false}).Unmarshal(js, into); err != nil {
		return err
	}
	back, err := protojson.MarshalOptions{EmitUnpopulated: true}.Marshal(into)
	if err != nil {
		return err
	}
	var round, orig any
	if err := json.Unmarshal(back, &round); err != nil {
		return err
	}
	if err := json.Unmarshal(js, &orig); err != nil {
		return err
	}
	return sameNames(orig, round, "")
}

// sameNames reports a field of orig that the decoded value re-encodes under
// another spelling (case, underscores): a name the decoder accepted loosely.
// Fields the re-encoding leaves out (empty values) are not compared.
func sameNames(orig, round any, at string) error {
	switch o := orig.(type) {
	case map[string]any:
		r, ok := round.(map[string]any)
		if !ok {
			return nil
		}
		for _, k := range keys(o) {
			if rv, ok := r[k]; ok {
				if err := sameNames(o[k], rv, at+"."+k); err != nil {
					return err
				}
				continue
			}
			for rk := range r {
				if looseName(rk) == looseName(k) {
					return fmt.Errorf("field %s%s: the schema spells it %q", at, "."+k, rk)
				}
			}
		}
	case []any:
		r, ok := round.([]any)
		if !ok || len(r) != len(o) {
			return nil
		}
		for i := range o {
			if err := sameNames(o[i], r[i], fmt.Sprintf("%s[%d]", at, i)); err != nil {
				return err
			}
		}
	}
	return nil
}

func looseName(s string) string { return strings.ToLower(strings.ReplaceAll(s, "_", "")) }

func keys(m map[string]any) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// istioFiles reads and decodes every file in istio/.
func istioFiles(t *testing.T) map[string][]istioObject {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("istio", "*"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no files in istio/: %v", err)
	}
	out := map[string][]istioObject{}
	for _, f := range files {
		if filepath.Ext(f) != ".yaml" {
			t.Errorf("%s: only .yaml files belong in istio/ (each is schema-checked)", f)
			continue
		}
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		objs, err := parseIstioFile(filepath.Base(f), data)
		if err != nil {
			t.Fatal(err)
		}
		out[filepath.Base(f)] = objs
	}
	return out
}

// find returns the one object of kind (and name, if not "") in files.
func find[T any](t *testing.T, files map[string][]istioObject, kind, name string) (T, istioObject) {
	t.Helper()
	var found []istioObject
	for _, objs := range files {
		for _, o := range objs {
			if o.kind == kind && (name == "" || o.name == name) {
				found = append(found, o)
			}
		}
	}
	if len(found) != 1 {
		t.Fatalf("want one %s %q in istio/, found %d", kind, name, len(found))
	}
	v, ok := found[0].obj.(T)
	if !ok {
		t.Fatalf("%s is a %T", found[0], found[0].obj)
	}
	return v, found[0]
}

func TestIstioFilesMatchTheirSchemas(t *testing.T) {
	files := istioFiles(t)
	for _, want := range []string{"mesh-config.yaml", "authorization-policy.yaml", "request-authentication.yaml", "deployment.yaml"} {
		if len(files[want]) == 0 {
			t.Errorf("istio/%s is missing", want)
		}
	}
	var all []string
	for _, objs := range files {
		for _, o := range objs {
			all = append(all, o.String())
			if o.kind != "MeshConfig" && o.kind != "Namespace" && o.meta.Namespace == "" {
				t.Errorf("%s has no namespace", o)
			}
		}
	}
	sort.Strings(all)
	t.Logf("checked: %s", strings.Join(all, ", "))
}

// The checker must catch what the API server or istiod would refuse or
// silently drop: prove it on broken copies.
func TestBrokenIstioCopiesAreRejected(t *testing.T) {
	for _, c := range []struct{ name, file, old, new, want string }{
		{"typo in a Deployment field", "deployment.yaml", "readOnlyRootFilesystem: true", "readOnlyRootFilesytem: true", `unknown field "readOnlyRootFilesytem"`},
		{"wrong case in a Deployment field", "deployment.yaml", "readOnlyRootFilesystem: true", "readOnlyRootFileSystem: true", `the schema spells it "readOnlyRootFilesystem"`},
		{"typo in a Service field", "deployment.yaml", "appProtocol: grpc", "appProtocl: grpc", `unknown field "appProtocl"`},
		{"wrong type in a Service", "deployment.yaml", "port: 9191", "port: grpc", "cannot unmarshal string"},
		{"unknown Kubernetes kind", "deployment.yaml", "kind: PersistentVolumeClaim", "kind: PersistentVolumeClaimTemplate", "unknown object v1 PersistentVolumeClaimTemplate"},
		{"typo in a mesh config field", "mesh-config.yaml", "failOpen: false", "failOpn: false", `unknown field "failOpn"`},
		{"header allow-list on the gRPC provider", "mesh-config.yaml", "failOpen: false", "failOpen: false\n        includeRequestHeadersInCheck: [x-mfa-code, x-request-id]", `unknown field "includeRequestHeadersInCheck"`},
		{"proto name instead of JSON name", "mesh-config.yaml", "failOpen: false", "fail_open: false", `the schema spells it "failOpen"`},
		{"bad duration", "mesh-config.yaml", "timeout: 0.5s", "timeout: half a second", `invalid google.protobuf.Duration value "half a second"`},
		{"typo in an AuthorizationPolicy field", "authorization-policy.yaml", "provider:", "providr:", `unknown field "providr"`},
		{"bad action", "authorization-policy.yaml", "action: CUSTOM", "action: EXTERNAL", "EXTERNAL"},
		{"typo in a RequestAuthentication field", "request-authentication.yaml", "outputClaimToHeaders:", "outputClaimsToHeaders:", `unknown field "outputClaimsToHeaders"`},
		{"unknown top-level field", "request-authentication.yaml", "kind: RequestAuthentication", "kind: RequestAuthentication\nstatus: {}", `unknown field "status"`},
		{"typo in metadata", "authorization-policy.yaml", "namespace: shop", "namepsace: shop", `unknown field "namepsace"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("istio", c.file))
			if err != nil {
				t.Fatal(err)
			}
			broken := strings.Replace(string(data), c.old, c.new, 1)
			if broken == string(data) {
				t.Fatalf("test edit %q not applied", c.old)
			}
			_, err = parseIstioFile(c.file, []byte(broken))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want an error containing %q", err, c.want)
			}
		})
	}
}

// The deployment is hardened, and its parts fit together: the config the
// ConfigMap holds is one mfa-authz accepts, and the ports, paths and volumes
// it names are the ones the pod and the Service provide.
func TestIstioDeployment(t *testing.T) {
	files := istioFiles(t)
	dep, _ := find[*appsv1.Deployment](t, files, "Deployment", "mfa-authz")
	cm, _ := find[*corev1.ConfigMap](t, files, "ConfigMap", "mfa-authz-config")
	svc, _ := find[*corev1.Service](t, files, "Service", "mfa-authz")
	find[*corev1.ServiceAccount](t, files, "ServiceAccount", "mfa-authz")
	find[*corev1.Namespace](t, files, "Namespace", "mfa-authz")
	pvc, _ := find[*corev1.PersistentVolumeClaim](t, files, "PersistentVolumeClaim", "")

	cfg, err := config.Parse([]byte(cm.Data["config.yaml"]))
	if err != nil {
		t.Fatalf("the ConfigMap's config.yaml: %v", err)
	}

	pod := dep.Spec.Template.Spec
	if len(pod.Containers) != 1 {
		t.Fatalf("want one container, got %d", len(pod.Containers))
	}
	c := pod.Containers[0]
	psc, sc := pod.SecurityContext, c.SecurityContext
	if psc == nil || sc == nil {
		t.Fatal("pod and container need a securityContext")
	}
	isTrue := func(b *bool) bool { return b != nil && *b }
	isFalse := func(b *bool) bool { return b != nil && !*b }
	if !isTrue(sc.RunAsNonRoot) && !isTrue(psc.RunAsNonRoot) {
		t.Error("runAsNonRoot is not set")
	}
	if psc.RunAsUser == nil || *psc.RunAsUser == 0 {
		t.Error("runAsUser must name a non-root user")
	}
	if !isFalse(sc.AllowPrivilegeEscalation) {
		t.Error("allowPrivilegeEscalation must be false")
	}
	if !isTrue(sc.ReadOnlyRootFilesystem) {
		t.Error("readOnlyRootFilesystem must be true")
	}
	if isTrue(sc.Privileged) {
		t.Error("privileged must not be true")
	}
	if sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") || len(sc.Capabilities.Add) != 0 {
		t.Errorf("capabilities must drop ALL and add none, got %+v", sc.Capabilities)
	}
	if psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Error("seccompProfile must be RuntimeDefault")
	}
	if !isFalse(pod.AutomountServiceAccountToken) {
		t.Error("the pod needs no service account token")
	}
	for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		if _, ok := c.Resources.Requests[r]; !ok {
			t.Errorf("no %s request", r)
		}
		if _, ok := c.Resources.Limits[r]; !ok {
			t.Errorf("no %s limit", r)
		}
	}
	if dep.Spec.Replicas == nil || *dep.Spec.Replicas != 1 || dep.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType {
		t.Error("want one replica, replaced with Recreate: with the directory store, sessions and lockouts are in memory and the volume is ReadWriteOnce")
	}
	if dep.Spec.Selector == nil || !reflect.DeepEqual(dep.Spec.Selector.MatchLabels, dep.Spec.Template.Labels) {
		t.Error("the selector must match the pod template's labels")
	}
	if !reflect.DeepEqual(svc.Spec.Selector, dep.Spec.Template.Labels) {
		t.Error("the Service must select the Deployment's pods")
	}

	// Ports: the config's listen ports are the container's and the Service's.
	containerPort := map[string]int32{}
	for _, p := range c.Ports {
		containerPort[p.Name] = p.ContainerPort
	}
	for name, addr := range map[string]string{"grpc": cfg.Server.GRPCAddress, "http": cfg.Server.HTTPAddress} {
		want := fmt.Sprint(containerPort[name])
		if !strings.HasSuffix(addr, ":"+want) || !strings.HasPrefix(addr, "0.0.0.0:") {
			t.Errorf("config listens for %s on %q, the container port %q is %s: want 0.0.0.0:%s", name, addr, name, want, want)
		}
	}
	svcPort := map[string]corev1.ServicePort{}
	for _, p := range svc.Spec.Ports {
		svcPort[p.Name] = p
	}
	for name, port := range map[string]int32{"grpc": 9191, "http": 9192} {
		p, ok := svcPort[name]
		if !ok || p.Port != port || p.TargetPort.String() != name || containerPort[name] != port {
			t.Errorf("Service port %s: got %+v, want %d to the container's %q port %d", name, p, port, name, port)
		}
	}
	if p := svcPort["grpc"]; p.AppProtocol == nil || *p.AppProtocol != "grpc" {
		t.Error("the grpc Service port must declare appProtocol grpc")
	}

	// Probes: the HTTP health endpoints of server.http_address.
	for name, pr := range map[string]*corev1.Probe{"/healthz": c.LivenessProbe, "/readyz": c.ReadinessProbe} {
		if pr == nil || pr.HTTPGet == nil || pr.HTTPGet.Path != name || pr.HTTPGet.Port.String() != "http" {
			t.Errorf("probe for %s: got %+v, want httpGet %s on the http port", name, pr, name)
		}
	}

	// Volumes: the config where the image's entrypoint reads it, the key from the
	// Secret, the store on the persistent volume, writable.
	vols := map[string]corev1.Volume{}
	for _, v := range pod.Volumes {
		vols[v.Name] = v
	}
	mountOf := func(file string) (corev1.VolumeMount, corev1.Volume, string) {
		for _, m := range c.VolumeMounts {
			if rel, ok := strings.CutPrefix(file, strings.TrimSuffix(m.MountPath, "/")+"/"); ok {
				return m, vols[m.Name], rel
			}
		}
		t.Fatalf("no volume mounted at %s", file)
		return corev1.VolumeMount{}, corev1.Volume{}, ""
	}
	m, v, rel := mountOf(imageConfigPath)
	if v.ConfigMap == nil || v.ConfigMap.Name != cm.Name || rel != "config.yaml" || !m.ReadOnly {
		t.Errorf("%s must be the ConfigMap's config.yaml, mounted read-only; got %s from %s", imageConfigPath, rel, volKind(v))
	}
	m, v, rel = mountOf(cfg.Storage.KeyFile)
	if v.Secret == nil || v.Secret.SecretName != "mfa-authz-store-key" || rel != "store.key" || !m.ReadOnly {
		t.Errorf("storage.key_file %s must be the Secret's store.key, mounted read-only; got %s from %s", cfg.Storage.KeyFile, rel, volKind(v))
	}
	if v.Secret != nil && (v.Secret.DefaultMode == nil || *v.Secret.DefaultMode != 0o400) {
		t.Errorf("the key must be readable by its owner only (defaultMode 0400), got %v", v.Secret.DefaultMode)
	}
	m, v, _ = mountOf(cfg.Storage.Path + "/x")
	if v.PersistentVolumeClaim == nil || v.PersistentVolumeClaim.ClaimName != pvc.Name || m.ReadOnly {
		t.Errorf("storage.path %s must be on the writable volume of claim %s; got %s", cfg.Storage.Path, pvc.Name, volKind(v))
	}
	if path.Dir(cfg.Storage.KeyFile) == cfg.Storage.Path || strings.HasPrefix(cfg.Storage.KeyFile, cfg.Storage.Path+"/") {
		t.Error("the key must be kept apart from the store")
	}
}

// volKind names a volume and its source, for messages.
func volKind(v corev1.Volume) string {
	switch {
	case v.ConfigMap != nil:
		return fmt.Sprintf("volume %q (ConfigMap %s)", v.Name, v.ConfigMap.Name)
	case v.Secret != nil:
		return fmt.Sprintf("volume %q (Secret %s)", v.Name, v.Secret.SecretName)
	case v.PersistentVolumeClaim != nil:
		return fmt.Sprintf("volume %q (claim %s)", v.Name, v.PersistentVolumeClaim.ClaimName)
	case v.EmptyDir != nil:
		return fmt.Sprintf("volume %q (emptyDir)", v.Name)
	}
	return fmt.Sprintf("volume %q", v.Name)
}

// The policies name the provider the mesh config defines, the provider is
// the Service, and the CUSTOM policy sends every route that the example
// config protects.
func TestIstioPoliciesFitTogether(t *testing.T) {
	files := istioFiles(t)
	mesh, _ := find[*meshv1alpha1.MeshConfig](t, files, "MeshConfig", "")
	svc, _ := find[*corev1.Service](t, files, "Service", "mfa-authz")
	cm, _ := find[*corev1.ConfigMap](t, files, "ConfigMap", "mfa-authz-config")
	ap, apObj := find[*securityv1beta1.AuthorizationPolicy](t, files, "AuthorizationPolicy", "shop-mfa")
	ra, _ := find[*securityv1beta1.RequestAuthentication](t, files, "RequestAuthentication", "")

	if len(mesh.GetExtensionProviders()) != 1 {
		t.Fatalf("want one extension provider, got %d", len(mesh.GetExtensionProviders()))
	}
	p := mesh.GetExtensionProviders()[0]
	g := p.GetEnvoyExtAuthzGrpc()
	if g == nil {
		t.Fatalf("provider %q is not envoyExtAuthzGrpc", p.GetName())
	}
	if want := svc.Name + "." + svc.Namespace + ".svc.cluster.local"; g.GetService() != want {
		t.Errorf("provider service %q, want the Service %q", g.GetService(), want)
	}
	if g.GetPort() != 9191 || g.GetFailOpen() || g.GetTimeout().AsDuration().Seconds() != 0.5 {
		t.Errorf("provider: port %d failOpen %t timeout %s; want 9191, false, 0.5s", g.GetPort(), g.GetFailOpen(), g.GetTimeout().AsDuration())
	}
	if n := mesh.GetPathNormalization().GetNormalization(); n != meshv1alpha1.MeshConfig_ProxyPathNormalization_DECODE_AND_MERGE_SLASHES {
		t.Errorf("pathNormalization %v: want DECODE_AND_MERGE_SLASHES, as envoy.yaml normalizes", n)
	}

	if ap.GetAction() != securityv1beta1.AuthorizationPolicy_CUSTOM || ap.GetProvider().GetName() != p.GetName() {
		t.Errorf("policy %s: action %v provider %q; want CUSTOM with provider %q", apObj, ap.GetAction(), ap.GetProvider().GetName(), p.GetName())
	}
	if ap.GetSelector().GetMatchLabels()["app"] != "shop" {
		t.Errorf("policy %s selects %v, want app: shop", apObj, ap.GetSelector().GetMatchLabels())
	}
	// Every rule of the example config, and of the deployed config, is sent.
	example, err := config.Load(filepath.Join("..", "mfa-authz.example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	deployed, err := config.Parse([]byte(cm.Data["config.yaml"]))
	if err != nil {
		t.Fatal(err)
	}
	for name, cfg := range map[string]*config.Config{"mfa-authz.example.yaml": example, "deployment.yaml": deployed} {
		if len(cfg.Policy.Rules) == 0 {
			t.Fatalf("%s has no rules", name)
		}
		for _, r := range cfg.Policy.Rules {
			if strings.EqualFold(r.MFA, "none") {
				continue // an exception: mfa-authz allows it, whether Istio sends it or not
			}
			prefix, ok := strings.CutSuffix(r.Path, "/**")
			if !ok || strings.ContainsAny(prefix, "{}*") {
				t.Errorf("%s: rule %s: only literal /x/** rules can be mirrored here; extend this test", name, r.Path)
				continue
			}
			methods := r.Methods
			if len(methods) == 0 {
				methods = []string{"POST", "PUT", "PATCH", "DELETE"}
			}
			if slices.Contains(methods, "*") {
				methods = []string{"GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE"}
			}
			for _, want := range []string{prefix, prefix + "/*"} {
				for _, method := range methods {
					if !sends(ap, strings.ToUpper(method), want) {
						t.Errorf("%s protects %s %s, but %s does not send %s %s to mfa-authz", name, method, r.Path, apObj, method, want)
					}
				}
			}
		}
	}
	for _, h := range []string{"x-http-method-override", "x-http-method", "x-method-override"} {
		if !sendsHeader(ap, h) {
			t.Errorf("%s does not send requests with %s to mfa-authz", apObj, h)
		}
	}

	// The identity: the gateway writes the verified sub claim to the header
	// the deployed config reads.
	if deployed.Identity.Header == "" {
		t.Fatal("the deployed config has no identity.header")
	}
	var claimed bool
	for _, r := range ra.GetJwtRules() {
		for _, ch := range r.GetOutputClaimToHeaders() {
			if strings.EqualFold(ch.GetHeader(), deployed.Identity.Header) && ch.GetClaim() == "sub" {
				claimed = true
			}
		}
		if r.GetOutputPayloadToHeader() == "" {
			t.Error("the JWT rule does not forward the payload")
		}
	}
	if !claimed {
		t.Errorf("no JWT rule writes the sub claim to %s", deployed.Identity.Header)
	}
}

// sends reports whether a rule of ap selects method and path with no other
// condition.
func sends(ap *securityv1beta1.AuthorizationPolicy, method, path string) bool {
	for _, r := range ap.GetRules() {
		if len(r.GetFrom()) > 0 || len(r.GetWhen()) > 0 {
			continue
		}
		for _, to := range r.GetTo() {
			op := to.GetOperation()
			if len(op.GetHosts()) > 0 || len(op.GetPorts()) > 0 || len(op.GetNotPaths()) > 0 || len(op.GetNotMethods()) > 0 {
				continue
			}
			if (len(op.GetMethods()) == 0 || slices.Contains(op.GetMethods(), method)) &&
				(len(op.GetPaths()) == 0 || slices.Contains(op.GetPaths(), path)) {
				return true
			}
		}
	}
	return false
}

// sendsHeader reports whether a rule of ap selects every request carrying
// the header.
func sendsHeader(ap *securityv1beta1.AuthorizationPolicy, header string) bool {
	for _, r := range ap.GetRules() {
		if len(r.GetFrom()) > 0 || len(r.GetTo()) > 0 || len(r.GetWhen()) != 1 {
			continue
		}
		w := r.GetWhen()[0]
		if w.GetKey() == "request.headers["+header+"]" && slices.Equal(w.GetValues(), []string{"*"}) {
			return true
		}
	}
	return false
}
