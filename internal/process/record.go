package process

import (
	"bytes"
	"errors"
	"fmt"
	"runtime/debug"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/framecast/framecast/internal/analysis"
	"github.com/framecast/framecast/internal/frame"
	"github.com/framecast/framecast/internal/imagex"
)

// Headers added to dead-letter records besides frame.HeaderReason and
// frame.HeaderError: where the frame was, so it can be found and replayed.
const (
	HeaderSourceTopic     = "framecast-source-topic"
	HeaderSourcePartition = "framecast-source-partition"
	HeaderSourceOffset    = "framecast-source-offset"
	// HeaderValueDropped is set, to the original size in bytes, when the
	// frame was too large for the dead-letter topic and only its key and
	// headers were kept.
	HeaderValueDropped = "framecast-value-dropped"
)

// Reasons set by the processor itself; decoding failures use
// imagex.Reason's tokens and malformed headers frame.ReasonBadHeader.
const (
	// ReasonStale is the reason of skipped results: the frame was older
	// than MaxAge when a worker reached it.
	ReasonStale = "stale"
	// ReasonEmpty dead-letters records without a value.
	ReasonEmpty = "empty"
	// ReasonAnalysis dead-letters frames the vision engine failed on.
	ReasonAnalysis = "analysis_failed"
)

// maxErrorHeader bounds the error text copied into a dead-letter header.
const maxErrorHeader = 1024

type outcomeKind uint8

const (
	kindOK outcomeKind = iota + 1
	kindSkipped
	kindDLQ
)

// outcome is what became of one frame record, for the counters.
type outcome struct {
	kind     outcomeKind
	reason   string
	faces    int
	captured time.Time
	// badCaptureTime: the capture-time header was outside the window
	// around the record timestamp, which stood in for it.
	badCaptureTime bool
	// timings and emotions (one per face) of an ok result, for the
	// Observer and the faces by emotion.
	timings  frame.Timings
	emotions []string
	analysis string // res.Analysis
	// res is an ok result whose faces still need their track ids (see
	// worker.idsLater); the emitter assigns them and encodes it.
	res *frame.Result
}

// worker turns frame records into result or dead-letter records. It owns
// an analysis stage, so it is used by one goroutine.
type worker struct {
	stage   *analysis.Stage
	results string // topic names
	dlq     string
	maxAge  time.Duration
	name    string // the result's "worker"
	// maxDLQ bounds a dead-letter record's size (the topic's
	// max.message.bytes less room for the batch framing).
	maxDLQ int
	// busySince is when the worker took its current frame (Unix ns; 0:
	// idle), for Processor.Live.
	busySince atomic.Int64
	// camera, while set, gives the state of the frame's camera: the
	// worker is the only one on the frame's partition (Processor.serial),
	// so it may follow faces from the camera's earlier frames. Without
	// it, frames are analysed in full and, with idsLater, the result is
	// left unencoded for the partition's emitter, which sees frames in
	// order, to give the faces their track ids.
	camera   func(camera string) *analysis.Camera
	idsLater bool
}

// The window around a record's timestamp in which its framecast-captured-ns
// header is believed. Outside it the capture time is taken from the record
// timestamp instead, and counted (Stats.BadCaptureTime): a camera clock at
// 1970 or in 2262 would otherwise put a frame's latency at 56 years or
// zero, poison the latency percentiles and decide staleness.
//
// Capture precedes production by the capture-to-produce path (encoding,
// the publisher's buffer, a producer's retries); framecast's publisher
// sets the record timestamp to the capture time, so for its own frames the
// two are equal. Five minutes covers another producer's backlog after a
// reconnect, and any frame that much older than its record is stale under
// every sensible MaxAge either way. Capture after the record timestamp can
// only be clock skew between the capturing and producing hosts (or the
// broker's, for LogAppendTime topics) plus the timestamp's millisecond
// rounding: one second is generous for NTP-synchronised hosts.
const (
	maxCaptureBefore = 5 * time.Minute
	maxCaptureAfter  = time.Second
)

// plausibleCapture bounds meta's capture time by the record timestamp ts,
// replacing it with ts when outside the window. It reports whether it did.
// A record without a usable timestamp (≤ 0: none, or the epoch; or past
// what RFC 3339 can write) leaves nothing to compare with, so the header
// stands.
func plausibleCapture(meta *frame.Meta, ts time.Time) bool {
	if meta.Fallback || ts.UnixMilli() <= 0 || ts.Year() > 9999 {
		return false
	}
	d := meta.CapturedAt.Sub(ts)
	if d >= -maxCaptureBefore && d <= maxCaptureAfter {
		return false
	}
	meta.CapturedAt = ts
	return true
}

// handle processes one frame record. It never fails: every record becomes
// exactly one record to produce, a result (ok or skipped) or a dead letter.
func (w *worker) handle(rec *kgo.Record, fetched time.Time) (*kgo.Record, outcome) {
	meta, err := frame.DecodeMeta(rec)
	if err != nil {
		return w.deadLetter(rec, frame.ReasonBadHeader, err)
	}
	badClock := plausibleCapture(&meta, rec.Timestamp)
	out, o := w.handleFrame(rec, meta, fetched)
	o.badCaptureTime = badClock
	return out, o
}

func (w *worker) handleFrame(rec *kgo.Record, meta frame.Meta, fetched time.Time) (*kgo.Record, outcome) {
	if len(rec.Value) == 0 {
		// Checked before staleness: a record without an image can never
		// be analysed, however fresh, so it belongs in the DLQ.
		return w.deadLetter(rec, ReasonEmpty, imagex.ErrEmpty)
	}
	if y := meta.CapturedAt.Year(); y < 1970 || y > 9999 {
		// JSON (RFC 3339) cannot carry it, and no camera took it.
		return w.deadLetter(rec, frame.ReasonBadHeader, fmt.Errorf("%w: capture time %d ns (from %s) is not a plausible date", frame.ErrBadHeader, meta.CapturedAt.UnixNano(), captureSource(meta)))
	}
	// Also before staleness, for the same reason: what the header alone
	// shows to be bad (not an image, over the limits, cut short) goes to
	// the DLQ however old, so only a plausible frame is ever skipped as
	// stale. These checks cost microseconds; the decode they spare an old
	// frame costs milliseconds.
	width, height, err := w.stage.Check(rec.Value)
	if err != nil {
		return w.deadLetter(rec, imagex.Reason(err), err)
	}
	part, off := rec.Partition, rec.Offset
	res := analysis.Begin(analysis.Input{
		Camera: meta.Camera, Seq: meta.Seq, CapturedAt: meta.CapturedAt, Received: fetched,
		// The image's own size, not what the producer's headers say.
		Frame:  frame.FrameInfo{Width: width, Height: height, Topic: rec.Topic, Partition: &part, Offset: &off},
		Worker: w.name,
	})
	if w.maxAge > 0 && time.Since(meta.CapturedAt) > w.maxAge {
		res.Status, res.Reason = frame.StatusSkipped, ReasonStale
		return w.result(rec, &res, fetched, outcome{kind: kindSkipped, reason: ReasonStale, captured: meta.CapturedAt})
	}
	if int64(width)*int64(height)*3 > imagex.RetainBytes {
		// A frame this large (6000×6000 is 108 MB of pixels) gets a buffer
		// of its own, dropped by the Trim below. Dropping is not enough:
		// the runtime keeps the freed pages, and the heap goal such frames
		// raised keeps its scavenger from returning them (measured: RSS
		// stayed at 417 MB for 30 s with 3 MB live). Returning them now
		// costs a collection of a small heap, a few ms next to the 100 ms
		// decode of such a frame, and keeps a burst of them from piling up
		// garbage between collections.
		defer debug.FreeOSMemory()
	}
	// The pixel buffer of a frame over imagex.RetainBytes must not stay
	// with the worker once analysed or rejected.
	defer w.stage.Trim()
	var cam *analysis.Camera
	if w.camera != nil {
		cam = w.camera(meta.Camera)
	}
	if err := w.stage.AnalyzeCamera(rec.Value, &res, cam, meta.CapturedAt); err != nil {
		if errors.Is(err, analysis.ErrAnalysis) {
			return w.deadLetter(rec, ReasonAnalysis, err)
		}
		return w.deadLetter(rec, imagex.Reason(err), err)
	}
	return w.result(rec, &res, fetched, outcome{kind: kindOK, faces: len(res.Faces), captured: meta.CapturedAt})
}

func captureSource(m frame.Meta) string {
	if m.Fallback {
		return "the record timestamp"
	}
	return frame.HeaderCapturedNS
}

// result stamps the processing time and encodes the result record.
func (w *worker) result(rec *kgo.Record, res *frame.Result, fetched time.Time, o outcome) (*kgo.Record, outcome) {
	done := analysis.Finish(res, fetched)
	if o.kind == kindOK {
		o.timings, o.analysis = res.TimingsMS, res.Analysis
		for i := range res.Faces {
			o.emotions = append(o.emotions, res.Faces[i].Emotion)
		}
	}
	if o.kind == kindOK && w.idsLater {
		o.res = res
		return nil, o
	}
	return w.encode(rec, res, done, o)
}

// encode makes the result record of res.
func (w *worker) encode(rec *kgo.Record, res *frame.Result, done time.Time, o outcome) (*kgo.Record, outcome) {
	b, err := frame.Marshal(res)
	if err != nil {
		return w.deadLetter(rec, ReasonAnalysis, fmt.Errorf("encoding the result: %w", err))
	}
	return &kgo.Record{
		Topic:     w.results,
		Key:       []byte(res.Camera),
		Value:     bytes.TrimSuffix(b, []byte("\n")),
		Headers:   []kgo.RecordHeader{{Key: frame.HeaderContentType, Value: []byte("application/json")}},
		Timestamp: done,
	}, o
}

// deadLetter keeps the frame as it came (key, value, headers, timestamp)
// and says why and where from in headers.
func (w *worker) deadLetter(rec *kgo.Record, reason string, err error) (*kgo.Record, outcome) {
	if reason == "" {
		reason = "error"
	}
	msg := err.Error()
	if len(msg) > maxErrorHeader {
		msg = msg[:maxErrorHeader]
	}
	h := make([]kgo.RecordHeader, 0, len(rec.Headers)+6)
	size := len(rec.Key) + len(rec.Value)
	for _, x := range rec.Headers {
		switch x.Key {
		case frame.HeaderReason, frame.HeaderError, HeaderSourceTopic, HeaderSourcePartition, HeaderSourceOffset, HeaderValueDropped:
			continue // a replayed dead letter gets fresh ones
		}
		h = append(h, x)
		size += len(x.Key) + len(x.Value)
	}
	h = append(h,
		kgo.RecordHeader{Key: frame.HeaderReason, Value: []byte(reason)},
		kgo.RecordHeader{Key: frame.HeaderError, Value: []byte(msg)},
		kgo.RecordHeader{Key: HeaderSourceTopic, Value: []byte(rec.Topic)},
		kgo.RecordHeader{Key: HeaderSourcePartition, Value: strconv.AppendInt(nil, int64(rec.Partition), 10)},
		kgo.RecordHeader{Key: HeaderSourceOffset, Value: strconv.AppendInt(nil, rec.Offset, 10)},
	)
	value := rec.Value
	if w.maxDLQ > 0 && size+len(msg)+256 > w.maxDLQ {
		// The frames topic may allow larger records than the DLQ: keep
		// the evidence that fits rather than fail and stall the partition.
		h = append(h, kgo.RecordHeader{Key: HeaderValueDropped, Value: strconv.AppendInt(nil, int64(len(value)), 10)})
		value = nil
	}
	return &kgo.Record{
		Topic: w.dlq, Key: rec.Key, Value: value, Headers: h, Timestamp: rec.Timestamp,
	}, outcome{kind: kindDLQ, reason: reason}
}
