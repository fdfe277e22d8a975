package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/framecast/framecast/internal/analysis"
	"github.com/framecast/framecast/internal/frame"
	"github.com/framecast/framecast/internal/imagex"
	"github.com/framecast/framecast/internal/kafka"
	"github.com/framecast/framecast/internal/process"
	"github.com/framecast/framecast/internal/publish"
	"github.com/framecast/framecast/internal/quantile"
	"github.com/framecast/framecast/internal/rungroup"
	"github.com/framecast/framecast/internal/source"
	"github.com/framecast/framecast/internal/vision"
)

const benchPipelineAbout = `Measure the streaming pipeline through the embedded broker, in one run:

  1. the embedded broker starts as a child process (framecast broker on a free
     127.0.0.1 port, data in a temporary directory), so its memory can be sampled
     from /proc every second;
  2. --frames-per-camera synthetic frames per camera are rendered once (the
     publisher then only reads files, so the CPU goes to the processor);
  3. compute only: the same frames through decode + analyse on --concurrency
     engines in parallel for --compute-duration → frames/s;
  4. saturation: a backlog of --backlog worth of frames at that rate is produced,
     then an in-process processor (same engines, nothing skipped as stale) drains
     it → sustained frames/s through Kafka and its ratio to compute only;
  5. real time: --cameras × --fps for --duration through publish → process →
     a read_committed results reader: latency from capture to result readable,
     stale skips, publisher drops, broker and bench process memory.

Narration goes to stderr, the report to stdout (--json for JSON). Ctrl-C stops
every phase cleanly, the broker too. Targets (issue 3): sustained ≥ 90 % of compute
only; p50 ≤ 30 ms and p99 ≤ 100 ms at 8 × 10 fps; broker memory < 300 MB.`

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

type pipelineFlags struct {
	cameras         int
	fps             float64
	duration        time.Duration
	concurrency     int
	computeDuration time.Duration
	backlog         time.Duration
	framesPerCamera int
	size            string
	width, height   int
	quality         int
	maxAge          time.Duration
	partitions      int
	maxInFlight     int
	cpuProfile      string
	jsonOut         bool
}

// pipelineReport is the result of `framecast bench --pipeline`.
type pipelineReport struct {
	Date         time.Time       `json:"date"`
	Host         benchHost       `json:"host"`
	Settings     benchSettings   `json:"settings"`
	Compute      benchCompute    `json:"compute_only"`       // before the Kafka measurement
	ComputeAfter benchCompute    `json:"compute_only_after"` // after it
	Saturation   benchSaturation `json:"saturation"`
	Realtime     benchRealtime   `json:"realtime"`
	Memory       benchMemory     `json:"memory"`
	CPU          []benchCPU      `json:"cpu"`
	Targets      []benchTarget   `json:"targets"`
	Interrupted  bool            `json:"interrupted,omitempty"`
}

type benchHost struct {
	CPUs         int        `json:"cpus"`
	GOMAXPROCS   int        `json:"gomaxprocs"`
	CPUModel     string     `json:"cpu_model,omitempty"`
	ONNXRuntime  string     `json:"onnxruntime"`
	GoVersion    string     `json:"go"`
	LoadAvgStart [3]float64 `json:"loadavg_start"`
	LoadAvgEnd   [3]float64 `json:"loadavg_end"`
}

type benchSettings struct {
	Cameras         int     `json:"cameras"`
	FPS             float64 `json:"fps"`
	DurationS       float64 `json:"duration_s"`
	Concurrency     int     `json:"concurrency"`
	Threads         int     `json:"threads_per_engine"`
	Width           int     `json:"width"`
	Height          int     `json:"height"`
	FramesPerCamera int     `json:"frames_per_camera"`
	FrameBytesAvg   float64 `json:"frame_bytes_avg"`
	Partitions      int     `json:"partitions"`
	MaxAgeS         float64 `json:"max_age_s"`
	MaxInFlight     int     `json:"max_in_flight"`
	ComputeS        float64 `json:"compute_duration_s"`
	BacklogS        float64 `json:"backlog_s"`
	BrokerPID       int     `json:"broker_pid"`
	BrokerAddr      string  `json:"broker_addr"`
}

type benchCompute struct {
	Seconds       float64 `json:"seconds"`
	Frames        int     `json:"frames"`
	FPS           float64 `json:"fps"`
	FrameMSP50    float64 `json:"frame_ms_p50"`
	FrameMSP90    float64 `json:"frame_ms_p90"`
	FacesPerFrame float64 `json:"faces_per_frame"`
}

type benchSaturation struct {
	// ComputeFPS is the compute-only rate the ratios use: the mean of
	// the measurements before and after this one, which brackets it
	// against the VM's drifting speed.
	ComputeFPS  float64 `json:"compute_fps"`
	Frames      int     `json:"frames"`
	ProduceS    float64 `json:"produce_s"`
	Results     int     `json:"results"`
	OK          int     `json:"ok"`
	Skipped     int     `json:"skipped"`
	DLQ         int     `json:"dlq"`
	Duplicates  int     `json:"duplicates"`
	FirstAfterS float64 `json:"first_result_after_s"` // processor start → first result
	DrainS      float64 `json:"drain_s"`              // first → last result
	FPS         float64 `json:"fps"`                  // sustained: (results−1)/(last−first)
	WallFPS     float64 `json:"wall_fps"`             // results / (processor start → last result)
	Ratio       float64 `json:"ratio"`                // FPS / ComputeFPS
	RatioMin    float64 `json:"ratio_min"`            // FPS / the faster compute-only measurement
	RatioMax    float64 `json:"ratio_max"`            // FPS / the slower one
	WallRatio   float64 `json:"wall_ratio"`
	FrameMSP50  float64 `json:"frame_ms_p50"` // the results' decode + detect + classify
	Complete    bool    `json:"complete"`
}

type benchRealtime struct {
	Seconds    float64       `json:"seconds"`
	Captured   int64         `json:"captured"`
	Acked      int64         `json:"published"`
	Dropped    publish.Drops `json:"dropped"`
	Results    int           `json:"results"`
	OK         int           `json:"ok"`
	Skipped    int           `json:"skipped_stale"`
	DLQ        int           `json:"dlq"`
	Missing    int64         `json:"missing"`
	Duplicates int           `json:"duplicates"`
	Latency    benchLatency  `json:"latency_ms"`     // ok results
	LatencyAll benchLatency  `json:"latency_all_ms"` // ok and skipped
	FrameMSP50 float64       `json:"frame_ms_p50"`   // decode + detect + classify of ok results
	QueueMSP50 float64       `json:"queue_ms_p50"`   // timings_ms.queue of ok results
	QueueMSP99 float64       `json:"queue_ms_p99"`
	// Where the latency of ok results goes: capture → fetched by the
	// processor (publish, broker, fetch), fetched → result produced
	// (queue + analysis), produced → readable by the reader (produce,
	// broker, fetch).
	InLatency   benchLatency   `json:"in_ms"`
	ProcLatency benchLatency   `json:"processing_ms"`
	OutLatency  benchLatency   `json:"out_ms"`
	Windows     []benchWindow  `json:"windows"`
	Processor   map[string]any `json:"processor"`
	Complete    bool           `json:"complete"`
}

type benchLatency struct {
	N    int     `json:"n"`
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	Max  float64 `json:"max"`
	Mean float64 `json:"mean"`
}

type benchWindow struct {
	FromS       float64 `json:"from_s"`
	ToS         float64 `json:"to_s"`
	OK          int     `json:"ok"`
	Skipped     int     `json:"skipped"`
	P50         float64 `json:"p50_ms"`
	P99         float64 `json:"p99_ms"`
	Max         float64 `json:"max_ms"`
	BrokerRSSMB float64 `json:"broker_rss_mb"`
	SelfRSSMB   float64 `json:"bench_rss_mb"`
}

type benchMemory struct {
	BrokerMaxRSSMB      float64 `json:"broker_max_rss_mb"` // over the whole run
	BrokerHWMMB         float64 `json:"broker_hwm_mb"`     // the kernel's peak, read at the end
	BrokerRealtimeMaxMB float64 `json:"broker_realtime_max_rss_mb"`
	BrokerRealtimeStart float64 `json:"broker_realtime_start_rss_mb"`
	BrokerRealtimeEnd   float64 `json:"broker_realtime_end_rss_mb"`
	SelfMaxRSSMB        float64 `json:"bench_max_rss_mb"`
	SelfHWMMB           float64 `json:"bench_hwm_mb"`
	SelfRealtimeMaxMB   float64 `json:"bench_realtime_max_rss_mb"`
	Samples             int     `json:"samples"`
}

// benchCPU is how the machine's cores were used during a phase, in cores
// (1.0 = one core busy throughout).
type benchCPU struct {
	Phase   string  `json:"phase"`
	Seconds float64 `json:"seconds"`
	Bench   float64 `json:"bench_cores"`
	Broker  float64 `json:"broker_cores"`
	Other   float64 `json:"other_cores"` // other processes and the kernel
	Steal   float64 `json:"steal_cores"` // taken by the hypervisor
	Idle    float64 `json:"idle_cores"`
	// Frames analysed in the phase, and the CPU time (bench + broker)
	// per frame: what Kafka adds to each frame, independent of how fast
	// the VM happens to be.
	Frames        int     `json:"frames,omitempty"`
	CPUMsPerFrame float64 `json:"cpu_ms_per_frame,omitempty"`
	ticks         int64   // bench + broker CPU ticks
}

type benchTarget struct {
	Name     string  `json:"name"`
	Target   string  `json:"target"`
	Measured float64 `json:"measured"`
	Unit     string  `json:"unit"`
	Met      bool    `json:"met"`
}

// isPipelineBench reports whether bench's arguments ask for --pipeline.
// isPipelineBench picks the mode before any flag set parses, because the
// two modes take different flags: --pipeline on the command line, else
// FRAMECAST_PIPELINE like every other flag's environment fallback.
func isPipelineBench(args []string) bool {
	for _, a := range args {
		if a == "--" {
			break
		}
		switch a {
		case "-pipeline", "--pipeline", "-pipeline=true", "--pipeline=true", "-pipeline=1", "--pipeline=1":
			return true
		case "-pipeline=false", "--pipeline=false", "-pipeline=0", "--pipeline=0":
			return false
		}
	}
	on, err := strconv.ParseBool(os.Getenv(envName("pipeline")))
	return err == nil && on
}

func runBenchPipeline(ctx context.Context, env *environment, args []string) error {
	fs := newFlagSet(env, "bench", "--pipeline [flags]", benchPipelineAbout)
	var vf visionFlags
	vf.register(fs)
	var pf pipelineFlags
	fs.Bool("pipeline", true, "measure the pipeline through the embedded broker (this mode)")
	fs.IntVar(&pf.cameras, "cameras", 8, "cameras (synthetic, distinct seeds)")
	fs.Float64Var(&pf.fps, "fps", 10, "frames per second per camera in the real-time phase")
	fs.DurationVar(&pf.duration, "duration", 10*time.Minute, "length of the real-time phase")
	fs.IntVar(&pf.concurrency, "concurrency", 2, "analysis engines, in the compute-only phase and in the processor")
	fs.DurationVar(&pf.computeDuration, "compute-duration", 10*time.Second, "length of the compute-only measurement")
	fs.DurationVar(&pf.backlog, "backlog", 20*time.Second, "saturation backlog: this much work at the compute-only rate")
	fs.IntVar(&pf.framesPerCamera, "frames-per-camera", 100, "frames rendered per camera (looped)")
	fs.StringVar(&pf.size, "size", fmt.Sprintf("%dx%d", source.DefaultWidth, source.DefaultHeight), "frame size, WIDTHxHEIGHT")
	fs.IntVar(&pf.quality, "jpeg-quality", source.DefaultJPEGQuality, "JPEG quality of the rendered frames")
	fs.DurationVar(&pf.maxAge, "max-age", 2*time.Second, "the real-time processor's --max-age (stale frames are skipped); the saturation processor never skips")
	fs.IntVar(&pf.partitions, "partitions", kafka.DefaultPartitions, "partitions of the broker's topics")
	fs.IntVar(&pf.maxInFlight, "max-in-flight", 0, "the processors' --max-in-flight (0: its default, 2×concurrency+2)")
	fs.StringVar(&pf.cpuProfile, "cpu-profile", "", "write a Go CPU profile of this process during the saturation drain to this file (go tool pprof)")
	fs.BoolVar(&pf.jsonOut, "json", false, "print the report as JSON")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	var errs []error
	if fs.NArg() > 0 {
		errs = append(errs, fmt.Errorf("unexpected arguments %q: bench --pipeline takes only flags", fs.Args()))
	}
	if err := vf.validate(); err != nil {
		errs = append(errs, err)
	}
	if pf.cameras < 1 || pf.cameras > 256 {
		errs = append(errs, fmt.Errorf("--cameras %d: want 1 to 256", pf.cameras))
	}
	if !(pf.fps > 0 && pf.fps <= 1000) {
		errs = append(errs, fmt.Errorf("--fps %v: want more than 0 and at most 1000", pf.fps))
	}
	if pf.duration < time.Second || pf.computeDuration < 100*time.Millisecond || pf.backlog < 100*time.Millisecond {
		errs = append(errs, errors.New("--duration must be at least 1s, --compute-duration and --backlog at least 100ms"))
	}
	if pf.concurrency < 1 || pf.concurrency > 64 {
		errs = append(errs, fmt.Errorf("--concurrency %d: want 1 to 64", pf.concurrency))
	}
	if pf.framesPerCamera < 1 || pf.framesPerCamera > 10000 {
		errs = append(errs, fmt.Errorf("--frames-per-camera %d: want 1 to 10000", pf.framesPerCamera))
	}
	var ok bool
	if pf.width, pf.height, ok = source.ParseSize(pf.size); !ok {
		errs = append(errs, fmt.Errorf("--size %q: want WIDTHxHEIGHT, e.g. 640x480", pf.size))
	}
	if pf.quality < 1 || pf.quality > 100 {
		errs = append(errs, fmt.Errorf("--jpeg-quality %d: want 1 to 100", pf.quality))
	}
	if pf.maxAge < 0 {
		errs = append(errs, errors.New("--max-age must not be negative (0: never skip)"))
	}
	if pf.maxInFlight < 0 {
		errs = append(errs, errors.New("--max-in-flight must not be negative"))
	}
	if pf.partitions < 1 {
		errs = append(errs, fmt.Errorf("--partitions %d: want at least 1", pf.partitions))
	}
	if err := errors.Join(errs...); err != nil {
		return usageError("%v", err)
	}
	if vf.threads == 0 {
		vf.threads = 1 // N engines × 1 thread, as `framecast process` runs them
	}
	b := &pipelineBench{env: env, log: env.log, pf: pf, vf: vf}
	return b.run(ctx)
}

// pipelineBench is one run of `framecast bench --pipeline`.
type pipelineBench struct {
	env *environment
	log *slog.Logger
	pf  pipelineFlags
	vf  visionFlags

	dir     string
	engines []*vision.Engine
	frames  [][][]byte // [camera][frame] JPEG
	broker  *benchBroker
	mem     *memSampler
	reader  *benchReader
	rep     pipelineReport
	marks   []cpuMark
	// backlogBase shifts the backlog cameras' partitions: the soak gives
	// them partitions of their own, after the real-time cameras'.
	backlogBase int32
}

func (b *pipelineBench) run(ctx context.Context) (err error) {
	pf := &b.pf
	b.rep.Date = time.Now().UTC().Truncate(time.Second)
	b.rep.Host = benchHost{CPUs: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0), CPUModel: cpuModel(), GoVersion: runtime.Version(), LoadAvgStart: loadAvg()}
	b.rep.Settings = benchSettings{
		Cameras: pf.cameras, FPS: pf.fps, DurationS: pf.duration.Seconds(), Concurrency: pf.concurrency, Threads: b.vf.threads,
		Width: pf.width, Height: pf.height, FramesPerCamera: pf.framesPerCamera, Partitions: pf.partitions,
		MaxAgeS: pf.maxAge.Seconds(), MaxInFlight: pf.maxInFlight, ComputeS: pf.computeDuration.Seconds(), BacklogS: pf.backlog.Seconds(),
	}

	b.dir, err = os.MkdirTemp("", "framecast-bench-")
	if err != nil {
		return err
	}
	defer func() {
		if rerr := os.RemoveAll(b.dir); rerr != nil {
			b.log.Warn("could not remove the temporary directory", "dir", b.dir, "err", rerr)
		}
	}()

	// Engines first: a missing model fails before anything starts.
	for range pf.concurrency {
		e, err := b.vf.engine()
		if err != nil {
			b.closeEngines()
			return err
		}
		b.engines = append(b.engines, e)
	}
	defer b.closeEngines()
	b.rep.Host.ONNXRuntime = vision.RuntimeVersion()

	if err := b.render(ctx); err != nil {
		return err
	}

	b.broker, err = startBenchBroker(ctx, b.log, filepath.Join(b.dir, "broker"), pf.partitions)
	if err != nil {
		return err
	}
	defer b.broker.stop(b.log)
	b.rep.Settings.BrokerPID, b.rep.Settings.BrokerAddr = b.broker.pid(), b.broker.addr

	b.mem = newMemSampler(b.broker.pid())
	defer b.mem.stop()
	b.mark("compute")
	if err := b.compute(ctx, "compute only", &b.rep.Compute); err != nil {
		return err
	}

	b.reader, err = newBenchReader(b.broker, b.log)
	if err != nil {
		return err
	}
	readerCtx, stopReader := context.WithCancel(context.WithoutCancel(ctx))
	readerDone := make(chan struct{})
	go func() { defer close(readerDone); b.reader.run(readerCtx) }()
	defer func() { stopReader(); <-readerDone; b.reader.close() }()

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
	return b.print()
}

// finishEarly prints what was measured when a phase was interrupted.
func (b *pipelineBench) finishEarly(ctx context.Context, err error) error {
	if ctx.Err() == nil {
		return err
	}
	b.mark("")
	b.rep.Interrupted = true
	b.finish()
	b.log.Warn("interrupted: the report below is partial")
	if perr := b.print(); perr != nil {
		return perr
	}
	return err
}

func (b *pipelineBench) closeEngines() {
	for _, e := range b.engines {
		e.Close()
	}
	b.engines = nil
}

// mark starts a CPU accounting phase ("" ends the last one) and tells the
// memory sampler.
func (b *pipelineBench) mark(phase string) {
	pid := 0
	if b.broker != nil {
		pid = b.broker.pid()
	}
	b.marks = append(b.marks, takeCPUMark(phase, pid))
	if b.mem != nil {
		b.mem.setPhase(phase)
	}
}

// ---- frames ----

// render writes each camera's frames once, as JPEG files in its own
// directory, and keeps them in memory for the compute and backlog phases.
func (b *pipelineBench) render(ctx context.Context) error {
	pf := &b.pf
	start := time.Now()
	b.log.Info("rendering frames", "cameras", pf.cameras, "per_camera", pf.framesPerCamera, "size", fmt.Sprintf("%dx%d", pf.width, pf.height))
	b.frames = make([][][]byte, pf.cameras)
	next := atomic.Int64{}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	var total atomic.Int64
	for range max(1, runtime.GOMAXPROCS(0)) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= pf.cameras || ctx.Err() != nil {
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
	n := pf.cameras * pf.framesPerCamera
	b.rep.Settings.FrameBytesAvg = math.Round(float64(total.Load()) / float64(n))
	b.log.Info("frames rendered", "frames", n, "avg_kb", round1(b.rep.Settings.FrameBytesAvg/1000), "seconds", round1(time.Since(start).Seconds()))
	return nil
}

func (b *pipelineBench) renderCamera(ctx context.Context, i int, total *atomic.Int64) error {
	pf := &b.pf
	uri := fmt.Sprintf("synthetic:?seed=%d&size=%dx%d", i+1, pf.width, pf.height)
	src, err := source.NewSyntheticURI(uri, source.Config{FPS: pf.fps, JPEGQuality: pf.quality})
	if err != nil {
		return err
	}
	defer src.Close()
	dir := filepath.Join(b.dir, "frames", cameraID(rtPrefix, i))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	out := make([][]byte, 0, pf.framesPerCamera)
	for j := range pf.framesPerCamera {
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

func (b *pipelineBench) cameraDir(i int) string {
	return filepath.Join(b.dir, "frames", cameraID(rtPrefix, i))
}

// frameAt is the k-th frame of the interleaved sequence every phase uses:
// camera k mod cameras, that camera's frame (k / cameras) mod frames.
func (b *pipelineBench) frameAt(k int) (cam, idx int, data []byte) {
	c := len(b.frames)
	cam, idx = k%c, (k/c)%len(b.frames[k%c])
	return cam, idx, b.frames[cam][idx]
}

// ---- phase 1: compute only ----

func (b *pipelineBench) compute(ctx context.Context, label string, c *benchCompute) error {
	pf := &b.pf
	b.log.Info(label+": decode + analyse, no Kafka", "engines", len(b.engines), "threads", b.vf.threads, "seconds", pf.computeDuration.Seconds())
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
			dec := imagex.NewDecoder(b.vf.limits())
			defer dec.Close()
			var img imagex.RGB
			faces := make([]vision.Face, 0, 32)
			one := func(data []byte) (int, error) {
				if err := dec.Decode(data, &img); err != nil {
					return 0, err
				}
				var err error
				faces, _, err = eng.Analyze(&img, faces[:0])
				return len(faces), err
			}
			// Warm-up: first calls allocate and fault pages in.
			var werr error
			for k := range 3 {
				if _, _, data := b.frameAt(w + k*len(b.engines)); werr == nil {
					_, werr = one(data)
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
				t0 := time.Now()
				n, err := one(data)
				if err != nil {
					o.err = err
					return
				}
				o.ms = append(o.ms, ms(time.Since(t0)))
				o.faces += n
			}
		})
	}
	ready.Wait()
	start := time.Now()
	close(startGate)
	timer := time.NewTimer(pf.computeDuration)
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

// ---- phase 2: saturation ----

func (b *pipelineBench) saturate(ctx context.Context) error {
	pf := &b.pf
	s := &b.rep.Saturation
	s.Frames = max(pf.cameras, int(math.Ceil(b.rep.Compute.FPS*pf.backlog.Seconds())))
	b.log.Info("saturation: producing the backlog", "frames", s.Frames, "seconds_of_work", pf.backlog.Seconds())
	t0 := time.Now()
	if err := b.produceBacklog(ctx, s.Frames); err != nil {
		return fmt.Errorf("saturation: producing the backlog: %w", err)
	}
	s.ProduceS = round3(time.Since(t0).Seconds())
	b.log.Info("saturation: backlog produced; draining it", "seconds", s.ProduceS)
	b.mark("saturation")
	if pf.cpuProfile != "" {
		f, err := os.Create(pf.cpuProfile)
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

	timeout := max(2*time.Minute, 10*pf.backlog)
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
func (b *pipelineBench) ratios() {
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
func (b *pipelineBench) produceBacklog(ctx context.Context, n int) error {
	opts, err := b.broker.clientOpts("framecast-bench-backlog", b.log)
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
	ids := make([]string, b.pf.cameras)
	for i := range ids {
		ids[i] = cameraID(satPrefix, i)
	}
	parts := publish.Assign(ids, int32(b.pf.partitions))
	var failed atomic.Int64
	var firstErr atomic.Value
	for k := range n {
		cam, _, data := b.frameAt(k)
		now := time.Now()
		rec := &kgo.Record{
			Key: []byte(ids[cam]), Value: data, Partition: (parts[ids[cam]] + b.backlogBase) % int32(b.pf.partitions), Timestamp: now,
			Headers: frame.EncodeHeaders(frame.Meta{Seq: int64(k / b.pf.cameras), CapturedAt: now, ContentType: frame.ContentTypeJPEG, Width: b.pf.width, Height: b.pf.height}),
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
func (b *pipelineBench) newProcessor(ctx context.Context, maxAge time.Duration) (*process.Processor, error) {
	// No logger here: the processor gives its group client its own.
	opts, err := b.broker.clientOpts("framecast-bench-process", nil)
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
			return keepOpen{e}, nil
		},
		Limits:        b.vf.limits(),
		MaxAge:        maxAge,
		MaxInFlight:   b.pf.maxInFlight,
		StatsInterval: -1,
		Log:           quietLog(b.log, "processor"),
	})
}

// keepOpen lends an engine to a processor without letting it close it.
type keepOpen struct{ *vision.Engine }

func (keepOpen) Close() {}

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
func (b *pipelineBench) waitResults(ctx context.Context, rp *runningProcessor, timeout, every time.Duration, cond func() (bool, []any)) (bool, error) {
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

// ---- phase 3: real time ----

func (b *pipelineBench) realtime(ctx context.Context) error {
	pf := &b.pf
	r := &b.rep.Realtime
	maxAge := pf.maxAge
	if maxAge == 0 {
		maxAge = -1 // the package's "never"
	}
	proc, err := b.newProcessor(ctx, maxAge)
	if err != nil {
		return err
	}
	rp := startProcessor(ctx, proc)
	defer rp.stop()
	// Publish only once the processor owns its partitions: the group
	// join is not part of the latency being measured.
	if _, err := b.waitResults(ctx, rp, 60*time.Second, 10*time.Second, func() (bool, []any) {
		s := proc.Stats()
		return s.Assigned >= pf.partitions, []any{"partitions", s.Assigned}
	}); err != nil {
		return err
	}

	log := quietLog(b.log, "publisher")
	opts, err := b.broker.clientOpts("framecast-bench-publish", log)
	if err != nil {
		return err
	}
	pub, err := publish.New(ctx, publish.Config{Log: log}, opts...)
	if err != nil {
		return err
	}
	defer pub.Close()
	cams := make([]publish.Camera, 0, pf.cameras)
	for i := range pf.cameras {
		src, err := source.Open(b.cameraDir(i), source.Config{})
		if err != nil {
			for _, c := range cams {
				c.Source.Close()
			}
			return err
		}
		cams = append(cams, publish.Camera{ID: cameraID(rtPrefix, i), Source: src, FPS: pf.fps})
	}

	b.log.Info("real time: publishing", "cameras", pf.cameras, "fps", pf.fps, "duration", pf.duration.String(), "max_age", pf.maxAge.String())
	start := time.Now()
	b.reader.setRealtimeStart(start)
	pubCtx, stopPub := context.WithTimeout(ctx, pf.duration)
	defer stopPub()
	g, _ := rungroup.New(pubCtx)
	g.Go(func(ctx context.Context) error { return pub.Run(ctx, cams) })
	g.Go(func(ctx context.Context) error { b.progress(ctx, pub, start); return nil })
	pubErr := g.Wait()
	r.Seconds = round3(time.Since(start).Seconds())
	ps := pub.Stats()
	r.Captured, r.Acked, r.Dropped = ps.Captured, ps.Acked, ps.Dropped
	if pubErr != nil {
		return fmt.Errorf("publisher: %w", pubErr)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	b.log.Info("real time: publishing done; waiting for the last results", "published", ps.Acked, "dropped", ps.Dropped.Total())
	done, err := b.waitResults(ctx, rp, max(60*time.Second, 3*pf.maxAge+30*time.Second), 10*time.Second, func() (bool, []any) {
		c := b.reader.counts(rtPrefix)
		return int64(c.unique) >= ps.Acked, []any{"results", c.unique, "of", ps.Acked}
	})
	if err != nil {
		return err
	}
	if err := rp.stop(); err != nil {
		return fmt.Errorf("real-time processor: %w", err)
	}
	st := proc.Stats()
	r.Processor = map[string]any{
		"consumed": st.Consumed, "ok": st.OK, "skipped": st.Skipped, "dlq": st.DLQ, "dropped": st.Dropped,
		"produce_errors": st.ProduceErrors, "commits": st.Commits, "commit_errors": st.CommitErrors,
	}
	c := b.reader.counts(rtPrefix)
	r.Results, r.OK, r.Skipped, r.DLQ, r.Duplicates = c.unique, c.ok, c.skipped, c.dlq, c.dups
	r.Missing = ps.Acked - int64(c.unique)
	r.Complete = done && r.Missing == 0
	r.FrameMSP50 = round2(quantile.Of(c.totalMS, 0.5))
	r.QueueMSP50 = round2(quantile.Of(c.queueMS, 0.5))
	r.QueueMSP99 = round2(quantile.Of(c.queueMS, 0.99))
	r.InLatency, r.ProcLatency, r.OutLatency = latencyStats(c.inMS), latencyStats(c.procMS), latencyStats(c.outMS)
	return nil
}

// progress narrates the real-time phase.
func (b *pipelineBench) progress(ctx context.Context, pub *publish.Publisher, start time.Time) {
	every := min(30*time.Second, max(2*time.Second, b.pf.duration/20))
	t := time.NewTicker(every)
	defer t.Stop()
	from := start
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			w := b.reader.window(from, now)
			from = now
			ps := pub.Stats()
			br, self := b.mem.latest()
			b.log.Info("real time",
				"elapsed", time.Since(start).Round(time.Second).String(),
				"published", ps.Acked, "dropped", ps.Dropped.Total(),
				"results", b.reader.counts(rtPrefix).unique,
				"ok", w.OK, "skipped", w.Skipped, "p50_ms", w.P50, "p99_ms", w.P99,
				"broker_rss_mb", mb(br), "bench_rss_mb", mb(self))
		}
	}
}

// ---- report ----

func (b *pipelineBench) finish() {
	b.rep.Host.LoadAvgEnd = loadAvg()
	r := &b.rep.Realtime
	if b.reader != nil {
		ok, all := b.reader.latencies()
		r.Latency, r.LatencyAll = latencyStats(ok), latencyStats(all)
		if start := b.reader.realtimeStart(); !start.IsZero() && r.Seconds > 0 {
			// Ten windows over the publishing time; the last one also
			// holds the results that arrived after it.
			span := min(b.pf.duration, time.Duration(r.Seconds*float64(time.Second)))
			n := int(min(10, max(1, span/time.Second)))
			step := span / time.Duration(n)
			for i := range n {
				from, to := start.Add(time.Duration(i)*step), start.Add(time.Duration(i+1)*step)
				end := to
				if i == n-1 {
					end = to.Add(24 * time.Hour)
				}
				w := b.reader.window(from, end)
				w.FromS, w.ToS = round1(from.Sub(start).Seconds()), round1(to.Sub(start).Seconds())
				if b.mem != nil {
					br, self := b.mem.maxBetween(from, end)
					w.BrokerRSSMB, w.SelfRSSMB = mb(br), mb(self)
				}
				r.Windows = append(r.Windows, w)
			}
		}
	}
	if b.mem != nil {
		if b.broker != nil {
			if _, hwm, err := procStatus(b.broker.pid()); err == nil {
				b.rep.Memory.BrokerHWMMB = mb(hwm)
			}
		}
		if _, hwm, err := procStatus(os.Getpid()); err == nil {
			b.rep.Memory.SelfHWMMB = mb(hwm)
		}
		b.mem.summarize(&b.rep.Memory)
	}
	b.rep.CPU = nil
	for i := 0; i+1 < len(b.marks); i++ {
		if b.marks[i].phase == "" {
			continue
		}
		c := cpuBetween(b.marks[i], b.marks[i+1])
		switch c.Phase {
		case "compute":
			c.Frames = b.rep.Compute.Frames
		case "compute-after":
			c.Frames = b.rep.ComputeAfter.Frames
		case "saturation":
			c.Frames = b.rep.Saturation.OK
		case "realtime":
			c.Frames = b.rep.Realtime.OK // skipped frames cost next to nothing
		}
		if c.Frames > 0 {
			c.CPUMsPerFrame = round2(float64(c.ticks) * 1000 / userHZ / float64(c.Frames))
		}
		b.rep.CPU = append(b.rep.CPU, c)
	}
	b.rep.Targets = nil
	if b.rep.Saturation.Results > 0 {
		b.rep.Targets = append(b.rep.Targets, benchTarget{"sustained / compute-only", "≥ 0.90", b.rep.Saturation.Ratio, "ratio", b.rep.Saturation.Ratio >= targetRatio})
	}
	if r.Latency.N > 0 {
		b.rep.Targets = append(b.rep.Targets,
			benchTarget{"latency p50", "≤ 30 ms", r.Latency.P50, "ms", r.Latency.P50 <= targetP50MS},
			benchTarget{"latency p99", "≤ 100 ms", r.Latency.P99, "ms", r.Latency.P99 <= targetP99MS})
	}
	if b.rep.Memory.BrokerMaxRSSMB > 0 {
		peak := max(b.rep.Memory.BrokerMaxRSSMB, b.rep.Memory.BrokerHWMMB)
		b.rep.Targets = append(b.rep.Targets, benchTarget{"broker memory (peak)", "< 300 MB", peak, "MB", peak < mb(targetBrokerRSSB)})
	}
}

func (b *pipelineBench) print() error {
	if b.pf.jsonOut {
		enc := json.NewEncoder(b.env.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(b.rep)
	}
	w := bufio.NewWriter(b.env.stdout)
	rep := &b.rep
	st := rep.Settings
	fmt.Fprintf(w, "framecast bench --pipeline — %s\n", rep.Date.Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(w, "machine: %d CPUs (%s), ONNX Runtime %s, %s; load average %.2f at start, %.2f at end\n",
		rep.Host.CPUs, orDash(rep.Host.CPUModel), orDash(rep.Host.ONNXRuntime), rep.Host.GoVersion, rep.Host.LoadAvgStart[0], rep.Host.LoadAvgEnd[0])
	fmt.Fprintf(w, "frames: %d cameras × %d synthetic %d×%d frames (%.1f KB on average, %.2f faces per frame), %d partitions\n",
		st.Cameras, st.FramesPerCamera, st.Width, st.Height, st.FrameBytesAvg/1000, rep.Compute.FacesPerFrame, st.Partitions)
	inFlight := st.MaxInFlight
	if inFlight == 0 {
		inFlight = 2*st.Concurrency + 2
	}
	fmt.Fprintf(w, "engines: %d × %d intra-op thread(s), in the compute-only phase and in the processor (max %d frames in flight)\n\n",
		st.Concurrency, st.Threads, inFlight)

	c, ca, s := rep.Compute, rep.ComputeAfter, rep.Saturation
	fmt.Fprintf(w, "compute only     %8.1f frames/s   decode + analyse, %d frames in %.1f s; per frame p50 %.1f ms, p90 %.1f ms\n",
		c.FPS, c.Frames, c.Seconds, c.FrameMSP50, c.FrameMSP90)
	if ca.Frames > 0 {
		fmt.Fprintf(w, "  again after    %8.1f frames/s   %d frames in %.1f s; per frame p50 %.1f ms, p90 %.1f ms; mean of both %.1f frames/s\n",
			ca.FPS, ca.Frames, ca.Seconds, ca.FrameMSP50, ca.FrameMSP90, s.ComputeFPS)
	}
	if s.Frames > 0 {
		fmt.Fprintf(w, "through Kafka    %8.1f frames/s   = %.3f of compute only [%.3f–%.3f against either measurement] (target ≥ 0.90: %s)\n",
			s.FPS, s.Ratio, s.RatioMin, s.RatioMax, metWord(s.Ratio >= targetRatio && s.Results > 0))
		fmt.Fprintf(w, "                 backlog of %d frames produced in %.1f s; first result %.2f s after the processor started,\n",
			s.Frames, s.ProduceS, s.FirstAfterS)
		fmt.Fprintf(w, "                 then %d results in %.1f s (%.1f frames/s counting the start: %.3f); per frame p50 %.1f ms%s\n",
			s.Results, s.DrainS, s.WallFPS, s.WallRatio, s.FrameMSP50, incomplete(s.Complete))
	}
	r := rep.Realtime
	if r.Seconds > 0 {
		fmt.Fprintf(w, "\nreal time: %d cameras × %g fps for %s (%d frames/s offered), processor --max-age %s\n",
			st.Cameras, st.FPS, time.Duration(r.Seconds*float64(time.Second)).Round(time.Second), int(float64(st.Cameras)*st.FPS+0.5), time.Duration(st.MaxAgeS*float64(time.Second)))
		fmt.Fprintf(w, "  published %d of %d captured; dropped by the publisher %d (buffer full %d, delivery failed %d, too large %d)\n",
			r.Acked, r.Captured, r.Dropped.Total(), r.Dropped.BufferFull, r.Dropped.DeliveryFailed, r.Dropped.TooLarge)
		fmt.Fprintf(w, "  results %d: ok %d, skipped as stale %d (%.1f %%), dead letters %d; missing %d, duplicates %d%s\n",
			r.Results, r.OK, r.Skipped, pct(r.Skipped, r.Results), r.DLQ, r.Missing, r.Duplicates, incomplete(r.Complete))
		l := r.Latency
		fmt.Fprintf(w, "  latency capture → result readable (ok results): p50 %.1f ms (≤ 30: %s), p90 %.1f, p99 %.1f ms (≤ 100: %s), max %.1f, mean %.1f\n",
			l.P50, metWord(l.N > 0 && l.P50 <= targetP50MS), l.P90, l.P99, metWord(l.N > 0 && l.P99 <= targetP99MS), l.Max, l.Mean)
		fmt.Fprintf(w, "  parts, p50 / p99 ms: capture → fetched by the processor %.1f / %.1f; fetched → result produced %.1f / %.1f\n"+
			"    (of which queue %.1f / %.1f, analysis p50 %.1f); produced → readable %.1f / %.1f\n",
			r.InLatency.P50, r.InLatency.P99, r.ProcLatency.P50, r.ProcLatency.P99, r.QueueMSP50, r.QueueMSP99, r.FrameMSP50, r.OutLatency.P50, r.OutLatency.P99)
		if len(r.Windows) > 0 {
			fmt.Fprintln(w)
			tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
			fmt.Fprintln(tw, "  seconds\tok\tskipped\tp50 ms\tp99 ms\tmax ms\tbroker RSS MB\tbench RSS MB\t")
			for _, x := range r.Windows {
				fmt.Fprintf(tw, "  %.0f–%.0f\t%d\t%d\t%.1f\t%.1f\t%.1f\t%.1f\t%.1f\t\n", x.FromS, x.ToS, x.OK, x.Skipped, x.P50, x.P99, x.Max, x.BrokerRSSMB, x.SelfRSSMB)
			}
			tw.Flush()
		}
	}
	m := rep.Memory
	fmt.Fprintf(w, "\nmemory: broker max RSS %.1f MB (kernel peak VmHWM %.1f MB; real time %.1f → %.1f MB, max %.1f) (target < 300 MB: %s)\n",
		m.BrokerMaxRSSMB, m.BrokerHWMMB, m.BrokerRealtimeStart, m.BrokerRealtimeEnd, m.BrokerRealtimeMaxMB,
		metWord(m.BrokerMaxRSSMB > 0 && max(m.BrokerMaxRSSMB, m.BrokerHWMMB) < mb(targetBrokerRSSB)))
	fmt.Fprintf(w, "        bench process (processor + publisher + reader + frames in memory) max RSS %.1f MB (real time %.1f MB, VmHWM %.1f MB)\n",
		m.SelfMaxRSSMB, m.SelfRealtimeMaxMB, m.SelfHWMMB)
	if len(rep.CPU) > 0 {
		fmt.Fprintln(w, "\ncores used (bench = this process: engines, processor, publisher, reader; other = other processes and the kernel;\nsteal = taken by the hypervisor), and bench + broker CPU per analysed frame:")
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "  phase\tseconds\tbench\tbroker\tother\tsteal\tidle\tframes\tCPU ms/frame\t")
		for _, x := range rep.CPU {
			perFrame := "-"
			if x.Frames > 0 {
				perFrame = fmt.Sprintf("%.1f", x.CPUMsPerFrame)
			}
			fmt.Fprintf(tw, "  %s\t%.1f\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\t%d\t%s\t\n", x.Phase, x.Seconds, x.Bench, x.Broker, x.Other, x.Steal, x.Idle, x.Frames, perFrame)
		}
		tw.Flush()
	}
	if len(rep.Targets) > 0 {
		var met, missed []string
		for _, t := range rep.Targets {
			d := fmt.Sprintf("%s %g %s (%s)", t.Name, t.Measured, t.Unit, t.Target)
			if t.Met {
				met = append(met, d)
			} else {
				missed = append(missed, d)
			}
		}
		fmt.Fprintln(w)
		if len(met) > 0 {
			fmt.Fprintf(w, "targets met: %s\n", strings.Join(met, "; "))
		}
		if len(missed) > 0 {
			fmt.Fprintf(w, "targets MISSED: %s\n", strings.Join(missed, "; "))
		}
	}
	if rep.Interrupted {
		fmt.Fprintln(w, "\n(interrupted: partial report)")
	}
	return w.Flush()
}

func metWord(ok bool) string {
	if ok {
		return "met"
	}
	return "MISSED"
}

func incomplete(ok bool) string {
	if ok {
		return ""
	}
	return " (INCOMPLETE)"
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func pct(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return 100 * float64(a) / float64(b)
}

func round2(v float64) float64 { return math.Round(v*100) / 100 }
func round3(v float64) float64 { return math.Round(v*1000) / 1000 }
func mb(b int64) float64       { return round1(float64(b) / (1 << 20)) }

func latencyStats(xs []float64) benchLatency {
	if len(xs) == 0 {
		return benchLatency{}
	}
	sum := 0.0
	for _, x := range xs {
		sum += x
	}
	l := benchLatency{N: len(xs), Mean: round2(sum / float64(len(xs)))}
	l.P50 = round2(quantile.Of(xs, 0.5))
	l.P90 = round2(quantile.Of(xs, 0.9))
	l.P99 = round2(quantile.Of(xs, 0.99))
	l.Max = round2(xs[len(xs)-1]) // quantile.Of sorted xs
	return l
}

// quietLog passes on only warnings and errors of a component.
func quietLog(l *slog.Logger, component string) *slog.Logger {
	return slog.New(minLevel{l.Handler(), slog.LevelWarn}).With("component", component)
}

type minLevel struct {
	slog.Handler
	min slog.Level
}

func (h minLevel) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.min && h.Handler.Enabled(ctx, l)
}

func (h minLevel) WithAttrs(a []slog.Attr) slog.Handler {
	return minLevel{h.Handler.WithAttrs(a), h.min}
}

func (h minLevel) WithGroup(n string) slog.Handler { return minLevel{h.Handler.WithGroup(n), h.min} }

// ---- the broker child process ----

// benchChild is a framecast subcommand run as a child process of the
// bench, so that its memory and CPU can be read from /proc apart from the
// bench's own.
type benchChild struct {
	name   string
	cmd    *exec.Cmd
	stderr *tailBuffer
	done   chan struct{}
	err    error // of Wait, after done
}

func (c *benchChild) pid() int { return c.cmd.Process.Pid }

// startChild runs this executable with args (warnings only, as text, to a
// tail buffer), without the FRAMECAST_* environment.
func startChild(log *slog.Logger, name string, args []string, attrs ...any) (*benchChild, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("finding the framecast executable for the %s: %w", name, err)
	}
	c := &benchChild{name: name, stderr: &tailBuffer{max: 64 << 10}, done: make(chan struct{})}
	c.cmd = exec.Command(exe, append([]string{"--log-level", "warn", "--log-format", "text"}, args...)...)
	c.cmd.Env = childEnv()
	c.cmd.Stdout = io.Discard
	c.cmd.Stderr = c.stderr
	// Its own process group: a Ctrl-C on the terminal reaches only the
	// bench, which stops the child itself, in order (the broker last,
	// after the processor committed). If the bench dies, the kernel
	// sends the child SIGTERM.
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	started := make(chan error, 1)
	go func() {
		// Pdeathsig fires when the thread that started the child ends:
		// keep this one alive, locked, for the child's lifetime.
		runtime.LockOSThread()
		if err := c.cmd.Start(); err != nil {
			started <- err
			runtime.UnlockOSThread()
			return
		}
		started <- nil
		c.err = c.cmd.Wait()
		close(c.done)
	}()
	if err := <-started; err != nil {
		return nil, fmt.Errorf("starting the %s (%s %s): %w", name, exe, args[0], err)
	}
	log.Info(name+" started as a child process", append([]any{"pid", c.cmd.Process.Pid}, attrs...)...)
	return c, nil
}

// stop ends the child with SIGTERM (its clean shutdown), SIGKILL after
// 15 s.
func (c *benchChild) stop(log *slog.Logger) {
	select {
	case <-c.done:
		return
	default:
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(15 * time.Second):
		log.Warn("the "+c.name+" did not stop within 15 s of SIGTERM; killing it", "pid", c.cmd.Process.Pid)
		_ = c.cmd.Process.Kill()
		<-c.done
	}
	if c.err != nil {
		log.Warn("the "+c.name+" exited with an error", "err", c.err, "stderr", strings.TrimSpace(c.stderr.String()))
	} else {
		log.Info(c.name+" stopped", "pid", c.cmd.Process.Pid)
	}
}

// benchBroker is `framecast broker` run as a child process.
type benchBroker struct {
	*benchChild
	addr string
}

// startBenchBroker runs this executable's `broker` on a free loopback
// port and waits until its topics exist.
func startBenchBroker(ctx context.Context, log *slog.Logger, dataDir string, partitions int) (*benchBroker, error) {
	addr, err := freeLoopbackAddr()
	if err != nil {
		return nil, err
	}
	c, err := startChild(log, "broker", []string{"broker", "--listen", addr, "--data-dir", dataDir,
		"--partitions", strconv.Itoa(partitions), "--stats-interval", "0"}, "addr", addr, "data_dir", dataDir)
	if err != nil {
		return nil, err
	}
	b := &benchBroker{benchChild: c, addr: addr}
	if err := b.waitReady(ctx, 60*time.Second); err != nil {
		b.stop(log)
		return nil, err
	}
	return b, nil
}

func (b *benchBroker) waitReady(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		select {
		case <-b.done:
			return fmt.Errorf("the broker exited at start (%v): %s", b.err, strings.TrimSpace(b.stderr.String()))
		case <-ctx.Done():
			return ctx.Err()
		default:
		}
		if b.topicsReady(ctx) == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the broker at %s did not create its topics within %v: %s", b.addr, timeout, strings.TrimSpace(b.stderr.String()))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// topicsReady checks the broker's three topics (kafka.CheckTopics).
func (b *benchBroker) topicsReady(ctx context.Context) error {
	opts, err := b.clientOpts("framecast-bench-probe", nil) // not ready yet is no news: unlogged
	if err != nil {
		return err
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	_, err = kafka.CheckTopics(ctx, cl, kafka.DefaultFramesTopic, kafka.DefaultResultsTopic, kafka.DefaultDLQTopic)
	return err
}

// clientOpts are the options of a bench client of this broker, built as
// every role's are (kafka.Config.ClientOpts).
func (b *benchBroker) clientOpts(clientID string, log *slog.Logger) ([]kgo.Opt, error) {
	kc := kafka.Config{Brokers: b.addr, ClientID: clientID}
	return kc.ClientOpts(log)
}

// childEnv is this process's environment without FRAMECAST_* variables:
// the bench's broker must not pick up, say, the SASL settings meant for
// a production cluster.
func childEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, envPrefix) {
			env = append(env, kv)
		}
	}
	return env
}

func freeLoopbackAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("finding a free port on 127.0.0.1: %w", err)
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// tailBuffer keeps the last max bytes written.
type tailBuffer struct {
	mu  sync.Mutex
	b   []byte
	max int
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = append(t.b[:0], t.b[len(t.b)-t.max:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}

// ---- the results reader ----

type camSeq struct {
	cam string
	seq int64
}

// phaseCounts are the records of one phase's cameras, by key prefix.
type phaseCounts struct {
	unique, ok, skipped, dlq, dups int
	first, last                    time.Time // receipt of the first and last unique record
	totalMS, queueMS               []float64 // ok results: decode+detect+classify, and queue (ms)
	inMS, procMS, outMS            []float64 // ok results: the latency's parts (see benchRealtime)
}

type rtRow struct {
	at    time.Time
	latMS float64
	ok    bool
}

// benchReader reads the results and dead-letter topics (read_committed)
// for the whole run and keeps what the report needs.
type benchReader struct {
	rd *kafka.DirectReader

	mu      sync.Mutex
	seen    map[camSeq]bool
	phases  map[string]*phaseCounts
	rtStart time.Time
	rows    []rtRow // real-time results in order of receipt
	cams    map[string]*camCounts
	bad     int
}

// camCounts are one camera's records: unique (camera, seq) results by
// status and dead letters, and the duplicates.
type camCounts struct{ ok, skipped, dlq, dups int }

func newBenchReader(b *benchBroker, log *slog.Logger) (*benchReader, error) {
	opts, err := b.clientOpts("framecast-bench-results", log)
	if err != nil {
		return nil, err
	}
	rd, err := kafka.NewDirectReader(opts, kafka.ReaderConfig{
		Topics:    []string{kafka.DefaultResultsTopic, kafka.DefaultDLQTopic},
		FromStart: true, ReadCommitted: true, Log: log.With("reader", "results"),
	})
	if err != nil {
		return nil, err
	}
	return &benchReader{rd: rd, seen: map[camSeq]bool{}, cams: map[string]*camCounts{},
		phases: map[string]*phaseCounts{satPrefix: {}, rtPrefix: {}}}, nil
}

func (r *benchReader) close() { r.rd.Close() }

func (r *benchReader) run(ctx context.Context) {
	_ = r.rd.Run(ctx, func(fs kgo.Fetches) error {
		now := time.Now()
		r.mu.Lock()
		defer r.mu.Unlock()
		fs.EachRecord(func(rec *kgo.Record) { r.add(rec, now) })
		return nil
	})
}

// add accounts one record; r.mu is held.
func (r *benchReader) add(rec *kgo.Record, now time.Time) {
	var cs camSeq
	var res frame.Result
	dlq := rec.Topic == kafka.DefaultDLQTopic
	if dlq {
		m, err := frame.DecodeMeta(rec)
		if err != nil {
			r.bad++
			return
		}
		cs = camSeq{m.Camera, m.Seq}
	} else {
		if err := json.Unmarshal(rec.Value, &res); err != nil {
			r.bad++
			return
		}
		cs = camSeq{res.Camera, res.Seq}
	}
	prefix := satPrefix
	if strings.HasPrefix(cs.cam, rtPrefix) {
		prefix = rtPrefix
	} else if !strings.HasPrefix(cs.cam, satPrefix) {
		r.bad++
		return
	}
	pc := r.phases[prefix]
	cc := r.cams[cs.cam]
	if cc == nil {
		cc = &camCounts{}
		r.cams[cs.cam] = cc
	}
	if r.seen[cs] {
		pc.dups++
		cc.dups++
		return
	}
	r.seen[cs] = true
	pc.unique++
	if pc.first.IsZero() {
		pc.first = now
	}
	pc.last = now
	switch {
	case dlq:
		pc.dlq++
		cc.dlq++
	case res.Status == frame.StatusOK:
		pc.ok++
		cc.ok++
		t := res.TimingsMS
		pc.totalMS = append(pc.totalMS, t.Decode+t.Detect+t.Classify)
		pc.queueMS = append(pc.queueMS, t.Queue)
		pc.inMS = append(pc.inMS, ms(res.ProcessedAt.Sub(res.CapturedAt))-t.Total)
		pc.procMS = append(pc.procMS, t.Total)
		pc.outMS = append(pc.outMS, ms(now.Sub(res.ProcessedAt)))
	default:
		pc.skipped++
		cc.skipped++
	}
	if prefix == rtPrefix && !dlq {
		r.rows = append(r.rows, rtRow{at: now, latMS: ms(now.Sub(res.CapturedAt)), ok: res.Status == frame.StatusOK})
	}
}

// counts returns a copy of a phase's counts.
func (r *benchReader) counts(prefix string) phaseCounts {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := *r.phases[prefix]
	c.totalMS = append([]float64(nil), c.totalMS...)
	c.queueMS = append([]float64(nil), c.queueMS...)
	c.inMS = append([]float64(nil), c.inMS...)
	c.procMS = append([]float64(nil), c.procMS...)
	c.outMS = append([]float64(nil), c.outMS...)
	return c
}

// camera returns a copy of one camera's counts.
func (r *benchReader) camera(id string) camCounts {
	r.mu.Lock()
	defer r.mu.Unlock()
	if c := r.cams[id]; c != nil {
		return *c
	}
	return camCounts{}
}

func (r *benchReader) setRealtimeStart(t time.Time) {
	r.mu.Lock()
	r.rtStart = t
	r.mu.Unlock()
}

func (r *benchReader) realtimeStart() time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.rtStart
}

// latencies returns the real-time latencies of ok results and of all
// results, in milliseconds.
func (r *benchReader) latencies() (ok, all []float64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, x := range r.rows {
		all = append(all, x.latMS)
		if x.ok {
			ok = append(ok, x.latMS)
		}
	}
	return ok, all
}

// window summarizes the real-time results received in [from, to).
func (r *benchReader) window(from, to time.Time) benchWindow {
	r.mu.Lock()
	var lat []float64
	w := benchWindow{}
	for _, x := range r.rows {
		if x.at.Before(from) || !x.at.Before(to) {
			continue
		}
		if x.ok {
			w.OK++
			lat = append(lat, x.latMS)
		} else {
			w.Skipped++
		}
	}
	r.mu.Unlock()
	if len(lat) > 0 {
		w.P50 = round1(quantile.Of(lat, 0.5))
		w.P99 = round1(quantile.Of(lat, 0.99))
		w.Max = round1(lat[len(lat)-1])
	}
	return w
}

// ---- /proc sampling ----

// memSample is one reading of the broker's and this process's VmRSS.
type memSample struct {
	at           time.Time
	phase        string
	broker, self int64 // bytes; 0 when unreadable
}

// memSampler reads VmRSS of the broker and of this process every second.
type memSampler struct {
	brokerPID int
	mu        sync.Mutex
	phase     string
	samples   []memSample
	stopCh    chan struct{}
	done      chan struct{}
	once      sync.Once
}

func newMemSampler(brokerPID int) *memSampler {
	m := &memSampler{brokerPID: brokerPID, stopCh: make(chan struct{}), done: make(chan struct{})}
	m.sample()
	go m.loop()
	return m
}

func (m *memSampler) loop() {
	defer close(m.done)
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-m.stopCh:
			return
		case <-t.C:
			m.sample()
		}
	}
}

func (m *memSampler) sample() {
	br, _, _ := procStatus(m.brokerPID)
	self, _, _ := procStatus(os.Getpid())
	m.mu.Lock()
	m.samples = append(m.samples, memSample{at: time.Now(), phase: m.phase, broker: br, self: self})
	m.mu.Unlock()
}

func (m *memSampler) setPhase(p string) {
	m.sample() // the last reading of the previous phase
	m.mu.Lock()
	m.phase = p
	m.mu.Unlock()
	m.sample()
}

func (m *memSampler) stop() {
	m.once.Do(func() { close(m.stopCh); <-m.done })
}

func (m *memSampler) latest() (broker, self int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.samples) == 0 {
		return 0, 0
	}
	s := m.samples[len(m.samples)-1]
	return s.broker, s.self
}

func (m *memSampler) maxBetween(from, to time.Time) (broker, self int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, s := range m.samples {
		if !s.at.Before(from) && s.at.Before(to) {
			broker, self = max(broker, s.broker), max(self, s.self)
		}
	}
	return broker, self
}

func (m *memSampler) summarize(out *benchMemory) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out.Samples = len(m.samples)
	var first, last *memSample
	var brMax, selfMax, brRT, selfRT int64
	for i := range m.samples {
		s := &m.samples[i]
		brMax, selfMax = max(brMax, s.broker), max(selfMax, s.self)
		if s.phase == "realtime" {
			brRT, selfRT = max(brRT, s.broker), max(selfRT, s.self)
			if first == nil {
				first = s
			}
			last = s
		}
	}
	out.BrokerMaxRSSMB, out.SelfMaxRSSMB = mb(brMax), mb(selfMax)
	out.BrokerRealtimeMaxMB, out.SelfRealtimeMaxMB = mb(brRT), mb(selfRT)
	if first != nil {
		out.BrokerRealtimeStart, out.BrokerRealtimeEnd = mb(first.broker), mb(last.broker)
	}
}

// procStatus reads VmRSS and VmHWM (bytes) of a process.
func procStatus(pid int) (rss, hwm int64, err error) {
	if pid <= 0 {
		return 0, 0, errors.New("no process")
	}
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok || (k != "VmRSS" && k != "VmHWM") {
			continue
		}
		f := strings.Fields(v)
		if len(f) == 0 {
			continue
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			continue
		}
		if len(f) > 1 && strings.EqualFold(f[1], "kB") {
			n <<= 10
		}
		if k == "VmRSS" {
			rss = n
		} else {
			hwm = n
		}
	}
	return rss, hwm, nil
}

// userHZ is the unit of /proc's CPU times (USER_HZ, 100 on Linux).
const userHZ = 100

// cpuMark is a reading of the machine's and two processes' CPU times.
type cpuMark struct {
	phase               string
	at                  time.Time
	busy, steal, idle   int64 // machine ticks over all CPUs
	self, broker        int64 // process ticks
	machineOK, brokerOK bool
}

func takeCPUMark(phase string, brokerPID int) cpuMark {
	m := cpuMark{phase: phase, at: time.Now()}
	m.busy, m.steal, m.idle, m.machineOK = machineCPU()
	m.self, _ = procCPU(os.Getpid())
	if brokerPID > 0 {
		var err error
		m.broker, err = procCPU(brokerPID)
		m.brokerOK = err == nil
	}
	return m
}

func cpuBetween(a, b cpuMark) benchCPU {
	secs := b.at.Sub(a.at).Seconds()
	c := benchCPU{Phase: a.phase, Seconds: round1(secs)}
	if secs <= 0 {
		return c
	}
	cores := func(ticks int64) float64 { return round2(float64(ticks) / userHZ / secs) }
	c.Bench = cores(b.self - a.self)
	c.ticks = b.self - a.self
	if a.brokerOK && b.brokerOK {
		c.Broker = cores(b.broker - a.broker)
		c.ticks += b.broker - a.broker
	}
	if a.machineOK && b.machineOK {
		c.Other = max(0, round2(cores(b.busy-a.busy)-c.Bench-c.Broker))
		c.Steal = cores(b.steal - a.steal)
		c.Idle = cores(b.idle - a.idle)
	}
	return c
}

// machineCPU reads the first line of /proc/stat: busy (user, nice,
// system, irq, softirq), steal and idle (idle, iowait) ticks.
func machineCPU() (busy, steal, idle int64, ok bool) {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, 0, false
	}
	line, _, _ := strings.Cut(string(data), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return 0, 0, 0, false
	}
	v := make([]int64, 8)
	for i := range v {
		v[i], _ = strconv.ParseInt(f[i+1], 10, 64)
	}
	// user nice system idle iowait irq softirq steal
	return v[0] + v[1] + v[2] + v[5] + v[6], v[7], v[3] + v[4], true
}

// procCPU reads utime + stime (ticks) of a process.
func procCPU(pid int) (int64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name may contain spaces and parentheses: fields
	// start after the last ')'. utime and stime are fields 14 and 15,
	// the 12th and 13th after it.
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return 0, errors.New("malformed /proc stat")
	}
	f := strings.Fields(string(data[i+1:]))
	if len(f) < 13 {
		return 0, errors.New("malformed /proc stat")
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	s, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	return u + s, nil
}

func loadAvg() [3]float64 {
	var out [3]float64
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return out
	}
	f := strings.Fields(string(data))
	for i := 0; i < 3 && i < len(f); i++ {
		out[i], _ = strconv.ParseFloat(f[i], 64)
	}
	return out
}

func cpuModel() string {
	data, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(data), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}
