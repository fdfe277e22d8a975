package cli

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/framecast/framecast/internal/soak"
)

// TestBenchSoak runs a few seconds of soak with a backlog and checks the
// report's invariants: every camera's frames are its results plus dead
// letters, no partition stalled, samples taken, both children stopped.
// It asserts nothing about speed.
func TestBenchSoak(t *testing.T) {
	if _, err := os.Stat(paths.Detector()); err != nil {
		t.Skipf("the soak needs the models (%v): run `make setup`", err)
	}
	t.Setenv(testMainEnv, "1")
	code, out, errs := runCLI(t, nil, "--log-format", "text", "bench", "--soak", "8s", "--json", "--cameras", "2",
		"--compute-duration", "1s", "--frames-per-camera", "5", "--backlog-frames", "40", "--sample-interval", "1s")
	t.Logf("stderr:\n%s", errs)
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	var rep soak.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("report is not JSON: %v\n%s", err, out)
	}
	if !rep.OK || len(rep.Failures) != 0 || rep.Interrupted {
		t.Errorf("failures: %v", rep.Failures)
	}
	st := rep.Settings
	if rep.Capacity.FPS <= 0 || rep.Capacity.AnalyseMS <= 0 || st.Load != 1.2 || st.Cameras != 2 || st.Partitions != 12 {
		t.Errorf("capacity %+v, settings %+v", rep.Capacity, st)
	}
	if want := 1.2 * rep.Capacity.FPS / 2; st.FPS < want-0.01 || st.FPS > want+0.01 {
		t.Errorf("fps per camera %v, want 1.2 × %v / 2", st.FPS, rep.Capacity.FPS)
	}
	// Two soak cameras and two backlog cameras, each on its own partition,
	// each balanced.
	if len(rep.Cameras) != 4 {
		t.Fatalf("cameras: %+v", rep.Cameras)
	}
	var frames int64
	parts := map[int32]bool{}
	for _, c := range rep.Cameras {
		if !c.Balanced || c.Frames != int64(c.Results+c.DLQ) || c.Frames == 0 || c.Results != c.OK+c.Skipped || parts[c.Partition] {
			t.Errorf("camera %+v", c)
		}
		parts[c.Partition] = true
		if strings.HasPrefix(c.ID, rtPrefix) {
			frames += c.Frames
		}
	}
	r := rep.Results
	if r.Frames != frames || r.Frames != rep.Published.Acked || int64(r.Results+r.DLQ) != r.Frames || r.OK+r.Skipped != r.Results {
		t.Errorf("results %+v, published %+v", r, rep.Published)
	}
	if b := rep.Backlog; b == nil || !b.Complete || b.Frames != 40 || b.OK+b.Skipped+b.DLQ != 40 || b.ProcessorPeakMB <= 0 {
		t.Errorf("backlog %+v", rep.Backlog)
	}
	if len(rep.Partitions) != 12 {
		t.Errorf("partitions %+v", rep.Partitions)
	}
	for _, p := range rep.Partitions {
		if p.Stalled || (p.End > 0 && p.Committed != p.End) {
			t.Errorf("partition %+v", p)
		}
	}
	if l := rep.Latency; l.N != r.OK || (l.N > 0 && !(l.P50 > 0 && l.P50 <= l.P99 && l.P99 <= l.Max)) {
		t.Errorf("latency %+v, %d ok", l, r.OK)
	}
	m := rep.Memory
	if len(rep.Samples) < 8 || m.Processor.EndMB <= 0 || m.Broker.EndMB <= 0 || m.Processor.FitSamples < 2 || m.Broker.PeakMB <= 0 {
		t.Errorf("memory %+v from %d samples", m, len(rep.Samples))
	}
	for _, pid := range []int{st.BrokerPID, st.ProcessorPID} {
		if pid <= 0 || processAlive(pid) {
			t.Errorf("child %d still running after the soak", pid)
		}
	}
}

func TestBenchSoakUsage(t *testing.T) {
	for _, args := range [][]string{
		{"--soak", "0s"},
		{"--soak", "10s", "--soak-load", "0"},
		{"--soak", "10s", "--cameras", "8", "--backlog-frames", "10", "--partitions", "12"},
		{"--soak", "10s", "--max-age", "0s"},
		{"--soak", "10s", "extra"},
	} {
		if code, _, errs := runCLI(t, nil, append([]string{"bench"}, args...)...); code != 2 {
			t.Errorf("%v: exit %d, want 2: %s", args, code, errs)
		}
	}
	code, _, errs := runCLI(t, nil, "bench", "--pipeline", "--soak", "1m", "--help")
	if code != 0 || !strings.Contains(errs, "--soak-load") || !strings.Contains(errs, "--backlog-frames") {
		t.Errorf("--soak --help: exit %d\n%s", code, errs)
	}
	for _, tc := range []struct {
		args []string
		want bool
	}{
		{[]string{"--soak", "1m"}, true},
		{[]string{"--pipeline", "-soak=30m"}, true},
		{[]string{"--pipeline"}, false},
		{[]string{"--", "--soak"}, false},
		{[]string{"soak.jpg"}, false},
	} {
		if got := isSoakBench(tc.args); got != tc.want {
			t.Errorf("isSoakBench(%v) = %v", tc.args, got)
		}
	}
}
