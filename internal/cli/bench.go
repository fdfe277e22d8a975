package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/framecast/framecast/internal/analysis"
	"github.com/framecast/framecast/internal/bench"
	"github.com/framecast/framecast/internal/flagfile"
	"github.com/framecast/framecast/internal/offline"
)

const benchAbout = "Measure the compute-only cost of analysing images: decode, detect, classify, total,\n" +
	"medians over --iterations runs after --warmup runs, one engine, one frame at a time.\n\n" +
	"With --pipeline: measure throughput and latency through the embedded broker instead\n" +
	"(compute only vs through Kafka, real-time latency, broker memory); see\n" +
	"`framecast bench --pipeline --help`.\n\n" +
	"With --soak DURATION: run the whole pipeline above the machine's capacity for that\n" +
	"long and check that every frame is accounted for, no partition stalls and memory\n" +
	"stays flat; see `framecast bench --soak 1m --help`."

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

// runBench implements `framecast bench`: the compute-only bench, or the
// pipeline or soak bench (internal/bench) with --pipeline or --soak.
func runBench(ctx context.Context, env *environment, args []string) error {
	if isSoakBench(args) {
		return runBenchSoak(ctx, env, args)
	}
	if isPipelineBench(args) {
		return runBenchPipeline(ctx, env, args)
	}
	if isBenchMode(args, "compare") {
		return runBenchCompare(ctx, env, args)
	}
	fs := newFlagSet(env, "bench", "[flags] FILE|DIR ...\n       framecast bench --pipeline [flags]\n       framecast bench --soak DURATION [flags]", benchAbout)
	fs.Bool("pipeline", false, "measure the whole pipeline through the embedded broker (see `framecast bench --pipeline --help`)")
	var vf analysis.Flags
	vf.Register(fs)
	var cfg bench.ComputeConfig
	fs.IntVar(&cfg.Iterations, "iterations", bench.DefaultIterations, "measured runs per image")
	fs.IntVar(&cfg.Warmup, "warmup", 5, "unmeasured runs per image first")
	jsonOut := fs.Bool("json", false, "print the report as JSON")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := vf.Check(); err != nil {
		return usageError("%v", err)
	}
	if cfg.Iterations < 1 || cfg.Warmup < 0 {
		return usageError("--iterations must be ≥ 1 and --warmup ≥ 0")
	}
	if vf.Tracking().Stateful() {
		return usageError("--detect-every, --reclassify-every and --skip-static work on a camera's frames, not on single images: use bench --compare (videos and synthetic cameras) or bench --pipeline")
	}
	if fs.NArg() == 0 {
		return usageError("no images given")
	}
	var err error
	if cfg.Files, err = offline.ExpandImages(fs.Args()); err != nil {
		return err
	}
	cfg.Threads, cfg.Limits, cfg.NewAnalyzer = vf.Threads, vf.Limits(), vf.Analyzer
	rep, err := bench.RunCompute(ctx, cfg)
	if err != nil {
		return err
	}
	return bench.Write(env.stdout, rep, *jsonOut)
}

// isPipelineBench reports whether bench's arguments ask for --pipeline.
// isPipelineBench picks the mode before any flag set parses, because the
// modes take different flags: --pipeline on the command line, else
// FRAMECAST_PIPELINE, else pipeline in the --config file, the precedence
// of every flag.
func isPipelineBench(args []string) bool { return isBenchMode(args, "pipeline") }

// isBenchMode is isPipelineBench for the boolean mode flag --name.
func isBenchMode(args []string, name string) bool {
	for _, a := range args {
		if a == "--" {
			break
		}
		switch strings.TrimLeft(a, "-") {
		case name, name + "=true", name + "=1":
			return true
		case name + "=false", name + "=0":
			return false
		}
	}
	v, ok := os.LookupEnv(envName(name))
	if !ok {
		v, ok = modeInFile(args, name)
	}
	on, err := strconv.ParseBool(v)
	return ok && err == nil && on
}

// modeInFile is the mode flag's value in the --config file that the
// arguments (or FRAMECAST_CONFIG) name.
func modeInFile(args []string, name string) (string, bool) {
	path, ok := os.LookupEnv(envName(flagfile.Flag))
	for i := 0; i < len(args) && args[i] != "--"; i++ {
		switch a := strings.TrimLeft(args[i], "-"); {
		case a == flagfile.Flag && i+1 < len(args):
			path, ok = args[i+1], true
			i++
		case strings.HasPrefix(a, flagfile.Flag+"="):
			path, ok = strings.TrimPrefix(a, flagfile.Flag+"="), true
		}
	}
	if !ok || path == "" {
		return "", false
	}
	return flagfile.Value(path, name)
}

// isSoakBench reports whether bench's arguments ask for --soak (or
// FRAMECAST_SOAK is set, or soak in the --config file), like
// isPipelineBench.
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
	if _, ok := os.LookupEnv(envName("soak")); ok {
		return true
	}
	_, ok := modeInFile(args, "soak")
	return ok
}

// modeFlags are the flags bench --pipeline and --soak add to the
// benchmark's own (bench registers those): the vision flags and --json.
type modeFlags struct {
	vf      analysis.Flags
	jsonOut bool
}

func (m *modeFlags) register(fs *flag.FlagSet) {
	m.vf.Register(fs)
	fs.BoolVar(&m.jsonOut, "json", false, "print the report as JSON")
}

// parse parses the flags of bench mode (--pipeline or --soak) and returns
// the first of its usage errors, for the mode's own to follow: arguments
// (the modes take only flags) and the vision flags'.
func (m *modeFlags) parse(fs *flag.FlagSet, args []string, mode string) ([]error, error) {
	if err := parseFlags(fs, args); err != nil {
		return nil, err
	}
	var errs []error
	if fs.NArg() > 0 {
		errs = append(errs, fmt.Errorf("unexpected arguments %q: bench %s takes only flags", fs.Args(), mode))
	}
	if err := m.vf.Check(); err != nil {
		errs = append(errs, err)
	}
	return errs, nil
}

// engines completes c from the vision flags: the engines, their limits
// and threads (one each unless --threads says otherwise, as `framecast
// process` runs them), and the narration.
func (m *modeFlags) engines(c *bench.Common, env *environment) {
	if m.vf.Threads == 0 {
		m.vf.Threads = 1
	}
	c.Threads, c.Limits, c.NewAnalyzer, c.Log, c.Tracking = m.vf.Threads, m.vf.Limits(), m.vf.Analyzer, env.log, m.vf.Tracking()
}

func runBenchPipeline(ctx context.Context, env *environment, args []string) error {
	fs := newFlagSet(env, "bench", "--pipeline [flags]", benchPipelineAbout)
	var mf modeFlags
	var cfg bench.PipelineConfig
	mf.register(fs)
	cfg.RegisterFlags(fs)
	fs.Bool("pipeline", true, "measure the pipeline through the embedded broker (this mode)")
	errs, err := mf.parse(fs, args, "--pipeline")
	if err != nil {
		return err
	}
	if err := errors.Join(append(errs, cfg.CheckFlags())...); err != nil {
		return usageError("%v", err)
	}
	mf.engines(&cfg.Common, env)
	rep, err := bench.RunPipeline(ctx, cfg)
	if rep == nil {
		return err
	}
	return writeBenchReport(env, rep, mf.jsonOut, err)
}

func runBenchCompare(ctx context.Context, env *environment, args []string) error {
	fs := newFlagSet(env, "bench", "--compare [flags] [VIDEO ...]", "Run the analysis variants (full, --detect-every, --reclassify-every, --skip-static) on\n"+
		"the same frames (synthetic cameras and the videos given) and print each one's time and\nCPU per frame and its fidelity against the first (full).")
	var mf modeFlags
	var cfg bench.CompareConfig
	mf.register(fs)
	cfg.RegisterFlags(fs)
	fs.Bool("compare", true, "compare the analysis variants (this mode)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := errors.Join(mf.vf.Check(), cfg.CheckFlags()); err != nil {
		return usageError("%v", err)
	}
	mf.engines(&cfg.Common, env)
	cfg.Videos = fs.Args()
	cfg.AddPrecisions(func(p string) bench.NewAnalyzer { vf := mf.vf; vf.Precision = p; return vf.Analyzer })
	rep, err := bench.RunCompare(ctx, cfg)
	if err != nil {
		return err
	}
	return bench.Write(env.stdout, rep, mf.jsonOut)
}

func runBenchSoak(ctx context.Context, env *environment, args []string) error {
	fs := newFlagSet(env, "bench", "--soak DURATION [flags]", benchSoakAbout)
	var mf modeFlags
	var cfg bench.SoakConfig
	mf.register(fs)
	cfg.RegisterFlags(fs)
	fs.Bool("pipeline", true, "(implied by --soak)")
	errs, err := mf.parse(fs, args, "--soak")
	if err != nil {
		return err
	}
	if err := errors.Join(append(errs, cfg.CheckFlags())...); err != nil {
		return usageError("%v", err)
	}
	mf.engines(&cfg.Common, env)
	cfg.ProcessorFlags = mf.vf.Args()
	rep, err := bench.RunSoak(ctx, cfg)
	if rep == nil {
		return err
	}
	return writeBenchReport(env, rep, mf.jsonOut, err)
}

// writeBenchReport prints the report of a pipeline or soak run, also a
// partial one (interrupted) or a failed soak's, and returns the run's
// error.
func writeBenchReport(env *environment, rep bench.Report, asJSON bool, runErr error) error {
	if err := bench.Write(env.stdout, rep, asJSON); err != nil {
		return err
	}
	return runErr
}
