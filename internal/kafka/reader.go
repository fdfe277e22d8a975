package kafka

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/framecast/framecast/internal/ratelog"
)

// ReaderConfig configures a DirectReader. The zero value of a field means
// its default; Topics is required.
type ReaderConfig struct {
	// Topics are read whole: every partition of each.
	Topics []string
	// FromStart starts each partition at its oldest retained record.
	// Default: at its end, so only records produced from now on come.
	FromStart bool
	// ReadCommitted reads with read_committed isolation: records of
	// aborted (exactly-once) transactions never come. Default
	// read_uncommitted, franz-go's.
	ReadCommitted bool
	// Log, when set, receives the fetch errors that reach the reader
	// (franz-go retries them), at most one line every 10 s. Default: not
	// logged; the handler sees them in the fetches.
	Log *slog.Logger
	// Opts are more consumer options, applied after the reader's own.
	Opts []kgo.Opt
}

// DirectReader consumes topics without a consumer group: it reads every
// partition itself, so it never joins, rebalances or takes partitions
// from a group, and it commits nothing (a restart starts again at the
// start or the end). The dashboard, `framecast results` and the bench's
// results reader use it.
type DirectReader struct {
	cl      *kgo.Client
	topics  []string
	log     *slog.Logger
	warnLog *ratelog.Logger
}

// readerMaxWait is a direct reader's long poll: short, so that partitions
// found after the first fetch went out are not stuck behind it for
// franz-go's default 5 s.
const readerMaxWait = 500 * time.Millisecond

// NewDirectReader creates the reader's client from clientOpts (those of
// Config.ClientOpts) and cfg. Nothing is fetched before Run. Close it.
func NewDirectReader(clientOpts []kgo.Opt, cfg ReaderConfig) (*DirectReader, error) {
	if len(cfg.Topics) == 0 {
		return nil, errors.New("kafka: a direct reader needs at least one topic")
	}
	start := kgo.NewOffset().AtEnd()
	if cfg.FromStart {
		start = kgo.NewOffset().AtStart()
	}
	opts := append(slices.Clip(clientOpts),
		kgo.ConsumeTopics(cfg.Topics...),
		kgo.ConsumeResetOffset(start),
		kgo.FetchMaxWait(readerMaxWait),
	)
	if cfg.ReadCommitted {
		opts = append(opts, kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	}
	cl, err := kgo.NewClient(append(opts, cfg.Opts...)...)
	if err != nil {
		return nil, err
	}
	return &DirectReader{cl: cl, topics: slices.Clone(cfg.Topics), log: cfg.Log, warnLog: ratelog.New(cfg.Log, 10*time.Second, 1)}, nil
}

// Client is the reader's client, for what the reader does not do itself
// (pausing partitions, listing offsets).
func (r *DirectReader) Client() *kgo.Client { return r.cl }

// CheckTopics is CheckTopics for the reader's topics, on its client.
func (r *DirectReader) CheckTopics(ctx context.Context) (map[string]int, error) {
	return CheckTopics(ctx, r.cl, r.topics...)
}

// Run polls until ctx ends or the reader is closed, and returns nil then;
// it hands each poll's fetches
// to handle, and stops with handle's error if it returns one. Polls are
// sequential: handle needs no lock against the next.
func (r *DirectReader) Run(ctx context.Context, handle func(kgo.Fetches) error) error {
	for {
		fs := r.cl.PollFetches(ctx)
		if ctx.Err() != nil || fs.IsClientClosed() {
			return nil
		}
		if r.log != nil {
			fs.EachError(r.warn)
		}
		if err := handle(fs); err != nil {
			return err
		}
	}
}

// warn logs a fetch error at most every 10 s; the end of a poll (its
// context, the client closing) is not one.
func (r *DirectReader) warn(topic string, partition int32, err error) {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, kgo.ErrClientClosed) {
		return
	}
	r.warnLog.Warn("fetch error (retried)", "topic", topic, "partition", partition, "err", err)
}

// Close closes the client; a Run in progress returns.
func (r *DirectReader) Close() { r.cl.Close() }
