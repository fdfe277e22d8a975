package view

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/framecast/framecast/internal/frame"
	"github.com/framecast/framecast/internal/imagex"
	"github.com/framecast/framecast/internal/kafka"
	"github.com/framecast/framecast/internal/ratelog"
)

// reader consumes one topic's partitions directly, without a consumer
// group (kafka.DirectReader), from the newest offset: the dashboard never
// takes partitions from the processors, and shows what happens now rather
// than replaying the topic.
type reader struct {
	name, topic string
	rd          *kafka.DirectReader
	cl          *kgo.Client // rd's
	log         *slog.Logger
	handle      func(*kgo.Record)
	ready       atomic.Bool
	warnLog     *ratelog.Logger // warn's, one record per 10 s
	panics      atomic.Int64    // records whose handling panicked
	panicLog    *ratelog.Logger // the panics', one record per 10 s

	committed  bool          // reads read_committed: lag counts up to the last stable offset
	stallAlarm time.Duration // see stall.go
	alarms     atomic.Int64  // stall alarms logged

	mu    sync.Mutex // guards parts
	parts map[int32]*partState
	// handling is when the record being handled began (unix ns), 0
	// between records: Live's view of the reader's loop.
	handling atomic.Int64
}

// newReader creates a reader of topic; committed reads it read_committed,
// so that results of aborted exactly-once transactions never show.
func newReader(name, topic string, clientOpts []kgo.Opt, log *slog.Logger, stallAlarm time.Duration, committed bool, handle func(*kgo.Record)) (*reader, error) {
	rd, err := kafka.NewDirectReader(clientOpts, kafka.ReaderConfig{
		Topics:        []string{topic},
		ReadCommitted: committed,
		// No Log: fetch errors are the stall alarm's to report (stall.go).
		Opts: []kgo.Opt{
			// Control records (transaction markers) move the offset
			// read on, so that a partition read to its end shows no
			// lag (stall.go); handleRecord skips them.
			kgo.KeepControlRecords(),
			// Retryable fetch errors reach the loop too: the stall
			// alarm names them.
			kgo.KeepRetryableFetchErrors(),
			// A frame larger than this still comes (Kafka always
			// returns the first batch); it only bounds what one fetch
			// buffers.
			kgo.FetchMaxPartitionBytes(4 << 20),
			kgo.MetadataMinAge(time.Second),
		},
	})
	if err != nil {
		return nil, err
	}
	r := &reader{
		name: name, topic: topic, rd: rd, cl: rd.Client(), log: log.With("reader", name, "topic", topic), handle: handle,
		committed: committed, stallAlarm: stallAlarm, parts: map[int32]*partState{},
	}
	r.warnLog, r.panicLog = ratelog.New(r.log, 10*time.Second, 1), ratelog.New(r.log, 10*time.Second, 1)
	return r, nil
}

// run waits for the topic, then hands every record to handle until ctx
// ends, and watches the partitions for stalls (stall.go).
func (r *reader) run(ctx context.Context) {
	if !r.waitTopic(ctx) {
		return
	}
	r.ready.Store(true)
	r.log.Info("reading from the newest offset, without a consumer group")
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() { r.watchLag(ctx) })
	_ = r.rd.Run(ctx, func(fs kgo.Fetches) error {
		now := time.Now()
		fs.EachPartition(func(p kgo.FetchTopicPartition) { r.notePartition(p, now) })
		fs.EachRecord(r.handleRecord)
		return nil
	})
}

// handleRecord hands one record to handle. A panic there (a record nobody
// foresaw, or a bug) costs that record only: it is recovered, counted and
// logged at most every 10 s with its stack, and the dashboard goes on
// with the next record.
func (r *reader) handleRecord(rec *kgo.Record) {
	if rec.Attrs.IsControl() {
		return // a transaction marker, kept only for its offset
	}
	r.handling.Store(time.Now().UnixNano())
	defer func() {
		r.handling.Store(0)
		v := recover()
		if v == nil {
			return
		}
		n := r.panics.Add(1)
		r.panicLog.Error("handling a record panicked; the record is skipped (logged at most every 10 s)",
			"partition", rec.Partition, "offset", rec.Offset, "panic", fmt.Sprint(v), "panics", n, "stack", string(debug.Stack()))
	}()
	r.handle(rec)
}

// waitTopic polls the topic's metadata until it exists: the dashboard may
// start before the broker or before the topics are created. /readyz is
// 503 meanwhile.
func (r *reader) waitTopic(ctx context.Context) bool {
	for {
		err := r.topicExists(ctx)
		if err == nil {
			return true
		}
		r.warn("waiting for the topic", "err", err)
		select {
		case <-ctx.Done():
			return false
		case <-time.After(time.Second):
		}
	}
}

func (r *reader) topicExists(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_, err := r.rd.CheckTopics(ctx)
	return err
}

// warn logs at most every 10 s.
func (r *reader) warn(msg string, args ...any) { r.warnLog.Warn(msg, args...) }

// onFrame handles a frames-topic record. Records that are not frames, and
// frames with a negative sequence number, are counted as bad records.
func (s *Server) onFrame(rec *kgo.Record) {
	m, err := frame.DecodeMeta(rec)
	if err != nil || m.Seq < 0 || !frame.ValidCamera(m.Camera) {
		s.badRecords.Add(1)
		return
	}
	if m.Width == 0 || m.Height == 0 {
		// Frames from other clients (kcat) say nothing of their size;
		// the JPEG header does.
		if _, w, h, err := imagex.Info(rec.Value); err == nil {
			m.Width, m.Height = w, h
		}
	}
	f := s.store.addFrameFrom(m, origin{part: rec.Partition, ownSeq: hasHeader(rec, frame.HeaderSeq)}, rec.Value, time.Now())
	if f == nil {
		return
	}
	s.hub.frame(f)
}

// onResult handles a results-topic record. Records that are not results,
// results with a negative sequence number and results whose camera id
// would not be a valid frame key are counted as bad records.
func (s *Server) onResult(rec *kgo.Record) {
	var r frame.Result
	if err := json.Unmarshal(rec.Value, &r); err != nil || r.Schema != frame.Schema || r.Seq < 0 || !frame.ValidCamera(r.Camera) {
		s.badRecords.Add(1)
		return
	}
	e := s.store.addResultFrom(&r, rec.Partition, time.Now())
	if e == nil {
		return
	}
	s.hub.result(e.msg)
}

// hasHeader reports whether a record carries a header.
func hasHeader(rec *kgo.Record, key string) bool {
	return slices.ContainsFunc(rec.Headers, func(h kgo.RecordHeader) bool { return h.Key == key })
}
