package bench

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"runtime/pprof"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/framecast/framecast/internal/analysis"
	"github.com/framecast/framecast/internal/frame"
	"github.com/framecast/framecast/internal/kafka"
	"github.com/framecast/framecast/internal/process"
	"github.com/framecast/framecast/internal/publish"
	"github.com/framecast/framecast/internal/quantile"
)

// ---- phase 2: saturation ----

func (b *pipeline) saturate(ctx context.Context) error {
	cfg := &b.cfg
	s := &b.rep.Saturation
	s.Frames = max(cfg.Cameras, int(math.Ceil(b.rep.Compute.FPS*cfg.Backlog.Seconds())))
	b.log.Info("saturation: producing the backlog", "frames", s.Frames, "seconds_of_work", cfg.Backlog.Seconds())
	t0 := time.Now()
	if err := b.produceBacklog(ctx, s.Frames); err != nil {
		return fmt.Errorf("saturation: producing the backlog: %w", err)
	}
	s.ProduceS = round3(time.Since(t0).Seconds())
	b.log.Info("saturation: backlog produced; draining it", "seconds", s.ProduceS)
	b.mark("saturation")
	if cfg.CPUProfile != "" {
		f, err := os.Create(cfg.CPUProfile)
		if err != nil {
			return fmt.Errorf("--cpu-profile: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("--cpu-profile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}

	proc, err := b.newProcessor(ctx, -1)
	if err != nil {
		return err
	}
	procStart := time.Now()
	rp := startProcessor(ctx, proc)
	defer rp.stop()

	timeout := max(2*time.Minute, 10*cfg.Backlog)
	done, err := b.waitResults(ctx, rp, timeout, 10*time.Second, func() (bool, []any) {
		c := b.reader.counts(satPrefix)
		return c.unique >= s.Frames, []any{"results", c.unique, "of", s.Frames}
	})
	if err != nil {
		return err
	}
	if err := rp.stop(); err != nil {
		return fmt.Errorf("saturation processor: %w", err)
	}
	c := b.reader.counts(satPrefix)
	s.Results, s.OK, s.Skipped, s.DLQ, s.Duplicates = c.unique, c.ok, c.skipped, c.dlq, c.dups
	s.Complete = done && c.unique == s.Frames
	s.FrameMSP50 = round2(quantile.Of(c.totalMS, 0.5))
	if c.unique > 0 {
		s.FirstAfterS = round3(c.first.Sub(procStart).Seconds())
		s.DrainS = round3(c.last.Sub(c.first).Seconds())
		if s.DrainS > 0 {
			s.FPS = round2(float64(c.unique-1) / c.last.Sub(c.first).Seconds())
		}
		s.WallFPS = round2(float64(c.unique) / c.last.Sub(procStart).Seconds())
	}
	b.ratios()
	b.log.Info("saturation", "fps", s.FPS, "ratio_to_compute_before", s.Ratio, "wall_fps", s.WallFPS, "results", s.Results, "drain_s", s.DrainS)
	if !s.Complete {
		b.log.Warn("saturation: not every backlog frame got a result", "results", c.unique, "frames", s.Frames)
	}
	return nil
}

// ratios compares the saturation rate with the compute-only rates
// measured so far (before, and after once measured).
func (b *pipeline) ratios() {
	s := &b.rep.Saturation
	lo, hi := b.rep.Compute.FPS, b.rep.Compute.FPS
	if a := b.rep.ComputeAfter.FPS; a > 0 {
		lo, hi = min(lo, a), max(hi, a)
	}
	if lo <= 0 {
		return
	}
	s.ComputeFPS = round2((lo + hi) / 2)
	s.Ratio = round3(s.FPS / s.ComputeFPS)
	s.RatioMin, s.RatioMax = round3(s.FPS/hi), round3(s.FPS/lo)
	s.WallRatio = round3(s.WallFPS / s.ComputeFPS)
}

// produceBacklog produces n frames as fast as the broker takes them, with
// the headers the publisher writes and capture time = now.
func (b *pipeline) produceBacklog(ctx context.Context, n int) error {
	opts, err := b.broker.ClientOpts("framecast-bench-backlog", b.log)
	if err != nil {
		return err
	}
	cl, err := kgo.NewClient(append(opts,
		kgo.DefaultProduceTopic(kafka.DefaultFramesTopic),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerBatchCompression(kgo.NoCompression()),
		kgo.ProducerBatchMaxBytes(publish.DefaultBatchMaxBytes),
		kgo.MaxBufferedBytes(128<<20),
	)...)
	if err != nil {
		return err
	}
	defer cl.Close()
	cams, parts := int32(b.cfg.Cameras), int32(b.cfg.Partitions)
	ids := make([]string, cams)
	for i := range ids {
		ids[i] = cameraID(satPrefix, i)
	}
	assigned := publish.Assign(ids, parts)
	var failed atomic.Int64
	var firstErr atomic.Value
	for k := range n {
		cam, _, data := b.frameAt(k)
		now := time.Now()
		rec := &kgo.Record{
			Key: []byte(ids[cam]), Value: data, Partition: (assigned[ids[cam]] + b.backlogBase) % parts, Timestamp: now,
			Headers: frame.EncodeHeaders(frame.Meta{Seq: int64(k) / int64(cams), CapturedAt: now, ContentType: frame.ContentTypeJPEG, Width: b.cfg.Width, Height: b.cfg.Height}),
		}
		cl.Produce(ctx, rec, func(_ *kgo.Record, err error) {
			if err != nil {
				failed.Add(1)
				firstErr.CompareAndSwap(nil, err)
			}
		})
	}
	if err := cl.Flush(ctx); err != nil {
		return err
	}
	if n := failed.Load(); n > 0 {
		return fmt.Errorf("%d frames not produced: %v", n, firstErr.Load())
	}
	return nil
}

// newProcessor creates the in-process processor on the bench's engines
// (the processor closes them through a wrapper that does nothing: they
// serve every phase).
func (b *pipeline) newProcessor(ctx context.Context, maxAge time.Duration) (*process.Processor, error) {
	// No logger here: the processor gives its group client its own.
	opts, err := b.broker.ClientOpts("framecast-bench-process", nil)
	if err != nil {
		return nil, err
	}
	next := 0
	return process.New(ctx, process.Config{
		Client:      opts,
		Group:       benchGroup,
		Worker:      "bench",
		Concurrency: len(b.engines),
		NewAnalyzer: func() (analysis.Analyzer, error) {
			e := b.engines[next%len(b.engines)]
			next++
			return lend(e), nil
		},
		Limits:        b.cfg.Limits,
		Tracking:      b.cfg.Tracking,
		MaxAge:        maxAge,
		MaxInFlight:   b.cfg.MaxInFlight,
		StatsInterval: -1,
		Log:           quietLog(b.log, "processor"),
	})
}

// runningProcessor is a Processor running in the background, for the
// phases that measure it.
type runningProcessor struct {
	done    chan error
	cancel  context.CancelFunc
	stopped bool // Run has returned and its error was consumed
}

func startProcessor(ctx context.Context, proc *process.Processor) *runningProcessor {
	pctx, cancel := context.WithCancel(ctx)
	rp := &runningProcessor{done: make(chan error, 1), cancel: cancel}
	go func() { rp.done <- proc.Run(pctx) }()
	return rp
}

// stop cancels the processor and returns Run's error; later calls return nil.
func (rp *runningProcessor) stop() error {
	if rp.stopped {
		rp.cancel()
		return nil
	}
	rp.stopped = true
	rp.cancel()
	return <-rp.done
}

// waitResults waits until cond holds, logging progress every `every`. It
// returns false when timeout passed first, an error when ctx ended or the
// processor stopped.
func (b *pipeline) waitResults(ctx context.Context, rp *runningProcessor, timeout, every time.Duration, cond func() (bool, []any)) (bool, error) {
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	lastLog := time.Now()
	for {
		ok, attrs := cond()
		if ok {
			return true, nil
		}
		if time.Now().After(deadline) {
			b.log.Warn("gave up waiting for results", append(attrs, "timeout", timeout.String())...)
			return false, nil
		}
		if time.Since(lastLog) >= every {
			lastLog = time.Now()
			b.log.Info("waiting for results", attrs...)
		}
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case err := <-rp.done:
			rp.stopped = true
			if err == nil {
				err = errors.New("stopped early")
			}
			return false, fmt.Errorf("processor: %w", err)
		case <-tick.C:
		}
	}
}
