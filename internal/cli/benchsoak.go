package cli

import (
	"context"
	"encoding/json"
	"errors"
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

	"github.com/framecast/framecast/internal/capacity"
	"github.com/framecast/framecast/internal/kafka"
	"github.com/framecast/framecast/internal/publish"
	"github.com/framecast/framecast/internal/rungroup"
	"github.com/framecast/framecast/internal/soak"
	"github.com/framecast/framecast/internal/source"
)

const benchSoakAbout = `Run the whole pipeline above the machine's capacity for a long time and check
that nothing is lost, nothing stalls and memory stops growing:

  1. --frames-per-camera synthetic frames per camera are rendered once;
  2. capacity: the frames through decode + analyse on --concurrency engines at
     once for --compute-duration → frames/s;
  3. the broker (framecast broker) and the processor (framecast process, stale
     skipping on: --max-age) run as child processes, so that each one's memory
     can be read from /proc every --sample-interval;
  4. optionally, --backlog-frames frames are produced on cameras of their own
     before the processor starts: its peak memory after a backlog;
  5. --cameras publish for --soak at --soak-load × the capacity, then the
     processor drains and stops.

Afterwards, from the topics: every camera's frames (the end offset of its
partition) = its results + dead letters; every partition's committed offset
reached its end; latency, stale skip rate; processor and broker RSS at 1 min,
the midpoint and the end, and the slope (MB/min) after --warmup.
Exit status 1 when a camera's frames are not all accounted for or a partition
stalled.`

type soakFlags struct {
	duration, warmup, sampleEvery time.Duration
	load, capacity                float64
	backlogFrames                 int
}

// isSoakBench reports whether bench's arguments ask for --soak (or
// FRAMECAST_SOAK is set), like isPipelineBench.
func isSoakBench(args []string) bool {
	for _, a := range args {
		if a == "--" {
			break
		}
		name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if strings.HasPrefix(a, "-") && name == "soak" {
			return true
		}
	}
	_, ok := os.LookupEnv(envName("soak"))
	return ok
}

func runBenchSoak(ctx context.Context, env *environment, args []string) error {
	fs := newFlagSet(env, "bench", "--soak DURATION [flags]", benchSoakAbout)
	var vf visionFlags
	vf.register(fs)
	var pf pipelineFlags
	var sf soakFlags
	fs.Bool("pipeline", true, "(implied by --soak)")
	fs.DurationVar(&sf.duration, "soak", 0, "how long the cameras publish (e.g. 30m)")
	fs.Float64Var(&sf.load, "soak-load", 1.2, "the cameras' total rate, as a multiple of the measured capacity")
	fs.Float64Var(&sf.capacity, "capacity", 0, "the capacity in frames/s instead of measuring it (e.g. the compute-only rate of bench --pipeline on a quiet machine)")
	fs.DurationVar(&sf.warmup, "warmup", 0, "RSS slopes are fitted after this (0: a third of --soak, at most 5m)")
	fs.DurationVar(&sf.sampleEvery, "sample-interval", 5*time.Second, "how often the processes' RSS is read")
	fs.IntVar(&sf.backlogFrames, "backlog-frames", 0, "frames produced before the processor starts, on cameras of their own (0: none)")
	fs.IntVar(&pf.cameras, "cameras", 8, "cameras (synthetic, distinct seeds)")
	fs.IntVar(&pf.concurrency, "concurrency", 2, "analysis engines, in the capacity measurement and in the processor")
	fs.DurationVar(&pf.computeDuration, "compute-duration", 5*time.Second, "length of the capacity measurement")
	fs.IntVar(&pf.framesPerCamera, "frames-per-camera", 100, "frames rendered per camera (looped)")
	fs.StringVar(&pf.size, "size", fmt.Sprintf("%dx%d", source.DefaultWidth, source.DefaultHeight), "frame size, WIDTHxHEIGHT")
	fs.IntVar(&pf.quality, "jpeg-quality", source.DefaultJPEGQuality, "JPEG quality of the rendered frames")
	fs.DurationVar(&pf.maxAge, "max-age", 2*time.Second, "the processor's --max-age: frames older than this are skipped as stale")
	fs.IntVar(&pf.partitions, "partitions", 0, "partitions of the broker's topics (0: 12, or enough for a partition per camera)")
	fs.BoolVar(&pf.jsonOut, "json", false, "print the report as JSON")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	var errs []error
	if fs.NArg() > 0 {
		errs = append(errs, fmt.Errorf("unexpected arguments %q: bench --soak takes only flags", fs.Args()))
	}
	if err := vf.validate(); err != nil {
		errs = append(errs, err)
	}
	if sf.duration < time.Second {
		errs = append(errs, fmt.Errorf("--soak %v: want a duration of at least 1s, e.g. --soak 30m", sf.duration))
	}
	if sf.capacity < 0 {
		errs = append(errs, errors.New("--capacity must not be negative (0: measure it)"))
	}
	if !(sf.load > 0 && sf.load <= 100) {
		errs = append(errs, fmt.Errorf("--soak-load %v: want more than 0 and at most 100", sf.load))
	}
	if sf.warmup < 0 || sf.warmup >= max(sf.duration, time.Second) || sf.sampleEvery < 100*time.Millisecond {
		errs = append(errs, errors.New("--warmup must be shorter than --soak, --sample-interval at least 100ms"))
	}
	if sf.backlogFrames < 0 {
		errs = append(errs, errors.New("--backlog-frames must not be negative"))
	}
	if pf.cameras < 1 || pf.cameras > 128 {
		errs = append(errs, fmt.Errorf("--cameras %d: want 1 to 128", pf.cameras))
	}
	if pf.concurrency < 1 || pf.concurrency > 64 || pf.computeDuration < 100*time.Millisecond {
		errs = append(errs, errors.New("--concurrency: want 1 to 64; --compute-duration at least 100ms"))
	}
	if pf.framesPerCamera < 1 || pf.framesPerCamera > 10000 {
		errs = append(errs, fmt.Errorf("--frames-per-camera %d: want 1 to 10000", pf.framesPerCamera))
	}
	var ok bool
	if pf.width, pf.height, ok = source.ParseSize(pf.size); !ok {
		errs = append(errs, fmt.Errorf("--size %q: want WIDTHxHEIGHT, e.g. 640x480", pf.size))
	}
	if pf.quality < 1 || pf.quality > 100 || pf.maxAge <= 0 {
		errs = append(errs, errors.New("--jpeg-quality: want 1 to 100; --max-age must be positive (the soak skips stale frames)"))
	}
	// Each camera (and each backlog camera) has a partition of its own,
	// so that its frames are the partition's end offset.
	need := pf.cameras
	if sf.backlogFrames > 0 {
		need *= 2
	}
	if pf.partitions == 0 {
		pf.partitions = max(kafka.DefaultPartitions, need)
	} else if pf.partitions < need {
		errs = append(errs, fmt.Errorf("--partitions %d: the soak needs one per camera (and per backlog camera): at least %d", pf.partitions, need))
	}
	if err := errors.Join(errs...); err != nil {
		return usageError("%v", err)
	}
	if sf.warmup == 0 {
		sf.warmup = min(5*time.Minute, sf.duration/3)
	}
	if vf.threads == 0 {
		vf.threads = 1 // N engines × 1 thread, as `framecast process` runs them
	}
	pf.fps = publish.DefaultFPS // the synthetic scene's rate; the pace is chosen later
	s := &soakBench{pipelineBench: pipelineBench{env: env, log: env.log, pf: pf, vf: vf}, sf: sf}
	return s.run(ctx)
}

// soakBench is one run of `framecast bench --soak`. It borrows the
// pipeline bench's frames, broker child, backlog producer and results
// reader.
type soakBench struct {
	pipelineBench
	sf      soakFlags
	proc    *benchChild
	rep     soak.Report
	start   time.Time // publishing started
	mu      sync.Mutex
	samples []soak.Sample
}

const soakGroup = "framecast-soak"

func (s *soakBench) run(ctx context.Context) (err error) {
	b, pf := &s.pipelineBench, &s.pf
	s.rep.Date = time.Now().UTC().Truncate(time.Second)
	s.rep.Settings = soak.Settings{
		DurationS: s.sf.duration.Seconds(), Load: s.sf.load, Cameras: pf.cameras, Concurrency: pf.concurrency, Threads: s.vf.threads,
		MaxAgeS: pf.maxAge.Seconds(), Partitions: pf.partitions, Width: pf.width, Height: pf.height, FramesPerCamera: pf.framesPerCamera,
		SampleIntervalS: s.sf.sampleEvery.Seconds(), WarmupS: s.sf.warmup.Seconds(), BacklogFrames: s.sf.backlogFrames,
		CPUs: runtime.NumCPU(), LoadAvgStart: loadAvg()[0],
	}
	if b.dir, err = os.MkdirTemp("", "framecast-soak-"); err != nil {
		return err
	}
	defer os.RemoveAll(b.dir)
	if err := s.measureCapacity(ctx); err != nil {
		return err
	}

	if b.broker, err = startBenchBroker(ctx, b.log, filepath.Join(b.dir, "broker"), pf.partitions); err != nil {
		return err
	}
	defer b.broker.stop(b.log)
	s.rep.Settings.BrokerPID = b.broker.pid()
	if b.reader, err = newBenchReader(b.broker, b.log); err != nil {
		return err
	}
	readerCtx, stopReader := context.WithCancel(context.WithoutCancel(ctx))
	readerDone := make(chan struct{})
	go func() { defer close(readerDone); b.reader.run(readerCtx) }()
	defer func() { stopReader(); <-readerDone; b.reader.close() }()
	stopSampling := s.sample()
	defer stopSampling()

	if s.sf.backlogFrames > 0 {
		if err := s.produceBacklog(ctx); err != nil {
			return err
		}
	}
	b.frames = nil // the publisher reads the files
	if err := s.startProcessor(ctx); err != nil {
		return err
	}
	defer func() {
		if s.proc != nil {
			s.proc.stop(b.log)
		}
	}()
	if err := s.waitForProcessor(ctx); err != nil {
		return err
	}
	pubErr := s.publish(ctx)
	if pubErr != nil && ctx.Err() == nil {
		return pubErr
	}
	// From here on, also when interrupted: account for what was sent.
	actx := context.WithoutCancel(ctx)
	wait := max(60*time.Second, 3*pf.maxAge+30*time.Second)
	if ctx.Err() != nil {
		s.rep.Interrupted, wait = true, 10*time.Second
	}
	s.drain(actx, wait)
	s.proc.stop(b.log) // SIGTERM: finish, commit, leave
	s.rep.Settings.ProcessorPID = s.proc.pid()
	stopSampling()
	if err := s.account(actx); err != nil {
		return err
	}
	s.rep.Settings.LoadAvgEnd = loadAvg()[0]
	s.rep.Check()
	if err := s.print(); err != nil {
		return err
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if !s.rep.OK {
		return fmt.Errorf("soak failed: %s", strings.Join(s.rep.Failures, "; "))
	}
	return nil
}

// measureCapacity renders the frames and analyses them on the engines at
// once: the rate the load is a multiple of. The engines are closed after:
// the processor child has its own.
func (s *soakBench) measureCapacity(ctx context.Context) error {
	b := &s.pipelineBench
	workers, closeWorkers, err := engineWorkers(s.vf, s.pf.concurrency)
	if err != nil {
		return err
	}
	defer closeWorkers()
	if err := b.render(ctx); err != nil {
		return err
	}
	s.rep.Settings.FrameBytesAvg = b.rep.Settings.FrameBytesAvg
	var frames [][]byte
	for k := range s.pf.cameras * s.pf.framesPerCamera {
		_, _, data := b.frameAt(k)
		frames = append(frames, data)
	}
	c := &s.rep.Capacity
	if s.sf.capacity > 0 {
		c.FPS, c.Given = s.sf.capacity, true
	} else {
		b.log.Info("capacity: decode + analyse, no Kafka", "engines", len(workers), "seconds", s.pf.computeDuration.Seconds())
		msPer, n, err := capacity.Measure(ctx, workers, frames, s.pf.computeDuration)
		if err != nil {
			return fmt.Errorf("capacity: %w", err)
		}
		c.AnalyseMS, c.Frames = round2(msPer), n
		c.FPS = round2(1000 * float64(len(workers)) / msPer)
	}
	s.pf.fps = round2(s.sf.load * c.FPS / float64(s.pf.cameras))
	s.rep.Settings.FPS = s.pf.fps
	b.log.Info("capacity", "fps", c.FPS, "analyse_ms", c.AnalyseMS, "load", s.sf.load, "cameras", s.pf.cameras, "fps_per_camera", s.pf.fps)
	return nil
}

// sample reads the processes' RSS every --sample-interval until the
// returned function is called.
func (s *soakBench) sample() (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(s.sf.sampleEvery)
		defer t.Stop()
		for {
			s.sampleOnce()
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	})
	var once sync.Once
	return func() { once.Do(func() { close(done); wg.Wait() }) }
}

func (s *soakBench) sampleOnce() {
	s.mu.Lock()
	defer s.mu.Unlock()
	var x soak.Sample
	now := time.Now()
	if !s.start.IsZero() {
		x.AtS = round1(now.Sub(s.start).Seconds())
	} else {
		x.AtS = -1
	}
	if s.proc != nil {
		rss, _, _ := procStatus(s.proc.pid())
		x.ProcessorMB = mb(rss)
	}
	br, _, _ := procStatus(s.broker.pid())
	self, _, _ := procStatus(os.Getpid())
	x.BrokerMB, x.BenchMB = mb(br), mb(self)
	s.samples = append(s.samples, x)
}

// produceBacklog produces the rendered frames as backlog cameras sat-01 …
// before the processor starts, on partitions after the soak cameras'.
func (s *soakBench) produceBacklog(ctx context.Context) error {
	b := &s.pipelineBench
	b.backlogBase = int32(s.pf.cameras)
	bl := &soak.Backlog{Frames: s.sf.backlogFrames}
	s.rep.Backlog = bl
	b.log.Info("backlog: producing frames before the processor starts", "frames", bl.Frames)
	t0 := time.Now()
	if err := b.produceBacklog(ctx, bl.Frames); err != nil {
		return fmt.Errorf("backlog: %w", err)
	}
	bl.ProduceS = round3(time.Since(t0).Seconds())
	return nil
}

func (s *soakBench) startProcessor(ctx context.Context) error {
	args := []string{"process", "--brokers", s.broker.addr, "--group", soakGroup,
		"--concurrency", strconv.Itoa(s.pf.concurrency), "--threads", strconv.Itoa(s.vf.threads),
		"--max-age", s.pf.maxAge.String(), "--home", s.vf.home, "--stats-interval", "0",
		"--provider", s.vf.provider, "--min-score", strconv.FormatFloat(s.vf.minScore, 'g', -1, 64),
		"--max-faces", strconv.Itoa(s.vf.maxFaces)}
	for flag, v := range map[string]string{"--onnxruntime-lib": s.vf.ortLib, "--detector-model": s.vf.detector, "--emotion-model": s.vf.emotion} {
		if v != "" {
			args = append(args, flag, v)
		}
	}
	p, err := startChild(s.log, "processor", args)
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
func (s *soakBench) waitForProcessor(ctx context.Context) error {
	adm := kadm.NewClient(s.admClient())
	defer adm.Close()
	started := time.Now()
	deadline := started.Add(2 * time.Minute)
	for {
		if err := s.pause(ctx); err != nil {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the processor did not join its group within 2 minutes: %s", strings.TrimSpace(s.proc.stderr.String()))
		}
		gs, err := adm.DescribeGroups(ctx, soakGroup)
		if err != nil {
			continue
		}
		if g, ok := gs[soakGroup]; !ok || g.State != "Stable" || len(g.AssignedPartitions()[kafka.DefaultFramesTopic]) < s.pf.partitions {
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
	rss, hwm, _ := procStatus(s.proc.pid())
	_, bhwm, _ := procStatus(s.broker.pid())
	bl.ProcessorRSSMB, bl.ProcessorPeakMB, bl.BrokerPeakMB = mb(rss), mb(max(rss, hwm)), mb(bhwm)
	s.log.Info("backlog drained", "seconds", bl.DrainS, "ok", bl.OK, "skipped", bl.Skipped, "processor_rss_mb", bl.ProcessorRSSMB, "processor_peak_mb", bl.ProcessorPeakMB)
	return nil
}

// pause waits a poll interval; it fails when ctx ended or the processor
// exited.
func (s *soakBench) pause(ctx context.Context) error {
	select {
	case <-s.proc.done:
		return fmt.Errorf("the processor exited (%v): %s", s.proc.err, strings.TrimSpace(s.proc.stderr.String()))
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(100 * time.Millisecond):
		return nil
	}
}

func (s *soakBench) admClient() *kgo.Client {
	opts, _ := s.broker.clientOpts("framecast-soak-admin", s.log) // a loopback host:port: valid
	cl, _ := kgo.NewClient(opts...)
	return cl
}

// publish runs the cameras for --soak, narrating.
func (s *soakBench) publish(ctx context.Context) error {
	log := quietLog(s.log, "publisher")
	opts, err := s.broker.clientOpts("framecast-soak-publish", log)
	if err != nil {
		return err
	}
	pub, err := publish.New(ctx, publish.Config{Log: log}, opts...)
	if err != nil {
		return err
	}
	defer pub.Close()
	cams := make([]publish.Camera, 0, s.pf.cameras)
	for i := range s.pf.cameras {
		src, err := source.Open(s.cameraDir(i), source.Config{})
		if err != nil {
			for _, c := range cams {
				c.Source.Close()
			}
			return err
		}
		cams = append(cams, publish.Camera{ID: cameraID(rtPrefix, i), Source: src, FPS: s.pf.fps})
	}
	s.log.Info("soak: publishing", "cameras", s.pf.cameras, "fps", s.pf.fps, "duration", s.sf.duration.String(), "max_age", s.pf.maxAge.String())
	s.mu.Lock()
	s.start = time.Now()
	s.mu.Unlock()
	s.reader.setRealtimeStart(s.start)
	pubCtx, stop := context.WithTimeout(ctx, s.sf.duration)
	defer stop()
	// The progress lines run until the publisher ends.
	g, _ := rungroup.New(pubCtx)
	g.Go(func(ctx context.Context) error { return pub.Run(ctx, cams) })
	g.Go(func(ctx context.Context) error {
		every := min(time.Minute, max(5*time.Second, s.sf.duration/10))
		t := time.NewTicker(every)
		defer t.Stop()
		from := s.start
		for {
			select {
			case <-ctx.Done():
				return nil
			case now := <-t.C:
				w := s.reader.window(from, now)
				from = now
				s.mu.Lock()
				last := s.samples[len(s.samples)-1]
				s.mu.Unlock()
				s.log.Info("soak", "elapsed", time.Since(s.start).Round(time.Second).String(), "published", pub.Stats().Acked,
					"ok", w.OK, "skipped", w.Skipped, "p50_ms", w.P50, "p99_ms", w.P99,
					"processor_rss_mb", last.ProcessorMB, "broker_rss_mb", last.BrokerMB)
			}
		}
	})
	err = g.Wait()
	ps := pub.Stats()
	s.rep.Published = soak.Published{Captured: ps.Captured, Acked: ps.Acked, Dropped: ps.Dropped.Total()}
	s.rep.Settings.DurationS = round3(time.Since(s.start).Seconds())
	if err != nil {
		return fmt.Errorf("publisher: %w", err)
	}
	return ctx.Err()
}

// cameraPartitions maps every camera, the backlog's too, to its
// partition, as the publisher and the backlog producer assign them.
func (s *soakBench) cameraPartitions() map[string]int32 {
	var ids, sat []string
	for i := range s.pf.cameras {
		ids = append(ids, cameraID(rtPrefix, i))
		sat = append(sat, cameraID(satPrefix, i))
	}
	parts := publish.Assign(ids, int32(s.pf.partitions))
	if s.rep.Backlog != nil {
		for id, p := range publish.Assign(sat, int32(s.pf.partitions)) {
			parts[id] = (p + s.backlogBase) % int32(s.pf.partitions)
		}
	}
	return parts
}

// drain waits until every frame in the topic has a result or a dead
// letter, or wait passed.
func (s *soakBench) drain(ctx context.Context, wait time.Duration) {
	cl := s.admClient()
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ends, err := adm.ListEndOffsets(ctx, kafka.DefaultFramesTopic)
	if err != nil {
		s.log.Warn("listing the frames topic's end offsets", "err", err)
		return
	}
	parts := s.cameraPartitions()
	deadline := time.Now().Add(wait)
	s.log.Info("soak: publishing done; waiting for the last results")
	for {
		missing := int64(0)
		for id, p := range parts {
			if o, ok := ends.Lookup(kafka.DefaultFramesTopic, p); ok {
				c := s.reader.camera(id)
				missing += max(0, o.Offset-int64(c.ok+c.skipped+c.dlq))
			}
		}
		if missing == 0 {
			return
		}
		if time.Now().After(deadline) {
			s.log.Warn("gave up waiting for results", "missing", missing, "waited", wait.String())
			return
		}
		select {
		case <-s.proc.done:
			s.log.Warn("the processor exited before every frame had a result", "err", s.proc.err, "stderr", strings.TrimSpace(s.proc.stderr.String()))
			return
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// account fills the report from the topics and the samples, once the
// processor stopped.
func (s *soakBench) account(ctx context.Context) error {
	cl := s.admClient()
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	ends, err := adm.ListEndOffsets(ctx, kafka.DefaultFramesTopic)
	if err != nil {
		return fmt.Errorf("listing the frames topic's end offsets: %w", err)
	}
	committed, err := adm.FetchOffsets(ctx, soakGroup)
	if err != nil {
		return fmt.Errorf("fetching the processor's committed offsets: %w", err)
	}
	// The reader gets a moment for records produced at the very end.
	time.Sleep(time.Second)
	parts := s.cameraPartitions()
	res := &s.rep.Results
	for i := range s.pf.cameras {
		id := cameraID(rtPrefix, i)
		s.rep.Cameras = append(s.rep.Cameras, s.camera(id, parts[id], ends))
		c := s.rep.Cameras[len(s.rep.Cameras)-1]
		res.Frames += c.Frames
		res.Results += c.Results
		res.OK += c.OK
		res.Skipped += c.Skipped
		res.DLQ += c.DLQ
		res.Duplicates += c.Duplicates
	}
	if s.rep.Backlog != nil {
		for i := range s.pf.cameras {
			id := cameraID(satPrefix, i)
			s.rep.Cameras = append(s.rep.Cameras, s.camera(id, parts[id], ends))
		}
	}
	if n := res.Results + res.DLQ; n > 0 {
		res.StaleRate = round3(float64(res.Skipped) / float64(n))
	}
	if d := s.rep.Settings.DurationS; d > 0 {
		res.AnalysedFPS = round1(float64(res.OK) / d)
	}
	for p := range int32(s.pf.partitions) {
		e, _ := ends.Lookup(kafka.DefaultFramesTopic, p)
		c := int64(-1)
		if o, ok := committed.Lookup(kafka.DefaultFramesTopic, p); ok && o.Err == nil {
			c = o.At
		}
		s.rep.Partitions = append(s.rep.Partitions, soak.Partition{Partition: p, End: e.Offset, Committed: c})
	}
	ok, all := s.reader.latencies()
	s.rep.Latency, s.rep.LatencyAll = soakLatency(ok), soakLatency(all)

	s.mu.Lock()
	s.rep.Samples = s.samples
	s.mu.Unlock()
	d, w := s.rep.Settings.DurationS, s.sf.warmup.Seconds()
	m := &s.rep.Memory
	m.Processor = soak.Summarize(s.rep.Samples, func(x soak.Sample) float64 { return x.ProcessorMB }, d, w)
	m.Broker = soak.Summarize(s.rep.Samples, func(x soak.Sample) float64 { return x.BrokerMB }, d, w)
	// The processor has exited: its peak is the maximum sampled. The
	// broker still runs: the kernel's high-water mark.
	m.Processor.PeakMB = m.Processor.MaxMB
	if b := s.rep.Backlog; b != nil {
		m.Processor.PeakMB = max(m.Processor.PeakMB, b.ProcessorPeakMB)
	}
	if _, hwm, err := procStatus(s.broker.pid()); err == nil {
		m.Broker.PeakMB = mb(hwm)
	}
	return nil
}

func (s *soakBench) camera(id string, p int32, ends kadm.ListedOffsets) soak.Camera {
	c := s.reader.camera(id)
	e, _ := ends.Lookup(kafka.DefaultFramesTopic, p)
	return soak.Camera{ID: id, Partition: p, Frames: e.Offset, Results: c.ok + c.skipped, OK: c.ok, Skipped: c.skipped, DLQ: c.dlq, Duplicates: c.dups}
}

func soakLatency(xs []float64) soak.Latency {
	l := latencyStats(xs)
	return soak.Latency{N: l.N, P50: l.P50, P90: l.P90, P99: l.P99, Max: l.Max}
}

func (s *soakBench) print() error {
	if s.pf.jsonOut {
		enc := json.NewEncoder(s.env.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(s.rep)
	}
	return s.rep.Print(s.env.stdout)
}
