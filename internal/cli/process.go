package cli

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"time"

	"github.com/framecast/framecast/internal/analysis"
	"github.com/framecast/framecast/internal/kafka"
	"github.com/framecast/framecast/internal/process"
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
	var vf visionFlags
	vf.register(fs)
	var kc kafka.Config
	kc.RegisterFlags(fs)
	group := fs.String("group", process.DefaultGroup, "consumer group; processors with the same group share the frames topic's partitions")
	concurrency := fs.Int("concurrency", runtime.GOMAXPROCS(0), "analysis goroutines, each with its own engine (with --threads 0, each engine gets 1 thread when this is above 1)")
	delivery := fs.String("delivery", string(process.AtLeastOnce), "at-least-once or exactly-once (see above)")
	maxAge := fs.Duration("max-age", 2*time.Second, "skip frames older than this when a worker reaches them (result status skipped, reason stale); 0: never skip")
	instanceID := fs.String("instance-id", "", "this worker's stable name in its transactional id <group>/<instance-id> (exactly-once; default <host>-<pid>); use a name that survives restarts, such as a pod name, and never the same for two live workers")
	statsInterval := fs.Duration("stats-interval", 5*time.Second, "log a stats line this often: frames in/out, dropped by reason, lag, latency p50/p99 (0: never)")
	sessionTimeout := fs.Duration("session-timeout", 6*time.Second, "group session timeout: how long the partitions of a dead worker wait before moving (the broker allows 6 s to 5 min by default)")
	txnTimeout := fs.Duration("txn-timeout", 10*time.Second, "exactly-once transaction timeout: how long a dead worker's open transaction blocks its partitions; a batch must finish within it")
	drainTimeout := fs.Duration("drain-timeout", 30*time.Second, "at SIGINT/SIGTERM, wait at most this long for the frames in flight (the rest stays uncommitted for the next worker)")
	maxInFlight := fs.Int("max-in-flight", 0, "frames fetched but not yet delivered, which is also the largest exactly-once batch (0: 2×concurrency+2)")
	stallAlarm := fs.Duration("stall-alarm", process.DefaultStallAlarm, "log an error, again every this long, naming any assigned frames partition that lags with no frame processed for this long, with its offset and last fetch error (0: never)")
	fetchMax := byteSize(process.DefaultFetchMaxBytes)
	fs.Var(&fetchMax, "fetch-max-bytes", "`size` of the largest fetch response (at most 64MiB); a bigger single frame still comes whole")
	inFlightBytes := byteSize(process.DefaultMaxInFlightBytes)
	fs.Var(&inFlightBytes, "max-in-flight-bytes", "`size` of the frames fetched but not yet delivered; a bigger single frame still passes alone")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError("unexpected arguments %q: process takes only flags", fs.Args())
	}
	var errs []error
	if err := vf.validate(); err != nil {
		errs = append(errs, err)
	}
	if err := kc.Validate(); err != nil {
		errs = append(errs, err)
	}
	d, err := process.ParseDelivery(*delivery)
	if err != nil {
		errs = append(errs, fmt.Errorf("--%v", err))
	}
	if *concurrency < 1 || *concurrency > 256 {
		errs = append(errs, fmt.Errorf("--concurrency %d: want 1 to 256", *concurrency))
	}
	if *group == "" {
		errs = append(errs, errors.New("--group must not be empty"))
	}
	if *maxAge < 0 || *statsInterval < 0 || *maxInFlight < 0 || *stallAlarm < 0 {
		errs = append(errs, errors.New("--max-age, --stats-interval, --max-in-flight and --stall-alarm must not be negative"))
	}
	if fetchMax > 64<<20 {
		errs = append(errs, fmt.Errorf("--fetch-max-bytes %v: at most 64MiB", &fetchMax))
	}
	if *sessionTimeout <= 0 || *txnTimeout <= 0 || *drainTimeout <= 0 {
		errs = append(errs, errors.New("--session-timeout, --txn-timeout and --drain-timeout must be positive"))
	}
	if err := errors.Join(errs...); err != nil {
		return usageError("%v", err)
	}
	if vf.threads == 0 && *concurrency > 1 {
		// N engines × one thread each use the cores without the
		// oversubscription of N × one-thread-per-core pools.
		vf.threads = 1
	}

	clientOpts, err := kafkaClient(ctx, env.log, &kc, "framecast-process")
	if err != nil {
		return err
	}
	p, err := process.New(ctx, process.Config{
		Client:           clientOpts,
		Topics:           kc.Topics,
		Group:            *group,
		InstanceID:       *instanceID,
		Worker:           workerName(),
		Concurrency:      *concurrency,
		NewAnalyzer:      func() (analysis.Analyzer, error) { return vf.engine() },
		Limits:           vf.limits(),
		Delivery:         d,
		MaxAge:           offIfZero(*maxAge),
		MaxInFlight:      *maxInFlight,
		MaxInFlightBytes: int64(inFlightBytes),
		FetchMaxBytes:    int32(fetchMax),
		StallAlarm:       offIfZero(*stallAlarm),
		SessionTimeout:   *sessionTimeout,
		TxnTimeout:       *txnTimeout,
		DrainTimeout:     *drainTimeout,
		StatsInterval:    offIfZero(*statsInterval),
		Log:              env.log,
	})
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return err
	}
	env.log.Info("connected", "kafka", kc.String())
	return p.Run(ctx)
}
