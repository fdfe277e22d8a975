package process

import (
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/framecast/framecast/internal/analysis"
	"github.com/framecast/framecast/internal/frame"
	"github.com/framecast/framecast/internal/source"
	"github.com/framecast/framecast/internal/testkit"
	"github.com/framecast/framecast/internal/vision"
)

func cameraFrames(t *testing.T, cameras int, from, to int64) []*kgo.Record {
	face, _ := images(t)
	var recs []*kgo.Record
	for seq := from; seq < to; seq++ {
		for c := range cameras {
			recs = append(recs, testkit.FrameRecord(fmt.Sprintf("cam-%d", c), int32(c), seq, time.Now(), face))
		}
	}
	return recs
}

// TestTrackIDs: with nothing left out, frames of one camera are still
// analysed in parallel, and its faces keep their track ids from frame to
// frame (given by the emitter, in order).
func TestTrackIDs(t *testing.T) {
	tc := newCluster(t, 2)
	o := tc.options(t)
	o.Group, o.Concurrency = "ids", 3
	tc.Produce(t, cameraFrames(t, 2, 0, 10)...)
	p := start(t, o)
	testkit.Eventually(t, 60*time.Second, "every frame", func() bool { return p.Stats().Out() >= 20 })
	if err := p.stop(); err != nil {
		t.Fatal(err)
	}
	if a := p.Stats().Analysis; a["full"] != 20 || a["tracked"] != 0 || a["reused"] != 0 {
		t.Errorf("analysis counts %v, want 20 full", a)
	}
	for cam, rs := range checkResults(t, tc.ReadTopic(t, topics.Results, 20)) {
		for _, r := range rs {
			if r.Analysis != analysis.AnalysisFull || len(r.Faces) != 4 {
				t.Fatalf("%s seq %d: analysis %q, %d faces", cam, r.Seq, r.Analysis, len(r.Faces))
			}
			for k, f := range r.Faces {
				if f.TrackID != int64(k+1) || f.Source != analysis.SourceDetected {
					t.Fatalf("%s seq %d face %d: track %d source %q, want the ids of seq 0", cam, r.Seq, k, f.TrackID, f.Source)
				}
			}
		}
	}
}

// TestTrackingRebalance: with --detect-every 3 a camera's frames alternate
// full and tracked analyses with stable track ids; when a rebalance moves
// its partition to another member, that member starts afresh (a full
// analysis, new track ids) and the old member has dropped the state.
func TestTrackingRebalance(t *testing.T) {
	for _, mode := range []Delivery{AtLeastOnce, ExactlyOnce} {
		t.Run(string(mode), func(t *testing.T) { testTrackingRebalance(t, mode) })
	}
}

func testTrackingRebalance(t *testing.T, mode Delivery) {
	const cameras = 6
	tc := newCluster(t, cameras)
	o := tc.options(t)
	o.Group, o.Concurrency, o.Worker, o.InstanceID, o.Delivery = "track", 2, "a", "a", mode
	o.Tracking = analysis.Tracking{DetectEvery: 3}
	tc.Produce(t, cameraFrames(t, cameras, 0, 5)...)
	a := start(t, o)
	testkit.Eventually(t, 60*time.Second, "the first frames", func() bool { return a.Stats().Out() >= cameras*5 })

	o.Worker, o.InstanceID = "b", "b"
	b := start(t, o)
	testkit.Eventually(t, 30*time.Second, "both members to own partitions", func() bool {
		sa, sb := a.Stats(), b.Stats()
		return sa.Assigned > 0 && sb.Assigned > 0 && sa.Assigned+sb.Assigned == cameras
	})
	// The state of every partition a no longer owns is gone with it
	// (exactly once: as soon as a's current batch, if any, is done).
	testkit.Eventually(t, 30*time.Second, "a to be idle", func() bool { return a.Stats().InFlight == 0 })
	a.mu.Lock()
	for k := range a.parts {
		if !a.assigned[k] {
			t.Errorf("a keeps the state of partition %d, which it no longer owns", k.partition)
		}
	}
	a.mu.Unlock()
	outA := a.Stats().Out()
	tc.Produce(t, cameraFrames(t, cameras, 5, 7)...)
	testkit.Eventually(t, 60*time.Second, "the frames after the rebalance", func() bool { return a.Stats().Out()+b.Stats().Out() >= outA+cameras*2 })
	if err := a.stop(); err != nil {
		t.Fatal(err)
	}
	if err := b.stop(); err != nil {
		t.Fatal(err)
	}
	wantBefore := []string{"full", "tracked", "tracked", "full", "tracked"}
	moved := 0
	for cam, rs := range checkResults(t, tc.ReadTopic(t, topics.Results, cameras*7, kgo.FetchIsolationLevel(kgo.ReadCommitted()))) {
		if len(rs) != 7 {
			t.Fatalf("%s: %d results", cam, len(rs))
		}
		ids := func(r frame.Result) []int64 {
			var out []int64
			for _, f := range r.Faces {
				out = append(out, f.TrackID)
			}
			return out
		}
		for i, r := range rs[:5] {
			if r.Analysis != wantBefore[i] || fmt.Sprint(ids(r)) != "[1 2 3 4]" {
				t.Fatalf("%s seq %d: %q, ids %v; want %q, [1 2 3 4]", cam, r.Seq, r.Analysis, ids(r), wantBefore[i])
			}
		}
		r := rs[5]
		if r.Worker == rs[4].Worker {
			// Same owner throughout (or revoked and given back, which
			// also starts afresh): either way a valid analysis.
			if r.Analysis == analysis.AnalysisTracked && fmt.Sprint(ids(r)) != "[1 2 3 4]" {
				t.Errorf("%s seq 5 tracked with ids %v", cam, ids(r))
			}
			continue
		}
		moved++
		if r.Analysis != analysis.AnalysisFull || fmt.Sprint(ids(r)) != "[5001 5002 5003 5004]" {
			t.Errorf("%s moved from %s to %s: seq 5 %q with ids %v, want a fresh start: full, [5001 5002 5003 5004]", cam, rs[4].Worker, r.Worker, r.Analysis, ids(r))
		}
		if rs[6].Analysis != analysis.AnalysisTracked || fmt.Sprint(ids(rs[6])) != fmt.Sprint(ids(r)) {
			t.Errorf("%s seq 6: %q with ids %v", cam, rs[6].Analysis, ids(rs[6]))
		}
	}
	if moved == 0 {
		t.Error("no camera moved to the second member")
	}
	if n := a.Stats().Analysis["tracked"] + b.Stats().Analysis["tracked"]; n < cameras*3 {
		t.Errorf("%d tracked frames counted, want at least %d", n, cameras*3)
	}
}

// TestTrackingRealModels runs the processor with the real networks and
// --detect-every 3 on a synthetic camera's frames (faces drifting across
// the frame): faces are found, followed between detector runs with the
// ids the detector frame gave them, and every result is valid.
func TestTrackingRealModels(t *testing.T) {
	paths := testkit.RequireModels(t)
	if err := vision.InitRuntime(paths.ResolveORTLib("")); err != nil {
		t.Fatal(err)
	}
	src, err := source.NewSynthetic(source.SyntheticConfig{Width: 640, Height: 480, Dir: paths.Samples(), Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	const frames = 12
	var recs []*kgo.Record
	for i := range int64(frames) {
		data, err := src.Render(i)
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, testkit.FrameRecord("cam", 0, i, time.Now(), data))
	}
	tc := newCluster(t, 1)
	tc.Produce(t, recs...)
	o := tc.options(t)
	o.Group, o.Tracking = "real-track", analysis.Tracking{DetectEvery: 3}
	o.NewAnalyzer = func() (analysis.Analyzer, error) {
		return vision.New(vision.Config{DetectorModel: paths.Detector(), EmotionModel: paths.Emotion(), Threads: 1})
	}
	p := start(t, o)
	testkit.Eventually(t, 120*time.Second, "every frame", func() bool { return p.Stats().Out() >= frames })
	if err := p.stop(); err != nil {
		t.Fatal(err)
	}
	rs := checkResults(t, tc.ReadTopic(t, topics.Results, frames))["cam"]
	if len(rs) != frames {
		t.Fatalf("%d results", len(rs))
	}
	var tracked, faces int
	var ids map[int64]bool
	for _, r := range rs {
		faces += len(r.Faces)
		switch r.Analysis {
		case analysis.AnalysisFull:
			ids = map[int64]bool{}
			for _, f := range r.Faces {
				ids[f.TrackID] = true
			}
		case analysis.AnalysisTracked:
			tracked++
			for _, f := range r.Faces {
				if !ids[f.TrackID] || f.Source != analysis.SourceTracked {
					t.Errorf("seq %d: followed face %d (%s) was not in the last detector frame's %v", r.Seq, f.TrackID, f.Source, ids)
				}
			}
		default:
			t.Errorf("seq %d: analysis %q", r.Seq, r.Analysis)
		}
	}
	t.Logf("%d faces in %d frames, %d of them tracked", faces, frames, tracked)
	if faces < frames || tracked == 0 || rs[0].Analysis != analysis.AnalysisFull {
		t.Errorf("%d faces, %d tracked frames, first %q", faces, tracked, rs[0].Analysis)
	}
}

// TestIdleCamerasDropped: a camera without a frame for cameraIdle loses
// its state (its thumbnails and tracks), others keep theirs.
func TestIdleCamerasDropped(t *testing.T) {
	ps := &partState{}
	var tr analysis.Tracking
	a, b := ps.camera(tr, "a"), ps.camera(tr, "b")
	// a was last seen long ago; a prune is due.
	ps.seen["a"] = time.Now().Add(-cameraIdle - time.Second)
	ps.pruned = time.Time{}
	if got := ps.camera(tr, "b"); got != b {
		t.Error("camera b lost its state")
	}
	if _, ok := ps.cams["a"]; ok {
		t.Error("idle camera a kept its state")
	}
	if got := ps.camera(tr, "a"); got == a {
		t.Error("camera a, back after the idle time, has its old state")
	}
}
