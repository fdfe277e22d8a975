package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/framecast/framecast/internal/analysis"
	"github.com/framecast/framecast/internal/bench/childproc"
	"github.com/framecast/framecast/internal/bench/procstat"
	"github.com/framecast/framecast/internal/capacity"
	"github.com/framecast/framecast/internal/kafka"
	"github.com/framecast/framecast/internal/publish"
	"github.com/framecast/framecast/internal/soak"
)

// soakGroup is the processor child's consumer group.
const soakGroup = "framecast-soak"

// RunSoak runs the soak. It returns the report, with an error when ctx
// ended (the report is then partial, marked so) or a check failed; a nil
// report when it failed before there was anything to report.
func RunSoak(ctx context.Context, cfg SoakConfig) (*soak.Report, error) {
	if err := cfg.withDefaults(); err != nil {
		return nil, err
	}
	s := &soakRun{pipeline: pipeline{cfg: PipelineConfig{Common: cfg.Common, FPS: publish.DefaultFPS}, log: cfg.Log}, sc: cfg}
	return s.run(ctx)
}

// soakRun is one run of `framecast bench --soak`. It borrows the pipeline
// bench's frames, broker child, backlog producer and results reader; the
// scene renders at publish.DefaultFPS, the cameras publish at the rate
// chosen from the capacity.
type soakRun struct {
	pipeline
	sc      SoakConfig
	rep     soak.Report
	sampler *procstat.Sampler // processor, broker, bench

	mu    sync.Mutex
	proc  *childproc.Process
	start time.Time // publishing started
}

func (s *soakRun) run(ctx context.Context) (_ *soak.Report, err error) {
	b, cfg := &s.pipeline, &s.pipeline.cfg
	s.rep.Date = time.Now().UTC().Truncate(time.Second)
	s.rep.Settings = soak.Settings{
		DurationS: s.sc.Duration.Seconds(), Load: s.sc.Load, Cameras: cfg.Cameras, Concurrency: cfg.Concurrency, Threads: cfg.Threads,
		MaxAgeS: cfg.MaxAge.Seconds(), Partitions: cfg.Partitions, Width: cfg.Width, Height: cfg.Height, FramesPerCamera: cfg.FramesPerCamera,
		SampleIntervalS: s.sc.SampleEvery.Seconds(), WarmupS: s.sc.Warmup.Seconds(), BacklogFrames: s.sc.BacklogFrames,
		CPUs: runtime.NumCPU(), LoadAvgStart: procstat.LoadAvg()[0],
	}
	if b.dir, err = os.MkdirTemp("", "framecast-soak-"); err != nil {
		return nil, err
	}
	defer os.RemoveAll(b.dir)
	if err := s.measureCapacity(ctx); err != nil {
		return nil, err
	}

	if b.broker, err = childproc.StartBroker(ctx, b.log, filepath.Join(b.dir, "broker"), cfg.Partitions); err != nil {
		return nil, err
	}
	defer b.broker.Stop(b.log)
	s.rep.Settings.BrokerPID = b.broker.PID()
	stopReader, err := b.startReader(ctx)
	if err != nil {
		return nil, err
	}
	defer stopReader()
	brokerPID := b.broker.PID()
	s.sampler = procstat.StartSampler(s.sc.SampleEvery, func() []int { return []int{s.processorPID(), brokerPID, os.Getpid()} })
	defer s.sampler.Stop()

	if s.sc.BacklogFrames > 0 {
		if err := s.produceBacklog(ctx); err != nil {
			return nil, err
		}
	}
	b.frames = nil // the publisher reads the files
	if err := s.startProcessor(); err != nil {
		return nil, err
	}
	defer s.proc.Stop(b.log)
	if err := s.waitForProcessor(ctx); err != nil {
		return nil, err
	}
	pubErr := s.publish(ctx)
	if pubErr != nil && ctx.Err() == nil {
		return nil, pubErr
	}
	// From here on, also when interrupted: account for what was sent.
	actx := context.WithoutCancel(ctx)
	wait := max(60*time.Second, 3*cfg.MaxAge+30*time.Second)
	if ctx.Err() != nil {
		s.rep.Interrupted, wait = true, 10*time.Second
	}
	s.drain(actx, wait)
	s.proc.Stop(b.log) // SIGTERM: finish, commit, leave
	s.rep.Settings.ProcessorPID = s.proc.PID()
	s.sampler.Stop()
	if err := s.account(actx); err != nil {
		return nil, err
	}
	s.rep.Settings.LoadAvgEnd = procstat.LoadAvg()[0]
	s.rep.Check()
	if ctx.Err() != nil {
		return &s.rep, ctx.Err()
	}
	if !s.rep.OK {
		return &s.rep, fmt.Errorf("soak failed: %s", strings.Join(s.rep.Failures, "; "))
	}
	return &s.rep, nil
}

// measureCapacity renders the frames and analyses them on the engines at
// once: the rate the load is a multiple of. The engines are closed after:
// the processor child has its own.
func (s *soakRun) measureCapacity(ctx context.Context) error {
	b, cfg := &s.pipeline, &s.pipeline.cfg
	workers, closeWorkers, err := analysis.Workers(cfg.NewAnalyzer, cfg.Concurrency, cfg.Limits)
	if err != nil {
		return err
	}
	defer closeWorkers()
	if err := b.render(ctx); err != nil {
		return err
	}
	s.rep.Settings.FrameBytesAvg = b.rep.Settings.FrameBytesAvg
	var frames [][]byte
	for k := range cfg.Cameras * cfg.FramesPerCamera {
		_, _, data := b.frameAt(k)
		frames = append(frames, data)
	}
	c := &s.rep.Capacity
	if s.sc.Capacity > 0 {
		c.FPS, c.Given = s.sc.Capacity, true
	} else {
		b.log.Info("capacity: decode + analyse, no Kafka", "engines", len(workers), "seconds", cfg.ComputeDuration.Seconds())
		msPer, n, err := capacity.Measure(ctx, workers, frames, cfg.ComputeDuration)
		if err != nil {
			return fmt.Errorf("capacity: %w", err)
		}
		c.AnalyseMS, c.Frames = round2(msPer), n
		c.FPS = round2(1000 * float64(len(workers)) / msPer)
	}
	cfg.FPS = round2(s.sc.Load * c.FPS / float64(cfg.Cameras))
	s.rep.Settings.FPS = cfg.FPS
	b.log.Info("capacity", "fps", c.FPS, "analyse_ms", c.AnalyseMS, "load", s.sc.Load, "cameras", cfg.Cameras, "fps_per_camera", cfg.FPS)
	return nil
}

func (s *soakRun) processorPID() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		return 0
	}
	return s.proc.PID()
}

// produceBacklog produces the rendered frames as backlog cameras sat-01 …
// before the processor starts, on partitions after the soak cameras'.
func (s *soakRun) produceBacklog(ctx context.Context) error {
	b := &s.pipeline
	b.backlogBase = int32(b.cfg.Cameras)
	bl := &soak.Backlog{Frames: s.sc.BacklogFrames}
	s.rep.Backlog = bl
	b.log.Info("backlog: producing frames before the processor starts", "frames", bl.Frames)
	t0 := time.Now()
	if err := b.produceBacklog(ctx, bl.Frames); err != nil {
		return fmt.Errorf("backlog: %w", err)
	}
	bl.ProduceS = round3(time.Since(t0).Seconds())
	return nil
}

func (s *soakRun) startProcessor() error {
	cfg := &s.cfg
	args := append([]string{"process", "--brokers", s.broker.Addr(), "--group", soakGroup,
		"--concurrency", strconv.Itoa(cfg.Concurrency), "--threads", strconv.Itoa(cfg.Threads),
		"--max-age", cfg.MaxAge.String(), "--stats-interval", "0"}, s.sc.ProcessorFlags...)
	p, err := childproc.Start(s.log, "processor", args)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.proc = p
	s.mu.Unlock()
	return nil
}

// waitForProcessor waits until the processor's group is stable (and has
// drained the backlog, when there is one).
func (s *soakRun) waitForProcessor(ctx context.Context) error {
	adm := kadm.NewClient(s.admClient())
	defer adm.Close()
	started := time.Now()
	deadline := started.Add(2 * time.Minute)
	for {
		if err := s.pause(ctx); err != nil {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the processor did not join its group within 2 minutes: %s", s.proc.Stderr())
		}
		gs, err := adm.DescribeGroups(ctx, soakGroup)
		if err != nil {
			continue
		}
		if g, ok := gs[soakGroup]; !ok || g.State != "Stable" || len(g.AssignedPartitions()[kafka.DefaultFramesTopic]) < s.cfg.Partitions {
			continue
		}
		break
	}
	s.log.Info("processor joined its group", "after", time.Since(started).Round(time.Millisecond).String())
	bl := s.rep.Backlog
	if bl == nil {
		return nil
	}
	for {
		c := s.reader.counts(satPrefix)
		if c.unique >= bl.Frames {
			bl.OK, bl.Skipped, bl.DLQ, bl.Complete = c.ok, c.skipped, c.dlq, true
			bl.DrainS = round3(c.last.Sub(started).Seconds())
			break
		}
		if time.Now().After(deadline.Add(5 * time.Minute)) {
			s.log.Warn("backlog: not drained; going on", "results", c.unique, "frames", bl.Frames)
			bl.OK, bl.Skipped, bl.DLQ = c.ok, c.skipped, c.dlq
			break
		}
		if err := s.pause(ctx); err != nil {
			return err
		}
	}
	rss, hwm, _ := procstat.Memory(s.proc.PID())
	_, bhwm, _ := procstat.Memory(s.broker.PID())
	bl.ProcessorRSSMB, bl.ProcessorPeakMB, bl.BrokerPeakMB = mb(rss), mb(max(rss, hwm)), mb(bhwm)
	s.log.Info("backlog drained", "seconds", bl.DrainS, "ok", bl.OK, "skipped", bl.Skipped, "processor_rss_mb", bl.ProcessorRSSMB, "processor_peak_mb", bl.ProcessorPeakMB)
	return nil
}

// pause waits a poll interval; it fails when ctx ended or the processor
// exited.
func (s *soakRun) pause(ctx context.Context) error {
	select {
	case <-s.proc.Done():
		return fmt.Errorf("the processor exited (%v): %s", s.proc.Err(), s.proc.Stderr())
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(100 * time.Millisecond):
		return nil
	}
}

func (s *soakRun) admClient() *kgo.Client {
	opts, _ := s.broker.ClientOpts("framecast-soak-admin", s.log) // a loopback host:port: valid
	cl, _ := kgo.NewClient(opts...)
	return cl
}

// publish runs the cameras for the soak's duration, narrating.
func (s *soakRun) publish(ctx context.Context) error {
	pub, cams, err := s.publisher(ctx, "framecast-soak-publish")
	if err != nil {
		return err
	}
	defer pub.Close()
	s.log.Info("soak: publishing", "cameras", s.cfg.Cameras, "fps", s.cfg.FPS, "duration", s.sc.Duration.String(), "max_age", s.cfg.MaxAge.String())
	start := time.Now()
	s.mu.Lock()
	s.start = start
	s.mu.Unlock()
	s.reader.setRealtimeStart(start)
	err = publishFor(ctx, pub, cams, s.sc.Duration, func(ctx context.Context) { s.progress(ctx, pub, start) })
	ps := pub.Stats()
	s.rep.Published = soak.Published{Captured: ps.Captured, Acked: ps.Acked, Dropped: ps.Dropped.Total()}
	s.rep.Settings.DurationS = round3(time.Since(start).Seconds())
	if err != nil {
		return fmt.Errorf("publisher: %w", err)
	}
	return ctx.Err()
}

// progress narrates the soak until ctx ends.
func (s *soakRun) progress(ctx context.Context, pub *publish.Publisher, start time.Time) {
	every := min(time.Minute, max(5*time.Second, s.sc.Duration/10))
	s.reader.eachWindow(ctx, start, every, func(w Window) {
		rss := s.sampler.Latest().RSS
		s.log.Info("soak", "elapsed", time.Since(start).Round(time.Second).String(), "published", pub.Stats().Acked,
			"ok", w.OK, "skipped", w.Skipped, "p50_ms", w.P50, "p99_ms", w.P99,
			"processor_rss_mb", mb(rss[0]), "broker_rss_mb", mb(rss[1]))
	})
}
