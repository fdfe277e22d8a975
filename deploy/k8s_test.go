package deploy

// The Kubernetes manifests (deploy/k8s) cannot be applied here: no cluster
// runs where the tests do. So every overlay is rendered with kustomize's
// own library, every object is decoded strictly into the API types the
// cluster would use (k8s.io/api, KEDA's, prometheus-operator's), and what
// the objects say of framecast — arguments, FRAMECAST_* variables, --config
// files, ports, probe paths — is checked against the real binary.

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	kedav1alpha1 "github.com/kedacore/keda/v2/apis/keda/v1alpha1"
	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// overlays are the directories under k8s/overlays, each a deployment; the
// test fails if one is added without being listed here.
var overlays = map[string]struct {
	namespace   string
	exactlyOnce bool
}{
	"at-least-once": {namespace: "framecast"},
	"exactly-once":  {namespace: "framecast", exactlyOnce: true},
	"site-example":  {namespace: "framecast"},
}

// rendered is one overlay's output, decoded.
type rendered struct {
	namespace     string
	deployments   []*appsv1.Deployment
	statefulSets  []*appsv1.StatefulSet
	services      []*corev1.Service
	configMaps    map[string]*corev1.ConfigMap
	secrets       map[string]*corev1.Secret
	namespaces    []*corev1.Namespace
	scaledObjects []*kedav1alpha1.ScaledObject
	triggerAuths  map[string]*kedav1alpha1.TriggerAuthentication
	podMonitors   []*monitoringv1.PodMonitor
	rules         []*monitoringv1.PrometheusRule
}

// workload is a Deployment or StatefulSet: what the checks need of either.
type workload struct {
	kind, name string
	labels     map[string]string
	pod        *corev1.PodTemplateSpec
}

func (r *rendered) workloads() []workload {
	var out []workload
	for _, d := range r.deployments {
		out = append(out, workload{"Deployment", d.Name, d.Labels, &d.Spec.Template})
	}
	for _, s := range r.statefulSets {
		out = append(out, workload{"StatefulSet", s.Name, s.Labels, &s.Spec.Template})
	}
	return out
}

// render builds an overlay as `kubectl apply -k` would. The Secrets'
// files are not in git (secrets/.gitignore): the render gets the
// committed *.example files in their place, in memory, so a developer's
// real secrets are never read.
func render(t *testing.T, overlay string) *rendered {
	t.Helper()
	mem := filesys.MakeFsInMemory()
	err := filepath.WalkDir("k8s", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if filepath.Base(filepath.Dir(path)) == "secrets" && !strings.HasSuffix(path, ".example") {
			return nil // a developer's real secret, or .gitignore
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if err := mem.WriteFile("/"+path, b); err != nil {
			return err
		}
		if real, ok := strings.CutSuffix(path, ".example"); ok {
			return mem.WriteFile("/"+real, b)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	m, err := k.Run(mem, "/k8s/overlays/"+overlay)
	if err != nil {
		t.Fatalf("kustomize build overlays/%s: %v", overlay, err)
	}
	r := &rendered{
		configMaps:   map[string]*corev1.ConfigMap{},
		secrets:      map[string]*corev1.Secret{},
		triggerAuths: map[string]*kedav1alpha1.TriggerAuthentication{},
	}
	for _, res := range m.Resources() {
		b, err := res.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		gvk := res.GetApiVersion() + " " + res.GetKind()
		id := gvk + " " + res.GetName()
		var obj any
		switch gvk {
		case "v1 Namespace":
			obj = appendNew(&r.namespaces)
		case "v1 ConfigMap":
			obj = putNew(r.configMaps, res.GetName())
		case "v1 Secret":
			obj = putNew(r.secrets, res.GetName())
		case "v1 Service":
			obj = appendNew(&r.services)
		case "apps/v1 Deployment":
			obj = appendNew(&r.deployments)
		case "apps/v1 StatefulSet":
			obj = appendNew(&r.statefulSets)
		case "keda.sh/v1alpha1 ScaledObject":
			obj = appendNew(&r.scaledObjects)
		case "keda.sh/v1alpha1 TriggerAuthentication":
			obj = putNew(r.triggerAuths, res.GetName())
		case "monitoring.coreos.com/v1 PodMonitor":
			obj = appendNew(&r.podMonitors)
		case "monitoring.coreos.com/v1 PrometheusRule":
			obj = appendNew(&r.rules)
		default:
			t.Errorf("overlays/%s: %s: a kind this test does not know; decode it strictly here", overlay, id)
			continue
		}
		// Strict: unknown and duplicate fields, and fields spelt in
		// another case, are errors (encoding/json would take "Image" for
		// "image" and drop "imagePullPolicyy").
		strict, err := sigsjson.UnmarshalStrict(b, obj)
		if err != nil {
			t.Errorf("overlays/%s: %s: %v", overlay, id, err)
		}
		for _, e := range strict {
			t.Errorf("overlays/%s: %s: %v", overlay, id, e)
		}
		if res.GetKind() != "Namespace" && res.GetNamespace() != overlays[overlay].namespace {
			t.Errorf("overlays/%s: %s in namespace %q, want %q", overlay, id, res.GetNamespace(), overlays[overlay].namespace)
		}
	}
	r.namespace = overlays[overlay].namespace
	return r
}

// appendNew adds a new, zero T to list for the decoder to fill.
func appendNew[T any](list *[]*T) any {
	o := new(T)
	*list = append(*list, o)
	return o
}

// putNew puts a new, zero T in m under name for the decoder to fill.
func putNew[T any](m map[string]*T, name string) any {
	o := new(T)
	m[name] = o
	return o
}

func TestK8sOverlaysListed(t *testing.T) {
	dirs, err := os.ReadDir("k8s/overlays")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, d := range dirs {
		names = append(names, d.Name())
		if _, ok := overlays[d.Name()]; !ok {
			t.Errorf("overlay %s is not in this test's overlays: add it", d.Name())
		}
	}
	if len(names) != len(overlays) {
		t.Errorf("overlays on disk %v, in the test %d", names, len(overlays))
	}
}

// TestK8sObjects checks what holds the objects together: names that
// resolve, selectors that select, the restricted security context, probes
// and resources, and the shape of each overlay.
func TestK8sObjects(t *testing.T) {
	for name, want := range overlays {
		t.Run(name, func(t *testing.T) {
			r := render(t, name)
			if len(r.namespaces) != 1 || r.namespaces[0].Name != r.namespace ||
				r.namespaces[0].Labels["pod-security.kubernetes.io/enforce"] != "restricted" {
				t.Errorf("want one Namespace %s enforcing the restricted Pod Security Standard", r.namespace)
			}
			roles := map[string]string{} // role → workload kind
			for _, w := range r.workloads() {
				checkPod(t, r, w)
				for _, c := range w.pod.Spec.Containers {
					if len(c.Args) > 0 {
						roles[c.Args[0]] = w.kind
					}
				}
			}
			wantRoles := map[string]string{"process": "Deployment", "view": "Deployment", "publish": "Deployment"}
			if want.exactlyOnce {
				wantRoles["process"] = "StatefulSet"
			}
			if fmt.Sprint(roles) != fmt.Sprint(wantRoles) {
				t.Errorf("roles %v, want %v", roles, wantRoles)
			}
			for _, s := range r.services {
				checkService(t, r, s)
			}
			checkDashboardService(t, r)
			checkScaledObjects(t, r)
			checkPodMonitors(t, r)
			if len(r.rules) != 1 || len(r.rules[0].Spec.Groups) == 0 {
				t.Errorf("want one PrometheusRule with the alerts, got %d", len(r.rules))
			}
			if want.exactlyOnce {
				checkExactlyOnce(t, r)
			} else {
				for _, w := range r.workloads() {
					if v := envValue(r, w.pod.Spec.Containers[0], "FRAMECAST_DELIVERY"); v != "" && v != "at-least-once" {
						t.Errorf("%s: FRAMECAST_DELIVERY=%s in the at-least-once overlay", w.name, v)
					}
				}
			}
		})
	}
}

// checkPod: the restricted Pod Security Standard and then some, probes on
// the metrics port, resources, and references that resolve.
func checkPod(t *testing.T, r *rendered, w workload) {
	t.Helper()
	spec := &w.pod.Spec
	where := w.kind + " " + w.name
	if !selects(selectorOf(r, w), w.pod.Labels) {
		t.Errorf("%s: its selector does not select its own pods", where)
	}
	psc := spec.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot {
		t.Errorf("%s: pod securityContext.runAsNonRoot must be true", where)
	}
	if psc == nil || psc.RunAsUser == nil || *psc.RunAsUser == 0 {
		t.Errorf("%s: pod securityContext.runAsUser must be a non-zero uid (the image's user is not known here)", where)
	}
	if psc == nil || psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("%s: pod securityContext.seccompProfile must be RuntimeDefault", where)
	}
	if spec.AutomountServiceAccountToken == nil || *spec.AutomountServiceAccountToken {
		t.Errorf("%s: automountServiceAccountToken must be false (framecast never calls the API server)", where)
	}
	if spec.HostNetwork || spec.HostPID || spec.HostIPC {
		t.Errorf("%s: no host namespaces", where)
	}
	for _, v := range spec.Volumes {
		if v.HostPath != nil {
			t.Errorf("%s: volume %s is a hostPath", where, v.Name)
		}
		if v.ConfigMap != nil && r.configMaps[v.ConfigMap.Name] == nil {
			t.Errorf("%s: volume %s: no ConfigMap %s", where, v.Name, v.ConfigMap.Name)
		}
		if v.Secret != nil && r.secrets[v.Secret.SecretName] == nil {
			t.Errorf("%s: volume %s: no Secret %s", where, v.Name, v.Secret.SecretName)
		}
	}
	if len(spec.Containers) != 1 || len(spec.InitContainers) != 0 {
		t.Fatalf("%s: want one container", where)
	}
	c := spec.Containers[0]
	where += " container " + c.Name
	sc := c.SecurityContext
	switch {
	case sc == nil:
		t.Errorf("%s: no securityContext", where)
	default:
		if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
			t.Errorf("%s: allowPrivilegeEscalation must be false", where)
		}
		if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
			t.Errorf("%s: readOnlyRootFilesystem must be true", where)
		}
		if sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) > 0 {
			t.Errorf("%s: capabilities must drop ALL and add none", where)
		}
		if sc.Privileged != nil && *sc.Privileged {
			t.Errorf("%s: privileged", where)
		}
	}
	if repo, tag, ok := strings.Cut(c.Image, ":"); !ok || tag == "" || path.Base(repo) != "framecast" {
		t.Errorf("%s: image %q, want [REGISTRY/]framecast:TAG", where, c.Image)
	}
	if len(c.Command) > 0 {
		t.Errorf("%s: command %q: the image's entrypoint is framecast; give the role in args", where, c.Command)
	}
	for _, res := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		if q, ok := c.Resources.Requests[res]; !ok || q.IsZero() {
			t.Errorf("%s: no %s request", where, res)
		}
	}
	if q, ok := c.Resources.Limits[corev1.ResourceMemory]; !ok || q.Cmp(c.Resources.Requests[corev1.ResourceMemory]) < 0 {
		t.Errorf("%s: memory limit missing or below the request", where)
	}
	for _, e := range c.EnvFrom {
		if e.ConfigMapRef != nil && r.configMaps[e.ConfigMapRef.Name] == nil {
			t.Errorf("%s: envFrom: no ConfigMap %s", where, e.ConfigMapRef.Name)
		}
		if e.SecretRef != nil && r.secrets[e.SecretRef.Name] == nil {
			t.Errorf("%s: envFrom: no Secret %s", where, e.SecretRef.Name)
		}
		if e.Prefix != "" {
			t.Errorf("%s: envFrom prefix %q: the keys are FRAMECAST_* names as they are", where, e.Prefix)
		}
	}
	tmp := false
	for _, m := range c.VolumeMounts {
		i := slices.IndexFunc(spec.Volumes, func(v corev1.Volume) bool { return v.Name == m.Name })
		if i < 0 {
			t.Errorf("%s: mount %s: no such volume", where, m.Name)
			continue
		}
		tmp = tmp || (m.MountPath == "/tmp" && spec.Volumes[i].EmptyDir != nil && !m.ReadOnly)
	}
	// The root filesystem is read-only; /tmp is the image's working
	// directory and where a library would put a temporary file.
	if !tmp {
		t.Errorf("%s: mount an emptyDir on /tmp", where)
	}
	// Probes: liveness (and startup) on /healthz, readiness on /readyz,
	// on a named container port.
	probes := []struct {
		kind, path string
		p          *corev1.Probe
		required   bool
	}{
		{"liveness", "/healthz", c.LivenessProbe, true},
		{"readiness", "/readyz", c.ReadinessProbe, true},
		{"startup", "/healthz", c.StartupProbe, false},
	}
	for _, p := range probes {
		if p.p == nil {
			if p.required {
				t.Errorf("%s: no %s probe", where, p.kind)
			}
			continue
		}
		if p.p.HTTPGet == nil || p.p.HTTPGet.Path != p.path {
			t.Errorf("%s: %s probe must be an HTTP GET of %s", where, p.kind, p.path)
			continue
		}
		if _, ok := containerPort(c, p.p.HTTPGet.Port.String()); !ok {
			t.Errorf("%s: %s probe port %s is not a port of the container", where, p.kind, p.p.HTTPGet.Port.String())
		}
	}
}

func selectorOf(r *rendered, w workload) map[string]string {
	for _, d := range r.deployments {
		if w.kind == "Deployment" && d.Name == w.name && d.Spec.Selector != nil && len(d.Spec.Selector.MatchExpressions) == 0 {
			return d.Spec.Selector.MatchLabels
		}
	}
	for _, s := range r.statefulSets {
		if w.kind == "StatefulSet" && s.Name == w.name && s.Spec.Selector != nil && len(s.Spec.Selector.MatchExpressions) == 0 {
			return s.Spec.Selector.MatchLabels
		}
	}
	return nil
}

// selects reports whether a non-empty label selector matches labels.
func selects(sel, labels map[string]string) bool {
	if len(sel) == 0 {
		return false
	}
	for k, v := range sel {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// containerPort resolves a probe's or Service's port (a name or a number)
// to the container's port number.
func containerPort(c corev1.Container, port string) (int32, bool) {
	for _, p := range c.Ports {
		if p.Name == port || fmt.Sprint(p.ContainerPort) == port {
			return p.ContainerPort, true
		}
	}
	return 0, false
}

// checkService: the Service selects pods of exactly one workload, and its
// target ports are ports of their container.
func checkService(t *testing.T, r *rendered, s *corev1.Service) {
	t.Helper()
	var matched []workload
	for _, w := range r.workloads() {
		if selects(s.Spec.Selector, w.pod.Labels) {
			matched = append(matched, w)
		}
	}
	if len(matched) != 1 {
		t.Errorf("Service %s selects %d workloads, want 1", s.Name, len(matched))
		return
	}
	for _, p := range s.Spec.Ports {
		if _, ok := containerPort(matched[0].pod.Spec.Containers[0], p.TargetPort.String()); !ok {
			t.Errorf("Service %s port %s: target %s is not a port of %s", s.Name, p.Name, p.TargetPort.String(), matched[0].name)
		}
	}
}

// checkDashboardService: the dashboard has a Service on its --listen port.
func checkDashboardService(t *testing.T, r *rendered) {
	t.Helper()
	for _, s := range r.services {
		if s.Name != "framecast-view" {
			continue
		}
		if s.Spec.Type != "" && s.Spec.Type != corev1.ServiceTypeClusterIP {
			t.Errorf("Service framecast-view is %s: keep the dashboard in the cluster (an Ingress or port-forward reaches it)", s.Spec.Type)
		}
		return
	}
	t.Error("no Service framecast-view for the dashboard")
}

func checkPodMonitors(t *testing.T, r *rendered) {
	t.Helper()
	if len(r.podMonitors) == 0 {
		t.Fatal("no PodMonitor")
	}
	scraped := map[string]bool{}
	for _, pm := range r.podMonitors {
		if len(pm.Spec.Selector.MatchExpressions) > 0 {
			t.Errorf("PodMonitor %s: matchExpressions are not checked here; use matchLabels", pm.Name)
		}
		if len(pm.Spec.PodMetricsEndpoints) == 0 {
			t.Errorf("PodMonitor %s: no podMetricsEndpoints", pm.Name)
		}
		for _, w := range r.workloads() {
			if !selects(pm.Spec.Selector.MatchLabels, w.pod.Labels) {
				continue
			}
			scraped[w.name] = true
			for _, ep := range pm.Spec.PodMetricsEndpoints {
				if ep.Port == nil {
					t.Errorf("PodMonitor %s: endpoint without a port name", pm.Name)
					continue
				}
				if _, ok := containerPort(w.pod.Spec.Containers[0], *ep.Port); !ok {
					t.Errorf("PodMonitor %s: port %s is not a port of %s", pm.Name, *ep.Port, w.name)
				}
				if ep.Path != "" && ep.Path != "/metrics" {
					t.Errorf("PodMonitor %s: path %s, framecast serves /metrics", pm.Name, ep.Path)
				}
			}
		}
	}
	for _, w := range r.workloads() {
		if !scraped[w.name] {
			t.Errorf("%s %s is scraped by no PodMonitor", w.kind, w.name)
		}
	}
}

func checkExactlyOnce(t *testing.T, r *rendered) {
	t.Helper()
	for _, d := range r.deployments {
		if d.Spec.Template.Spec.Containers[0].Args[0] == "process" {
			t.Errorf("Deployment %s runs processors in the exactly-once overlay: they must be a StatefulSet", d.Name)
		}
	}
	for _, s := range r.statefulSets {
		c := s.Spec.Template.Spec.Containers[0]
		if c.Args[0] != "process" {
			continue
		}
		if v := envValue(r, c, "FRAMECAST_DELIVERY"); v != "exactly-once" {
			t.Errorf("StatefulSet %s: FRAMECAST_DELIVERY=%q, want exactly-once", s.Name, v)
		}
		var id *corev1.EnvVar
		for i := range c.Env {
			if c.Env[i].Name == "FRAMECAST_INSTANCE_ID" {
				id = &c.Env[i]
			}
		}
		// The pod name, <statefulset>-<ordinal>, survives restarts and is
		// never the same for two live pods: what --instance-id asks for.
		if id == nil || id.ValueFrom == nil || id.ValueFrom.FieldRef == nil || id.ValueFrom.FieldRef.FieldPath != "metadata.name" {
			t.Errorf("StatefulSet %s: FRAMECAST_INSTANCE_ID must come from the pod name (fieldRef metadata.name)", s.Name)
		}
		if slices.ContainsFunc(c.Args, func(a string) bool { return strings.HasPrefix(strings.TrimLeft(a, "-"), "instance-id") }) {
			t.Errorf("StatefulSet %s: --instance-id on the command line would be the same for every pod", s.Name)
		}
		if !slices.ContainsFunc(r.services, func(svc *corev1.Service) bool {
			return svc.Name == s.Spec.ServiceName && svc.Spec.ClusterIP == corev1.ClusterIPNone
		}) {
			t.Errorf("StatefulSet %s: serviceName %q is no headless Service", s.Name, s.Spec.ServiceName)
		}
		return
	}
	t.Error("no processor StatefulSet")
}

// envValue is the value a container's variable gets from a literal, a
// ConfigMap or Secret key, or an envFrom (later envFrom entries and then
// env win, as in Kubernetes); "" if none or from the downward API.
func envValue(r *rendered, c corev1.Container, name string) string {
	v, _ := containerEnv(r, c, "")[name]
	return v
}

// containerEnv is every variable of c as the kubelet would set it; fieldRef
// metadata.name gets podName.
func containerEnv(r *rendered, c corev1.Container, podName string) map[string]string {
	env := map[string]string{}
	for _, e := range c.EnvFrom {
		if e.ConfigMapRef != nil && r.configMaps[e.ConfigMapRef.Name] != nil {
			for k, v := range r.configMaps[e.ConfigMapRef.Name].Data {
				env[k] = v
			}
		}
		if e.SecretRef != nil && r.secrets[e.SecretRef.Name] != nil {
			for k, v := range r.secrets[e.SecretRef.Name].Data {
				env[k] = string(v)
			}
		}
	}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom == nil:
			env[e.Name] = e.Value
		case e.ValueFrom.ConfigMapKeyRef != nil:
			if cm := r.configMaps[e.ValueFrom.ConfigMapKeyRef.Name]; cm != nil {
				env[e.Name] = cm.Data[e.ValueFrom.ConfigMapKeyRef.Key]
			}
		case e.ValueFrom.SecretKeyRef != nil:
			if s := r.secrets[e.ValueFrom.SecretKeyRef.Name]; s != nil {
				env[e.Name] = string(s.Data[e.ValueFrom.SecretKeyRef.Key])
			}
		case e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "metadata.name":
			env[e.Name] = podName
		default:
			env[e.Name] = ""
		}
	}
	return env
}

// TestK8sStatefulSetFollowsDeployment: the exactly-once StatefulSet is a
// copy of the base's processor Deployment (kustomize cannot change a
// kind); apart from the two variables that make it exactly-once, their
// pods must not drift apart.
func TestK8sStatefulSetFollowsDeployment(t *testing.T) {
	var dep *corev1.PodTemplateSpec
	for _, d := range render(t, "at-least-once").deployments {
		if d.Name == "framecast-process" {
			dep = &d.Spec.Template
		}
	}
	var sts *corev1.PodTemplateSpec
	for _, s := range render(t, "exactly-once").statefulSets {
		if s.Name == "framecast-process" {
			sts = s.Spec.Template.DeepCopy()
		}
	}
	if dep == nil || sts == nil {
		t.Fatal("no processor Deployment (at-least-once) or StatefulSet (exactly-once)")
	}
	c := &sts.Spec.Containers[0]
	c.Env = slices.DeleteFunc(c.Env, func(e corev1.EnvVar) bool {
		return e.Name == "FRAMECAST_DELIVERY" || e.Name == "FRAMECAST_INSTANCE_ID"
	})
	if !equality.Semantic.DeepEqual(dep, sts) {
		a, _ := json.MarshalIndent(dep, "", "  ")
		b, _ := json.MarshalIndent(sts, "", "  ")
		t.Errorf("the processor pods differ beyond FRAMECAST_DELIVERY and FRAMECAST_INSTANCE_ID: change overlays/exactly-once/process-statefulset.yaml with base/process.yaml\nDeployment:\n%s\nStatefulSet:\n%s", a, b)
	}
}
