package bench_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/framecast/framecast/internal/bench"
	"github.com/framecast/framecast/internal/imagex"
	"github.com/framecast/framecast/internal/testkit"
)

// TestSoak runs a few seconds of soak with a backlog and checks the
// report's invariants: every camera's frames are its results plus dead
// letters, no partition stalled, samples taken, both children stopped.
// The capacity is measured on fake engines (50 ms a frame: a light load);
// the processor child analyses with the real ones. It asserts nothing
// about speed.
func TestSoak(t *testing.T) {
	paths := testkit.RequireModels(t)
	t.Setenv(testMainEnv, "1")
	var logs testkit.LockedBuffer
	cfg := bench.SoakConfig{
		Common: bench.Common{
			Cameras: 2, FramesPerCamera: 5, Width: 640, Height: 480, JPEGQuality: 80,
			Concurrency: 2, Threads: 1, ComputeDuration: time.Second, MaxAge: 2 * time.Second,
			Partitions: 12, NewAnalyzer: fakeAnalyzers(50 * time.Millisecond),
			Limits: imagex.DefaultLimits(), Log: slog.New(slog.NewTextHandler(&logs, nil)),
		},
		Duration: 8 * time.Second, Load: 1.2, Warmup: 2 * time.Second, SampleEvery: time.Second, BacklogFrames: 40,
		ProcessorFlags: []string{"--home", paths.Home},
	}
	rep, err := bench.RunSoak(context.Background(), cfg)
	t.Logf("log:\n%s", logs.String())
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK || len(rep.Failures) != 0 || rep.Interrupted {
		t.Errorf("failures: %v", rep.Failures)
	}
	st := rep.Settings
	if rep.Capacity.FPS <= 0 || rep.Capacity.AnalyseMS < 50 || st.Load != 1.2 || st.Cameras != 2 || st.Partitions != 12 {
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
		if strings.HasPrefix(c.ID, "cam-") {
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
	if x := rep.Samples[0]; x.AtS != -1 || x.BrokerMB <= 0 || x.BenchMB <= 0 {
		t.Errorf("first sample %+v: want one before publishing, of the broker and the bench", x)
	}
	for _, pid := range []int{st.BrokerPID, st.ProcessorPID} {
		if pid <= 0 || processAlive(pid) {
			t.Errorf("child %d still running after the soak", pid)
		}
	}
}
