package process

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/framecast/framecast/internal/analysis"
	"github.com/framecast/framecast/internal/frame"
	"github.com/framecast/framecast/internal/imagex"
	"github.com/framecast/framecast/internal/testkit"
)

func testWorker(t testing.TB) *worker {
	return testWorkerWith(t, imagex.Limits{MaxPixels: 4 << 20, MaxBytes: 8 << 20})
}

func testWorkerWith(t testing.TB, lim imagex.Limits) *worker {
	t.Helper()
	an, err := newAnalyzer()
	if err != nil {
		t.Fatal(err)
	}
	st := analysis.NewStage(an, lim)
	t.Cleanup(st.Close)
	return &worker{stage: st, results: "results", dlq: "dlq", maxAge: -1, name: "test-worker", maxDLQ: 1 << 20}
}

// TestHandle covers how one record is classified, without Kafka.
func TestHandle(t *testing.T) {
	face, noface := images(t)
	now := time.Now()
	rec := func(key string, value []byte, h ...kgo.RecordHeader) *kgo.Record {
		return &kgo.Record{Topic: "frames", Partition: 3, Offset: 17, Key: []byte(key), Value: value, Headers: h, Timestamp: now}
	}
	hdr := func(seq int64, at time.Time) []kgo.RecordHeader {
		return frame.EncodeHeaders(frame.Meta{Seq: seq, CapturedAt: at})
	}
	withHeaders := func(r *kgo.Record, h []kgo.RecordHeader) *kgo.Record { r.Headers = h; return r }
	// aged: captured, and produced, an hour ago.
	aged := func(r *kgo.Record) *kgo.Record {
		r.Timestamp = now.Add(-time.Hour)
		return withHeaders(r, hdr(20, r.Timestamp))
	}
	cases := []struct {
		name   string
		rec    *kgo.Record
		maxAge time.Duration
		maxDLQ int
		kind   outcomeKind
		reason string
		faces  int
	}{
		{"faces", withHeaders(rec("cam", face), hdr(5, now)), 0, 0, kindOK, "", 4},
		{"no faces", withHeaders(rec("cam", noface), hdr(6, now)), 0, 0, kindOK, "", 0},
		{"header-less, no key", rec("", face), 0, 0, kindOK, "", 4},
		{"stale", withHeaders(rec("cam", face), hdr(7, now.Add(-3*time.Second))), 2 * time.Second, 0, kindSkipped, ReasonStale, 0},
		{"empty", withHeaders(rec("cam", nil), hdr(8, now)), 0, 0, kindDLQ, ReasonEmpty, 0},
		{"empty and stale", withHeaders(rec("cam", nil), hdr(8, now.Add(-time.Hour))), 2 * time.Second, 0, kindDLQ, ReasonEmpty, 0},
		{"not an image", withHeaders(rec("cam", []byte("hello, world")), hdr(9, now)), 0, 0, kindDLQ, "not_image", 0},
		{"truncated", withHeaders(rec("cam", face[:len(face)/2]), hdr(10, now)), 0, 0, kindDLQ, "truncated", 0},
		{"too many pixels", withHeaders(rec("cam", hugeJPEG(t, face)), hdr(11, now)), 0, 0, kindDLQ, "too_large", 0},
		// Bad input is dead-lettered however old: only a plausible frame
		// may be skipped as stale.
		{"not an image and stale", aged(rec("cam", []byte("hello, world"))), 2 * time.Second, 0, kindDLQ, "not_image", 0},
		{"truncated and stale", aged(rec("cam", face[:len(face)/2])), 2 * time.Second, 0, kindDLQ, "truncated", 0},
		{"no end marker and stale", aged(rec("cam", face[:len(face)-2])), 2 * time.Second, 0, kindDLQ, "truncated", 0},
		{"too many pixels and stale", aged(rec("cam", hugeJPEG(t, face))), 2 * time.Second, 0, kindDLQ, "too_large", 0},
		{"header-less, not an image and stale", func() *kgo.Record { r := rec("", []byte("hello")); r.Timestamp = now.Add(-time.Hour); return r }(), 2 * time.Second, 0, kindDLQ, "not_image", 0},
		{"plausible and stale", aged(rec("cam", face)), 2 * time.Second, 0, kindSkipped, ReasonStale, 0},
		{"bad seq header", withHeaders(rec("cam", face), []kgo.RecordHeader{{Key: frame.HeaderSeq, Value: []byte("-1")}}), 0, 0, kindDLQ, frame.ReasonBadHeader, 0},
		{"key too long", rec(string(bytes.Repeat([]byte("k"), 200)), face), 0, 0, kindDLQ, frame.ReasonBadHeader, 0},
		{"timestamp out of range", &kgo.Record{Topic: "frames", Key: []byte("cam"), Value: face, Timestamp: time.UnixMilli(300_000_000_000_000)}, 0, 0, kindDLQ, frame.ReasonBadHeader, 0},
		{"too large for the DLQ", withHeaders(rec("cam", []byte("not an image but long")), hdr(12, now)), 0, 100, kindDLQ, "not_image", 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := testWorker(t)
			w.maxAge = c.maxAge
			if c.maxDLQ > 0 {
				w.maxDLQ = c.maxDLQ
			}
			out, oc := w.handle(c.rec, now)
			if oc.kind != c.kind || oc.reason != c.reason || oc.faces != c.faces {
				t.Fatalf("outcome %+v, want kind %d reason %q faces %d; record %s", oc, c.kind, c.reason, c.faces, out.Headers)
			}
			checkOutput(t, c.rec, out, oc)
			if c.maxDLQ > 0 && (out.Value != nil || header(out, HeaderValueDropped) != strconv.Itoa(len(c.rec.Value))) {
				t.Errorf("oversized dead letter kept its value")
			}
		})
	}
}

// checkOutput checks the invariants of every output record.
func checkOutput(t *testing.T, in, out *kgo.Record, oc outcome) {
	t.Helper()
	if out == nil {
		t.Fatal("no output record")
	}
	switch out.Topic {
	case "results":
		if err := frame.Validate(out.Value); err != nil {
			t.Fatalf("invalid result: %v\n%s", err, out.Value)
		}
		var r frame.Result
		if err := json.Unmarshal(out.Value, &r); err != nil {
			t.Fatal(err)
		}
		if string(out.Key) != r.Camera || *r.Frame.Offset != in.Offset || *r.Frame.Partition != in.Partition || r.Worker != "test-worker" {
			t.Errorf("result does not say where it came from: key %q %+v", out.Key, r)
		}
		if (oc.kind == kindOK) != (r.Status == frame.StatusOK) || len(r.Faces) != oc.faces {
			t.Errorf("result %s with %d faces for outcome %+v", r.Status, len(r.Faces), oc)
		}
	case "dlq":
		if oc.kind != kindDLQ || header(out, frame.HeaderReason) != oc.reason || oc.reason == "" || header(out, frame.HeaderError) == "" {
			t.Errorf("dead letter headers %v for outcome %+v", out.Headers, oc)
		}
		if !bytes.Equal(out.Key, in.Key) || (!bytes.Equal(out.Value, in.Value) && header(out, HeaderValueDropped) == "") {
			t.Error("dead letter does not keep the original key and value")
		}
		if header(out, HeaderSourceOffset) != strconv.FormatInt(in.Offset, 10) || header(out, HeaderSourcePartition) != strconv.Itoa(int(in.Partition)) {
			t.Errorf("dead letter source headers %v", out.Headers)
		}
	default:
		t.Fatalf("output to topic %q", out.Topic)
	}
}

// FuzzProcessRecord: no record, however malformed, makes the worker panic
// or produce anything but one valid result or one dead letter.
func FuzzProcessRecord(f *testing.F) {
	face, noface := images(f)
	ns := strconv.FormatInt(time.Now().UnixNano(), 10)
	f.Add([]byte("cam-1"), face, "1", ns, int64(0))
	f.Add([]byte("cam-1"), noface, "", "", time.Now().UnixMilli())
	f.Add([]byte("cam-1"), face[:len(face)/3], "2", ns, int64(0))
	f.Add([]byte(""), []byte{0xFF, 0xD8, 0xFF, 0xC0, 0, 17, 8, 0xFF, 0xFF, 0xFF, 0xFF, 3}, "3", ns, int64(-1))
	f.Add([]byte("x"), []byte{}, "x", "y", int64(1<<62))
	f.Add([]byte("\xff\xfe"), []byte("GIF89a"), "99999999999999999999", "-5", int64(42))
	w := testWorker(f)
	f.Fuzz(func(t *testing.T, key, value []byte, seq, captured string, ts int64) {
		r := &kgo.Record{Topic: "frames", Partition: 1, Offset: 7, Key: key, Value: value, Timestamp: time.UnixMilli(ts)}
		if seq != "" {
			r.Headers = append(r.Headers, kgo.RecordHeader{Key: frame.HeaderSeq, Value: []byte(seq)})
		}
		if captured != "" {
			r.Headers = append(r.Headers, kgo.RecordHeader{Key: frame.HeaderCapturedNS, Value: []byte(captured)})
		}
		out, oc := w.handle(r, time.Now())
		checkOutput(t, r, out, oc)
	})
}

// TestPanicBecomesDeadLetter: a bug that one frame triggers does not take
// the worker down.
func TestPanicBecomesDeadLetter(t *testing.T) {
	face, _ := images(t)
	st := analysis.NewStage(&analysis.Fake{Panic: "index out of range [7] with length 7"}, imagex.Limits{})
	defer st.Close()
	p := &Processor{log: slog.New(slog.DiscardHandler)}
	w := &worker{stage: st, results: "results", dlq: "dlq", name: "test-worker"}
	in := &kgo.Record{Topic: "frames", Key: []byte("cam"), Value: face, Timestamp: time.Now()}
	out, oc := p.handleSafely(w, &job{rec: in, fetched: time.Now()})
	if oc.kind != kindDLQ || oc.reason != ReasonAnalysis || !bytes.Contains([]byte(header(out, frame.HeaderError)), []byte("index out of range")) {
		t.Fatalf("outcome %+v, headers %v", oc, out.Headers)
	}
}

// TestCaptureTime: the framecast-captured-ns header is believed only
// within [record timestamp − maxCaptureBefore, + maxCaptureAfter]; outside
// it the record timestamp stands in and the frame is counted, so a camera
// clock at 1970 or in 2262 neither poisons the latency percentiles nor
// escapes staleness.
func TestCaptureTime(t *testing.T) {
	_, noface := images(t)
	ts := time.Now().Truncate(time.Millisecond)
	cases := []struct {
		name     string
		captured int64 // header, unix ns; 0 means no framecast headers at all
		ts       time.Time
		maxAge   time.Duration
		kind     outcomeKind
		want     time.Time // captured_at of the result
		badClock bool
	}{
		{"same as the record", ts.UnixNano(), ts, -1, kindOK, ts, false},
		{"within the record's millisecond", ts.UnixNano() + 999_999, ts, -1, kindOK, ts.Add(999_999), false},
		{"a second late", ts.Add(time.Second).UnixNano(), ts, -1, kindOK, ts.Add(time.Second), false},
		{"four minutes early", ts.Add(-4 * time.Minute).UnixNano(), ts, -1, kindOK, ts.Add(-4 * time.Minute), false},
		{"year 2262", 1<<63 - 1, ts, -1, kindOK, ts, true},
		{"1970", 1, ts, -1, kindOK, ts, true},
		{"an hour early", ts.Add(-time.Hour).UnixNano(), ts, -1, kindOK, ts, true},
		{"two seconds late", ts.Add(2 * time.Second).UnixNano(), ts, -1, kindOK, ts, true},
		{"2262 cannot dodge staleness", 1<<63 - 1, ts.Add(-time.Hour), 2 * time.Second, kindSkipped, ts.Add(-time.Hour), true},
		{"no framecast headers", 0, ts, -1, kindOK, ts, false},
		{"no record timestamp", ts.UnixNano(), time.UnixMilli(-1), -1, kindOK, ts, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := testWorker(t)
			w.maxAge = c.maxAge
			in := &kgo.Record{Topic: "frames", Key: []byte("cam"), Value: noface, Timestamp: c.ts}
			if c.captured != 0 {
				in.Headers = []kgo.RecordHeader{
					{Key: frame.HeaderSeq, Value: []byte("1")},
					{Key: frame.HeaderCapturedNS, Value: strconv.AppendInt(nil, c.captured, 10)},
				}
			}
			out, oc := w.handle(in, time.Now())
			checkOutput(t, in, out, oc)
			if oc.kind != c.kind || oc.badCaptureTime != c.badClock {
				t.Fatalf("outcome %+v, want kind %d, bad capture time %v", oc, c.kind, c.badClock)
			}
			var r frame.Result
			if err := json.Unmarshal(out.Value, &r); err != nil {
				t.Fatal(err)
			}
			if !r.CapturedAt.Equal(c.want) {
				t.Errorf("captured_at %v, want %v", r.CapturedAt, c.want)
			}
			cnt := newCounters()
			cnt.delivered(oc, time.Now())
			s := cnt.snapshot(0)
			if want := map[bool]uint64{true: 1}[c.badClock]; s.BadCaptureTime != want {
				t.Errorf("Stats.BadCaptureTime = %d, want %d", s.BadCaptureTime, want)
			}
			if s.LatencyP99 > 5*time.Minute {
				t.Errorf("p99 latency %v from one frame", s.LatencyP99)
			}
		})
	}
}

// TestHugeFrameNotRetained: a 6000×6000 frame (108 MB of pixels, within the
// default 40 MP limit) is analysed, and afterwards its pixel buffer is
// neither live (kept by the worker for the rest of the run: with two
// workers RSS went 210 → 427 MB and stayed) nor held by the runtime as
// free pages it does not give back to the OS.
func TestHugeFrameNotRetained(t *testing.T) {
	huge := testkit.FlatJPEG(6000, 6000)
	w := testWorkerWith(t, imagex.Limits{}) // the defaults, as in production
	// live is the heap after a collection; held what the runtime holds
	// from the OS, in use or not (about the RSS of the Go heap).
	mem := func() (live, held int64) {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return int64(ms.HeapAlloc), int64(ms.HeapSys - ms.HeapReleased)
	}
	live0, held0 := mem()
	in := &kgo.Record{Topic: "frames", Key: []byte("cam"), Value: huge, Timestamp: time.Now()}
	out, oc := w.handle(in, time.Now())
	checkOutput(t, in, out, oc)
	if oc.kind != kindOK {
		t.Fatalf("outcome %+v: %s", oc, header(out, frame.HeaderError))
	}
	live1, held1 := mem()
	t.Logf("after a 6000×6000 frame: live heap %d → %d MB, held from the OS %d → %d MB", live0>>20, live1>>20, held0>>20, held1>>20)
	if live1-live0 > 16<<20 {
		t.Errorf("the worker keeps %d MB after a 6000×6000 frame", (live1-live0)>>20)
	}
	if held1-held0 > 64<<20 {
		t.Errorf("the runtime holds %d MB more from the OS after a 6000×6000 frame", (held1-held0)>>20)
	}
	runtime.KeepAlive(w)
}
