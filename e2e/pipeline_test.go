package e2e

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/framecast/framecast/internal/frame"
	"github.com/framecast/framecast/internal/models"
	"github.com/framecast/framecast/internal/samples"
)

type key struct {
	camera string
	seq    int64
}

// countResults reads results and DLQ and returns how often each
// (camera, seq) appears, failing on schema violations.
// It reads until want distinct frames have results (duplicates, allowed
// under at-least-once, do not count towards want) or timeout passes.
func countResults(t *testing.T, addr string, want int, timeout time.Duration) (map[key]int, []frame.Result) {
	t.Helper()
	var seen map[key]int
	var res []frame.Result
	deadline := time.Now().Add(timeout)
	for {
		res = decodeResults(t, readAll(t, addr, "framecast.results", want, 5*time.Second))
		seen = map[key]int{}
		for _, r := range res {
			seen[key{r.Camera, r.Seq}]++
		}
		if len(seen) >= want || time.Now().After(deadline) {
			return seen, res
		}
	}
}

// TestThreeTerminals is the README's quick start: broker, processor,
// publisher with two synthetic cameras, and `framecast results`.
func TestThreeTerminals(t *testing.T) {
	_, addr := broker(t, t.TempDir())
	proc := start(t, "process", "process", "--brokers", addr, "--stats-interval", "1s")
	const n = 20
	pub := start(t, "publish", "publish", "--brokers", addr, "--fps", "10", "--count", fmt.Sprint(n),
		"--source", "cam-a=synthetic:?seed=1", "--source", "cam-b=synthetic:?seed=2")
	res := start(t, "results", "results", "--brokers", addr, "--from", "beginning", "--count", fmt.Sprint(2*n), "--json")
	if code := pub.wait(t, 60*time.Second); code != 0 {
		t.Fatalf("publish exit %d", code)
	}
	if code := res.wait(t, 90*time.Second); code != 0 {
		t.Fatalf("results exit %d", code)
	}
	lines := strings.Split(strings.TrimSpace(res.Stdout()), "\n")
	if len(lines) != 2*n {
		t.Fatalf("results printed %d lines, want %d", len(lines), 2*n)
	}
	last := map[string]int64{"cam-a": -1, "cam-b": -1}
	for _, l := range lines {
		if err := frame.Validate([]byte(l)); err != nil {
			t.Fatalf("invalid result line: %v\n%s", err, l)
		}
		var r frame.Result
		mustUnmarshal(t, l, &r)
		if r.Seq <= last[r.Camera] {
			t.Errorf("%s: seq %d after %d", r.Camera, r.Seq, last[r.Camera])
		}
		last[r.Camera] = r.Seq
	}
	if !strings.Contains(proc.Stderr(), "lag") {
		t.Errorf("processor printed no stats line:\n%s", tail(proc.Stderr(), 2000))
	}
	proc.kill(syscall.SIGTERM)
	if code := proc.wait(t, 30*time.Second); code != 0 {
		t.Errorf("process exit %d after SIGTERM", code)
	}
}

// TestKcat uses kcat (librdkafka) as an independent client: a JPEG
// produced without any header is analysed, and kcat reads the result,
// also as a member of a consumer group.
func TestKcat(t *testing.T) {
	if _, err := exec.LookPath("kcat"); err != nil {
		t.Fatal("kcat is required (apt-get install kcat)")
	}
	_, addr := broker(t, t.TempDir())
	start(t, "process", "process", "--brokers", addr)
	img := filepath.Join(models.At("").TestImages(), samples.Frame640)
	out, err := exec.Command("kcat", "-P", "-b", addr, "-t", "framecast.frames", "-k", "kcat-cam", img).CombinedOutput()
	if err != nil {
		t.Fatalf("kcat produce: %v\n%s", err, out)
	}
	var got string
	eventually(t, 60*time.Second, "kcat to read a result", func() bool {
		o, err := exec.Command("kcat", "-C", "-b", addr, "-t", "framecast.results", "-o", "beginning", "-c", "1", "-e", "-q").Output()
		got = string(o)
		return err == nil && strings.Contains(got, "kcat-cam")
	})
	var r frame.Result
	mustUnmarshal(t, strings.TrimSpace(got), &r)
	if r.Camera != "kcat-cam" || r.Status != "ok" || len(r.Faces) != 4 || r.Seq != 0 {
		t.Errorf("kcat frame result: %+v", r)
	}
	// As a consumer-group member (balanced consumer).
	cmd := exec.Command("kcat", "-b", addr, "-G", "kcat-readers", "-o", "beginning", "-c", "1", "-e", "-q", "framecast.results")
	o, err := cmd.Output()
	if err != nil || !strings.Contains(string(o), `"camera":"kcat-cam"`) {
		t.Errorf("kcat -G: %v %s", err, o)
	}
}

func mustUnmarshal(t *testing.T, s string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(s), v); err != nil {
		t.Fatalf("%v: %s", err, s)
	}
}

// killAndReplace publishes frames, SIGKILLs the first processor while it
// works, starts a second one and returns how often each frame's result was
// seen (read_committed).
func killAndReplace(t *testing.T, delivery string) (map[key]int, int) {
	_, addr := broker(t, t.TempDir())
	args := []string{"process", "--brokers", addr, "--delivery", delivery, "--max-age", "1h"}
	a := start(t, "process-a", args...)
	const cams, perCam = 4, 40
	var srcs []string
	for i := 1; i <= cams; i++ {
		srcs = append(srcs, "--source", fmt.Sprintf("cam-%d=synthetic:?seed=%d", i, i))
	}
	pub := start(t, "publish", append([]string{"publish", "--brokers", addr, "--fps", "20", "--count", fmt.Sprint(perCam)}, srcs...)...)
	eventually(t, 60*time.Second, "first results", func() bool {
		return len(readAll(t, addr, "framecast.results", 15, 2*time.Second)) >= 15
	})
	a.kill(syscall.SIGKILL)
	a.wait(t, 10*time.Second)
	killedAt := time.Now()
	before := len(readAll(t, addr, "framecast.results", 1<<30, time.Second))
	start(t, "process-b", args...)
	// The replacement must take over within seconds: the session and
	// transaction timeouts (6 s and 10 s by default) bound it.
	eventually(t, 20*time.Second, "the replacement's first results", func() bool {
		return len(readAll(t, addr, "framecast.results", before+1, time.Second)) > before
	})
	t.Logf("%s: replacement produced results %v after the kill", delivery, time.Since(killedAt).Round(100*time.Millisecond))
	if code := pub.wait(t, 60*time.Second); code != 0 {
		t.Fatalf("publish exit %d", code)
	}
	total := cams * perCam
	seen, _ := countResults(t, addr, total, 60*time.Second)
	t.Logf("%s: %d distinct results of %d frames, %v after the kill", delivery, len(seen), total, time.Since(killedAt))
	return seen, total
}

func TestSIGKILLExactlyOnce(t *testing.T) {
	seen, total := killAndReplace(t, "exactly-once")
	if len(seen) != total {
		t.Errorf("%d distinct frames have results, want %d", len(seen), total)
	}
	for k, n := range seen {
		if n != 1 {
			t.Errorf("%v: %d results under read_committed, want exactly 1", k, n)
		}
	}
}

func TestSIGKILLAtLeastOnce(t *testing.T) {
	seen, total := killAndReplace(t, "at-least-once")
	if len(seen) != total {
		t.Errorf("%d distinct frames have results, want all %d", len(seen), total)
	}
}

// TestBrokerRestartUnderLoad stops the broker while frames flow and starts
// it again on the same data directory: publisher and processor reconnect
// and every frame the broker acknowledged gets a result.
func TestBrokerRestartUnderLoad(t *testing.T) {
	data := t.TempDir()
	b, addr := broker(t, data)
	start(t, "process", "process", "--brokers", addr, "--max-age", "1h")
	pub := start(t, "publish", "publish", "--brokers", addr, "--fps", "10",
		"--source", "cam-1=synthetic:?seed=1", "--source", "cam-2=synthetic:?seed=2")
	eventually(t, 60*time.Second, "results before the restart", func() bool {
		return len(readAll(t, addr, "framecast.results", 10, 2*time.Second)) >= 10
	})
	b.kill(syscall.SIGTERM)
	b.wait(t, 30*time.Second)
	time.Sleep(2 * time.Second) // the outage itself: frames published now are dropped and counted
	start(t, "broker-2", "broker", "--listen", addr, "--data-dir", data)
	waitTopics(t, addr)
	before := len(readAll(t, addr, "framecast.frames", 1<<30, 3*time.Second))
	eventually(t, 60*time.Second, "frames after the restart", func() bool {
		return len(readAll(t, addr, "framecast.frames", before+20, 2*time.Second)) >= before+20
	})
	pub.kill(syscall.SIGTERM)
	if code := pub.wait(t, 30*time.Second); code != 0 {
		t.Errorf("publish exit %d", code)
	}
	frames := readAll(t, addr, "framecast.frames", 1<<30, 3*time.Second)
	want := map[key]bool{}
	for _, r := range frames {
		m, err := frame.DecodeMeta(r)
		if err != nil {
			t.Fatal(err)
		}
		want[key{m.Camera, m.Seq}] = true
	}
	seen, _ := countResults(t, addr, len(want), 90*time.Second)
	for k := range want {
		if seen[k] == 0 {
			t.Errorf("acknowledged frame %v has no result", k)
		}
	}
	t.Logf("%d acknowledged frames, all with results", len(want))
}
