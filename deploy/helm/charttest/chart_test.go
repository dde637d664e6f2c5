package charttest

import (
	"encoding/hex"
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	securityv1beta1 "istio.io/api/security/v1beta1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"sigs.k8s.io/yaml"

	"github.com/mfa-authz/mfa-authz/authz/config"
)

// testKey is a store key for tests only.
const testKey = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

func defaultValues() map[string]any {
	return map[string]any{"storeKey": map[string]any{"existingSecret": "mfa-authz-store-key"}}
}

// haValues are three replicas on Redis, scraped by Prometheus, behind
// Istio, with the policy of mfa-authz.example.yaml.
func haValues() map[string]any {
	var v map[string]any
	err := yaml.Unmarshal([]byte(`
replicaCount: 3
storeKey: {value: `+testKey+`}
redis:
  enabled: true
  url: rediss://redis.mfa-authz.svc:6379
  passwordSecret: {name: redis-auth, key: redis-password}
  keyPrefix: "mfa:"
serviceMonitor: {enabled: true, labels: {release: prometheus}}
istio:
  meshConfigMap: true
  authorizationPolicy:
    enabled: true
    namespace: shop
    name: shop-mfa
    selector: {app: shop}
    rules:
      - to:
          - operation:
              methods: [POST, PATCH, DELETE]
              paths: [/checkout, /checkout/*]
      - when:
          - key: request.headers[x-http-method-override]
            values: ["*"]
config:
  log: {level: info, format: json, decisions: sampled}
  mfa: {header: X-MFA-Code, profile: glue, grace_period: 30m}
  identity: {header: x-user-id}
  policy:
    anonymous: deny
    case_insensitive: true
    rules:
      - path: /checkout/**
        methods: [POST, PATCH, DELETE]
`), &v)
	if err != nil {
		panic(err)
	}
	return v
}

func mustRender(t *testing.T, vals map[string]any) *rendered {
	t.Helper()
	r, err := render(vals)
	if err != nil {
		t.Fatalf("render: %v", err)
	}
	return r
}

// parsedConfig reads the rendered config.yaml with mfa-authz's own parser,
// which rejects unknown keys and invalid values as the server would at start.
func parsedConfig(t *testing.T, r *rendered) (*config.Config, string) {
	t.Helper()
	cm := get[*corev1.ConfigMap](t, r, "ConfigMap/"+fullname+"-config")
	data := cm.Data["config.yaml"]
	c, err := config.Parse([]byte(data))
	if err != nil {
		t.Fatalf("rendered config.yaml is rejected by mfa-authz: %v\n%s", err, data)
	}
	return c, data
}

func TestDefaultValues(t *testing.T) {
	r := mustRender(t, defaultValues())
	want := []string{
		"ConfigMap/" + fullname + "-config",
		"Deployment/" + fullname,
		"PersistentVolumeClaim/" + fullname + "-store",
		"Service/" + fullname,
		"ServiceAccount/" + fullname,
	}
	if got := r.keys(); !reflect.DeepEqual(got, want) {
		t.Fatalf("objects = %v, want %v (no Secret with an existing one, no PDB for one replica)", got, want)
	}

	c, _ := parsedConfig(t, r)
	if c.Server.GRPCAddress != "0.0.0.0:9191" || c.Server.HTTPAddress != "0.0.0.0:9192" {
		t.Errorf("listen addresses = %q, %q, want 0.0.0.0:9191 and 0.0.0.0:9192", c.Server.GRPCAddress, c.Server.HTTPAddress)
	}
	if c.Storage.Path != "/var/lib/mfa-authz/store" || c.Storage.KeyFile != "/run/secrets/mfa-authz/store.key" {
		t.Errorf("storage = %q, %q", c.Storage.Path, c.Storage.KeyFile)
	}
	if c.Storage.Redis.Enabled() {
		t.Error("Redis enabled by default")
	}
	if !c.Storage.AllowReadableKeyFile {
		t.Error("allow_readable_key_file is off: fsGroup makes the key 0440 and mfa-authz would refuse to start")
	}
	if c.Policy.Anonymous != "deny" || c.MFA.AllowUnenrolled {
		t.Errorf("defaults are not fail-closed: anonymous %q, allow_unenrolled %v", c.Policy.Anonymous, c.MFA.AllowUnenrolled)
	}

	d := get[*appsv1.Deployment](t, r, "Deployment/"+fullname)
	if *d.Spec.Replicas != 1 || d.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType {
		t.Errorf("replicas %d strategy %s, want 1 Recreate (one pod on the RWO store)", *d.Spec.Replicas, d.Spec.Strategy.Type)
	}
	checkPod(t, d)
	if d.Spec.Template.Spec.TopologySpreadConstraints != nil {
		t.Error("topology spread rendered for one replica")
	}
	if v := volume(t, d, "store"); v.PersistentVolumeClaim == nil || v.PersistentVolumeClaim.ClaimName != fullname+"-store" {
		t.Errorf("store volume = %+v", v.VolumeSource)
	}
	if v := volume(t, d, "store-key"); v.Secret.SecretName != "mfa-authz-store-key" || v.Secret.Items[0].Key != "store.key" {
		t.Errorf("store-key volume = %+v", v.Secret)
	}
	pvc := get[*corev1.PersistentVolumeClaim](t, r, "PersistentVolumeClaim/"+fullname+"-store")
	if pvc.Annotations["helm.sh/resource-policy"] != "keep" {
		t.Error("the store's claim is deleted with the release")
	}

	svc := get[*corev1.Service](t, r, "Service/"+fullname)
	if len(svc.Spec.Ports) != 2 || svc.Spec.Ports[0].Name != "grpc" || svc.Spec.Ports[0].Port != 9191 ||
		*svc.Spec.Ports[0].AppProtocol != "grpc" || svc.Spec.Ports[1].Name != "http" || svc.Spec.Ports[1].Port != 9192 {
		t.Errorf("service ports = %+v", svc.Spec.Ports)
	}
	if !reflect.DeepEqual(svc.Spec.Selector, d.Spec.Template.Labels) {
		t.Errorf("service selector %v does not select the pods %v", svc.Spec.Selector, d.Spec.Template.Labels)
	}
	sa := get[*corev1.ServiceAccount](t, r, "ServiceAccount/"+fullname)
	if sa.AutomountServiceAccountToken == nil || *sa.AutomountServiceAccountToken {
		t.Error("service account token mounted")
	}

	mesh := meshConfigFrom(t, notesMeshConfig(t, r.notes))
	p := mesh.ExtensionProviders[0]
	g := p.GetEnvoyExtAuthzGrpc()
	if p.Name != "mfa-authz" || g.Service != fullname+"."+namespace+".svc.cluster.local" || g.Port != 9191 ||
		g.FailOpen || g.Timeout.AsDuration() != 500*time.Millisecond {
		t.Errorf("extension provider = %v", p)
	}
}

// checkPod asserts the hardened pod: non-root, read-only root, no
// capabilities, probes on /healthz and /readyz, both ports, config mounted.
func checkPod(t *testing.T, d *appsv1.Deployment) {
	t.Helper()
	ps := d.Spec.Template.Spec
	if ps.AutomountServiceAccountToken == nil || *ps.AutomountServiceAccountToken {
		t.Error("pod mounts a service account token")
	}
	sc := ps.SecurityContext
	if sc == nil || !*sc.RunAsNonRoot || *sc.RunAsUser != 65532 || *sc.RunAsGroup != 65532 || *sc.FSGroup != 65532 ||
		sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("pod securityContext = %+v", sc)
	}
	if len(ps.Containers) != 1 {
		t.Fatalf("%d containers", len(ps.Containers))
	}
	c := ps.Containers[0]
	cs := c.SecurityContext
	if cs == nil || !*cs.RunAsNonRoot || *cs.AllowPrivilegeEscalation || !*cs.ReadOnlyRootFilesystem || *cs.Privileged ||
		!reflect.DeepEqual(cs.Capabilities.Drop, []corev1.Capability{"ALL"}) || cs.Capabilities.Add != nil {
		t.Errorf("container securityContext = %+v", cs)
	}
	if c.Image != "registry.example.com/mfa-authz:0.1.0" {
		t.Errorf("image = %q", c.Image)
	}
	if len(c.Args) != 0 || len(c.Command) != 0 {
		t.Errorf("command %v args %v: the image's entrypoint reads /etc/mfa-authz/config.yaml", c.Command, c.Args)
	}
	ports := map[string]int32{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
	}
	if !reflect.DeepEqual(ports, map[string]int32{"grpc": 9191, "http": 9192}) {
		t.Errorf("ports = %v", ports)
	}
	for _, p := range []struct {
		name  string
		probe *corev1.Probe
		path  string
	}{{"liveness", c.LivenessProbe, "/healthz"}, {"readiness", c.ReadinessProbe, "/readyz"}} {
		if p.probe == nil || p.probe.HTTPGet == nil || p.probe.HTTPGet.Path != p.path || p.probe.HTTPGet.Port.String() != "http" {
			t.Errorf("%s probe = %+v, want GET %s on port http", p.name, p.probe, p.path)
		}
	}
	if c.Resources.Limits.Memory().String() != "256Mi" || len(c.Env) != 1 || c.Env[0].Name != "GOMEMLIMIT" {
		t.Errorf("resources %v env %v", c.Resources, c.Env)
	}
	mounts := map[string]corev1.VolumeMount{}
	for _, m := range c.VolumeMounts {
		mounts[m.Name] = m
	}
	if m := mounts["config"]; m.MountPath != "/etc/mfa-authz" || !m.ReadOnly || m.SubPath != "" {
		// No subPath: the kubelet then updates the file in place and the policy hot-reloads.
		t.Errorf("config mount = %+v", m)
	}
	if m := mounts["store-key"]; m.MountPath != "/run/secrets/mfa-authz" || !m.ReadOnly {
		t.Errorf("store-key mount = %+v", m)
	}
	if v := volume(t, d, "config"); v.ConfigMap == nil || v.ConfigMap.Name != fullname+"-config" {
		t.Errorf("config volume = %+v", v.VolumeSource)
	}
	if *volume(t, d, "store-key").Secret.DefaultMode != 0o400 {
		t.Error("store key mode is not 0400")
	}
	if ps.TerminationGracePeriodSeconds == nil || *ps.TerminationGracePeriodSeconds < 15 {
		t.Errorf("terminationGracePeriodSeconds = %v, want at least drain_delay + shutdown_timeout", ps.TerminationGracePeriodSeconds)
	}
}

func volume(t *testing.T, d *appsv1.Deployment, name string) corev1.Volume {
	t.Helper()
	for _, v := range d.Spec.Template.Spec.Volumes {
		if v.Name == name {
			return v
		}
	}
	t.Fatalf("no volume %q", name)
	return corev1.Volume{}
}

// notesMeshConfig cuts the meshConfig snippet out of NOTES.txt.
func notesMeshConfig(t *testing.T, notes string) string {
	t.Helper()
	i := strings.Index(notes, "\nmeshConfig:\n")
	if i < 0 {
		t.Fatalf("NOTES.txt has no meshConfig snippet:\n%s", notes)
	}
	snippet := notes[i+1:]
	if j := strings.Index(snippet, "\n\n"); j >= 0 {
		snippet = snippet[:j]
	}
	return snippet
}

func TestHAValues(t *testing.T) {
	r := mustRender(t, haValues())
	want := []string{
		"AuthorizationPolicy/shop-mfa",
		"ConfigMap/" + fullname + "-config",
		"ConfigMap/" + fullname + "-istio-mesh",
		"Deployment/" + fullname,
		"PodDisruptionBudget/" + fullname,
		"Secret/" + fullname + "-store-key",
		"Service/" + fullname,
		"ServiceAccount/" + fullname,
		"ServiceMonitor/" + fullname,
	}
	if got := r.keys(); !reflect.DeepEqual(got, want) {
		t.Fatalf("objects = %v, want %v (no PersistentVolumeClaim with Redis)", got, want)
	}

	c, data := parsedConfig(t, r)
	rc := c.Storage.Redis
	if rc.URL != "rediss://redis.mfa-authz.svc:6379" || rc.PasswordFile != "/run/secrets/mfa-authz-redis/password" || rc.KeyPrefix != "mfa:" {
		t.Errorf("storage.redis = %+v", rc)
	}
	if strings.Contains(data, "path: /var/lib") {
		t.Errorf("a directory store path with Redis:\n%s", data)
	}
	if len(c.Policy.Rules) != 1 || c.Policy.Rules[0].Path != "/checkout/**" {
		t.Errorf("policy rules = %+v", c.Policy.Rules)
	}

	d := get[*appsv1.Deployment](t, r, "Deployment/"+fullname)
	checkPod(t, d)
	if *d.Spec.Replicas != 3 || d.Spec.Strategy.Type != appsv1.RollingUpdateDeploymentStrategyType ||
		d.Spec.Strategy.RollingUpdate.MaxUnavailable.IntValue() != 0 {
		t.Errorf("replicas %d strategy %+v, want 3 rolling with none unavailable", *d.Spec.Replicas, d.Spec.Strategy)
	}
	if v := volume(t, d, "redis-password"); v.Secret.SecretName != "redis-auth" || v.Secret.Items[0].Key != "redis-password" || v.Secret.Items[0].Path != "password" {
		t.Errorf("redis-password volume = %+v", v.Secret)
	}
	for _, v := range d.Spec.Template.Spec.Volumes {
		if v.Name == "store" {
			t.Error("a store volume with Redis")
		}
	}
	tsc := d.Spec.Template.Spec.TopologySpreadConstraints
	if len(tsc) != 2 || tsc[0].TopologyKey != "kubernetes.io/hostname" || tsc[1].TopologyKey != "topology.kubernetes.io/zone" ||
		!reflect.DeepEqual(tsc[0].LabelSelector.MatchLabels, d.Spec.Selector.MatchLabels) {
		t.Errorf("topology spread = %+v", tsc)
	}

	pdb := get[*policyv1.PodDisruptionBudget](t, r, "PodDisruptionBudget/"+fullname)
	if pdb.Spec.MinAvailable == nil || pdb.Spec.MinAvailable.IntValue() != 2 ||
		!reflect.DeepEqual(pdb.Spec.Selector.MatchLabels, d.Spec.Selector.MatchLabels) {
		t.Errorf("PDB = %+v, want minAvailable 2 of 3 replicas, selecting the pods", pdb.Spec)
	}

	sec := get[*corev1.Secret](t, r, "Secret/"+fullname+"-store-key")
	if string(sec.Data["store.key"]) != testKey || sec.Annotations["helm.sh/resource-policy"] != "keep" {
		t.Errorf("secret = %q %v", sec.Data["store.key"], sec.Annotations)
	}
	if v := volume(t, d, "store-key"); v.Secret.SecretName != sec.Name {
		t.Errorf("store-key volume names %q", v.Secret.SecretName)
	}

	sm := get[*monitoringv1.ServiceMonitor](t, r, "ServiceMonitor/"+fullname)
	if len(sm.Spec.Endpoints) != 1 || sm.Spec.Endpoints[0].Port != "http" || sm.Spec.Endpoints[0].Path != "/metrics" ||
		sm.Labels["release"] != "prometheus" || !reflect.DeepEqual(sm.Spec.Selector.MatchLabels, d.Spec.Selector.MatchLabels) {
		t.Errorf("ServiceMonitor = %+v", sm)
	}

	ap := get[*securityv1beta1.AuthorizationPolicy](t, r, "AuthorizationPolicy/shop-mfa")
	if r.meta["AuthorizationPolicy/shop-mfa"].Namespace != "shop" || ap.Action != securityv1beta1.AuthorizationPolicy_CUSTOM ||
		ap.GetProvider().GetName() != "mfa-authz" || ap.Selector.MatchLabels["app"] != "shop" || len(ap.Rules) != 2 ||
		!reflect.DeepEqual(ap.Rules[0].To[0].Operation.Paths, []string{"/checkout", "/checkout/*"}) {
		t.Errorf("AuthorizationPolicy = %v", ap)
	}

	cm := get[*corev1.ConfigMap](t, r, "ConfigMap/"+fullname+"-istio-mesh")
	mesh := meshConfigFrom(t, cm.Data["mesh-config.yaml"])
	if mesh.ExtensionProviders[0].GetEnvoyExtAuthzGrpc().Service != fullname+"."+namespace+".svc.cluster.local" {
		t.Errorf("mesh config = %v", mesh)
	}
	if notes := notesMeshConfig(t, r.notes); strings.TrimSpace(notes) != strings.TrimSpace(cm.Data["mesh-config.yaml"]) {
		t.Errorf("NOTES.txt and the ConfigMap disagree:\n%s\n---\n%s", notes, cm.Data["mesh-config.yaml"])
	}
}

// TestChecksumRollsOnlyForRestartSettings: the policy and the log level
// hot-reload from the mounted file, so changing them must not roll the
// pods; a setting read only at start (log.format) must.
func TestChecksumRollsOnlyForRestartSettings(t *testing.T) {
	sum := func(mutate func(cfg map[string]any)) string {
		v := haValues()
		mutate(v["config"].(map[string]any))
		d := get[*appsv1.Deployment](t, mustRender(t, v), "Deployment/"+fullname)
		return d.Spec.Template.Annotations["checksum/config"]
	}
	base := sum(func(map[string]any) {})
	if !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(base) {
		t.Fatalf("checksum/config = %q", base)
	}
	reload := sum(func(cfg map[string]any) {
		p := cfg["policy"].(map[string]any)
		p["rules"] = append(p["rules"].([]any), map[string]any{"path": "/carts/**"})
		cfg["log"].(map[string]any)["level"] = "debug"
		cfg["log"].(map[string]any)["decisions"] = "all"
	})
	if reload != base {
		t.Error("a policy or log level change rolls the pods; it hot-reloads")
	}
	restart := sum(func(cfg map[string]any) { cfg["log"].(map[string]any)["format"] = "text" })
	if restart == base {
		t.Error("a log.format change does not roll the pods; it needs a restart")
	}
	grace := sum(func(cfg map[string]any) { cfg["mfa"].(map[string]any)["grace_period"] = "10m" })
	if grace == base {
		t.Error("an mfa.grace_period change does not roll the pods; it needs a restart")
	}
}

// TestGeneratedKey: storeKey.generate renders a random 32-byte hex key
// (no cluster here, so lookup finds no earlier Secret to keep).
func TestGeneratedKey(t *testing.T) {
	keyOf := func() string {
		r := mustRender(t, map[string]any{"storeKey": map[string]any{"generate": true}})
		sec := get[*corev1.Secret](t, r, "Secret/"+fullname+"-store-key")
		k := string(sec.Data["store.key"])
		if b, err := hex.DecodeString(k); err != nil || len(b) != 32 {
			t.Fatalf("generated key %q is not 64 hex characters", k)
		}
		if !strings.Contains(r.notes, "Back it up") {
			t.Errorf("NOTES.txt does not ask to back up the generated key:\n%s", r.notes)
		}
		return k
	}
	if a, b := keyOf(), keyOf(); a == b {
		t.Errorf("two renders generated the same key %s", a)
	}
}

// TestNoDefaultKey: nothing in the chart is a usable key.
func TestNoDefaultKey(t *testing.T) {
	for _, f := range []string{"../mfa-authz/values.yaml", "../mfa-authz/templates/secret.yaml"} {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if m := regexp.MustCompile(`[0-9a-fA-F]{64}`).Find(data); m != nil {
			t.Errorf("%s holds a 64-hex-digit string %s", f, m)
		}
	}
}

func TestRejectedValues(t *testing.T) {
	const schema = "values don't meet the specifications of the schema(s) in the following chart(s):\nmfa-authz:\n"
	const exec = "execution error at (mfa-authz/templates/configmap.yaml:1:4): "
	with := func(base map[string]any, yml string) map[string]any {
		var extra map[string]any
		if err := yaml.Unmarshal([]byte(yml), &extra); err != nil {
			t.Fatal(err)
		}
		for k, v := range extra {
			base[k] = v
		}
		return base
	}
	for _, tc := range []struct {
		name string
		vals map[string]any
		want string
	}{
		{"no store key", map[string]any{},
			exec + "the store key is required: set storeKey.existingSecret (a Secret you created, e.g. from `openssl rand -hex 32`), storeKey.value, or storeKey.generate=true"},
		{"two key sources", with(defaultValues(), `storeKey: {existingSecret: k, generate: true}`),
			exec + "set only one of storeKey.existingSecret, storeKey.value and storeKey.generate"},
		{"short key", with(defaultValues(), `storeKey: {value: abc123}`),
			exec + "storeKey.value must be 64 hex characters (32 bytes)"},
		{"replicas without Redis", with(defaultValues(), `replicaCount: 3`),
			exec + "replicaCount > 1 needs redis.enabled=true: the embedded directory store, verified sessions and lockout counters are per replica"},
		{"Redis without address", with(defaultValues(), `redis: {enabled: true}`),
			exec + "redis.enabled=true needs redis.url or redis.addresses"},
		{"policy without selector", with(defaultValues(), `istio: {authorizationPolicy: {enabled: true, rules: [{}]}}`),
			exec + "istio.authorizationPolicy.enabled needs istio.authorizationPolicy.selector (the protected workload's labels)"},
		{"unknown top-level key", with(defaultValues(), `replicas: 3`),
			schema + "- at '': additional properties 'replicas' not allowed\n"},
		{"unknown nested key", with(defaultValues(), `redis: {enabled: true, url: "redis://r:6379", password: hunter2}`),
			schema + "- at '/redis': additional properties 'password' not allowed\n"},
		{"config section the chart owns", with(defaultValues(), `config: {storage: {path: /tmp}}`),
			schema + "- at '/config': additional properties 'storage' not allowed\n"},
		{"wrong type", with(defaultValues(), `replicaCount: "3"`),
			schema + "- at '/replicaCount': got string, want integer\n"},
		{"bad duration", with(defaultValues(), `istio: {timeout: 500}`),
			schema + "- at '/istio/timeout': got number, want string\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := render(tc.vals)
			if err == nil {
				t.Fatalf("rendered; want error %q", tc.want)
			}
			if err.Error() != tc.want {
				t.Errorf("error =\n%q\nwant\n%q", err.Error(), tc.want)
			}
		})
	}
}

// TestConfigKeysChecked: a misspelled key inside config passes the schema
// (the sections are mfa-authz's, checked by its own parser) and is caught
// by that parser, as the server would at start.
func TestConfigKeysChecked(t *testing.T) {
	v := defaultValues()
	v["config"] = map[string]any{"mfa": map[string]any{"grace_periode": "1h"}}
	r := mustRender(t, v)
	cm := get[*corev1.ConfigMap](t, r, "ConfigMap/"+fullname+"-config")
	_, err := config.Parse([]byte(cm.Data["config.yaml"]))
	if err == nil || !strings.Contains(err.Error(), "grace_periode") {
		t.Fatalf("config.Parse = %v, want an error naming mfa.grace_periode", err)
	}
}
