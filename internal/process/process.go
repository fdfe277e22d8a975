// Package process is framecast's consumer-group worker: it consumes camera
// frames, decodes each one, finds faces and their emotions, and produces one
// record per frame — a result (status ok, or skipped with a reason) or a
// dead letter — while keeping each camera's results in sequence order and
// committing offsets only for frames whose record is safely delivered.
//
// # Ordering
//
// Frames are analysed by Concurrency goroutines, each with its own analysis
// stage (decoder and engine, internal/analysis), taking frames in fetch order from one queue, so even
// a single busy camera uses every worker. Each frames partition keeps its
// in-flight frames in offset order; a finished frame's record is produced
// only when every earlier frame of its partition has been produced. A
// camera's frames live in one partition and its results are keyed by the
// camera, so its results reach the results topic in sequence order.
//
// Faces get track ids from a per-camera tracker (analysis.Camera) kept with
// the partition and dropped when the partition is revoked or lost. By
// default only the ids depend on earlier frames, and the partition's
// emitter, which sees its frames in order, gives them. With
// Config.Tracking leaving work out (--detect-every, --reclassify-every,
// --skip-static), the analysis itself depends on the camera's previous
// frame: a partition's frames are then analysed by one worker at a time,
// in offset order (any worker may take any partition), so one camera uses
// at most one worker.
//
// # Delivery
//
// At-least-once (the default): a frame's offset is marked once its record is
// acknowledged and every earlier frame's record too (the contiguous acked
// prefix); marks are committed every second, when partitions are revoked
// and on shutdown. A crash re-delivers at most the uncommitted frames, so
// a result may appear twice, never not at all.
//
// Exactly-once: frames are processed in batches of at most MaxInFlight, each
// one Kafka transaction holding the batch's records and its offset commit
// (consume-transform-produce, fenced through the group generation as in
// KIP-447). Readers that use read_committed see every frame's record exactly
// once. A worker that dies mid-transaction leaves it open: read_committed
// readers of the results stall behind it, and the partitions' next owner
// cannot read committed offsets the transaction holds, until the broker
// aborts it after TxnTimeout. That timeout is therefore short (10 s by
// default; franz-go's is 40 s, Java's 60 s) and the group session too (6 s),
// so a replacement takes over within seconds (measured on the embedded
// broker: 6 s from SIGKILL to results flowing again). The price: a batch
// (analysis, produce, offset commit) must end within TxnTimeout or the
// broker aborts it; batches take well under a second. Giving each worker a
// stable InstanceID (a pod name) lets its restarted self fence and abort
// the old transaction at once.
//
// # Staleness
//
// A frame older than MaxAge when a worker reaches it is not decoded: it gets
// a skipped result with reason "stale", so a worker that fell behind catches
// up at once instead of lagging forever.
package process

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/framecast/framecast/internal/analysis"
	"github.com/framecast/framecast/internal/imagex"
	"github.com/framecast/framecast/internal/kafka"
)

// Delivery is the delivery guarantee for results.
type Delivery string

// Delivery modes.
const (
	AtLeastOnce Delivery = "at-least-once"
	ExactlyOnce Delivery = "exactly-once"
)

// ParseDelivery accepts "at-least-once" and "exactly-once".
func ParseDelivery(s string) (Delivery, error) {
	switch d := Delivery(strings.ToLower(s)); d {
	case AtLeastOnce, ExactlyOnce:
		return d, nil
	}
	return "", fmt.Errorf("delivery %q: use at-least-once or exactly-once", s)
}

// DefaultGroup is the consumer group of the processors.
const DefaultGroup = "framecast-processors"

// Memory bounds. franz-go's defaults (50 MiB per fetch response, and
// records that alias the response they came in) let a worker catching up
// on a backlog hold several full responses: hundreds of MB of heap. These
// keep what a worker holds ahead to a few frames' worth of work while
// still letting through a single frame of the largest size Kafka takes.
const (
	// DefaultFetchMaxBytes is Config.FetchMaxBytes: 4 MiB is about 30
	// camera frames of 60–200 KB, a few hundred milliseconds of work for
	// a busy worker, so the next fetch (one round trip) is back long
	// before the workers run dry.
	DefaultFetchMaxBytes int64 = 4 << 20
	// DefaultMaxInFlightBytes is Config.MaxInFlightBytes: 16 MiB keeps
	// MaxInFlight the bound for ordinary frames and holds a few frames of
	// several MB (4K stills) at once.
	DefaultMaxInFlightBytes int64 = 16 << 20
	// DefaultStallAlarm is Config.StallAlarm.
	DefaultStallAlarm = 30 * time.Second

	// maxFetchMaxBytes keeps a response (this, or one batch of up to a
	// 16 MiB max.message.bytes) well below the client's 100 MiB limit on
	// what it reads from a broker.
	maxFetchMaxBytes = 64 << 20
	// maxPartitionFetchBytes is franz-go's and Java's default share of a
	// response per partition, so a partition with a backlog does not
	// crowd out the others.
	maxPartitionFetchBytes = 1 << 20
)

// Config configure a Processor. The zero value of each field means its
// documented default.
type Config struct {
	// Client holds the connection options (seed brokers, TLS, SASL), as
	// kafka.Config.ClientOpts returns them. The processor adds its own
	// consumer, producer and group options.
	Client []kgo.Opt
	// Topics names the frames, results and dead-letter topics (default
	// the kafka package's defaults).
	Topics kafka.Topics
	// Group is the consumer group (default DefaultGroup).
	Group string
	// InstanceID names this worker in the transactional id, group + "/" +
	// InstanceID (exactly-once only). Default: host name and process id,
	// unique per process. Set it to a name that survives restarts (a
	// StatefulSet pod name) so a restarted worker fences its predecessor's
	// open transaction at once; two live workers must never share one.
	InstanceID string
	// Worker is the results' "worker" field (default host name-pid).
	Worker string
	// Concurrency is the number of analysis goroutines, each with its own
	// analyzer and decoder (default 1, at most 256).
	Concurrency int
	// NewAnalyzer creates one analyzer per goroutine; it is called
	// Concurrency times by New. Required.
	NewAnalyzer func() (analysis.Analyzer, error)
	// Limits guard decoding (default imagex.DefaultLimits).
	Limits imagex.Limits
	// Tracking is what the analysis may leave out on a camera's frames
	// (default nothing; faces get track ids either way). When anything
	// is left out (Tracking.Stateful), a partition's frames are analysed
	// one at a time, in order (see runWorker).
	Tracking analysis.Tracking
	// Delivery is the guarantee (default AtLeastOnce).
	Delivery Delivery
	// MaxAge skips frames older than this when a worker reaches them
	// (default 2 s; negative: never skip).
	MaxAge time.Duration
	// MaxInFlight bounds the frames fetched but not yet delivered, which
	// bounds memory and how long a revoke or shutdown waits (default
	// 2·Concurrency+2). In exactly-once mode it is the largest batch.
	MaxInFlight int
	// MaxInFlightBytes bounds the bytes of those frames too (at least
	// once): no more are taken from the client while they reach it
	// (default DefaultMaxInFlightBytes). A frame larger than the bound
	// still passes: it is taken when nothing else is in flight.
	MaxInFlightBytes int64
	// FetchMaxBytes is the most one fetch response from a broker holds
	// (default DefaultFetchMaxBytes, at most 64 MiB). The client fetches
	// again only once the previous response is all taken, so what it
	// holds ahead is one response per broker. A producer batch larger
	// than this (a single frame of up to the topic's max.message.bytes,
	// or a batch the publisher packed while the broker was busy) still
	// comes whole, alone in its response.
	FetchMaxBytes int64
	// StallAlarm is how long an assigned frames partition may lag (its
	// end offset above the offset this worker is at) without progress
	// before an error is logged, naming the partition, its offset and its
	// last fetch error, and again every StallAlarm while it lasts
	// (default 30 s; negative: never).
	StallAlarm time.Duration
	// SessionTimeout is the group session timeout: how long a dead
	// worker keeps its partitions (default 6 s, the brokers' usual
	// minimum). It, TxnTimeout and DrainTimeout are never negative.
	SessionTimeout time.Duration
	// TxnTimeout is the transaction timeout (exactly-once; default 10 s).
	TxnTimeout time.Duration
	// DrainTimeout bounds the shutdown: finishing in-flight frames,
	// producing and committing (default 30 s).
	DrainTimeout time.Duration
	// StatsInterval is the period of the stats line on Log (default 5 s;
	// negative: none).
	StatsInterval time.Duration
	// Log receives narration and the stats line (default: discarded).
	Log *slog.Logger
}

// Validate reports every error of o at once, each field named by its flag
// of `framecast process`, as kafka.Config's errors are. Zero fields are
// valid: they mean the defaults. New validates too.
func (o Config) Validate() error {
	var errs []error
	if o.Concurrency < 0 || o.Concurrency > 256 {
		errs = append(errs, fmt.Errorf("--concurrency %d: want 1 to 256", o.Concurrency))
	}
	if o.Delivery != "" {
		if _, err := ParseDelivery(string(o.Delivery)); err != nil {
			errs = append(errs, fmt.Errorf("--%w", err))
		}
	}
	if o.MaxInFlight < 0 || o.MaxInFlightBytes < 0 {
		errs = append(errs, errors.New("--max-in-flight and --max-in-flight-bytes must not be negative"))
	}
	if o.FetchMaxBytes < 0 || o.FetchMaxBytes > maxFetchMaxBytes {
		errs = append(errs, fmt.Errorf("--fetch-max-bytes %d: at most 64MiB", o.FetchMaxBytes))
	}
	if o.SessionTimeout < 0 || o.TxnTimeout < 0 || o.DrainTimeout < 0 {
		errs = append(errs, errors.New("--session-timeout, --txn-timeout and --drain-timeout must be positive"))
	}
	return errors.Join(errs...)
}

func (o *Config) withDefaults() error {
	errs := []error{o.Validate()}
	if o.NewAnalyzer == nil {
		errs = append(errs, errors.New("process: Config.NewAnalyzer is required"))
	}
	if len(o.Client) == 0 {
		errs = append(errs, errors.New("process: Config.Client (seed brokers) is required"))
	}
	if o.Topics.Frames == "" {
		o.Topics.Frames = kafka.DefaultFramesTopic
	}
	if o.Topics.Results == "" {
		o.Topics.Results = kafka.DefaultResultsTopic
	}
	if o.Topics.DLQ == "" {
		o.Topics.DLQ = kafka.DefaultDLQTopic
	}
	if o.Group == "" {
		o.Group = DefaultGroup
	}
	if o.Worker == "" || o.InstanceID == "" {
		h, err := os.Hostname()
		if err != nil || h == "" {
			h = "unknown"
		}
		id := fmt.Sprintf("%s-%d", h, os.Getpid())
		if o.Worker == "" {
			o.Worker = id
		}
		if o.InstanceID == "" {
			o.InstanceID = id
		}
	}
	if o.Concurrency == 0 {
		o.Concurrency = 1
	}
	if o.Delivery == "" {
		o.Delivery = AtLeastOnce
	} else if d, err := ParseDelivery(string(o.Delivery)); err == nil {
		o.Delivery = d
	}
	if o.MaxAge == 0 {
		o.MaxAge = 2 * time.Second
	}
	if o.MaxInFlight <= 0 {
		o.MaxInFlight = 2*o.Concurrency + 2
	}
	if o.MaxInFlightBytes <= 0 {
		o.MaxInFlightBytes = DefaultMaxInFlightBytes
	}
	if o.FetchMaxBytes == 0 {
		o.FetchMaxBytes = DefaultFetchMaxBytes
	}
	if o.StallAlarm == 0 {
		o.StallAlarm = DefaultStallAlarm
	}
	if o.SessionTimeout <= 0 {
		o.SessionTimeout = 6 * time.Second
	}
	if o.TxnTimeout <= 0 {
		o.TxnTimeout = 10 * time.Second
	}
	if o.DrainTimeout <= 0 {
		o.DrainTimeout = 30 * time.Second
	}
	if o.StatsInterval == 0 {
		o.StatsInterval = 5 * time.Second
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return errors.Join(errs...)
}

// Processor is one worker process's consumer-group member. Create it with
// New and run it once with Run.
type Processor struct {
	o       Config
	log     *slog.Logger
	workers []*worker
	busy    []*atomic.Int64 // each worker's busySince, for Live: fixed by New
	work    chan *job
	c       *counters
	maxDLQ  int32 // largest record the DLQ topic takes
	maxRes  int32 // largest record the results topic takes
	serial  bool  // o.Tracking.Stateful(): one worker per partition at a time

	cl   *kgo.Client                // the group member, producer too
	clp  atomic.Pointer[kgo.Client] // cl, for Stats from other goroutines
	sess *kgo.GroupTransactSession  // exactly-once only; wraps cl

	// produceCtx is canceled only when a shutdown overruns DrainTimeout.
	produceCtx context.Context
	stopRun    context.CancelFunc // stops fetching (fatal errors)

	mu       sync.Mutex
	parts    map[tp]*partState
	assigned map[tp]bool
	inflight int
	inBytes  int64 // bytes of the frames in flight
	// pendingBytes are the bytes polled and not yet dispatched (runALO).
	pendingBytes atomic.Int64
	changed      chan struct{} // closed and replaced whenever inflight drops
	peakBuf      atomic.Int64  // largest BufferedBytes seen after a poll

	failMu  sync.Mutex
	failErr error

	watch watches // the stall alarm's view of the assigned partitions
}

type tp struct {
	topic     string
	partition int32
}

// New checks that the brokers are reachable and the topics exist, and
// creates the analyzers. It does not join the group yet: Run does.
func New(ctx context.Context, o Config) (*Processor, error) {
	if err := o.withDefaults(); err != nil {
		return nil, err
	}
	p := &Processor{
		o: o, log: o.Log, c: newCounters(),
		parts: map[tp]*partState{}, assigned: map[tp]bool{}, changed: make(chan struct{}),
		work: make(chan *job, o.MaxInFlight), serial: o.Tracking.Stateful(),
	}
	if err := p.checkTopics(ctx); err != nil {
		return nil, err
	}
	for range o.Concurrency {
		an, err := o.NewAnalyzer()
		if err != nil {
			p.closeWorkers()
			return nil, err
		}
		p.workers = append(p.workers, &worker{
			stage:   analysis.NewStage(an, o.Limits),
			results: o.Topics.Results, dlq: o.Topics.DLQ,
			maxAge: o.MaxAge, name: o.Worker, maxDLQ: int(p.maxDLQ) - 1024,
			idsLater: !p.serial,
		})
		p.busy = append(p.busy, &p.workers[len(p.workers)-1].busySince)
	}
	return p, nil
}

// defaultMaxMessage is Kafka's default max.message.bytes, assumed when a
// topic's configuration cannot be read.
const defaultMaxMessage = 1048588

// checkTopics fails early, with a message that says what to do, when the
// brokers cannot be reached or a topic is missing, and reads the result
// and dead-letter topics' record size limits.
func (p *Processor) checkTopics(ctx context.Context) error {
	cl, err := kgo.NewClient(p.o.Client...)
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	t := p.o.Topics
	if _, err := kafka.CheckTopics(ctx, cl, t.Frames, t.Results, t.DLQ); err != nil {
		return err
	}
	p.maxDLQ, p.maxRes = defaultMaxMessage, defaultMaxMessage
	mm, err := kafka.MaxMessageBytes(ctx, cl, t.Results, t.DLQ)
	if err != nil {
		p.log.Warn("cannot read the topics' max.message.bytes; assuming Kafka's default", "default", defaultMaxMessage, "err", err)
		return nil
	}
	if v, ok := mm[t.DLQ]; ok {
		p.maxDLQ = int32(v) //nolint:gosec // read as an int32
	}
	if v, ok := mm[t.Results]; ok {
		p.maxRes = int32(v) //nolint:gosec // read as an int32
	}
	return nil
}

// Stats returns a snapshot of the counters.
func (p *Processor) Stats() Stats {
	p.mu.Lock()
	n, b := p.inflight, p.inBytes
	p.mu.Unlock()
	s := p.c.snapshot(n)
	s.InFlightBytes = b
	if cl := p.clp.Load(); cl != nil {
		// Records taken from the client but not yet dispatched still
		// count as the client's.
		s.ClientBufferedBytes = cl.BufferedFetchBytes() + p.pendingBytes.Load()
	}
	s.BufferedBytes = s.InFlightBytes + s.ClientBufferedBytes
	s.PeakBufferedBytes = max(p.peakBuf.Load(), s.BufferedBytes)
	return s
}

// notePeak records the bytes held ahead after a poll, the moment they
// are largest: the client's next response has not been asked for yet.
func (p *Processor) notePeak() {
	p.mu.Lock()
	b := p.inBytes
	p.mu.Unlock()
	b += p.cl.BufferedFetchBytes() + p.pendingBytes.Load()
	for {
		old := p.peakBuf.Load()
		if b <= old || p.peakBuf.CompareAndSwap(old, b) {
			return
		}
	}
}

// Run joins the group and processes frames until ctx is canceled or a
// fatal error occurs. On cancellation it drains: stops fetching, finishes
// the frames in flight, produces their records, commits, and leaves the
// group; it then returns nil. The analyzers are closed when Run returns.
func (p *Processor) Run(ctx context.Context) (err error) {
	defer p.closeWorkers()
	runCtx, stopRun := context.WithCancel(ctx)
	defer stopRun()
	p.stopRun = stopRun
	produceCtx, hardStop := context.WithCancel(context.WithoutCancel(ctx))
	defer hardStop()
	p.produceCtx = produceCtx

	if err := p.newClient(); err != nil {
		return err
	}
	p.log.Info("processor started", "group", p.o.Group, "frames", p.o.Topics.Frames, "results", p.o.Topics.Results,
		"dlq", p.o.Topics.DLQ, "delivery", p.o.Delivery, "concurrency", p.o.Concurrency, "max_age", p.o.MaxAge.String(),
		"worker", p.o.Worker)

	var wg sync.WaitGroup
	for _, w := range p.workers {
		wg.Go(func() { p.runWorker(w) })
	}
	finished := make(chan struct{})
	defer close(finished)
	// A shutdown that overruns DrainTimeout gives up on in-flight
	// records: their offsets are not committed, so nothing is lost.
	go func() {
		select {
		case <-runCtx.Done():
		case <-finished:
			return
		}
		t := time.NewTimer(p.o.DrainTimeout)
		defer t.Stop()
		select {
		case <-t.C:
			p.log.Warn("drain timed out; in-flight frames are left uncommitted for the next owner", "timeout", p.o.DrainTimeout.String())
			hardStop()
		case <-finished:
		}
	}()
	var statsWG sync.WaitGroup
	if p.o.StatsInterval > 0 {
		statsWG.Go(func() { p.statsLoop(runCtx) })
	}
	if p.o.StallAlarm > 0 {
		statsWG.Go(func() { p.stallLoop(runCtx) })
	}

	var loopErr error
	if p.o.Delivery == ExactlyOnce {
		loopErr = p.runEOS(runCtx)
	} else {
		loopErr = p.runALO(runCtx)
	}
	close(p.work)
	wg.Wait()
	stopRun()
	statsWG.Wait()
	s := p.Stats()
	p.log.Info("processor stopped", "in", s.Consumed, "ok", s.OK, "skipped", formatReasons(s.Skipped), "dlq", formatReasons(s.DLQ),
		"commits", s.Commits, "aborted", s.Aborted)
	if err := p.failure(); err != nil {
		return err
	}
	if loopErr != nil {
		return loopErr
	}
	if produceCtx.Err() != nil {
		return fmt.Errorf("shutdown did not finish within %v: in-flight frames were left uncommitted", p.o.DrainTimeout)
	}
	return nil
}

// newClient creates the group member with the options every mode shares
// and the mode's own.
func (p *Processor) newClient() error {
	hb := min(time.Second, p.o.SessionTimeout/3)
	batchMax := max(p.maxDLQ, p.maxRes)
	opts := append(append([]kgo.Opt(nil), p.o.Client...),
		kgo.WithLogger(kafka.NewLogger(p.log)),
		kgo.ConsumerGroup(p.o.Group),
		kgo.ConsumeTopics(p.o.Topics.Frames),
		kgo.Balancers(kgo.CooperativeStickyBalancer()),
		kgo.SessionTimeout(p.o.SessionTimeout),
		kgo.HeartbeatInterval(hb),
		// A revoke waits for in-flight frames; that is bounded by
		// MaxInFlight frames of work, far below this.
		kgo.RebalanceTimeout(max(30*time.Second, p.o.SessionTimeout)),
		// A new group starts at the oldest retained frame: every frame
		// gets a record, and old ones are skipped as stale cheaply.
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		// One fetch per broker is in flight at a time, so partitions
		// assigned while an empty long poll waits wait for it to end:
		// keep that short (default 5 s) for a quick start and takeover.
		kgo.FetchMaxWait(500*time.Millisecond),
		kgo.FetchMaxBytes(int32(p.o.FetchMaxBytes)), // at most 64 MiB (Validate)
		kgo.FetchMaxPartitionBytes(int32(min(maxPartitionFetchBytes, p.o.FetchMaxBytes))),
		// A response holds a few partitions' frames, so which come
		// first decides who starves. In a fetch session a request
		// names only the partitions whose offsets moved, and the
		// embedded broker (kfake) serves those first: the partitions
		// served once are served again and again while the others'
		// frames expire (TestBacklogServedFairly). Full requests, which
		// the client rotates by one partition each time, are fair on
		// any broker; for tens of partitions they cost little. (Lag
		// first, kgo.PreferLagAt, starves too: a partition not yet
		// fetched has no known lag and goes last.)
		kgo.DisableFetchSessions(),
		// Retriable fetch errors are otherwise retried silently, forever:
		// a partition could stall with nothing logged (see stall.go).
		kgo.KeepRetryableFetchErrors(),
		kgo.ProducerLinger(0),
		kgo.ProducerBatchCompression(kgo.NoCompression()),
		kgo.ProducerBatchMaxBytes(batchMax),
		kgo.OnPartitionsAssigned(p.onAssigned),
	)
	if p.o.Delivery == ExactlyOnce {
		opts = append(opts,
			kgo.TransactionalID(p.o.Group+"/"+p.o.InstanceID),
			kgo.TransactionTimeout(p.o.TxnTimeout),
			kgo.OnPartitionsRevoked(p.onRevokedEOS),
			kgo.OnPartitionsLost(p.onRevokedEOS),
		)
		s, err := kgo.NewGroupTransactSession(opts...)
		if err != nil {
			return err
		}
		p.sess, p.cl = s, s.Client()
		p.clp.Store(p.cl)
		return nil
	}
	opts = append(opts,
		kgo.AutoCommitMarks(),
		kgo.AutoCommitInterval(time.Second),
		kgo.AutoCommitCallback(p.onAutoCommit),
		// Polling and the rebalance callbacks exclude each other, so a
		// fetched batch is dispatched wholly before or after a revoke.
		kgo.BlockRebalanceOnPoll(),
		kgo.OnPartitionsRevoked(p.onRevoked),
		kgo.OnPartitionsLost(p.onLost),
	)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return err
	}
	p.cl = cl
	p.clp.Store(cl)
	return nil
}

func (p *Processor) closeWorkers() {
	for _, w := range p.workers {
		w.stage.Close()
	}
	p.workers = nil
}

// fail records the first fatal error and stops fetching.
func (p *Processor) fail(err error) {
	p.failMu.Lock()
	first := p.failErr == nil
	if first {
		p.failErr = err
	}
	p.failMu.Unlock()
	if first {
		p.log.Error("stopping", "err", err)
		if p.stopRun != nil {
			p.stopRun()
		}
	}
}

func (p *Processor) failure() error {
	p.failMu.Lock()
	defer p.failMu.Unlock()
	return p.failErr
}

// ---- shared ----

func (p *Processor) statsLoop(ctx context.Context) {
	t := time.NewTicker(p.o.StatsInterval)
	defer t.Stop()
	adm := kadm.NewClient(p.cl)
	prev, prevAt := p.Stats(), time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		lctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		if lags, err := adm.Lag(lctx, p.o.Group); err == nil {
			if l, ok := lags[p.o.Group]; ok && l.Error() == nil {
				p.c.lag.Store(l.Lag.TotalByTopic()[p.o.Topics.Frames].Lag)
			}
		}
		cancel()
		s, now := p.Stats(), time.Now()
		secs := now.Sub(prevAt).Seconds()
		p.log.Info("stats",
			"in", s.Consumed, "in_fps", round1(float64(s.Consumed-prev.Consumed)/secs),
			"out", s.Out(), "out_fps", round1(float64(s.Out()-prev.Out())/secs),
			"ok", s.OK, "faces", s.Faces, "analysis", formatReasons(s.Analysis),
			"skipped", formatReasons(s.Skipped), "dlq", formatReasons(s.DLQ),
			"bad_capture_time", s.BadCaptureTime,
			"lag", s.Lag, "in_flight", s.InFlight, "buffered_bytes", s.BufferedBytes, "partitions", s.Assigned,
			"stalled_partitions", s.StalledPartitions, "stall_alarms", s.StallAlarms,
			"p50_ms", analysis.MS(s.LatencyP50), "p99_ms", analysis.MS(s.LatencyP99))
		prev, prevAt = s, now
	}
}

func round1(v float64) float64 { return float64(int64(v*10+0.5)) / 10 }

func fmtParts(m map[string][]int32) string {
	var b strings.Builder
	for t, ps := range m {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%s%v", t, ps)
	}
	return b.String()
}
