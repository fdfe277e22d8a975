package bench

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/framecast/framecast/internal/analysis"
	"github.com/framecast/framecast/internal/bench/childproc"
	"github.com/framecast/framecast/internal/bench/procstat"
	"github.com/framecast/framecast/internal/quantile"
	"github.com/framecast/framecast/internal/source"
	"github.com/framecast/framecast/internal/vision"
)

// Targets of issue 3.
const (
	targetRatio      = 0.90
	targetP50MS      = 30.0
	targetP99MS      = 100.0
	targetBrokerRSSB = 300 << 20
)

// Camera id prefixes: the saturation backlog and the real-time cameras
// share the topics, and the results reader tells them apart by key.
const (
	satPrefix = "sat-"
	rtPrefix  = "cam-"
	// benchGroup is the processors' consumer group: the real-time
	// processor starts where the saturation one committed.
	benchGroup = "framecast-bench"
)

// RunPipeline measures the pipeline through the embedded broker, run as a
// child process: compute only, saturation, compute only again, real time.
// It returns the report, also when interrupted (then partial, marked so)
// together with ctx's error; a nil report when it failed before there
// was anything to report.
func RunPipeline(ctx context.Context, cfg PipelineConfig) (*PipelineReport, error) {
	if err := cfg.withDefaults(); err != nil {
		return nil, err
	}
	b := &pipeline{cfg: cfg, log: cfg.Log}
	return b.run(ctx)
}

// pipeline is one run of `framecast bench --pipeline`; the soak borrows
// its frames, broker child, backlog producer and results reader.
type pipeline struct {
	cfg PipelineConfig
	log *slog.Logger

	dir     string
	engines []analysis.Analyzer
	frames  [][][]byte // [camera][frame] JPEG
	broker  *childproc.Broker
	mem     *procstat.Sampler // broker, bench
	reader  *resultsReader
	rep     PipelineReport
	marks   []cpuMark
	// backlogBase shifts the backlog cameras' partitions: the soak gives
	// them partitions of their own, after the real-time cameras'.
	backlogBase int32
}

func (b *pipeline) run(ctx context.Context) (_ *PipelineReport, err error) {
	cfg := &b.cfg
	b.rep.Date = time.Now().UTC().Truncate(time.Second)
	b.rep.Host = Host{CPUs: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0), CPUModel: procstat.CPUModel(), GoVersion: runtime.Version(), LoadAvgStart: procstat.LoadAvg()}
	b.rep.Settings = PipelineSettings{
		Cameras: cfg.Cameras, FPS: cfg.FPS, DurationS: cfg.Duration.Seconds(), Concurrency: cfg.Concurrency, Threads: cfg.Threads,
		Width: cfg.Width, Height: cfg.Height, FramesPerCamera: cfg.FramesPerCamera, Partitions: cfg.Partitions,
		MaxAgeS: cfg.maxAgeFlag().Seconds(), MaxInFlight: cfg.MaxInFlight, ComputeS: cfg.ComputeDuration.Seconds(), BacklogS: cfg.Backlog.Seconds(),
		DetectEvery: max(cfg.Tracking.DetectEvery, 1), ReclassifyEvery: max(cfg.Tracking.ReclassifyEvery, 1), SkipStatic: cfg.Tracking.SkipStatic,
	}

	b.dir, err = os.MkdirTemp("", "framecast-bench-")
	if err != nil {
		return nil, err
	}
	defer func() {
		if rerr := os.RemoveAll(b.dir); rerr != nil {
			b.log.Warn("could not remove the temporary directory", "dir", b.dir, "err", rerr)
		}
	}()

	// Engines first: a missing model fails before anything starts.
	for range cfg.Concurrency {
		e, err := cfg.NewAnalyzer()
		if err != nil {
			b.closeEngines()
			return nil, err
		}
		b.engines = append(b.engines, e)
	}
	defer b.closeEngines()
	b.rep.Host.ONNXRuntime = vision.RuntimeVersion()

	if err := b.render(ctx); err != nil {
		return nil, err
	}

	b.broker, err = childproc.StartBroker(ctx, b.log, filepath.Join(b.dir, "broker"), cfg.Partitions)
	if err != nil {
		return nil, err
	}
	defer b.broker.Stop(b.log)
	b.rep.Settings.BrokerPID, b.rep.Settings.BrokerAddr = b.broker.PID(), b.broker.Addr()

	brokerPID := b.broker.PID()
	b.mem = procstat.StartSampler(time.Second, func() []int { return []int{brokerPID, os.Getpid()} })
	defer b.mem.Stop()
	b.mark("compute")
	if err := b.compute(ctx, "compute only", &b.rep.Compute); err != nil {
		return nil, err
	}

	stopReader, err := b.startReader(ctx)
	if err != nil {
		return nil, err
	}
	defer stopReader()

	b.mark("backlog")
	if err := b.saturate(ctx); err != nil {
		return b.finishEarly(ctx, err)
	}
	b.mark("compute-after")
	if err := b.compute(ctx, "compute only, again", &b.rep.ComputeAfter); err != nil {
		return b.finishEarly(ctx, err)
	}
	b.ratios()
	b.mark("realtime")
	if err := b.realtime(ctx); err != nil {
		return b.finishEarly(ctx, err)
	}
	b.mark("")
	b.finish()
	return &b.rep, nil
}

// startReader starts the results reader on the broker; it reads until the
// returned function is called, after the bench is done with it (also
// when interrupted: the reader's context outlives ctx).
func (b *pipeline) startReader(ctx context.Context) (stop func(), err error) {
	b.reader, err = newResultsReader(b.broker, b.log)
	if err != nil {
		return nil, err
	}
	readerCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() { defer close(done); b.reader.run(readerCtx) }()
	return func() { cancel(); <-done; b.reader.close() }, nil
}

// finishEarly returns the report of what was measured when a phase was
// interrupted, with ctx's error; any other error alone.
func (b *pipeline) finishEarly(ctx context.Context, err error) (*PipelineReport, error) {
	if ctx.Err() == nil {
		return nil, err
	}
	b.mark("")
	b.rep.Interrupted = true
	b.finish()
	b.log.Warn("interrupted: the report below is partial")
	return &b.rep, err
}

func (b *pipeline) closeEngines() {
	for _, e := range b.engines {
		e.Close()
	}
	b.engines = nil
}

// mark starts a CPU accounting phase ("" ends the last one) and tells the
// memory sampler.
func (b *pipeline) mark(phase string) {
	pid := 0
	if b.broker != nil {
		pid = b.broker.PID()
	}
	b.marks = append(b.marks, takeCPUMark(phase, pid))
	if b.mem != nil {
		b.mem.SetPhase(phase)
	}
}

// ---- frames ----

// render writes each camera's frames once, as JPEG files in its own
// directory, and keeps them in memory for the compute and backlog phases.
func (b *pipeline) render(ctx context.Context) error {
	cfg := &b.cfg
	start := time.Now()
	b.log.Info("rendering frames", "cameras", cfg.Cameras, "per_camera", cfg.FramesPerCamera, "size", fmt.Sprintf("%dx%d", cfg.Width, cfg.Height))
	b.frames = make([][][]byte, cfg.Cameras)
	next := atomic.Int64{}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	var total atomic.Int64
	for range max(1, runtime.GOMAXPROCS(0)) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= cfg.Cameras || ctx.Err() != nil {
					return
				}
				if err := b.renderCamera(ctx, i, &total); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
					return
				}
			}
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	n := cfg.Cameras * cfg.FramesPerCamera
	b.rep.Settings.FrameBytesAvg = math.Round(float64(total.Load()) / float64(n))
	b.log.Info("frames rendered", "frames", n, "avg_kb", round1(b.rep.Settings.FrameBytesAvg/1000), "seconds", round1(time.Since(start).Seconds()))
	return nil
}

func (b *pipeline) renderCamera(ctx context.Context, i int, total *atomic.Int64) error {
	cfg := &b.cfg
	uri := fmt.Sprintf("synthetic:?seed=%d&size=%dx%d", i+1, cfg.Width, cfg.Height)
	src, err := source.NewSyntheticURI(uri, source.Config{FPS: cfg.FPS, JPEGQuality: cfg.JPEGQuality})
	if err != nil {
		return err
	}
	defer src.Close()
	dir := b.cameraDir(i)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	out := make([][]byte, 0, cfg.FramesPerCamera)
	for j := range cfg.FramesPerCamera {
		if err := ctx.Err(); err != nil {
			return err
		}
		data, err := src.Render(int64(j))
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("frame-%05d.jpg", j)), data, 0o600); err != nil {
			return err
		}
		total.Add(int64(len(data)))
		out = append(out, data)
	}
	b.frames[i] = out
	return nil
}

func cameraID(prefix string, i int) string { return fmt.Sprintf("%s%02d", prefix, i+1) }

func (b *pipeline) cameraDir(i int) string {
	return filepath.Join(b.dir, "frames", cameraID(rtPrefix, i))
}

// frameAt is the k-th frame of the interleaved sequence every phase uses:
// camera k mod cameras, that camera's frame (k / cameras) mod frames.
func (b *pipeline) frameAt(k int) (cam, idx int, data []byte) {
	c := len(b.frames)
	cam, idx = k%c, (k/c)%len(b.frames[k%c])
	return cam, idx, b.frames[cam][idx]
}

// ---- phase 1: compute only ----

func (b *pipeline) compute(ctx context.Context, label string, c *ComputeOnly) error {
	b.log.Info(label+": decode + analyse, no Kafka", "engines", len(b.engines), "threads", b.cfg.Threads, "seconds", b.cfg.ComputeDuration.Seconds())
	var next atomic.Int64
	var stop atomic.Bool
	type out struct {
		ms    []float64
		faces int
		err   error
	}
	outs := make([]out, len(b.engines))
	var ready, wg sync.WaitGroup
	startGate := make(chan struct{})
	ready.Add(len(b.engines))
	for w, eng := range b.engines {
		wg.Go(func() {
			st := analysis.NewStage(keepOpen{eng}, b.cfg.Limits)
			defer st.Close()
			// Warm-up: first calls allocate and fault pages in.
			var werr error
			for k := range 3 {
				if _, _, data := b.frameAt(w + k*len(b.engines)); werr == nil {
					_, werr = analyse(st, data)
				}
			}
			ready.Done()
			<-startGate
			if werr != nil {
				outs[w].err = werr
				return
			}
			o := &outs[w]
			for !stop.Load() && ctx.Err() == nil {
				_, _, data := b.frameAt(int(next.Add(1) - 1))
				res, err := analyse(st, data)
				if err != nil {
					o.err = err
					return
				}
				o.ms = append(o.ms, res.TimingsMS.Total)
				o.faces += len(res.Faces)
			}
		})
	}
	ready.Wait()
	start := time.Now()
	close(startGate)
	timer := time.NewTimer(b.cfg.ComputeDuration)
	select {
	case <-timer.C:
	case <-ctx.Done():
		timer.Stop()
	}
	stop.Store(true)
	wg.Wait()
	elapsed := time.Since(start)
	if err := ctx.Err(); err != nil {
		return err
	}
	var all []float64
	faces := 0
	for _, o := range outs {
		if o.err != nil {
			return fmt.Errorf("compute only: %w", o.err)
		}
		all = append(all, o.ms...)
		faces += o.faces
	}
	c.Seconds = round3(elapsed.Seconds())
	c.Frames = len(all)
	if c.Frames == 0 {
		return errors.New("compute only: no frame finished; raise --compute-duration")
	}
	c.FPS = round2(float64(c.Frames) / elapsed.Seconds())
	c.FacesPerFrame = round2(float64(faces) / float64(c.Frames))
	c.FrameMSP50 = round2(quantile.Of(all, 0.5))
	c.FrameMSP90 = round2(quantile.Of(all, 0.9))
	b.log.Info(label, "fps", c.FPS, "frames", c.Frames, "frame_ms_p50", c.FrameMSP50, "faces_per_frame", c.FacesPerFrame)
	return nil
}
