// Package container tests the container image (the Dockerfile at the top of
// the repository, built by `make image`) with a real Docker engine: every
// role runs as a command of the image, as its non-root user, on a read-only
// root file system, and the image's HEALTHCHECK reports them healthy.
//
// The tests skip, saying why, where no engine answers `docker info`, and
// where the image has not been built (`make image`) unless
// FRAMECAST_TEST_REQUIRE_IMAGE=1, which CI sets once it has built it.
// FRAMECAST_TEST_IMAGE names another image (default framecast:latest).
package container

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/framecast/framecast/internal/frame"
)

const (
	// The uid and gid of the image's user, as in deploy/k8s.
	imageUser = "65532:65532"
	// The image's cache directory and broker data directory.
	imageHome = "/opt/framecast"
	dataDir   = "/var/lib/framecast"
)

// image returns the image under test, or skips the test when there is no
// engine or no image.
func image(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("docker"); err != nil {
		t.Skip("no docker CLI in PATH: install docker.io and start dockerd to test the container image (.ci/run does)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "docker", "info", "--format", "{{.ServerVersion}}").CombinedOutput(); err != nil {
		t.Skipf("no container engine answers `docker info` (%v: %s): start dockerd to test the container image (.ci/run does)",
			err, firstLine(out))
	}
	img := os.Getenv("FRAMECAST_TEST_IMAGE")
	if img == "" {
		img = "framecast:latest"
	}
	if err := exec.CommandContext(ctx, "docker", "image", "inspect", img).Run(); err != nil {
		if os.Getenv("FRAMECAST_TEST_REQUIRE_IMAGE") == "1" {
			t.Fatalf("image %s not found (FRAMECAST_TEST_REQUIRE_IMAGE=1): run make image", img)
		}
		t.Skipf("image %s not built: run make image first (FRAMECAST_TEST_REQUIRE_IMAGE=1 turns this skip into a failure)", img)
	}
	return img
}

func firstLine(b []byte) string {
	s, _, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
	return s
}

// docker runs the docker CLI and returns its stdout; a failure ends the
// test with stderr.
func docker(t *testing.T, ctx context.Context, args ...string) string {
	t.Helper()
	out, err := dockerErr(ctx, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func dockerErr(ctx context.Context, args ...string) (string, error) {
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "docker", args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("docker %s: %v\n%s%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String(), nil
}

// TestImageConfig checks what the image declares: a non-root user, the
// entrypoint, the health check, the cache directory and the ports.
func TestImageConfig(t *testing.T) {
	img := image(t)
	ctx := t.Context()
	var cfg struct {
		User        string
		Entrypoint  []string
		Env         []string
		Healthcheck *struct{ Test []string }
		// Docker's JSON has "ExposedPorts": {"9090/tcp": {}}.
		ExposedPorts map[string]struct{}
	}
	if err := json.Unmarshal([]byte(docker(t, ctx, "image", "inspect", "--format", "{{json .Config}}", img)), &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.User != imageUser {
		t.Errorf("USER %q, want %s (non-root, the uid deploy/k8s runs as)", cfg.User, imageUser)
	}
	if !slices.Equal(cfg.Entrypoint, []string{"framecast"}) {
		t.Errorf("ENTRYPOINT %q, want [framecast]: each role is a command of the image", cfg.Entrypoint)
	}
	if cfg.Healthcheck == nil || !slices.Contains(cfg.Healthcheck.Test, "healthcheck") {
		t.Errorf("HEALTHCHECK %+v, want the healthcheck program", cfg.Healthcheck)
	}
	for _, want := range []string{"FRAMECAST_HOME=" + imageHome, "FRAMECAST_METRICS_LISTEN=:9090"} {
		if !slices.Contains(cfg.Env, want) {
			t.Errorf("ENV %q lacks %s", cfg.Env, want)
		}
	}
	for _, p := range []string{"9090/tcp", "9092/tcp", "8080/tcp"} {
		if _, ok := cfg.ExposedPorts[p]; !ok {
			t.Errorf("EXPOSE lacks %s", p)
		}
	}
}

// TestVersion runs `framecast version` read-only as the image's user and
// as an arbitrary uid (OpenShift assigns one, with gid 0): ONNX Runtime
// loads from the image's cache directory.
func TestVersion(t *testing.T) {
	img := image(t)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	for _, user := range []string{imageUser, "1000770000:0"} {
		out := docker(t, ctx, "run", "--rm", "--read-only", "--tmpfs", "/tmp", "--user", user, "--network", "none",
			img, "version")
		if !strings.Contains(out, "onnxruntime: 1.") || !strings.Contains(out, imageHome+"/lib/") {
			t.Errorf("--user %s: version printed\n%s\nwant ONNX Runtime loaded from %s/lib", user, out, imageHome)
		}
	}
}

// TestVideo makes a video with the image's ffmpeg in the tmpfs and
// analyses it with the image's framecast, which reads it through ffmpeg:
// both run read-only as the image's user.
func TestVideo(t *testing.T) {
	img := image(t)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	script := `ffmpeg -loglevel error -loop 1 -i ` + imageHome + `/images/face-api/sample1.jpg -t 2 -r 5 ` +
		`-vf scale=640:-2 -pix_fmt yuv420p /tmp/a.mp4 && framecast --log-format json analyze --fps 2 /tmp/a.mp4`
	out, err := exec.CommandContext(ctx, "docker", "run", "--rm", "--read-only", "--tmpfs", "/tmp",
		"--user", imageUser, "--network", "none", "--entrypoint", "sh", img, "-c", script).CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if !regexp.MustCompile(`"msg":"video analysed".*"faces":[1-9]`).Match(out) {
		t.Errorf("analyze found no faces in the video:\n%s", out)
	}
}

// TestPipeline runs the broker, a publisher of a synthetic camera, a
// processor and the dashboard as containers on their own network, each
// read-only with a tmpfs /tmp and the broker's data on a named volume;
// results arrive in another (`framecast results`), every long-running
// container turns healthy
// by the image's HEALTHCHECK, all stop cleanly on SIGTERM, and a new broker
// on the same volume still has the results.
func TestPipeline(t *testing.T) {
	img := image(t)
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()

	sb := newSandbox(t, ctx, "fc-test", 30)
	id, network, volume := sb.id, sb.network, sb.volume

	// run starts a container of the image on the network: read-only, the
	// image's user, no capabilities, the image's HEALTHCHECK every second
	// (its command and timeout unchanged) so the test need not wait 10 s.
	run := func(name string, extra []string, args ...string) {
		t.Helper()
		c := id + "-" + name
		sb.containers = append(sb.containers, c)
		a := []string{"run", "-d", "--name", c, "--network", network, "--network-alias", name,
			"--read-only", "--tmpfs", "/tmp", "--user", imageUser, "--cap-drop", "ALL",
			"--security-opt", "no-new-privileges", "--health-interval", "1s", "--health-start-period", "1m"}
		a = append(append(a, extra...), img)
		docker(t, ctx, append(a, args...)...)
	}
	brokers := "--brokers=broker:9092"
	run("broker", []string{"-v", volume + ":" + dataDir}, "broker", "--listen", "broker:9092")
	run("process", nil, "process", brokers)
	run("publish", nil, "publish", brokers, "--source", "cam-1=synthetic:")
	// Outside loopback the dashboard wants a token.
	run("view", []string{"-e", "FRAMECAST_AUTH_TOKEN=" + id}, "view", brokers, "--listen", ":8080")
	// results serves no /healthz: the HEALTHCHECK passes, saying so.
	run("results", nil, "results", brokers)

	results := readResults(t, ctx, img, network, 5)
	for _, r := range results {
		if r.Camera != "cam-1" || r.Status != frame.StatusOK || len(r.Faces) == 0 || r.Worker == "" {
			t.Errorf("result camera %q status %q, %d faces, worker %q: want cam-1, ok, the sample photos' faces, a worker",
				r.Camera, r.Status, len(r.Faces), r.Worker)
		}
	}

	for _, c := range sb.containers {
		waitHealthy(t, ctx, c)
	}

	// SIGTERM, as `docker stop` and Kubernetes send it: every role drains
	// and exits 0 within its grace period.
	for _, name := range []string{"results", "view", "publish", "process", "broker"} {
		c := id + "-" + name
		docker(t, ctx, "stop", "--time", "30", c)
		if code := strings.TrimSpace(docker(t, ctx, "inspect", "--format", "{{.State.ExitCode}}", c)); code != "0" {
			t.Errorf("%s exited %s after SIGTERM, want 0", name, code)
		}
	}

	// The broker's data is on the volume, not in the read-only image.
	docker(t, ctx, "rm", id+"-broker")
	sb.containers = slices.DeleteFunc(sb.containers, func(c string) bool { return c == id+"-broker" })
	run("broker", []string{"-v", volume + ":" + dataDir}, "broker", "--listen", "broker:9092")
	if again := readResults(t, ctx, img, network, len(results)); again[0].Seq != results[0].Seq {
		t.Errorf("after restarting the broker on its volume the first result is seq %d, want %d", again[0].Seq, results[0].Seq)
	}
}

// readResults runs `framecast results` in a container on network until it
// has printed n results from the beginning of the topic, and checks each
// against the result schema.
func readResults(t *testing.T, ctx context.Context, img, network string, n int) []frame.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	name := fmt.Sprintf("%s-results-%04x", network, rand.IntN(1<<16))
	// The CLI's end does not stop the container: remove it by name.
	defer exec.Command("docker", "rm", "-f", name).Run()
	out, err := dockerErr(ctx, "run", "--rm", "--name", name, "--network", network,
		"--read-only", "--tmpfs", "/tmp", "--user", imageUser, "--cap-drop", "ALL", img, "results", "--brokers=broker:9092", "--from", "beginning", "--json", "--count", fmt.Sprint(n))
	if err != nil {
		t.Fatalf("no %d results: %v", n, err)
	}
	var rs []frame.Result
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Bytes()
		if err := frame.Validate(line); err != nil {
			t.Errorf("result %s: %v", line, err)
			continue
		}
		var r frame.Result
		if err := json.Unmarshal(line, &r); err != nil {
			t.Fatal(err)
		}
		rs = append(rs, r)
	}
	if len(rs) != n {
		t.Fatalf("results printed %d valid results, want %d:\n%s", len(rs), n, out)
	}
	return rs
}

// waitHealthy polls the container's health status until Docker reports it
// healthy (the HEALTHCHECK asked /healthz and got 200), and fails on
// unhealthy or a stopped container.
func waitHealthy(t *testing.T, ctx context.Context, c string) {
	t.Helper()
	var last string
	for {
		out, err := dockerErr(ctx, "inspect", "--format", "{{.State.Status}} {{.State.Health.Status}}", c)
		if err != nil {
			t.Fatalf("%s: %v (last state %q)", c, err, last)
		}
		last = strings.TrimSpace(out)
		switch last {
		case "running healthy":
			return
		case "running starting":
		default:
			log, _ := dockerErr(ctx, "inspect", "--format", "{{range .State.Health.Log}}{{.ExitCode}}: {{.Output}}{{end}}", c)
			t.Fatalf("%s is %q, want running healthy; health checks:\n%s", c, last, log)
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s not healthy in time: %q", c, last)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// sandbox is a test's own Docker network and volume (both named after id)
// and the containers it starts there: all removed when the test ends, with
// each container's last log lines when it failed.
type sandbox struct {
	id, network, volume string
	containers          []string
}

func newSandbox(t *testing.T, ctx context.Context, prefix string, logLines int) *sandbox {
	t.Helper()
	sb := &sandbox{id: fmt.Sprintf("%s-%d-%04x", prefix, os.Getpid(), rand.IntN(1<<16))}
	sb.network, sb.volume = sb.id, sb.id+"-data"
	t.Cleanup(func() {
		// A fresh context: the test's may be done.
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if t.Failed() {
			for _, c := range sb.containers {
				logs, _ := exec.CommandContext(ctx, "docker", "logs", "--tail", strconv.Itoa(logLines), c).CombinedOutput()
				t.Logf("docker logs %s:\n%s", c, logs)
			}
		}
		if len(sb.containers) > 0 {
			dockerErr(ctx, append([]string{"rm", "-f", "-v"}, sb.containers...)...)
		}
		dockerErr(ctx, "network", "rm", sb.network)
		dockerErr(ctx, "volume", "rm", sb.volume)
	})
	docker(t, ctx, "network", "create", sb.network)
	docker(t, ctx, "volume", "create", sb.volume)
	return sb
}
