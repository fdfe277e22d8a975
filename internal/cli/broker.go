package cli

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/framecast/framecast/internal/broker"
	"github.com/framecast/framecast/internal/flagvalue"
	"github.com/framecast/framecast/internal/kafka"
	"github.com/framecast/framecast/internal/models"
	"github.com/framecast/framecast/internal/telemetry"
)

const brokerAbout = `Runs the embedded development Kafka broker: kfake (franz-go's Kafka-protocol broker)
with a data directory. It creates the frames, results and DLQ topics when missing, with
settings suited to video (frames kept for minutes and bounded in bytes per partition,
results for a day, messages up to 16 MiB), enforces their retention, and keeps data and
committed offsets across restarts. Stop it with Ctrl-C (SIGINT) or SIGTERM.

Each partition keeps at most --retention-records records (default 50,000: 83 minutes
of one camera's results at 10 fps), whatever the retention times say: kfake holds
about 90 bytes of memory for every record batch it keeps, and this bound keeps the
broker's memory flat however long it runs (it logs when a partition reaches it).

One broker per data directory: a second one on the same directory stops at once,
naming the first one's pid. At start-up every partition's segments are checked
(batch CRCs, offsets following each other, index entries). A write torn by a
killed broker is cut by itself (it was never acknowledged); a damaged partition
stops the start with an error naming it, and --repair cuts it at its first bad
batch, keeping a copy of what it removed in <data-dir>/repaired/.

It is for development, CI and demos only: one node, no replication, one goroutine
serving every request. For production run Apache Kafka in KRaft mode with the same
topic settings: deploy/compose.yaml's kafka profile starts one and creates the topics
(docker compose -f deploy/compose.yaml --profile kafka up); deploy/k8s for Kubernetes.`

// runBroker implements `framecast broker`.
func runBroker(ctx context.Context, env *environment, args []string) error {
	fs := newFlagSet(env, "broker", "[flags]", brokerAbout)
	def := kafka.DefaultTopicSettings()
	var (
		cfg                        broker.Config
		maxMsgBytes                = flagvalue.Size(def.MaxMessageBytes)
		saslMech, saslUser, saslPw string
	)
	fs.StringVar(&cfg.Listen, "listen", kafka.DefaultBrokers, "host:port to listen on and advertise to clients (not 0.0.0.0: clients are told this address)")
	fs.StringVar(&cfg.DataDir, "data-dir", filepath.Join(models.Home(), "broker"), "directory of the broker's data: segments, topics, committed offsets (one broker per directory)")
	fs.IntVar(&cfg.Partitions, "partitions", def.Partitions, "partitions of each topic the broker creates (existing topics keep theirs)")
	fs.DurationVar(&cfg.FramesRetention, "frames-retention", def.FramesRetention, "how long frames are kept")
	flagvalue.SizeVar(fs, &cfg.FramesRetentionBytes, "frames-retention-bytes", def.FramesRetentionBytes, "`size` bound of each frames and DLQ partition (e.g. 256MiB, 1GiB)")
	fs.DurationVar(&cfg.ResultsRetention, "results-retention", def.ResultsRetention, "how long results and DLQ records are kept")
	flagvalue.SizeVar(fs, &cfg.ResultsRetentionBytes, "results-retention-bytes", def.ResultsRetentionBytes, "`size` bound of each results partition")
	flagvalue.SizeVar(fs, &cfg.SegmentBytes, "segment-bytes", def.SegmentBytes, "segment `size`: retention deletes whole segments; raised to --max-message-bytes if smaller (Kafka rejects a batch larger than a segment)")
	fs.Var(&maxMsgBytes, "max-message-bytes", "largest record batch (`size`) the topics accept (keep it above the largest frame)")
	fs.DurationVar(&cfg.RetentionInterval, "retention-check", broker.DefaultRetentionInterval, "how often expired records are deleted")
	fs.Int64Var(&cfg.RetentionRecords, "retention-records", broker.DefaultRetentionRecords,
		"most records each partition keeps, whatever the retention times (-1: no bound); the broker holds ~90 bytes of memory per record batch it keeps, so this bounds its memory")
	fs.StringVar(&cfg.Topics.Frames, "frames-topic", kafka.DefaultFramesTopic, "topic of the camera frames")
	fs.StringVar(&cfg.Topics.Results, "results-topic", kafka.DefaultResultsTopic, "topic of the analysis results")
	fs.StringVar(&cfg.Topics.DLQ, "dlq-topic", kafka.DefaultDLQTopic, "dead-letter topic for frames that cannot be analysed")
	// The SASL flags share their names (and FRAMECAST_SASL_* variables)
	// with the clients' on purpose: one environment configures both ends.
	fs.StringVar(&saslMech, "sasl-mechanism", "", "require SASL: plain, scram-sha-256 or scram-sha-512 (empty: no authentication)")
	fs.StringVar(&saslUser, "sasl-user", "", "the user clients must authenticate as")
	fs.StringVar(&saslPw, "sasl-password", "", "that user's password (prefer FRAMECAST_SASL_PASSWORD: command lines are visible to other users)")
	// The TLS flags do not: a client's --tls-cert is its own certificate.
	fs.StringVar(&cfg.CertFile, "server-tls-cert", "", "PEM certificate (chain) of the broker: makes the listener TLS-only")
	fs.StringVar(&cfg.KeyFile, "server-tls-key", "", "PEM private key of --server-tls-cert")
	fs.DurationVar(&cfg.StatsInterval, "stats-interval", broker.DefaultStatsInterval, "how often to log what the topics hold (0: never)")
	metrics := telemetry.RegisterFlags(fs)
	fs.BoolVar(&cfg.Repair, "repair", false, "cut each damaged partition of --data-dir at its first bad batch (a copy of what is removed goes to <data-dir>/repaired/), then start")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	cfg.MaxMessageBytes = int(maxMsgBytes)
	cfg.Logger = env.log

	var errs []error
	switch {
	case saslMech == "" && (saslUser != "" || saslPw != ""):
		errs = append(errs, errors.New("--sasl-user/--sasl-password given without --sasl-mechanism (plain, scram-sha-256 or scram-sha-512)"))
	case saslMech != "" && (saslUser == "" || saslPw == ""):
		errs = append(errs, fmt.Errorf("--sasl-mechanism %s needs --sasl-user and --sasl-password (or FRAMECAST_SASL_PASSWORD)", saslMech))
	case saslMech != "":
		cfg.SASL = []broker.SASLUser{{Mechanism: saslMech, User: saslUser, Password: saslPw}}
	}
	// Zero means "default" in broker.Config; on the command line it
	// is a mistake.
	if cfg.Partitions < 1 {
		errs = append(errs, fmt.Errorf("--partitions %d: must be at least 1", cfg.Partitions))
	}
	if cfg.RetentionRecords == 0 || cfg.RetentionRecords < -1 {
		errs = append(errs, fmt.Errorf("--retention-records %d: want a positive count, or -1 for no bound", cfg.RetentionRecords))
	}
	if cfg.FramesRetention <= 0 || cfg.ResultsRetention <= 0 || cfg.RetentionInterval <= 0 {
		errs = append(errs, errors.New("--frames-retention, --results-retention and --retention-check must be positive"))
	}
	if cfg.StatsInterval < 0 {
		errs = append(errs, errors.New("--stats-interval must not be negative"))
	}
	cfg.StatsInterval = offIfZero(cfg.StatsInterval)
	if err := errors.Join(append(errs, cfg.Validate())...); err != nil {
		return usageError("%v", err)
	}

	b, err := broker.Start(ctx, cfg)
	if err != nil {
		return err
	}
	env.log.Info("clients connect with --brokers " + b.Addr() + " (the default when it is 127.0.0.1:9092)")
	// SIGINT/SIGTERM is how a broker is meant to stop: not an error.
	err = metrics.WatchBroker(b).Serve(ctx, env.log, func(ctx context.Context) error { <-ctx.Done(); return nil })
	return errors.Join(err, b.Close())
}
