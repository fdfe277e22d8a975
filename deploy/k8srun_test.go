package deploy

// What the manifests tell framecast is checked by framecast itself: the
// binary is built and run with each container's arguments, environment and
// mounted files, and KEDA's trigger metadata is checked against the keys
// KEDA's scalers read.

import (
	"bytes"
	"encoding/pem"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	kedav1alpha1 "github.com/kedacore/keda/v2/apis/keda/v1alpha1"
	"gopkg.in/yaml.v3"
	corev1 "k8s.io/api/core/v1"

	"github.com/framecast/framecast/internal/kafka"
	"github.com/framecast/framecast/internal/models"
)

var binary struct {
	once sync.Once
	dir  string
	path string
	err  error
	// flags holds each command's flag names, from its --help.
	mu    sync.Mutex
	flags map[string][]string
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binary.dir != "" {
		os.RemoveAll(binary.dir)
	}
	os.Exit(code)
}

// framecast builds ./cmd/framecast once for the package's tests.
func framecast(t *testing.T) string {
	t.Helper()
	binary.once.Do(func() {
		binary.dir, binary.err = os.MkdirTemp("", "framecast-k8s-")
		if binary.err != nil {
			return
		}
		binary.path = filepath.Join(binary.dir, "framecast")
		out, err := exec.Command("go", "build", "-o", binary.path, "../cmd/framecast").CombinedOutput()
		if err != nil {
			binary.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binary.err != nil {
		t.Fatal(binary.err)
	}
	return binary.path
}

var helpFlag = regexp.MustCompile(`(?m)^  -([a-z0-9][a-z0-9-]*)`)

// commandFlags lists the flags `framecast <cmd> --help` prints.
func commandFlags(t *testing.T, cmd string) []string {
	t.Helper()
	bin := framecast(t)
	binary.mu.Lock()
	defer binary.mu.Unlock()
	if f, ok := binary.flags[cmd]; ok {
		return f
	}
	c := exec.Command(bin, cmd, "--help")
	c.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + binary.dir}
	out, err := c.CombinedOutput()
	if err != nil {
		t.Fatalf("framecast %s --help: %v\n%s", cmd, err, out)
	}
	var names []string
	for _, m := range helpFlag.FindAllStringSubmatch(string(out), -1) {
		names = append(names, m[1])
	}
	if len(names) < 5 || !slices.Contains(names, "config") {
		t.Fatalf("framecast %s --help lists flags %v: has the usage format changed?", cmd, names)
	}
	if binary.flags == nil {
		binary.flags = map[string][]string{}
	}
	binary.flags[cmd] = names
	return names
}

// envName is the variable that stands in for a flag (internal/cli).
func envName(flag string) string {
	return "FRAMECAST_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// setting is what a role is told: its arguments, its environment and its
// --config file, with the precedence the CLI gives them.
type setting struct {
	args   []string
	env    map[string]string
	config map[string]any
}

// value is the flag's effective value and whether it is set at all:
// command line > FRAMECAST_* > --config file.
func (s setting) value(flag string) (string, bool) {
	for i := len(s.args) - 1; i >= 1; i-- {
		a := strings.TrimLeft(s.args[i], "-")
		if a == s.args[i] {
			continue
		}
		if name, v, ok := strings.Cut(a, "="); ok && name == flag {
			return v, true
		}
		if a == flag && i+1 < len(s.args) {
			return s.args[i+1], true
		}
	}
	if v, ok := s.env[envName(flag)]; ok {
		return v, true
	}
	if v, ok := s.config[flag]; ok {
		return fmt.Sprint(v), true
	}
	return "", false
}

func portOf(t *testing.T, where, addr string) int32 {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	n, err2 := strconv.Atoi(p)
	if err != nil || err2 != nil {
		t.Fatalf("%s: %q is not host:port", where, addr)
	}
	return int32(n)
}

// mounted writes the container's ConfigMap and Secret volumes under root,
// at their mount paths, and returns the mount paths.
func mounted(t *testing.T, r *rendered, pod *corev1.PodSpec, c corev1.Container, root string) []string {
	t.Helper()
	var paths []string
	for _, m := range c.VolumeMounts {
		var files map[string][]byte
		for _, v := range pod.Volumes {
			switch {
			case v.Name != m.Name:
			case v.ConfigMap != nil && r.configMaps[v.ConfigMap.Name] != nil:
				files = map[string][]byte{}
				for k, d := range r.configMaps[v.ConfigMap.Name].Data {
					files[k] = []byte(d)
				}
			case v.Secret != nil && r.secrets[v.Secret.SecretName] != nil:
				files = r.secrets[v.Secret.SecretName].Data
			}
		}
		dir := filepath.Join(root, m.MountPath)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for name, data := range files {
			if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		paths = append(paths, m.MountPath)
	}
	return paths
}

// TestK8sFramecastAcceptsManifests runs every container's framecast as the
// pod would: the role and arguments from the manifest, the environment as
// the kubelet builds it (literals, envFrom ConfigMaps and Secrets, the pod
// name), the ConfigMap and Secret volumes as files. Only the brokers are
// changed, to a loopback port where nothing listens: a run that gets as far
// as connecting (exit 1, "kafka broker 127.0.0.1:…") has accepted every
// flag, variable, --config key and value and the camera file; a bad one is
// a usage error (exit 2) first.
func TestK8sFramecastAcceptsManifests(t *testing.T) {
	bin := framecast(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadBroker := ln.Addr().String()
	ln.Close()
	for name := range overlays {
		t.Run(name, func(t *testing.T) {
			r := render(t, name)
			for _, w := range r.workloads() {
				t.Run(w.name, func(t *testing.T) {
					checkContainer(t, bin, deadBroker, r, w)
				})
			}
		})
	}
}

func checkContainer(t *testing.T, bin, deadBroker string, r *rendered, w workload) {
	c := w.pod.Spec.Containers[0]
	if len(c.Args) == 0 {
		t.Fatal("no args: the first must be the role")
	}
	role := c.Args[0]
	flags := commandFlags(t, role)
	for _, a := range c.Args[1:] {
		if !strings.HasPrefix(a, "-") {
			continue
		}
		f, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !slices.Contains(flags, f) {
			t.Errorf("arg %s: not a flag of framecast %s", a, role)
		}
		if f == "brokers" {
			t.Errorf("arg %s: give the brokers in the framecast-kafka ConfigMap (FRAMECAST_BROKERS), where KEDA reads them too", a)
		}
	}
	podName := w.name + "-0"
	env := containerEnv(r, c, podName)
	for k := range env {
		// The global flags' variables, and the cache directory every role
		// reads (internal/models), also without a flag.
		known := slices.ContainsFunc(flags, func(f string) bool { return envName(f) == k }) ||
			k == "FRAMECAST_LOG_LEVEL" || k == "FRAMECAST_LOG_FORMAT" || k == models.EnvHome || k == models.EnvORTLib
		if strings.HasPrefix(k, "FRAMECAST_") && !known {
			t.Errorf("env %s: framecast %s has no flag it stands for (it would be ignored)", k, role)
		}
		if !strings.HasPrefix(k, "FRAMECAST_") && !strings.HasPrefix(k, "GO") {
			t.Errorf("env %s: not a FRAMECAST_* variable", k)
		}
	}

	root := t.TempDir()
	mounts := mounted(t, r, &w.pod.Spec, c, root)
	// Paths in the pod → paths under root, in arguments, variables and
	// the --config file alike.
	// The image's cache directory, with one sample photo for synthetic:
	// cameras (the models are loaded only after connecting).
	if (role == "publish" || role == "process") && !strings.HasPrefix(env[models.EnvHome], "/") {
		t.Errorf("%s: set %s to the image's cache directory (the default depends on the user's home)", role, models.EnvHome)
	}
	if home := env[models.EnvHome]; home != "" {
		mounts = append(mounts, home)
		writeSamplePhoto(t, filepath.Join(root, home, "images", "face-api", "sample1.jpg"))
	}
	slices.SortFunc(mounts, func(a, b string) int { return len(b) - len(a) }) // the longest prefix first
	var pairs []string
	for _, m := range mounts {
		pairs = append(pairs, m+"/", filepath.Join(root, m)+"/")
	}
	replacer := strings.NewReplacer(pairs...) // one pass: a relocated path is not relocated again
	relocate := func(s string) string {
		if slices.Contains(mounts, s) {
			return filepath.Join(root, s)
		}
		return replacer.Replace(s)
	}
	s := setting{args: c.Args, env: env}
	if path, ok := s.value("config"); ok {
		b, err := os.ReadFile(relocate(path))
		if err != nil {
			t.Fatalf("--config %s is no file of a mounted ConfigMap: %v", path, err)
		}
		if err := yaml.Unmarshal(b, &s.config); err != nil {
			t.Fatalf("--config %s: %v", path, err)
		}
		for k := range s.config {
			if !slices.Contains(flags, k) {
				t.Errorf("--config %s: key %s is not a flag of framecast %s", path, k, role)
			}
		}
		if err := os.WriteFile(relocate(path), []byte(relocate(string(b))), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	// Ports: the probes and the PodMonitor use the port --metrics-listen
	// serves; the dashboard's http port is its --listen.
	ml, ok := s.value("metrics-listen")
	if !ok || ml == "" {
		t.Fatal("--metrics-listen is not set: no /metrics, /healthz or /readyz")
	}
	if host, _, _ := net.SplitHostPort(ml); host != "" && host != "0.0.0.0" && host != "::" {
		t.Errorf("--metrics-listen %s: the kubelet and Prometheus reach the pod's IP, not %s", ml, host)
	}
	if mp, _ := containerPort(c, "metrics"); mp != portOf(t, "--metrics-listen", ml) {
		t.Errorf("container port metrics %d, --metrics-listen %s", mp, ml)
	}
	for _, p := range []*corev1.Probe{c.LivenessProbe, c.ReadinessProbe, c.StartupProbe} {
		if p != nil && p.HTTPGet != nil {
			if n, _ := containerPort(c, p.HTTPGet.Port.String()); n != portOf(t, "--metrics-listen", ml) {
				t.Errorf("probe %s on port %d, but --metrics-listen is %s", p.HTTPGet.Path, n, ml)
			}
		}
	}
	if role == "view" {
		l, _ := s.value("listen")
		if hp, _ := containerPort(c, "http"); hp != portOf(t, "--listen", l) {
			t.Errorf("container port http %d, --listen %s", hp, l)
		}
	}
	if role == "publish" {
		checkCameraFile(t, s, relocate)
	}
	// SIGTERM: the processor drains for --drain-timeout, then commits and
	// leaves the group; the kubelet must not SIGKILL it before.
	if role == "process" {
		drain := 30 * time.Second // the flag's default
		if v, ok := s.value("drain-timeout"); ok {
			drain, _ = time.ParseDuration(v)
		}
		grace := int64(corev1.DefaultTerminationGracePeriodSeconds)
		if g := w.pod.Spec.TerminationGracePeriodSeconds; g != nil {
			grace = *g
		}
		if time.Duration(grace)*time.Second < drain+5*time.Second {
			t.Errorf("terminationGracePeriodSeconds %d leaves no time after --drain-timeout %v to commit and leave the group", grace, drain)
		}
	}

	env["FRAMECAST_BROKERS"] = deadBroker
	cmd := exec.Command(bin, slices.Collect(func(yield func(string) bool) {
		for _, a := range c.Args {
			if !yield(relocate(a)) {
				return
			}
		}
	})...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + root}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+relocate(v))
	}
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 || !strings.Contains(string(out), "kafka broker "+deadBroker) {
		t.Errorf("framecast %s with the manifest's settings: %v, want exit 1 at connecting to %s (all settings accepted):\n%s",
			strings.Join(c.Args, " "), err, deadBroker, out)
	}
}

// writeSamplePhoto writes a small JPEG where the synthetic source looks for
// the face-api sample photos.
func writeSamplePhoto(t *testing.T, path string) {
	t.Helper()
	img := image.NewGray(image.Rect(0, 0, 64, 48))
	for i := range img.Pix {
		img.Pix[i] = uint8(i)
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, nil); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// checkCameraFile: the camera file is one the test may open. Its cameras
// are synthetic: a real camera's address would send this test's traffic
// off the machine.
func checkCameraFile(t *testing.T, s setting, relocate func(string) string) {
	t.Helper()
	path, ok := s.value("camera-file")
	if !ok {
		t.Fatal("publish has no --camera-file")
	}
	b, err := os.ReadFile(relocate(path))
	if err != nil {
		t.Fatalf("--camera-file %s is no file of a mounted ConfigMap: %v", path, err)
	}
	var f struct {
		Cameras []struct {
			URI string `yaml:"uri"`
		} `yaml:"cameras"`
	}
	if err := yaml.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	for _, c := range f.Cameras {
		if !strings.HasPrefix(c.URI, "synthetic:") {
			t.Errorf("camera %q: the committed camera file lists synthetic cameras only (the test runs it)", c.URI)
		}
	}
}

// kedaKeys reads, from the source of the KEDA version in go.mod, the
// trigger metadata and authentication parameters a scaler takes: the
// `keda:"name=…,order=…"` tags of its metadata struct. A key in order
// resolvedEnv may also be given as <key>FromEnv.
func kedaKeys(t *testing.T, file string) (metadata, auth []string) {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/kedacore/keda/v2").Output()
	if err != nil {
		t.Fatalf("go list -m github.com/kedacore/keda/v2: %v", err)
	}
	src, err := os.ReadFile(filepath.Join(strings.TrimSpace(string(out)), "pkg", "scalers", file))
	if err != nil {
		t.Fatal(err)
	}
	tag := regexp.MustCompile(`keda:"name=\s*([A-Za-z0-9]+)\s*,\s*order=\s*([A-Za-z;]+)`)
	for _, m := range tag.FindAllStringSubmatch(string(src), -1) {
		order := strings.Split(m[2], ";")
		if slices.Contains(order, "triggerMetadata") {
			metadata = append(metadata, m[1])
		}
		if slices.Contains(order, "resolvedEnv") {
			metadata = append(metadata, m[1]+"FromEnv")
		}
		if slices.Contains(order, "authParams") {
			auth = append(auth, m[1])
		}
	}
	if len(metadata) < 3 {
		t.Fatalf("%s: found only %v: has KEDA changed how it declares metadata?", file, metadata)
	}
	return metadata, auth
}

// kedaSASL is KEDA's name for each framecast --sasl-mechanism.
var kedaSASL = map[string]string{"": "none", "plain": "plaintext", "scram-sha-256": "scram_sha256", "scram-sha-512": "scram_sha512"}

// checkScaledObjects: KEDA's own validation, a target that exists, at most
// one replica per partition, and triggers whose every key KEDA reads and
// whose every value agrees with what the processors are told.
func checkScaledObjects(t *testing.T, r *rendered) {
	t.Helper()
	if len(r.scaledObjects) != 1 {
		t.Fatalf("%d ScaledObjects, want 1 (the processors)", len(r.scaledObjects))
	}
	so := r.scaledObjects[0]
	if err := kedav1alpha1.CheckReplicaCountBoundsAreValid(so); err != nil {
		t.Error(err)
	}
	if err := kedav1alpha1.ValidateTriggers(so.Spec.Triggers); err != nil {
		t.Error(err)
	}
	kind := so.Spec.ScaleTargetRef.Kind
	if kind == "" {
		kind = "Deployment"
	}
	i := slices.IndexFunc(r.workloads(), func(w workload) bool { return w.kind == kind && w.name == so.Spec.ScaleTargetRef.Name })
	if i < 0 {
		t.Fatalf("ScaledObject %s: no %s %s to scale", so.Name, kind, so.Spec.ScaleTargetRef.Name)
	}
	target := r.workloads()[i]
	c := target.pod.Spec.Containers[0]
	if c.Args[0] != "process" {
		t.Errorf("ScaledObject %s scales %s, which is no processor", so.Name, target.name)
	}
	if so.Spec.MaxReplicaCount == nil || *so.Spec.MaxReplicaCount != kafka.DefaultPartitions {
		t.Errorf("ScaledObject %s: maxReplicaCount must be the frames topic's %d partitions (more processors would get none)", so.Name, kafka.DefaultPartitions)
	}
	env := containerEnv(r, c, target.name+"-0")
	kafkaMeta, kafkaAuth := kedaKeys(t, "kafka_scaler.go")
	promMeta, _ := kedaKeys(t, "prometheus_scaler.go")
	types := map[string]bool{}
	for _, tr := range so.Spec.Triggers {
		types[tr.Type] = true
		allowed := map[string][]string{"kafka": kafkaMeta, "prometheus": promMeta}[tr.Type]
		for k := range tr.Metadata {
			if !slices.Contains(allowed, k) {
				t.Errorf("%s trigger: KEDA's %s scaler reads no key %q", tr.Type, tr.Type, k)
			}
			if name, ok := strings.CutSuffix(k, "FromEnv"); ok {
				if _, set := env[tr.Metadata[k]]; !set {
					t.Errorf("%s trigger: %s: %s has no variable %s", tr.Type, name, target.name, tr.Metadata[k])
				}
			}
		}
		switch tr.Type {
		case "kafka":
			checkKafkaTrigger(t, r, tr, env, kafkaAuth)
		case "prometheus":
			q := tr.Metadata["query"]
			for _, want := range []string{"framecast_frames_processed_total", `outcome="skipped"`, `namespace="` + r.namespace + `"`} {
				if !strings.Contains(q, want) {
					t.Errorf("prometheus trigger: query %s lacks %s", q, want)
				}
			}
			if v, err := strconv.ParseFloat(tr.Metadata["threshold"], 64); err != nil || v <= 0 {
				t.Errorf("prometheus trigger: threshold %q", tr.Metadata["threshold"])
			}
		}
	}
	if !types["kafka"] || !types["prometheus"] {
		t.Errorf("triggers %v: want kafka (lag) and prometheus (stale skips)", types)
	}
	// The metric the prometheus trigger reads, with its outcome label.
	src, err := os.ReadFile("../internal/telemetry/roles.go")
	if err != nil || !strings.Contains(string(src), `newDesc("frames_processed_total"`) || !strings.Contains(string(src), `"skipped")`) {
		t.Errorf("internal/telemetry/roles.go no longer exports framecast_frames_processed_total{outcome=\"skipped\"} (%v): fix the prometheus trigger", err)
	}
}

func checkKafkaTrigger(t *testing.T, r *rendered, tr kedav1alpha1.ScaleTriggers, env map[string]string, authKeys []string) {
	t.Helper()
	// The trigger must watch what the processors consume: the same
	// variables, not copies that could drift.
	for key, variable := range map[string]string{"bootstrapServers": "FRAMECAST_BROKERS", "consumerGroup": "FRAMECAST_GROUP", "topic": "FRAMECAST_FRAMES_TOPIC"} {
		if tr.Metadata[key+"FromEnv"] != variable {
			t.Errorf("kafka trigger: want %sFromEnv: %s (the processors' own setting)", key, variable)
		}
	}
	if n, err := strconv.Atoi(tr.Metadata["lagThreshold"]); err != nil || n <= 0 {
		t.Errorf("kafka trigger: lagThreshold %q", tr.Metadata["lagThreshold"])
	}
	if tr.Metadata["allowIdleConsumers"] == "true" {
		t.Error("kafka trigger: allowIdleConsumers lets replicas exceed the partitions")
	}
	mech := strings.ToLower(env["FRAMECAST_SASL_MECHANISM"])
	if got := tr.Metadata["sasl"]; got != kedaSASL[mech] && !(got == "" && mech == "") {
		t.Errorf("kafka trigger: sasl %q, but the processors use --sasl-mechanism %q (KEDA: %q)", got, mech, kedaSASL[mech])
	}
	tls := env["FRAMECAST_TLS"] == "true" || env["FRAMECAST_TLS_CA"] != "" || env["FRAMECAST_TLS_CERT"] != ""
	if (tr.Metadata["tls"] == "enable") != tls {
		t.Errorf("kafka trigger: tls %q, processors' TLS %v", tr.Metadata["tls"], tls)
	}
	if ca := env["FRAMECAST_TLS_CA"]; ca != "" {
		checkTriggerCA(t, r, tr, ca)
	}
	if mech == "" {
		return
	}
	if tr.AuthenticationRef == nil {
		t.Fatal("kafka trigger: SASL without an authenticationRef")
	}
	ta := r.triggerAuths[tr.AuthenticationRef.Name]
	if ta == nil || (tr.AuthenticationRef.Kind != "" && tr.AuthenticationRef.Kind != "TriggerAuthentication") {
		t.Fatalf("kafka trigger: no TriggerAuthentication %s", tr.AuthenticationRef.Name)
	}
	params := map[string]string{}
	for _, e := range ta.Spec.Env {
		if !slices.Contains(authKeys, e.Parameter) {
			t.Errorf("TriggerAuthentication %s: KEDA's kafka scaler takes no parameter %q", ta.Name, e.Parameter)
		}
		if _, ok := env[e.Name]; !ok {
			t.Errorf("TriggerAuthentication %s: the processors have no variable %s", ta.Name, e.Name)
		}
		params[e.Parameter] = e.Name
	}
	if params["username"] != "FRAMECAST_SASL_USER" || params["password"] != "FRAMECAST_SASL_PASSWORD" {
		t.Errorf("TriggerAuthentication %s: want username and password from FRAMECAST_SASL_USER and FRAMECAST_SASL_PASSWORD, got %v", ta.Name, params)
	}
}

// checkTriggerCA: with the processors trusting a CA file, KEDA must trust
// the same one: its TriggerAuthentication's ca parameter names a Secret
// key whose PEM is the file the processors mount at ca.
func checkTriggerCA(t *testing.T, r *rendered, tr kedav1alpha1.ScaleTriggers, ca string) {
	t.Helper()
	if tr.AuthenticationRef == nil || r.triggerAuths[tr.AuthenticationRef.Name] == nil {
		t.Fatalf("kafka trigger: the processors trust %s, but no TriggerAuthentication gives KEDA a CA", ca)
	}
	ta := r.triggerAuths[tr.AuthenticationRef.Name]
	i := slices.IndexFunc(ta.Spec.SecretTargetRef, func(s kedav1alpha1.AuthSecretTargetRef) bool { return s.Parameter == "ca" })
	if i < 0 {
		t.Fatalf("TriggerAuthentication %s: no secretTargetRef for parameter ca, while the processors trust %s", ta.Name, ca)
	}
	ref := ta.Spec.SecretTargetRef[i]
	sec := r.secrets[ref.Name]
	if sec == nil || len(sec.Data[ref.Key]) == 0 {
		t.Fatalf("TriggerAuthentication %s: ca from Secret %s key %s, which the overlay does not make (a hash suffix on its name?)", ta.Name, ref.Name, ref.Key)
	}
	if block, _ := pem.Decode(sec.Data[ref.Key]); block == nil || block.Type != "CERTIFICATE" {
		t.Errorf("Secret %s key %s holds no PEM certificate", ref.Name, ref.Key)
	}
	for _, w := range r.workloads() {
		if w.pod.Spec.Containers[0].Args[0] != "process" {
			continue
		}
		found := false
		for _, m := range w.pod.Spec.Containers[0].VolumeMounts {
			for _, v := range w.pod.Spec.Volumes {
				if v.Name == m.Name && v.Secret != nil && v.Secret.SecretName == ref.Name && m.MountPath+"/"+ref.Key == ca {
					found = true
				}
			}
		}
		if !found {
			t.Errorf("%s: FRAMECAST_TLS_CA=%s is not Secret %s's key %s mounted", w.name, ca, ref.Name, ref.Key)
		}
	}
}
