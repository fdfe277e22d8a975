package cli

import (
	"context"
	"errors"
	"runtime"
	"time"

	"github.com/framecast/framecast/internal/analysis"
	"github.com/framecast/framecast/internal/flagvalue"
	"github.com/framecast/framecast/internal/kafka"
	"github.com/framecast/framecast/internal/process"
	"github.com/framecast/framecast/internal/telemetry"
)

const processAbout = `Consume camera frames from the frames topic as a member of a consumer group, find the
faces in each frame and classify their emotions, and produce one record per frame: a
framecast.result.v1 result (status ok, or skipped with reason stale) to the results topic,
or the frame itself with a reason header to the dead-letter topic when it cannot be
analysed. Nothing is dropped silently: results + dead letters = frames consumed.

Start more processes with the same --group, on any machines, to share the partitions.
Each camera's results are produced in sequence order; offsets are committed only for the
frames whose record was delivered, in order, so a crash repeats work but never loses it.

Delivery:
  at-least-once  commit after the results are acknowledged; after a crash a result may
                 appear twice (default)
  exactly-once   Kafka transactions: results, dead letters and offsets commit together;
                 readers must use read_committed (framecast results does). A worker that
                 dies mid-transaction blocks its partitions until --txn-timeout; a restart
                 with the same --instance-id ends that at once.

SIGINT/SIGTERM: stop fetching, finish the frames in flight, produce their results,
commit, leave the group, exit 0.`

func runProcess(ctx context.Context, env *environment, args []string) error {
	fs := newFlagSet(env, "process", "[flags]", processAbout)
	var vf analysis.Flags
	vf.Register(fs)
	var kc kafka.Config
	kc.RegisterFlags(fs)
	metrics := telemetry.RegisterFlags(fs)
	var cfg process.Config
	fs.StringVar(&cfg.Group, "group", process.DefaultGroup, "consumer group; processors with the same group share the frames topic's partitions")
	fs.IntVar(&cfg.Concurrency, "concurrency", runtime.GOMAXPROCS(0), "analysis goroutines, each with its own engine (with --threads 0, each engine gets 1 thread when this is above 1)")
	fs.StringVar((*string)(&cfg.Delivery), "delivery", string(process.AtLeastOnce), "at-least-once or exactly-once (see above)")
	fs.DurationVar(&cfg.MaxAge, "max-age", 2*time.Second, "skip frames older than this when a worker reaches them (result status skipped, reason stale); 0: never skip")
	fs.StringVar(&cfg.InstanceID, "instance-id", "", "this worker's stable name in its transactional id <group>/<instance-id> (exactly-once; default <host>-<pid>); use a name that survives restarts, such as a pod name, and never the same for two live workers")
	fs.DurationVar(&cfg.StatsInterval, "stats-interval", 5*time.Second, "log a stats line this often: frames in/out, dropped by reason, lag, latency p50/p99 (0: never)")
	fs.DurationVar(&cfg.SessionTimeout, "session-timeout", 6*time.Second, "group session timeout: how long the partitions of a dead worker wait before moving (the broker allows 6 s to 5 min by default)")
	fs.DurationVar(&cfg.TxnTimeout, "txn-timeout", 10*time.Second, "exactly-once transaction timeout: how long a dead worker's open transaction blocks its partitions; a batch must finish within it")
	fs.DurationVar(&cfg.DrainTimeout, "drain-timeout", 30*time.Second, "at SIGINT/SIGTERM, wait at most this long for the frames in flight (the rest stays uncommitted for the next worker)")
	fs.IntVar(&cfg.MaxInFlight, "max-in-flight", 0, "frames fetched but not yet delivered, which is also the largest exactly-once batch (0: 2×concurrency+2)")
	fs.DurationVar(&cfg.StallAlarm, "stall-alarm", process.DefaultStallAlarm, "log an error, again every this long, naming any assigned frames partition that lags with no frame processed for this long, with its offset and last fetch error (0: never)")
	flagvalue.SizeVar(fs, &cfg.FetchMaxBytes, "fetch-max-bytes", process.DefaultFetchMaxBytes, "`size` of the largest fetch response (at most 64MiB); a bigger single frame still comes whole")
	flagvalue.SizeVar(fs, &cfg.MaxInFlightBytes, "max-in-flight-bytes", process.DefaultMaxInFlightBytes, "`size` of the frames fetched but not yet delivered; a bigger single frame still passes alone")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError("unexpected arguments %q: process takes only flags", fs.Args())
	}
	errs := []error{vf.Check(), kc.Validate(), cfg.Validate()}
	// In process.Config zero means the default and a negative duration
	// never; on the command line 0 means never (offIfZero, below) or is
	// a mistake.
	if cfg.MaxAge < 0 || cfg.StatsInterval < 0 || cfg.StallAlarm < 0 {
		errs = append(errs, errors.New("--max-age, --stats-interval and --stall-alarm must not be negative"))
	}
	if cfg.Concurrency == 0 {
		errs = append(errs, errors.New("--concurrency 0: want 1 to 256"))
	}
	if cfg.Group == "" {
		errs = append(errs, errors.New("--group must not be empty"))
	}
	if cfg.SessionTimeout == 0 || cfg.TxnTimeout == 0 || cfg.DrainTimeout == 0 {
		errs = append(errs, errors.New("--session-timeout, --txn-timeout and --drain-timeout must be positive"))
	}
	if err := errors.Join(errs...); err != nil {
		return usageError("%v", err)
	}
	if vf.Threads == 0 && cfg.Concurrency > 1 {
		// N engines × one thread each use the cores without the
		// oversubscription of N × one-thread-per-core pools.
		vf.Threads = 1
	}

	clientOpts, err := kafkaClient(ctx, env.log, &kc, "framecast-process")
	if err != nil {
		return err
	}
	cfg.Client, cfg.Topics, cfg.Worker, cfg.Log = metrics.KafkaClient(clientOpts), kc.Topics, workerName(), env.log
	cfg.NewAnalyzer, cfg.Limits, cfg.Tracking = vf.Analyzer, vf.Limits(), vf.Tracking()
	cfg.MaxAge, cfg.StatsInterval, cfg.StallAlarm = offIfZero(cfg.MaxAge), offIfZero(cfg.StatsInterval), offIfZero(cfg.StallAlarm)
	p, err := process.New(ctx, cfg)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return err
	}
	env.log.Info("connected", "kafka", kc.String())
	return metrics.WatchProcess(p).Serve(ctx, env.log, p.Run)
}
