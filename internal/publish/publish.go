// Package publish produces camera frames to the frames topic: one franz-go
// producer shared by every camera of the process, each camera paced by its
// own goroutine.
//
// Real time comes first. A camera never waits for Kafka: frames go in with
// TryProduce, and when the producer's buffer (Config.MaxBufferedBytes) is
// full the frame is dropped and counted, like a camera that skips frames it
// cannot send. A frame Kafka has not acknowledged within
// Config.DeliveryTimeout is dropped too, instead of being retried after it
// has lost its value.
//
// Each record: key = camera id, value = JPEG, timestamp = capture time,
// headers from frame.EncodeHeaders with a per-camera sequence number that
// starts at 0 and counts every captured frame, so a consumer sees the drops
// as gaps.
//
// # Camera → partition mapping
//
// Frames of a camera stay in one partition, in order. Instead of hashing
// the key (murmur2 puts several of a few cameras on one partition), the
// publisher reads the topic's partition count at start, sorts the camera
// ids of the process (byte order) and gives the i-th camera partition
// i mod partitions: 8 cameras on 12 partitions land on partitions 0–7, one
// each; 13 cameras put two on partition 0. The mapping depends only on the
// set of ids and the partition count, so a publisher restarted (or started
// elsewhere) with the same cameras computes the same mapping. A camera must
// be published by one process at a time anyway: its sequence numbers start
// at 0 in each publisher.
package publish

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/framecast/framecast/internal/frame"
	"github.com/framecast/framecast/internal/kafka"
	"github.com/framecast/framecast/internal/ratelog"
	"github.com/framecast/framecast/internal/source"
)

// Defaults of Config.
const (
	DefaultTopic = kafka.DefaultFramesTopic
	// DefaultMaxBufferedBytes bounds the frames waiting for Kafka: about
	// 1,300 640×480 frames, 16 s of 8 cameras at 10 fps.
	DefaultMaxBufferedBytes = 64 << 20
	// DefaultBatchMaxBytes is the largest produce batch, and so the
	// largest frame. The topic's max.message.bytes (and the broker's
	// message.max.bytes) must be at least as large: `framecast broker`
	// creates the topics with 16 MiB.
	DefaultBatchMaxBytes = 16 << 20
	// DefaultDeliveryTimeout: a frame older than this is not worth
	// retrying (the processors skip frames older than --max-age, 2 s).
	DefaultDeliveryTimeout = 5 * time.Second
	// DefaultFlushTimeout bounds the flush at shutdown.
	DefaultFlushTimeout = 10 * time.Second
	// DefaultConnectTimeout bounds the metadata request at start.
	DefaultConnectTimeout = 10 * time.Second
	// DefaultFPS paces cameras that do not say.
	DefaultFPS = 10.0
)

// recordOverhead over-estimates the bytes a one-record batch adds to the
// key, value and headers (batch header 61 bytes, record varints).
const recordOverhead = 256

// Config configures a Publisher. Zero fields take the defaults.
type Config struct {
	// Topic is the frames topic. Default DefaultTopic.
	Topic string
	// MaxBufferedBytes bounds the producer's buffer; a frame that does
	// not fit is dropped (reason buffer_full). Default 64 MiB, at most
	// 1 TiB.
	MaxBufferedBytes int64
	// BatchMaxBytes is the producer's batch limit (ProducerBatchMaxBytes),
	// which bounds the frame size; larger frames are dropped (reason
	// too_large). Default 16 MiB, at most 64 MiB.
	BatchMaxBytes int64
	// DeliveryTimeout drops frames Kafka has not acknowledged in time
	// (reason delivery_failed). Default 5 s; never negative.
	DeliveryTimeout time.Duration
	// FlushTimeout bounds the final flush. Default 10 s; never negative.
	FlushTimeout time.Duration
	// ConnectTimeout bounds the metadata request of New. Default 10 s.
	ConnectTimeout time.Duration
	// Log receives narration; default: discarded.
	Log *slog.Logger
}

// Validate reports every error of c at once, each field named by its flag
// of `framecast publish`, as kafka.Config's errors are. Zero fields are
// valid: they mean the defaults.
func (c Config) Validate() error {
	var errs []error
	if c.MaxBufferedBytes < 0 || c.MaxBufferedBytes > 1<<40 {
		errs = append(errs, fmt.Errorf("--max-buffered-bytes %d: want more than 0 and at most 1TiB", c.MaxBufferedBytes))
	}
	if c.BatchMaxBytes < 0 || c.BatchMaxBytes > 64<<20 {
		errs = append(errs, fmt.Errorf("--batch-max-bytes %d: want 1 to 64MiB", c.BatchMaxBytes))
	}
	if c.DeliveryTimeout < 0 || c.FlushTimeout < 0 {
		errs = append(errs, errors.New("--delivery-timeout and --flush-timeout must be positive"))
	}
	return errors.Join(errs...)
}

func (c Config) withDefaults() Config {
	if c.Topic == "" {
		c.Topic = DefaultTopic
	}
	if c.MaxBufferedBytes <= 0 {
		c.MaxBufferedBytes = DefaultMaxBufferedBytes
	}
	if c.BatchMaxBytes <= 0 {
		c.BatchMaxBytes = DefaultBatchMaxBytes
	}
	if c.DeliveryTimeout <= 0 {
		c.DeliveryTimeout = DefaultDeliveryTimeout
	}
	if c.FlushTimeout <= 0 {
		c.FlushTimeout = DefaultFlushTimeout
	}
	if c.ConnectTimeout <= 0 {
		c.ConnectTimeout = DefaultConnectTimeout
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	return c
}

// Camera is one source to publish.
type Camera struct {
	// ID is the record key: valid UTF-8, at most 128 bytes, unique.
	ID string
	// Source is read by the camera's goroutine and closed by Run.
	Source source.Source
	// FPS paces the camera. Default 10.
	FPS float64
	// Count stops the camera after Count frames; 0 means until the
	// context ends or the source does.
	Count int64
}

// OpenCameras opens the source of every camera: options gives a camera's
// source options and its pace (Camera.FPS; a source's own frame rate,
// source.FrameRater, wins), and each gets count (Camera.Count). Every
// camera is logged to log (nil: discarded), and its source logs with the
// camera's id. On an error it closes the sources already open; the error
// names the camera.
func OpenCameras(specs []CameraSpec, options func(CameraSpec) (source.Config, float64), count int64, log *slog.Logger) ([]Camera, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var cams []Camera
	for _, spec := range specs {
		opts, fps := options(spec)
		opts.Log = log.With("camera", spec.ID)
		src, err := source.Open(spec.URI, opts)
		if err != nil {
			for _, c := range cams {
				c.Source.Close()
			}
			return nil, fmt.Errorf("camera %s: %w", spec.ID, err)
		}
		c := Camera{ID: spec.ID, Source: src, FPS: fps, Count: count}
		if r, ok := src.(source.FrameRater); ok && r.FPS() > 0 {
			c.FPS = r.FPS()
		}
		cams = append(cams, c)
		attrs := []any{"id", c.ID, "source", source.Redact(spec.URI)}
		if sp, ok := src.(source.SelfPaced); ok && sp.SelfPaced() {
			attrs = append(attrs, "fps", "the source's own")
		} else {
			attrs = append(attrs, "fps", c.FPS)
		}
		log.Info("camera", attrs...)
	}
	return cams, nil
}

// ErrNoBroker is matched by New's error when no broker answered: New's
// topic check (kafka.CheckTopics) failed with kafka.ErrUnreachable.
var ErrNoBroker = kafka.ErrUnreachable

// ErrNoTopic is matched by New's error when the frames topic does not
// exist: kafka.ErrNoTopic.
var ErrNoTopic = kafka.ErrNoTopic

// Publisher produces frames. Create it with New, call Run once, then Close.
type Publisher struct {
	cfg        Config
	client     *kgo.Client
	partitions int32
	maxMessage int // topic max.message.bytes, 0 if unknown
	maxRecord  int // largest key+value+headers accepted

	st       counters
	warnings sync.Map // kind → *ratelog.Logger

	camsMu sync.Mutex
	cams   []Camera // set by Run, for SourceStatus
	// byCam are the cameras' own counters, by id: set by Run before the
	// cameras start, read-only then.
	byCam map[string]*camCounters
}

// counters are the Stats, updated atomically by cameras and promises.
type counters struct {
	captured, produced, acked, bytes                  atomic.Int64
	bufferFull, deliveryFailed, tooLarge, sourceError atomic.Int64
}

// New creates the producer and reads the topic's partition count (and
// max.message.bytes, when the broker tells). clientOpts are the
// connection options (kafka.Config.ClientOpts); New adds the producer
// settings: linger 0, no compression (JPEG does not compress), the batch
// and buffer limits, the delivery timeout, acks from all in-sync
// replicas, idempotence (franz-go's default) and the manual partitioner.
func New(ctx context.Context, cfg Config, clientOpts ...kgo.Opt) (*Publisher, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	opts := append(slices.Clip(clientOpts),
		kgo.DefaultProduceTopic(cfg.Topic),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerLinger(0),
		kgo.ProducerBatchCompression(kgo.NoCompression()),
		kgo.ProducerBatchMaxBytes(int32(cfg.BatchMaxBytes)), // at most 64 MiB (Validate)
		kgo.MaxBufferedBytes(int(cfg.MaxBufferedBytes)),
		kgo.RecordDeliveryTimeout(cfg.DeliveryTimeout),
		kgo.RequiredAcks(kgo.AllISRAcks()),
	)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, err
	}
	p := &Publisher{cfg: cfg, client: cl}
	if err := p.describe(ctx); err != nil {
		cl.Close()
		return nil, err
	}
	p.maxRecord = int(cfg.BatchMaxBytes)
	if p.maxMessage > 0 {
		p.maxRecord = min(p.maxRecord, p.maxMessage)
	}
	p.maxRecord -= recordOverhead
	attrs := []any{"topic", cfg.Topic, "partitions", p.partitions}
	if p.maxMessage > 0 {
		attrs = append(attrs, "max_message_bytes", p.maxMessage)
		if p.maxMessage < int(cfg.BatchMaxBytes) {
			cfg.Log.Warn("the topic's max.message.bytes is below the producer's batch limit: larger frames are dropped (too_large); raise max.message.bytes on the topic",
				"max_message_bytes", p.maxMessage, "batch_max_bytes", cfg.BatchMaxBytes)
		}
	}
	cfg.Log.Info("connected to Kafka", attrs...)
	return p, nil
}

// describe reads the partition count and max.message.bytes of the topic.
func (p *Publisher) describe(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, p.cfg.ConnectTimeout)
	defer cancel()
	counts, err := kafka.CheckTopics(ctx, p.client, p.cfg.Topic)
	if err != nil {
		return err
	}
	p.partitions = int32(counts[p.cfg.Topic]) //nolint:gosec // a partition count

	// max.message.bytes is advisory: without DescribeConfigs rights the
	// broker's answer to an oversized produce still tells.
	if mm, err := kafka.MaxMessageBytes(ctx, p.client, p.cfg.Topic); err == nil {
		p.maxMessage = mm[p.cfg.Topic] // 0: unknown
	}
	return nil
}

// Partitions is the topic's partition count read by New.
func (p *Publisher) Partitions() int32 { return p.partitions }

// Assign maps camera ids to partitions: ids sorted in byte order, the i-th
// to partition i mod partitions. See the package documentation.
func Assign(ids []string, partitions int32) map[string]int32 {
	sorted := slices.Clone(ids)
	sort.Strings(sorted)
	sorted = slices.Compact(sorted)
	m := make(map[string]int32, len(sorted))
	for i, id := range sorted {
		m[id] = int32(i % int(max(partitions, 1)))
	}
	return m
}

// Run publishes until every camera is done (Count reached, end of input)
// or ctx ends, then flushes what is buffered (bounded by FlushTimeout;
// frames still unsent then are dropped as delivery_failed) and returns.
// It closes the sources. A cancelled ctx is a normal stop: Run returns
// nil. Call Run once.
func (p *Publisher) Run(ctx context.Context, cams []Camera) error {
	if len(cams) == 0 {
		return errors.New("no cameras to publish")
	}
	ids := make([]string, len(cams))
	seen := map[string]bool{}
	var errs []error
	for i, c := range cams {
		ids[i] = c.ID
		switch idErr := frame.CheckCamera(c.ID); {
		case idErr != nil:
			errs = append(errs, idErr)
		case seen[c.ID]:
			errs = append(errs, fmt.Errorf("camera id %q given twice", c.ID))
		case c.Source == nil:
			errs = append(errs, fmt.Errorf("camera %q: no source", c.ID))
		case c.FPS < 0 || c.FPS > 1000:
			errs = append(errs, fmt.Errorf("camera %q: fps %v: want more than 0 and at most 1000", c.ID, c.FPS))
		}
		seen[c.ID] = true
	}
	if err := errors.Join(errs...); err != nil {
		for _, c := range cams {
			if c.Source != nil {
				c.Source.Close()
			}
		}
		return err
	}
	p.camsMu.Lock()
	p.cams = slices.Clone(cams)
	p.byCam = make(map[string]*camCounters, len(cams))
	for _, c := range cams {
		p.byCam[c.ID] = &camCounters{}
	}
	p.camsMu.Unlock()
	mapping := Assign(ids, p.partitions)
	var desc []string
	for _, id := range slices.Sorted(maps.Keys(mapping)) {
		desc = append(desc, fmt.Sprintf("%s→%d", id, mapping[id]))
	}
	p.cfg.Log.Info("publishing", "cameras", len(cams), "partitions", p.partitions, "mapping", strings.Join(desc, " "))

	var wg sync.WaitGroup
	var failedMu sync.Mutex
	var failed []error // cameras whose source could not go on
	for i, c := range cams {
		if c.FPS == 0 {
			c.FPS = DefaultFPS
		}
		// Spread the cameras' ticks over a frame interval, so that their
		// frames are rendered and sent one after another rather than in
		// bursts of all cameras at once.
		phase := time.Duration(float64(time.Second) / c.FPS * float64(i) / float64(len(cams)))
		wg.Go(func() {
			if err := p.runCamera(ctx, c, mapping[c.ID], phase); err != nil {
				failedMu.Lock()
				failed = append(failed, fmt.Errorf("camera %s: %w", c.ID, err))
				failedMu.Unlock()
			}
		})
	}
	wg.Wait()
	if ctx.Err() != nil {
		p.cfg.Log.Info("stopping: cameras stopped, flushing the buffered frames", "frames", p.client.BufferedProduceRecords())
	}
	p.flush()
	// One camera failing is logged and the others go on; when every
	// camera has failed the run has, and the exit status says so.
	if len(failed) == len(cams) && ctx.Err() == nil {
		return fmt.Errorf("every camera stopped: %w", errors.Join(failed...))
	}
	return nil
}

// runCamera reads and produces one camera's frames at its pace, starting
// after phase. A ticker paces sources that are not self-paced: when the
// source or the loop is slower than the rate, ticks are dropped rather
// than queued, so the camera never builds a backlog.
func (p *Publisher) runCamera(ctx context.Context, c Camera, partition int32, phase time.Duration) error {
	defer c.Source.Close()
	cc := p.byCam[c.ID]
	defer cc.ended.Store(true)
	if phase > 0 {
		t := time.NewTimer(phase)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
	// A self-paced source (a live camera, a video file played at its
	// rate) blocks in Next until its next frame: no ticker, or its frames
	// would be delayed by up to a tick and decimated by the tick rate.
	var tickC <-chan time.Time
	if sp, ok := c.Source.(source.SelfPaced); !ok || !sp.SelfPaced() {
		tick := time.NewTicker(time.Duration(float64(time.Second) / c.FPS))
		defer tick.Stop()
		tickC = tick.C
	}
	key := []byte(c.ID)
	var seq int64
	for c.Count <= 0 || seq < c.Count {
		if tickC != nil {
			cc.reading.Store(time.Now().UnixNano())
		}
		f, err := c.Source.Next(ctx)
		cc.reading.Store(0)
		switch {
		case err == nil:
			p.produce(key, partition, seq, f)
			seq++
		case ctx.Err() != nil:
			return nil
		case errors.Is(err, source.ErrEndOfInput):
			p.cfg.Log.Info("camera: end of input", "camera", c.ID, "frames", seq)
			return nil
		case tickC == nil:
			// A self-paced source retries what can be retried itself
			// (Supervised); an error from it is final for this camera.
			p.st.sourceError.Add(1)
			cc.sourceError.Add(1)
			p.cfg.Log.Error("camera stopped: its source cannot continue", "camera", c.ID, "err", err)
			return err
		default:
			p.st.sourceError.Add(1)
			cc.sourceError.Add(1)
			p.warn("source:"+c.ID, "camera: cannot read a frame", "camera", c.ID, "err", err)
		}
		if c.Count > 0 && seq >= c.Count {
			return nil
		}
		if tickC == nil {
			if ctx.Err() != nil {
				return nil
			}
			continue
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tickC:
		}
	}
	return nil
}

func (p *Publisher) produce(key []byte, partition int32, seq int64, f source.Frame) {
	p.st.captured.Add(1)
	rec := &kgo.Record{
		Key:       key,
		Value:     f.JPEG,
		Timestamp: f.CapturedAt,
		Topic:     p.cfg.Topic,
		Partition: partition,
		Headers: frame.EncodeHeaders(frame.Meta{
			Seq: seq, CapturedAt: f.CapturedAt, ContentType: frame.ContentTypeJPEG, Width: f.Width, Height: f.Height,
		}),
	}
	size := len(key) + len(f.JPEG)
	for _, h := range rec.Headers {
		size += len(h.Key) + len(h.Value) + 10
	}
	if size > p.maxRecord {
		p.st.tooLarge.Add(1)
		p.cam(key).tooLarge.Add(1)
		p.warn("too_large", "frame too large for the topic: dropped (raise the topic's max.message.bytes and --batch-max-bytes)",
			"camera", string(key), "bytes", len(f.JPEG), "limit", p.maxRecord)
		return
	}
	p.st.produced.Add(1)
	// Not the run context: cancelling it must not cancel buffered frames,
	// which the final flush still delivers.
	p.client.TryProduce(context.Background(), rec, p.promise)
}

// promise counts the outcome of a frame. franz-go calls promises serially.
func (p *Publisher) promise(r *kgo.Record, err error) {
	cc := p.cam(r.Key)
	switch {
	case err == nil:
		p.st.acked.Add(1)
		p.st.bytes.Add(int64(len(r.Value)))
		cc.acked.Add(1)
	case errors.Is(err, kgo.ErrMaxBuffered):
		p.st.bufferFull.Add(1)
		cc.bufferFull.Add(1)
		p.warn("buffer_full", "producer buffer full: dropping frames (Kafka is slower than the cameras; see --max-buffered-bytes)",
			"buffered_bytes", p.client.BufferedProduceBytes())
	case errors.Is(err, kerr.MessageTooLarge):
		p.st.tooLarge.Add(1)
		cc.tooLarge.Add(1)
		p.warn("too_large", "frame too large: dropped (raise the topic's max.message.bytes and --batch-max-bytes)",
			"camera", string(r.Key), "bytes", len(r.Value), "err", err)
	default:
		p.st.deliveryFailed.Add(1)
		cc.deliveryFailed.Add(1)
		p.warn("delivery_failed", "frame not delivered: dropped", "camera", string(r.Key), "err", err)
	}
}

// flush waits for the buffered frames, at most FlushTimeout, then drops
// what is left so that Stats are final when Run returns.
func (p *Publisher) flush() {
	ctx, cancel := context.WithTimeout(context.Background(), p.cfg.FlushTimeout)
	defer cancel()
	if err := p.client.Flush(ctx); err != nil {
		n := p.client.BufferedProduceRecords()
		p.cfg.Log.Warn("flush did not finish: dropping the frames still buffered", "frames", n, "timeout", p.cfg.FlushTimeout, "err", err)
		actx, acancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer acancel()
		_ = p.client.AbortBufferedRecords(actx)
	}
}

// Close closes the producer; frames still buffered fail (delivery_failed).
func (p *Publisher) Close() { p.client.Close() }

// Stats is a snapshot of the counters. Every captured frame ends acked,
// dropped (BufferFull, TooLarge, DeliveryFailed) or in flight.
type Stats struct {
	// Captured counts frames read from the sources (each has a
	// sequence number).
	Captured int64
	// Produced counts frames handed to the producer: Captured minus
	// those found too large beforehand.
	Produced int64
	// Acked counts frames Kafka acknowledged, AckedBytes their JPEG bytes.
	Acked, AckedBytes int64
	// Dropped counts frames lost, by reason.
	Dropped Drops
	// BufferedBytes and BufferedRecords are in the producer now.
	BufferedBytes, BufferedRecords int64
}

// Drops are the dropped frames by reason.
type Drops struct {
	BufferFull     int64 // the producer's buffer was full
	DeliveryFailed int64 // not acknowledged within the delivery timeout, or failed
	TooLarge       int64 // over the batch or topic limit
	SourceError    int64 // reads that failed: no frame, no sequence number
}

// Total is the number of captured frames dropped (source errors excluded:
// they produced no frame).
func (d Drops) Total() int64 { return d.BufferFull + d.DeliveryFailed + d.TooLarge }

// InFlight is the number of captured frames not yet acked or dropped.
func (s Stats) InFlight() int64 { return s.Captured - s.Acked - s.Dropped.Total() }

// Stats returns a snapshot of the counters.
func (p *Publisher) Stats() Stats {
	// Outcomes are read before Captured, so InFlight never goes negative.
	s := Stats{
		Acked:           p.st.acked.Load(),
		AckedBytes:      p.st.bytes.Load(),
		Dropped:         p.st.drops(),
		BufferedBytes:   p.client.BufferedProduceBytes(),
		BufferedRecords: p.client.BufferedProduceRecords(),
	}
	s.Produced = p.st.produced.Load()
	s.Captured = p.st.captured.Load()
	return s
}

// SourceStatus returns the connection state of the cameras whose source
// reports one (video, network and webcam sources), by camera id.
func (p *Publisher) SourceStatus() map[string]source.Status {
	p.camsMu.Lock()
	defer p.camsMu.Unlock()
	m := map[string]source.Status{}
	for _, c := range p.cams {
		if r, ok := c.Source.(source.StatusReporter); ok {
			m[c.ID] = r.Status()
		}
	}
	return m
}

// warn logs a warning of a kind at most once a second; the repeats in
// between are counted (ratelog).
func (p *Publisher) warn(kind, msg string, args ...any) {
	v, ok := p.warnings.Load(kind)
	if !ok {
		v, _ = p.warnings.LoadOrStore(kind, ratelog.New(p.cfg.Log, time.Second, 1))
	}
	v.(*ratelog.Logger).Warn(msg, args...)
}
