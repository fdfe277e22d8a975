package view

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/framecast/framecast/internal/analysis"
	"github.com/framecast/framecast/internal/frame"
	"github.com/framecast/framecast/internal/imagex"
	"github.com/framecast/framecast/internal/kafka"
	"github.com/framecast/framecast/internal/models"
	"github.com/framecast/framecast/internal/process"
	"github.com/framecast/framecast/internal/publish"
	"github.com/framecast/framecast/internal/source"
	"github.com/framecast/framecast/internal/testkit"
	"github.com/framecast/framecast/internal/vision"
)

// initRuntime loads ONNX Runtime, once per test binary.
var initRuntime = sync.OnceValue(func() error { return vision.InitRuntime(models.At("").ResolveORTLib("")) })

// resultLog reads the results topic from the start (read_committed), as an
// independent witness of what the processor produced.
type resultLog struct {
	mu sync.Mutex
	by map[string]map[int64]frame.Result
}

func readResults(t *testing.T, brokers string) *resultLog {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers), kgo.ConsumeTopics(kafka.DefaultResultsTopic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.FetchMaxWait(200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	rl := &resultLog{by: map[string]map[int64]frame.Result{}}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		for ctx.Err() == nil {
			fs := cl.PollFetches(ctx)
			fs.EachRecord(func(r *kgo.Record) {
				var res frame.Result
				if err := json.Unmarshal(r.Value, &res); err != nil {
					t.Errorf("result record: %v", err)
					return
				}
				rl.mu.Lock()
				if rl.by[res.Camera] == nil {
					rl.by[res.Camera] = map[int64]frame.Result{}
				}
				rl.by[res.Camera][res.Seq] = res
				rl.mu.Unlock()
			})
		}
	})
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		cl.Close()
	})
	return rl
}

func (rl *resultLog) get(camera string, seq int64) (frame.Result, bool) {
	rl.mu.Lock()
	defer rl.mu.Unlock()
	r, ok := rl.by[camera][seq]
	return r, ok
}

// sameBoxes compares what the page drew with a result record: the same
// faces, boxes within the protocol's rounding (1/1000 px), same emotions.
func sameBoxes(drawn []pageBox, r frame.Result) error {
	if len(drawn) != len(r.Faces) {
		return fmt.Errorf("%d boxes drawn, the result of seq %d has %d faces", len(drawn), r.Seq, len(r.Faces))
	}
	for i, f := range r.Faces {
		d := drawn[i]
		if math.Abs(d.X-f.Box.X) > 0.01 || math.Abs(d.Y-f.Box.Y) > 0.01 || math.Abs(d.W-f.Box.W) > 0.01 || math.Abs(d.H-f.Box.H) > 0.01 || d.Emotion != f.Emotion {
			return fmt.Errorf("face %d: drawn %+v, result box %+v emotion %s", i, d, f.Box, f.Emotion)
		}
	}
	return nil
}

// TestViewBrowserRealPipeline runs the whole pipeline in-process — embedded
// broker, publisher with two synthetic cameras, a real processor (one
// engine, one thread), the dashboard — and drives the page in headless
// chromium: a tile per camera, frames advancing, the boxes on screen equal
// to the result records of the frames they are drawn on (read back from
// Kafka independently), charts updating, overlays and pause working, and a
// screenshot as an artifact. The dashboard never joins a consumer group.
func TestViewBrowserRealPipeline(t *testing.T) {
	paths := testkit.RequireModels(t)
	if err := initRuntime(); err != nil {
		t.Fatal(err)
	}
	b := startBroker(t)
	addr := b.Addr()
	clientOpts := []kgo.Opt{kgo.SeedBrokers(addr)}
	ctx := context.Background()

	proc, err := process.New(ctx, process.Config{
		Client: clientOpts, Group: "view-test", Concurrency: 1, MaxAge: 5 * time.Second,
		NewAnalyzer: func() (analysis.Analyzer, error) {
			return vision.New(vision.Config{DetectorModel: paths.Detector(), EmotionModel: paths.Emotion(), Threads: 1})
		},
		StatsInterval: -1, DrainTimeout: 10 * time.Second, Log: testLogger(t).With("role", "process"),
	})
	if err != nil {
		t.Fatal(err)
	}
	pctx, pcancel := context.WithCancel(ctx)
	pdone := make(chan error, 1)
	go func() { pdone <- proc.Run(pctx) }()
	t.Cleanup(func() {
		pcancel()
		if err := <-pdone; err != nil {
			t.Errorf("processor: %v", err)
		}
	})

	tv := startView(t, addr, Config{})
	witness := readResults(t, addr)

	pub, err := publish.New(ctx, publish.Config{Log: testLogger(t).With("role", "publish"), FlushTimeout: 2 * time.Second}, clientOpts...)
	if err != nil {
		t.Fatal(err)
	}
	var cams []publish.Camera
	for i, id := range []string{"lobby", "door"} {
		src, err := source.Open(fmt.Sprintf("synthetic:?seed=%d", i+1), source.Config{Width: 320, Height: 240, FPS: 4})
		if err != nil {
			t.Fatal(err)
		}
		cams = append(cams, publish.Camera{ID: id, Source: src, FPS: 4})
	}
	pubCtx, pubCancel := context.WithCancel(ctx)
	pubDone := make(chan error, 1)
	go func() { pubDone <- pub.Run(pubCtx, cams) }()
	t.Cleanup(func() {
		pubCancel()
		<-pubDone
		pub.Close()
	})

	bctx := newBrowser(t)
	navigate(t, bctx, tv.url)

	testkit.Eventually(t, 60*time.Second, "a tile per camera showing frames", func() bool {
		st := state(t, bctx)
		return evalInt(t, bctx, `document.querySelectorAll('.tile').length`) == 2 &&
			st.Cams["lobby"].FramesShown > 0 && st.Cams["door"].FramesShown > 0
	})
	first := state(t, bctx)
	testkit.Eventually(t, 30*time.Second, "the frames to advance", func() bool {
		st := state(t, bctx)
		return st.Cams["lobby"].FrameSeq > first.Cams["lobby"].FrameSeq && st.Cams["door"].FrameSeq > first.Cams["door"].FrameSeq
	})

	// The boxes on screen are those of the result records: for each
	// camera, several times, with faces.
	matched := map[string]int{}
	testkit.Eventually(t, 60*time.Second, "boxes drawn that match the result records, 3 times per camera", func() bool {
		st := state(t, bctx)
		for id, c := range st.Cams {
			if c.DrawnSeq < 0 || len(c.Boxes) == 0 {
				continue
			}
			r, ok := witness.get(id, c.DrawnSeq)
			if !ok {
				continue // the witness has not read it yet
			}
			if err := sameBoxes(c.Boxes, r); err != nil {
				t.Errorf("camera %s, frame %d: %v", id, c.FrameSeq, err)
			}
			if d := math.Abs(c.FrameCaptured - c.DrawnCaptured); d > 1000 {
				t.Errorf("camera %s: the boxes drawn over frame %d are of frame %d, %.0f ms away (max 1000)", id, c.FrameSeq, c.DrawnSeq, d)
			}
			matched[id]++
		}
		return matched["lobby"] >= 3 && matched["door"] >= 3
	})

	testkit.Eventually(t, 30*time.Second, "the charts to update with emotions, throughput and latency", func() bool {
		st := state(t, bctx)
		return st.Charts.Stats >= 3 && st.Charts.Draws >= 3 && st.Charts.Points >= 2 && st.Charts.EmotionTotal > 0
	})
	st := state(t, bctx)
	if st.Connections != 1 || tv.Stats().Accepted != 1 {
		t.Errorf("page connections %d, server accepted %d: want one WebSocket", st.Connections, tv.Stats().Accepted)
	}
	screenshot(t, bctx, "dashboard-real-pipeline.png")

	// Overlays off: frames keep coming, no boxes.
	if err := chromedp.Do(bctx, chromedp.Click(chromedp.ID("overlays"))); err != nil {
		t.Fatal(err)
	}
	off := state(t, bctx)
	testkit.Eventually(t, 30*time.Second, "frames without boxes after switching overlays off", func() bool {
		st := state(t, bctx)
		c := st.Cams["lobby"]
		return !st.Overlays && c.FrameSeq > off.Cams["lobby"].FrameSeq && len(c.Boxes) == 0 && c.DrawnSeq == -1 && !c.Overlay
	})
	if err := chromedp.Do(bctx, chromedp.Click(chromedp.ID("overlays"))); err != nil {
		t.Fatal(err)
	}

	// Pause: frames keep arriving, the picture stays.
	if err := chromedp.Do(bctx, chromedp.Click(chromedp.ID("pause"))); err != nil {
		t.Fatal(err)
	}
	paused := state(t, bctx)
	if !paused.Paused {
		t.Fatal("the pause button did not pause")
	}
	testkit.Eventually(t, 30*time.Second, "frames to arrive while paused", func() bool {
		return state(t, bctx).Frames >= paused.Frames+8
	})
	after := state(t, bctx)
	for id, c := range after.Cams {
		// One decode may have been under way at the click.
		if c.FramesShown > paused.Cams[id].FramesShown+1 {
			t.Errorf("camera %s: %d frames shown while paused (from %d)", id, c.FramesShown, paused.Cams[id].FramesShown)
		}
	}
	if err := chromedp.Do(bctx, chromedp.Click(chromedp.ID("pause"))); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 30*time.Second, "frames shown again after resuming", func() bool {
		return state(t, bctx).Cams["door"].FramesShown > after.Cams["door"].FramesShown+1
	})

	// Click a camera to enlarge it, again to shrink it.
	if err := chromedp.Do(bctx, chromedp.Click(chromedp.CSS(`.tile[data-camera="door"] canvas`))); err != nil {
		t.Fatal(err)
	}
	if n := evalInt(t, bctx, `document.querySelectorAll('.tile.big[data-camera="door"]').length`); n != 1 {
		t.Errorf("clicking the tile did not enlarge it")
	}
	screenshot(t, bctx, "dashboard-enlarged.png")

	// Server-side annotation of a real result.
	code, body := tv.get(t, "snapshot.jpg?camera=lobby&annotate=1", nil)
	if code != 200 {
		t.Errorf("annotated snapshot: %d %s", code, body)
	} else if _, w, h, err := imagex.Info(body); err != nil || w != 320 || h != 240 {
		t.Errorf("annotated snapshot: %dx%d, %v", w, h, err)
	}

	// The dashboard read without a group: the processors' is the only one.
	lctx, lcancel := context.WithTimeout(ctx, 10*time.Second)
	defer lcancel()
	adm, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer adm.Close()
	groups, err := kadm.NewClient(adm).ListGroups(lctx)
	if err != nil {
		t.Fatal(err)
	}
	if names := groups.Groups(); len(names) != 1 || names[0] != "view-test" {
		t.Errorf("consumer groups %v: want only the processors' view-test", names)
	}
}

// TestView20CamerasOneWebSocket puts 20 cameras on one page: 20 tiles, all
// advancing, over a single WebSocket (counted on the server), with each
// camera's boxes those of its results, and no boxes on a camera whose
// results stopped more than a second before its frames.
func TestView20CamerasOneWebSocket(t *testing.T) {
	b := startBroker(t)
	tv := startView(t, b.Addr(), Config{})
	f := newFeeder(t, b.Addr())
	var cams []string
	for i := 1; i <= 20; i++ {
		cams = append(cams, camName(i))
	}
	stale := cams[19] // its results stop after seq 2
	ctx, cancel := context.WithCancel(context.Background())
	wg := f.run(ctx, cams, 3, 160, 120, func(c string, seq int64) bool { return c != stale || seq < 3 })
	t.Cleanup(func() {
		cancel()
		wg.Wait()
	})

	bctx := newBrowser(t)
	navigate(t, bctx, tv.url)
	testkit.Eventually(t, 60*time.Second, "20 tiles showing frames", func() bool {
		if evalInt(t, bctx, `document.querySelectorAll('.tile').length`) != 20 {
			return false
		}
		st := state(t, bctx)
		for _, c := range cams {
			if st.Cams[c].FramesShown == 0 {
				return false
			}
		}
		return true
	})
	first := state(t, bctx)
	matched := map[string]bool{}
	testkit.Eventually(t, 60*time.Second, "every camera's frames to advance with its own boxes", func() bool {
		st := state(t, bctx)
		for _, id := range cams {
			c := st.Cams[id]
			if id == stale || c.FrameSeq <= first.Cams[id].FrameSeq || c.DrawnSeq < 0 {
				continue
			}
			r, ok := f.lookup(id, c.DrawnSeq)
			if !ok {
				t.Errorf("camera %s: boxes of seq %d, for which no result was produced", id, c.DrawnSeq)
				continue
			}
			if err := sameBoxes(c.Boxes, r); err != nil {
				t.Errorf("camera %s: %v", id, err)
			}
			matched[id] = true
		}
		return len(matched) == 19
	})
	testkit.Eventually(t, 30*time.Second, "no boxes on the camera whose results stopped", func() bool {
		c := state(t, bctx).Cams[stale]
		return c.FrameSeq >= 8 && c.DrawnSeq == -1 && len(c.Boxes) == 0
	})
	st := state(t, bctx)
	s := tv.Stats()
	if st.Connections != 1 || s.Accepted != 1 || s.Clients != 1 {
		t.Errorf("page connections %d; server: %d accepted, %d open: want exactly one WebSocket for 20 cameras",
			st.Connections, s.Accepted, s.Clients)
	}
	screenshot(t, bctx, "dashboard-20-cameras.png")
}

// TestLive: a reader on one record for MaxHandle is reported by Live (the
// record's start is moved back rather than waited for); readers between
// records are alive.
func TestLive(t *testing.T) {
	b := startBroker(t)
	tv := startView(t, b.Addr(), Config{})
	if err := tv.Live(context.Background()); err != nil {
		t.Fatalf("Live of a running dashboard: %v", err)
	}
	tv.results.handling.Store(time.Now().Add(-MaxHandle - time.Second).UnixNano())
	if err := tv.Live(context.Background()); err == nil || !strings.Contains(err.Error(), "the results reader has been on one record") {
		t.Errorf("Live with a record handled for %v: %v", MaxHandle, err)
	}
	tv.results.handling.Store(0)
	if err := tv.Live(context.Background()); err != nil {
		t.Errorf("Live after the record: %v", err)
	}
}
