package bench_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/framecast/framecast/internal/bench"
	"github.com/framecast/framecast/internal/imagex"
	"github.com/framecast/framecast/internal/kafka"
	"github.com/framecast/framecast/internal/testkit"
)

// tinyPipeline are settings that run every phase in a few seconds, on fake
// engines (10 ms a frame, four faces): the bench is measured here, not the
// networks. The synthetic cameras need the sample photos.
func tinyPipeline(t *testing.T, log *slog.Logger) bench.PipelineConfig {
	testkit.RequireSamples(t)
	t.Setenv(testMainEnv, "1")
	return bench.PipelineConfig{
		Common: bench.Common{
			Cameras: 2, FramesPerCamera: 5, Width: 640, Height: 480, JPEGQuality: 80,
			Concurrency: 2, Threads: 1, ComputeDuration: time.Second, MaxAge: 2 * time.Second,
			Partitions: kafka.DefaultPartitions, NewAnalyzer: fakeAnalyzers(10 * time.Millisecond),
			Limits: imagex.DefaultLimits(), Log: log,
		},
		FPS: 5, Duration: 5 * time.Second, Backlog: 2 * time.Second,
	}
}

// TestPipeline runs the whole benchmark with tiny settings and checks that
// the report is complete and adds up. It asserts nothing about speed.
func TestPipeline(t *testing.T) {
	var logs testkit.LockedBuffer
	rep, err := bench.RunPipeline(context.Background(), tinyPipeline(t, slog.New(slog.NewTextHandler(&logs, nil))))
	t.Logf("log:\n%s", logs.String())
	if err != nil {
		t.Fatal(err)
	}
	if rep.Interrupted || rep.Settings.Cameras != 2 || rep.Settings.FPS != 5 || rep.Settings.Concurrency != 2 || rep.Settings.Threads != 1 ||
		rep.Settings.Width != 640 || rep.Settings.Height != 480 || rep.Settings.FrameBytesAvg <= 0 || rep.Host.CPUs < 1 {
		t.Errorf("settings: %+v host: %+v", rep.Settings, rep.Host)
	}

	c, ca := rep.Compute, rep.ComputeAfter
	for _, c := range []bench.ComputeOnly{c, ca} {
		if c.Frames <= 0 || c.FPS <= 0 || c.Seconds < 1 || c.FrameMSP50 < 10 || c.FrameMSP90 < c.FrameMSP50 || c.FacesPerFrame != 4 {
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
	if consumed, _ := r.Processor["consumed"].(uint64); int64(consumed) < r.Acked {
		t.Errorf("processor consumed %v of %d frames", r.Processor["consumed"], r.Acked)
	}
	l := r.Latency
	if l.N != r.OK || r.LatencyAll.N != r.OK+r.Skipped {
		t.Errorf("latency samples: %d ok, %d all; want %d and %d", l.N, r.LatencyAll.N, r.OK, r.OK+r.Skipped)
	}
	if l.N > 0 && !(l.P50 > 0 && l.P50 <= l.P90 && l.P90 <= l.P99 && l.P99 <= l.Max && l.Mean > 0) {
		t.Errorf("latency: %+v", l)
	}
	for _, p := range []bench.Latency{r.InLatency, r.ProcLatency, r.OutLatency} {
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
	if err := rep.Print(&txt); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"compute only", "through Kafka", "of compute only", "latency capture → result readable",
		"again after", "capture → fetched by the processor", "broker max RSS", "bench process", "cores used", "compute-after", "CPU ms/frame", fmt.Sprintf("published %d of %d captured", r.Acked, r.Captured)} {
		if !strings.Contains(txt.String(), want) {
			t.Errorf("text report lacks %q:\n%s", want, txt.String())
		}
	}
}

// TestPipelineInterrupted cancels the bench in the real-time phase, as
// Ctrl-C does: it returns context.Canceled with a partial report and
// leaves no broker behind.
func TestPipelineInterrupted(t *testing.T) {
	var logs testkit.LockedBuffer
	cfg := tinyPipeline(t, slog.New(slog.NewTextHandler(&logs, nil)))
	cfg.Duration = 5 * time.Minute
	run := testkit.Go(t, func(ctx context.Context) error {
		rep, err := bench.RunPipeline(ctx, cfg)
		if rep == nil || !rep.Interrupted || rep.Compute.Frames == 0 || rep.Realtime.Seconds <= 0 {
			return fmt.Errorf("no partial report: %+v (%w)", rep, err)
		}
		var txt bytes.Buffer
		if perr := rep.Print(&txt); perr != nil || !strings.Contains(txt.String(), "interrupted: partial report") {
			return fmt.Errorf("text %q (%v), err %w", txt.String(), perr, err)
		}
		return err
	})
	testkit.Eventually(t, 3*time.Minute, "the real-time phase", func() bool { return strings.Contains(logs.String(), "real time: publishing") })
	time.Sleep(1500 * time.Millisecond) // some real time to report
	if err := run.Stop(2 * time.Minute); !errors.Is(err, context.Canceled) {
		t.Fatalf("returned %v, want context.Canceled", err)
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
