package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// testMainEnv makes the test binary run framecast instead of the tests:
// `bench --pipeline` starts its broker as a child process from
// os.Executable(), which in a test is this binary. (Not FRAMECAST_*: the
// bench keeps those variables from its broker.)
const testMainEnv = "FRAMECASTTEST_RUN_MAIN"

func init() {
	if os.Getenv(testMainEnv) == "1" {
		os.Exit(Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
	}
}

// tinyBench are settings that run every phase in a few seconds.
var tinyBench = []string{"--cameras", "2", "--fps", "5", "--duration", "5s", "--compute-duration", "1s",
	"--backlog", "2s", "--frames-per-camera", "5"}

// TestBenchPipeline runs the whole benchmark with tiny settings and checks
// that the report is complete and adds up. It asserts nothing about speed.
func TestBenchPipeline(t *testing.T) {
	t.Setenv(testMainEnv, "1")
	code, out, errs := runCLI(t, nil, append([]string{"--log-format", "text", "bench", "--pipeline", "--json"}, tinyBench...)...)
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, errs)
	}
	var rep pipelineReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("report is not JSON: %v\n%s", err, out)
	}
	t.Logf("stderr:\n%s", errs)

	if rep.Interrupted || rep.Settings.Cameras != 2 || rep.Settings.FPS != 5 || rep.Settings.Concurrency != 2 || rep.Settings.Threads != 1 ||
		rep.Settings.Width != 640 || rep.Settings.Height != 480 || rep.Settings.FrameBytesAvg <= 0 || rep.Host.ONNXRuntime == "" {
		t.Errorf("settings: %+v host: %+v", rep.Settings, rep.Host)
	}

	c, ca := rep.Compute, rep.ComputeAfter
	for _, c := range []benchCompute{c, ca} {
		if c.Frames <= 0 || c.FPS <= 0 || c.Seconds < 1 || c.FrameMSP50 <= 0 || c.FrameMSP90 < c.FrameMSP50 {
			t.Errorf("compute only: %+v", c)
		}
	}

	s := rep.Saturation
	if want := max(2, int(c.FPS*2+0.999999)); s.Frames != want {
		t.Errorf("saturation backlog %d frames, want %d (2 s at %v frames/s)", s.Frames, want, c.FPS)
	}
	// Nothing is stale in the saturation phase: every frame is analysed.
	if !s.Complete || s.Results != s.Frames || s.OK != s.Frames || s.Skipped != 0 || s.DLQ != 0 || s.Duplicates != 0 {
		t.Errorf("saturation counts: %+v", s)
	}
	if s.FPS <= 0 || s.WallFPS <= 0 || s.DrainS <= 0 || s.FrameMSP50 <= 0 {
		t.Errorf("saturation rates: %+v", s)
	}
	if d := s.ComputeFPS - (c.FPS+ca.FPS)/2; d > 0.01 || d < -0.01 {
		t.Errorf("compute-only rate for the ratio %v, want the mean of %v and %v", s.ComputeFPS, c.FPS, ca.FPS)
	}
	if d := s.Ratio - s.FPS/s.ComputeFPS; d > 0.001 || d < -0.001 || s.RatioMin > s.Ratio || s.Ratio > s.RatioMax || s.WallRatio <= 0 {
		t.Errorf("ratio %v [%v–%v], want %v / %v", s.Ratio, s.RatioMin, s.RatioMax, s.FPS, s.ComputeFPS)
	}

	r := rep.Realtime
	if r.Acked <= 0 || r.Captured != r.Acked+r.Dropped.Total() {
		t.Errorf("publisher: captured %d, acked %d, dropped %+v", r.Captured, r.Acked, r.Dropped)
	}
	// Every published frame has exactly one record: a result or a dead letter.
	if !r.Complete || int64(r.Results) != r.Acked || r.Missing != 0 || r.Duplicates != 0 || r.OK+r.Skipped+r.DLQ != r.Results {
		t.Errorf("real-time counts: results %d (ok %d, skipped %d, dlq %d), published %d, missing %d, duplicates %d",
			r.Results, r.OK, r.Skipped, r.DLQ, r.Acked, r.Missing, r.Duplicates)
	}
	if consumed, _ := r.Processor["consumed"].(float64); int64(consumed) < r.Acked {
		t.Errorf("processor consumed %v of %d frames", r.Processor["consumed"], r.Acked)
	}
	l := r.Latency
	if l.N != r.OK || r.LatencyAll.N != r.OK+r.Skipped {
		t.Errorf("latency samples: %d ok, %d all; want %d and %d", l.N, r.LatencyAll.N, r.OK, r.OK+r.Skipped)
	}
	if l.N > 0 && !(l.P50 > 0 && l.P50 <= l.P90 && l.P90 <= l.P99 && l.P99 <= l.Max && l.Mean > 0) {
		t.Errorf("latency: %+v", l)
	}
	for _, p := range []benchLatency{r.InLatency, r.ProcLatency, r.OutLatency} {
		if p.N != r.OK || (p.N > 0 && (p.P50 > p.P99 || p.P99 > p.Max)) {
			t.Errorf("latency part %+v, want %d samples", p, r.OK)
		}
	}
	inWindows := 0
	for _, w := range r.Windows {
		inWindows += w.OK + w.Skipped
	}
	if len(r.Windows) == 0 || inWindows != r.OK+r.Skipped {
		t.Errorf("%d windows hold %d results, want %d: %+v", len(r.Windows), inWindows, r.OK+r.Skipped, r.Windows)
	}

	m := rep.Memory
	// VmHWM is not compared with the sampled maximum: the kernel updates its
	// high-water mark lazily (on unmap and exit), so a sampled VmRSS can
	// exceed it; the report takes the larger of the two as the peak.
	if m.BrokerMaxRSSMB <= 0 || m.BrokerHWMMB <= 0 || m.SelfMaxRSSMB <= 0 || m.BrokerRealtimeMaxMB <= 0 || m.Samples < 5 {
		t.Errorf("memory: %+v", m)
	}
	var phases []string
	for _, p := range rep.CPU {
		phases = append(phases, p.Phase)
		if p.Phase != "backlog" && (p.Seconds <= 0 || p.Bench <= 0 || p.Frames <= 0 || p.CPUMsPerFrame <= 0) {
			t.Errorf("cpu: %+v", p)
		}
	}
	if strings.Join(phases, ",") != "compute,backlog,saturation,compute-after,realtime" {
		t.Errorf("cpu phases %v", phases)
	}
	if len(rep.Targets) != 4 {
		t.Errorf("targets: %+v", rep.Targets)
	}
	if rep.Settings.BrokerPID <= 0 || processAlive(rep.Settings.BrokerPID) {
		t.Errorf("broker child %d still running after the bench", rep.Settings.BrokerPID)
	}

	// The same report as text.
	var txt bytes.Buffer
	b := &pipelineBench{env: &environment{stdout: &txt}, rep: rep}
	if err := b.print(); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"compute only", "through Kafka", "of compute only", "latency capture → result readable",
		"again after", "capture → fetched by the processor", "broker max RSS", "bench process", "cores used", "compute-after", "CPU ms/frame", fmt.Sprintf("published %d of %d captured", r.Acked, r.Captured)} {
		if !strings.Contains(txt.String(), want) {
			t.Errorf("text report lacks %q:\n%s", want, txt.String())
		}
	}
}

// TestBenchPipelineInterrupted cancels the bench in the real-time phase, as
// Ctrl-C does: it returns context.Canceled, prints a partial report and
// leaves no broker behind.
func TestBenchPipelineInterrupted(t *testing.T) {
	t.Setenv(testMainEnv, "1")
	var logs procBuffer
	var out bytes.Buffer
	env := &environment{stdout: &out, stderr: &logs, log: slog.New(slog.NewTextHandler(&logs, nil))}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	args := append([]string{"--pipeline"}, tinyBench...)
	args = append(args, "--duration", "5m")
	go func() { done <- runBench(ctx, env, args) }()
	deadline := time.Now().Add(3 * time.Minute)
	for !strings.Contains(logs.String(), "real time: publishing") {
		if time.Now().After(deadline) {
			t.Fatalf("the real-time phase did not start:\n%s", logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(1500 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("returned %v, want context.Canceled", err)
		}
	case <-time.After(2 * time.Minute):
		t.Fatal("the bench did not stop")
	}
	if !strings.Contains(out.String(), "interrupted: partial report") || !strings.Contains(out.String(), "compute only") {
		t.Errorf("no partial report:\n%s", out.String())
	}
	m := regexp.MustCompile(`broker started as a child process"? pid=(\d+)`).FindStringSubmatch(logs.String())
	if m == nil {
		t.Fatalf("no broker pid in the log:\n%s", logs.String())
	}
	pid, _ := strconv.Atoi(m[1])
	if processAlive(pid) {
		t.Errorf("broker %d still running after the interrupted bench", pid)
	}
	if !strings.Contains(logs.String(), "broker stopped") {
		t.Errorf("the broker was not stopped cleanly:\n%s", logs.String())
	}
}

func TestBenchPipelineUsage(t *testing.T) {
	for _, args := range [][]string{
		{"--cameras", "0"},
		{"--fps", "0"},
		{"--size", "big"},
		{"--duration", "10ms"},
		{"extra"},
	} {
		code, _, errs := runCLI(t, nil, append([]string{"bench", "--pipeline"}, args...)...)
		if code != 2 {
			t.Errorf("%v: exit %d, want 2: %s", args, code, errs)
		}
	}
	code, _, errs := runCLI(t, nil, "bench", "--pipeline", "--help")
	if code != 0 || !strings.Contains(errs, "--backlog") || !strings.Contains(errs, "compute only") {
		t.Errorf("--pipeline --help: exit %d\n%s", code, errs)
	}
	code, _, errs = runCLI(t, nil, "bench", "--help")
	if code != 0 || !strings.Contains(errs, "-pipeline") {
		t.Errorf("bench --help does not mention --pipeline: exit %d\n%s", code, errs)
	}
}

// processAlive reports whether pid is a live (not zombie) process.
func processAlive(pid int) bool {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(data, ')')
	return i < 0 || !bytes.HasPrefix(bytes.TrimSpace(data[i+1:]), []byte("Z"))
}

func TestIsPipelineBench(t *testing.T) {
	for _, tc := range []struct {
		args []string
		env  string
		want bool
	}{
		{[]string{"x.jpg"}, "", false},
		{[]string{"--pipeline"}, "", true},
		{[]string{"--pipeline=false"}, "1", false},
		{[]string{"--json"}, "true", true},
		{[]string{"--", "--pipeline"}, "", false},
		{nil, "maybe", false},
	} {
		t.Setenv("FRAMECAST_PIPELINE", tc.env)
		if got := isPipelineBench(tc.args); got != tc.want {
			t.Errorf("args %v env %q: %v, want %v", tc.args, tc.env, got, tc.want)
		}
	}
}
