package container

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"gopkg.in/yaml.v3"

	"github.com/framecast/framecast/internal/frame"
	"github.com/framecast/framecast/internal/kafka"
)

// composeFile is the part of deploy/compose.yaml the tests rely on; it is
// decoded with unknown keys rejected, so a misspelt key fails here rather
// than being ignored by Compose.
type composeFile struct {
	Name       string                    `yaml:"name"`
	XFramecast yaml.Node                 `yaml:"x-framecast"`
	Services   map[string]composeService `yaml:"services"`
	Volumes    map[string]any            `yaml:"volumes"`
	Configs    map[string]struct {
		Content string `yaml:"content"`
	} `yaml:"configs"`
}

type composeService struct {
	Image         string            `yaml:"image"`
	User          string            `yaml:"user"`
	ReadOnly      bool              `yaml:"read_only"`
	Tmpfs         []string          `yaml:"tmpfs"`
	CapDrop       []string          `yaml:"cap_drop"`
	SecurityOpt   []string          `yaml:"security_opt"`
	Restart       string            `yaml:"restart"`
	Environment   map[string]string `yaml:"environment"`
	Entrypoint    []string          `yaml:"entrypoint"`
	Command       []string          `yaml:"command"`
	Volumes       []string          `yaml:"volumes"`
	Ports         []string          `yaml:"ports"`
	DependsOn     yaml.Node         `yaml:"depends_on"`
	Profiles      []string          `yaml:"profiles"`
	ContainerName string            `yaml:"container_name"`
	Extends       *struct {
		File    string `yaml:"file"`
		Service string `yaml:"service"`
	} `yaml:"extends"`
	Configs []struct {
		Source string `yaml:"source"`
		Target string `yaml:"target"`
	} `yaml:"configs"`
}

func loadCompose(t *testing.T) composeFile {
	t.Helper()
	b, err := os.ReadFile("../compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	var c composeFile
	if err := dec.Decode(&c); err != nil {
		t.Fatalf("deploy/compose.yaml: %v", err)
	}
	return c
}

// framecastServices are the services run from the framecast image.
var framecastServices = []string{"broker", "publish", "process", "view"}

// TestComposeFile checks deploy/compose.yaml without an engine: the
// services, how they run, and that the profiles hold what they promise.
func TestComposeFile(t *testing.T) {
	c := loadCompose(t)
	for _, name := range framecastServices {
		s, ok := c.Services[name]
		if !ok {
			t.Errorf("no %s service", name)
			continue
		}
		if !strings.Contains(s.Image, "framecast:latest") || s.User != imageUser || !s.ReadOnly ||
			!slices.Contains(s.Tmpfs, "/tmp") || len(s.Profiles) != 0 {
			t.Errorf("%s: image %q user %q read_only %v tmpfs %v profiles %v: want the framecast image as %s, read-only with a tmpfs /tmp, in no profile",
				name, s.Image, s.User, s.ReadOnly, s.Tmpfs, s.Profiles, imageUser)
		}
		if len(s.Command) == 0 || s.Command[0] != name {
			t.Errorf("%s: command %q, want the %s role", name, s.Command, name)
		}
		for _, p := range s.Ports {
			if !strings.HasPrefix(p, "127.0.0.1:") {
				t.Errorf("%s publishes %q beyond loopback", name, p)
			}
		}
	}
	if c.Services["process"].ContainerName != "" {
		t.Error("process has a container_name: it could not be scaled")
	}
	if !slices.Contains(c.Services["broker"].Command, "broker:9092") {
		t.Errorf("broker command %q: listen on broker:9092, the address it advertises", c.Services["broker"].Command)
	}
	for name, profile := range map[string]string{"kafka": "kafka", "topics": "kafka", "prometheus": "monitoring", "grafana": "monitoring"} {
		if s, ok := c.Services[name]; !ok || !slices.Equal(s.Profiles, []string{profile}) {
			t.Errorf("service %s: want it in the %s profile", name, profile)
		}
	}
	if e := c.Services["kafka"].Extends; e == nil || e.File != "docker-compose.yml" {
		t.Error("kafka does not extend docker-compose.yml's")
	}
	// The topics service's script: each topic's line, with $$c (the shared
	// configs) and $$t (the command, with --partitions) expanded.
	script := strings.Join(c.Services["topics"].Command, "\n")
	vars := map[string]string{}
	lines := map[string]string{}
	for _, line := range strings.Split(script, "\n") {
		line = strings.TrimSpace(line)
		if k, v, ok := strings.Cut(line, "="); ok && len(k) == 1 {
			vars["$$"+k] = strings.Trim(v, `"`)
			continue
		}
		for k, v := range vars {
			line = strings.ReplaceAll(line, k, v)
		}
		if _, rest, ok := strings.Cut(line, "--topic "); ok {
			name, _, _ := strings.Cut(rest, " ")
			lines[name] = line
		}
	}
	for _, spec := range (kafka.TopicSettings{}).Specs(kafka.Topics{}) {
		line, ok := lines[spec.Name]
		if !ok {
			t.Errorf("the topics service does not create %s", spec.Name)
			continue
		}
		want := []string{fmt.Sprintf("--partitions %d", spec.Partitions)}
		for k, v := range spec.Configs {
			want = append(want, "--config "+k+"="+v)
		}
		for _, w := range want {
			if !strings.Contains(line+" ", w+" ") {
				t.Errorf("topics service, %s: no %q, which the embedded broker gives it", spec.Name, w)
			}
		}
	}
	for _, s := range c.Services {
		for _, cf := range s.Configs {
			if _, ok := c.Configs[cf.Source]; !ok {
				t.Errorf("config %q is not defined", cf.Source)
			}
		}
		for _, v := range s.Volumes {
			src, _, _ := strings.Cut(v, ":")
			if strings.HasPrefix(src, "./") {
				if _, err := os.Stat("../" + src[2:]); err != nil {
					t.Errorf("volume %q: %v", v, err)
				}
			} else if _, ok := c.Volumes[src]; !ok {
				t.Errorf("volume %q is not declared", v)
			}
		}
	}
}

// TestComposeFlags checks each framecast service's command and FRAMECAST_*
// environment against the flags its role's --help lists in the image.
func TestComposeFlags(t *testing.T) {
	img := image(t)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	c := loadCompose(t)
	flagRE := regexp.MustCompile(`(?m)^\s+-([a-z0-9-]+)`)
	for _, name := range framecastServices {
		s := c.Services[name]
		out, _ := exec.CommandContext(ctx, "docker", "run", "--rm", "--network", "none", img, s.Command[0], "--help").CombinedOutput()
		flags := map[string]bool{}
		for _, m := range flagRE.FindAllStringSubmatch(string(out), -1) {
			flags[m[1]] = true
		}
		if len(flags) < 3 {
			t.Fatalf("%s --help listed no flags:\n%s", s.Command[0], out)
		}
		for _, a := range s.Command[1:] {
			if f, ok := strings.CutPrefix(a, "--"); ok {
				f, _, _ = strings.Cut(f, "=")
				if !flags[f] {
					t.Errorf("%s: framecast %s has no flag --%s", name, s.Command[0], f)
				}
			}
		}
		for k := range s.Environment {
			f := strings.ReplaceAll(strings.ToLower(strings.TrimPrefix(k, "FRAMECAST_")), "_", "-")
			if !flags[f] {
				t.Errorf("%s: environment %s names no flag of framecast %s", name, k, s.Command[0])
			}
		}
	}
}

var varRE = regexp.MustCompile(`\$\{([A-Z_]+)(?::[-?]([^}]*))?\}`)

// expand does Compose's ${NAME:-default} interpolation from vars, and
// ${NAME:?message} when vars has NAME.
func expand(s string, vars map[string]string) string {
	return varRE.ReplaceAllStringFunc(s, func(m string) string {
		sub := varRE.FindStringSubmatch(m)
		if v, ok := vars[sub[1]]; ok {
			return v
		}
		return sub[2]
	})
}

// TestComposeScaleOut runs compose.yaml's broker, publisher and three
// processors as `docker compose up --scale process=3` would (with docker
// run, from the parsed file: Debian's docker.io has no compose plugin),
// the publisher sending a fixed number of frames; one processor is killed
// (SIGKILL) mid-stream. Every frame must still get its result; duplicates
// are counted (at-least-once) or must be none (exactly-once), and the
// rebalance time is measured: from the kill until every partition the
// killed processor had produced results again.
func TestComposeScaleOut(t *testing.T) {
	img := image(t)
	for _, delivery := range []string{"at-least-once", "exactly-once"} {
		t.Run(delivery, func(t *testing.T) { scaleOut(t, img, delivery) })
	}
}

const (
	scaleCameras = 6
	scaleFrames  = 100 // per camera: 20 s at the compose file's 5 fps
)

func scaleOut(t *testing.T, img, delivery string) {
	c := loadCompose(t)
	ctx, cancel := context.WithTimeout(t.Context(), 150*time.Second)
	defer cancel()
	sb := newSandbox(t, ctx, "fc-compose", 20)
	id, network, volume := sb.id, sb.network, sb.volume
	vars := map[string]string{"FRAMECAST_IMAGE": img}

	// run starts the service as Compose would: its user, read-only root,
	// tmpfs, capabilities, environment and volumes (named ones on the
	// test's volume), on the network under the service's name; the image's
	// HEALTHCHECK every second.
	run := func(service, name string, opts []string, extra ...string) string {
		t.Helper()
		s := c.Services[service]
		ctr := id + "-" + name
		sb.containers = append(sb.containers, ctr)
		a := []string{"run", "-d", "--name", ctr, "--hostname", name, "--network", network, "--network-alias", service,
			"--user", s.User, "--health-interval", "1s", "--health-start-period", "1m"}
		if s.ReadOnly {
			a = append(a, "--read-only")
		}
		for _, v := range s.Tmpfs {
			a = append(a, "--tmpfs", v)
		}
		for _, v := range s.CapDrop {
			a = append(a, "--cap-drop", v)
		}
		for _, v := range s.SecurityOpt {
			a = append(a, "--security-opt", v)
		}
		for k, v := range s.Environment {
			a = append(a, "-e", k+"="+expand(v, vars))
		}
		for _, v := range s.Volumes {
			if _, dst, ok := strings.Cut(v, ":"); ok && !strings.HasPrefix(v, ".") {
				a = append(a, "-v", volume+":"+dst)
			}
		}
		a = append(append(a, opts...), expand(s.Image, vars))
		a = append(a, s.Command...)
		docker(t, ctx, append(a, extra...)...)
		return ctr
	}

	// The broker's port on loopback, for the test's own client.
	broker := run("broker", "broker", []string{"-p", "127.0.0.1::9092"})
	waitHealthy(t, ctx, broker)
	brokerAddr := strings.TrimSpace(docker(t, ctx, "port", broker, "9092/tcp"))
	group := "compose-" + strings.ReplaceAll(delivery, "-", "")
	var procs []string
	for i := range 3 {
		name := fmt.Sprintf("process-%d", i+1)
		extra := []string{"--group", group, "--delivery", delivery}
		if delivery == "exactly-once" {
			extra = append(extra, "--instance-id", name)
		}
		procs = append(procs, run("process", name, nil, extra...))
	}
	for _, p := range procs {
		waitHealthy(t, ctx, p)
	}
	start := time.Now()
	pub := run("publish", "publish", nil, "--count", fmt.Sprint(scaleFrames))

	// Mid-stream, about 3 s in, kill the processor of the latest result
	// (so one that owns a camera's partition). Its worker name is
	// <hostname>-<pid>, the hostname its container's name.
	rs := readAll(t, ctx, img, network, "--count", "90")
	victim := strings.TrimSuffix(rs[len(rs)-1].Worker, "-1")
	if !slices.Contains(procs, id+"-"+victim) {
		t.Fatalf("result from worker %q: not one of the processors", rs[len(rs)-1].Worker)
	}
	docker(t, ctx, "kill", id+"-"+victim)
	killed := time.Now()
	t.Logf("killed %s %.1f s into the stream", victim, killed.Sub(start).Seconds())

	if code := strings.TrimSpace(docker(t, ctx, "wait", pub)); code != "0" {
		t.Fatalf("publisher exited %s", code)
	}
	want := scaleCameras * scaleFrames
	seen := map[string]int{}
	var dlq map[string]bool
	for {
		rs = readAll(t, ctx, img, network, "--idle", "3s")
		clear(seen)
		for _, r := range rs {
			seen[fmt.Sprintf("%s/%d", r.Camera, r.Seq)]++
		}
		dlq = readDLQ(t, ctx, brokerAddr)
		if len(seen)+len(dlq) >= want || ctx.Err() != nil {
			break
		}
		time.Sleep(2 * time.Second)
	}

	perCamera := map[string]int{}
	for k := range seen {
		cam, _, _ := strings.Cut(k, "/")
		perCamera[cam]++
	}
	for k := range dlq {
		if seen[k] == 0 {
			cam, _, _ := strings.Cut(k, "/")
			perCamera[cam]++
		}
	}
	for i := range scaleCameras {
		cam := fmt.Sprintf("cam-%d", i+1)
		if perCamera[cam] != scaleFrames {
			t.Errorf("%s: %d frames have results or dead letters, want %d (the killed processor's frames must be redelivered)", cam, perCamera[cam], scaleFrames)
		}
	}
	dups := len(rs) - len(seen)
	if delivery == "exactly-once" && dups != 0 {
		t.Errorf("exactly-once: %d duplicate results", dups)
	}

	// The rebalance: the killed processor's partitions, and when each
	// first produced a result again after the kill.
	owned := map[int32]bool{}
	resumed := map[int32]time.Time{}
	for _, r := range rs {
		if r.Frame.Partition == nil {
			continue
		}
		p := *r.Frame.Partition
		if strings.HasPrefix(r.Worker, victim+"-") {
			owned[p] = true
		} else if r.ProcessedAt.After(killed) {
			if at, ok := resumed[p]; !ok || r.ProcessedAt.Before(at) {
				resumed[p] = r.ProcessedAt
			}
		}
	}
	var rebalance time.Duration
	for p := range owned {
		at, ok := resumed[p]
		if !ok {
			t.Errorf("partition %d of the killed processor never produced a result again", p)
			continue
		}
		rebalance = max(rebalance, at.Sub(killed))
	}
	skipped := 0
	for _, r := range rs {
		if r.Status == frame.StatusSkipped {
			skipped++
		}
	}
	t.Logf("%s: %d frames, %d results (%d distinct, %d duplicates, %d skipped as stale), %d dead letters, missing %d; killed processor had %d partitions, all resumed %.1f s after the kill; stream done in %.1f s",
		delivery, want, len(rs), len(seen), dups, skipped, len(dlq), want-len(seen)-len(dlq), len(owned), rebalance.Seconds(), time.Since(start).Seconds())
}

// readAll returns the results topic's results from the beginning, running
// `framecast results` on the network with the given --idle or --count.
func readAll(t *testing.T, ctx context.Context, img, network string, until ...string) []frame.Result {
	t.Helper()
	name := fmt.Sprintf("%s-read-%04x", network, rand.IntN(1<<16))
	defer exec.Command("docker", "rm", "-f", name).Run()
	out, err := dockerErr(ctx, "run", "--rm", "--name", name, "--network", network, "--read-only", "--tmpfs", "/tmp",
		"--user", imageUser, "--cap-drop", "ALL", img, "results", "--brokers=broker:9092", "--from", "beginning", "--json", until[0], until[1])
	if err != nil {
		t.Fatal(err)
	}
	var rs []frame.Result
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var r frame.Result
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("result %s: %v", sc.Bytes(), err)
		}
		rs = append(rs, r)
	}
	return rs
}

// readDLQ returns the camera/seq of every record in the DLQ topic, read
// with a client of the test's through the broker's port on loopback (the
// broker advertises broker:9092, which only the network resolves: every
// connection goes to addr).
func readDLQ(t *testing.T, ctx context.Context, addr string) map[string]bool {
	t.Helper()
	var d net.Dialer
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics("framecast.dlq"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.Dialer(func(ctx context.Context, network, _ string) (net.Conn, error) {
			return d.DialContext(ctx, network, addr)
		}))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	// No fetch is no error: make sure the broker answers at all.
	if err := cl.Ping(ctx); err != nil {
		t.Fatalf("DLQ client via %s: %v", addr, err)
	}
	got := map[string]bool{}
	for {
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		fs := cl.PollFetches(pctx)
		cancel()
		n := 0
		fs.EachRecord(func(r *kgo.Record) {
			n++
			seq := ""
			for _, h := range r.Headers {
				if h.Key == frame.HeaderSeq {
					seq = string(h.Value)
				}
			}
			got[string(r.Key)+"/"+seq] = true
		})
		if n == 0 {
			return got
		}
	}
}
