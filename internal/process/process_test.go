package process

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/framecast/framecast/internal/analysis"
	"github.com/framecast/framecast/internal/frame"
	"github.com/framecast/framecast/internal/testkit"
)

// checkResults validates every result against the schema and checks that
// each camera's sequence numbers only grow, returning them by camera.
func checkResults(t *testing.T, recs []*kgo.Record) map[string][]frame.Result {
	t.Helper()
	by := map[string][]frame.Result{}
	for _, r := range recs {
		if err := frame.Validate(r.Value); err != nil {
			t.Fatalf("result does not match the schema: %v\n%s", err, r.Value)
		}
		var res frame.Result
		if err := json.Unmarshal(r.Value, &res); err != nil {
			t.Fatal(err)
		}
		if string(r.Key) != res.Camera {
			t.Errorf("result key %q, camera %q", r.Key, res.Camera)
		}
		if prev := by[res.Camera]; len(prev) > 0 && prev[len(prev)-1].Seq >= res.Seq {
			t.Errorf("camera %s: seq %d after %d (results out of order)", res.Camera, res.Seq, prev[len(prev)-1].Seq)
		}
		by[res.Camera] = append(by[res.Camera], res)
	}
	return by
}

func groupLag(t *testing.T, tc *testCluster, group string) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	lags, err := kadm.NewClient(tc.Client(t)).Lag(ctx, group)
	if err != nil {
		t.Fatal(err)
	}
	l := lags[group]
	if err := l.Error(); err != nil {
		t.Fatal(err)
	}
	return l.Lag.TotalByTopic()[topics.Frames].Lag
}

// TestEndToEnd sends frames of three cameras through a processor in each
// delivery mode: exactly one valid, ordered result per frame, faces found,
// offsets committed.
func TestEndToEnd(t *testing.T) {
	for _, mode := range []Delivery{AtLeastOnce, ExactlyOnce} {
		t.Run(string(mode), func(t *testing.T) {
			tc := newCluster(t, 6)
			o := tc.options(t)
			o.Delivery = mode
			o.Group = "e2e"
			p := start(t, o)
			testkit.Eventually(t, 30*time.Second, "the partitions to be assigned", func() bool { return p.Stats().Assigned == 6 })

			face, noface := images(t)
			const cameras, perCamera = 3, 8
			var recs []*kgo.Record
			for seq := range int64(perCamera) {
				for c := range cameras {
					img := face
					if seq%2 == 1 {
						img = noface
					}
					recs = append(recs, testkit.FrameRecord(fmt.Sprintf("cam-%d", c), int32(c*2), seq, time.Now(), img))
				}
			}
			tc.Produce(t, recs...)
			n := cameras * perCamera
			testkit.Eventually(t, 90*time.Second, "every frame to be delivered", func() bool { return p.Stats().Out() >= uint64(n) })
			if err := p.stop(); err != nil {
				t.Fatal(err)
			}
			s := p.Stats()
			if s.OK != uint64(n) || s.Consumed != uint64(n) || s.Commits == 0 || s.InFlight != 0 {
				t.Errorf("stats: %+v", s)
			}
			if s.LatencyP50 <= 0 || s.LatencyP99 < s.LatencyP50 {
				t.Errorf("latency percentiles p50 %v p99 %v", s.LatencyP50, s.LatencyP99)
			}

			results := tc.ReadTopic(t, topics.Results, n, kgo.FetchIsolationLevel(kgo.ReadCommitted()))
			dlq := tc.ReadTopic(t, topics.DLQ, 0)
			if len(results)+len(dlq) != n || len(dlq) != 0 {
				t.Fatalf("%d results and %d dead letters for %d frames", len(results), len(dlq), n)
			}
			by := checkResults(t, results)
			if len(by) != cameras {
				t.Fatalf("results for %d cameras, want %d", len(by), cameras)
			}
			for cam, rs := range by {
				if len(rs) != perCamera {
					t.Errorf("%s: %d results, want %d", cam, len(rs), perCamera)
				}
				for _, r := range rs {
					want, width := 4, 640
					if r.Seq%2 == 1 {
						want, width = 0, 120
					}
					if r.Status != frame.StatusOK || len(r.Faces) != want || r.Frame.Width != width || r.Frame.Topic != topics.Frames ||
						r.Frame.Partition == nil || r.Frame.Offset == nil || r.Worker == "" {
						t.Errorf("%s seq %d: status %s, %d faces (want %d), frame %+v", cam, r.Seq, r.Status, len(r.Faces), want, r.Frame)
					}
					if r.TimingsMS.Detect <= 0 || r.TimingsMS.Total < r.TimingsMS.Detect || r.LatencyMS <= 0 {
						t.Errorf("%s seq %d: timings %+v latency %v", cam, r.Seq, r.TimingsMS, r.LatencyMS)
					}
				}
			}
			if lag := groupLag(t, tc, o.Group); lag != 0 {
				t.Errorf("group lag %d after the drain: offsets not committed", lag)
			}
		})
	}
}

// hugeJPEG rewrites the frame's SOF header to declare 65535×65535 pixels.
func hugeJPEG(t *testing.T, data []byte) []byte {
	t.Helper()
	out := append([]byte(nil), data...)
	for i := 0; i+9 < len(out); i++ {
		if out[i] == 0xFF && (out[i+1] == 0xC0 || out[i+1] == 0xC1 || out[i+1] == 0xC2) {
			out[i+5], out[i+6], out[i+7], out[i+8] = 0xFF, 0xFF, 0xFF, 0xFF
			return out
		}
	}
	t.Fatal("no SOF marker in the test JPEG")
	return nil
}

// TestMalformedRecords: every kind of bad record goes to the DLQ with its
// reason and the original record, and the worker goes on with good frames.
// Bad records older than MaxAge, found in the topic when a processor
// (re)starts, still go to the DLQ: only a plausible frame is skipped as
// stale. A frame whose capture-time header is implausible is analysed with
// its record timestamp instead, and counted.
func TestMalformedRecords(t *testing.T) {
	for _, c := range []struct {
		name string
		age  time.Duration // of every record, header and record timestamp alike
	}{
		{"fresh", 0},
		{"older than MaxAge, after a restart", time.Hour},
	} {
		t.Run(c.name, func(t *testing.T) { testMalformedRecords(t, c.age) })
	}
}

func testMalformedRecords(t *testing.T, age time.Duration) {
	tc := newCluster(t, 3)
	o := tc.options(t)
	o.Concurrency = 1

	face, _ := images(t)
	now := time.Now().Add(-age)
	random := make([]byte, 4096)
	for i := range random {
		random[i] = byte(i*7919 + i>>3)
	}
	badHeader := testkit.FrameRecord("bad-cam", 0, 4, now, face)
	badHeader.Headers[0].Value = []byte("not-a-number")
	cases := []struct {
		rec    *kgo.Record
		reason string
	}{
		{testkit.FrameRecord("bad-cam", 0, 0, now, random), "not_image"},
		{testkit.FrameRecord("bad-cam", 0, 1, now, face[:len(face)*3/5]), "truncated"},
		{testkit.FrameRecord("bad-cam", 0, 2, now, hugeJPEG(t, face)), "too_large"},
		{testkit.FrameRecord("bad-cam", 0, 3, now, nil), ReasonEmpty},
		{badHeader, frame.ReasonBadHeader},
	}
	var recs []*kgo.Record
	for _, c := range cases {
		recs = append(recs, c.rec)
	}
	good := testkit.FrameRecord("bad-cam", 0, 5, now, face)
	// A camera clock in 2262: without bounds it would never be stale.
	future := testkit.FrameRecord("bad-cam", 0, 6, now, face)
	future.Headers[1].Value = strconv.AppendInt(nil, 1<<63-1, 10)
	recs = append(recs, good, future)
	var p *running
	if age == 0 {
		p = start(t, o)
		testkit.Eventually(t, 30*time.Second, "the partitions to be assigned", func() bool { return p.Stats().Assigned == 3 })
		tc.Produce(t, recs...)
	} else {
		tc.Produce(t, recs...) // a backlog, as a restarted processor finds it
		p = start(t, o)
	}
	testkit.Eventually(t, 60*time.Second, "all records to be delivered", func() bool { return p.Stats().Out() >= uint64(len(recs)) })

	dlq := tc.ReadTopic(t, topics.DLQ, len(cases))
	if len(dlq) != len(cases) {
		t.Fatalf("%d dead letters, want %d", len(dlq), len(cases))
	}
	for i, d := range dlq {
		c := cases[i]
		if got := header(d, frame.HeaderReason); got != c.reason {
			t.Errorf("dead letter %d: reason %q, want %q (error %q)", i, got, c.reason, header(d, frame.HeaderError))
		}
		if header(d, frame.HeaderError) == "" || header(d, HeaderSourceTopic) != topics.Frames ||
			header(d, HeaderSourcePartition) != "0" || header(d, HeaderSourceOffset) != strconv.Itoa(i) {
			t.Errorf("dead letter %d lacks its error or source headers: %v", i, d.Headers)
		}
		if string(d.Key) != "bad-cam" || string(d.Value) != string(c.rec.Value) || header(d, frame.HeaderSeq) != header(c.rec, frame.HeaderSeq) {
			t.Errorf("dead letter %d does not keep the original key, value and headers", i)
		}
	}
	results := tc.ReadTopic(t, topics.Results, 2)
	rs := checkResults(t, results)["bad-cam"]
	if len(results) != 2 || len(rs) != 2 || rs[0].Seq != 5 || rs[1].Seq != 6 {
		t.Fatalf("after the bad records: %d results %+v", len(results), rs)
	}
	wantStatus, wantFaces := frame.StatusOK, 4
	if age > 0 {
		wantStatus, wantFaces = frame.StatusSkipped, 0
	}
	for _, r := range rs {
		if r.Status != wantStatus || len(r.Faces) != wantFaces || r.Frame.Width != 640 {
			t.Errorf("seq %d: %s with %d faces, %d wide; want %s with %d, 640", r.Seq, r.Status, len(r.Faces), r.Frame.Width, wantStatus, wantFaces)
		}
	}
	if ts := future.Timestamp.Truncate(time.Millisecond); !rs[1].CapturedAt.Equal(ts) {
		t.Errorf("capture time of year 2262: result says %v, want the record timestamp %v", rs[1].CapturedAt, ts)
	}
	s := p.Stats()
	if s.DLQ["not_image"] != 1 || s.DLQ["truncated"] != 1 || s.DLQ["too_large"] != 1 || s.DLQ[frame.ReasonBadHeader] != 1 || s.DLQ[ReasonEmpty] != 1 ||
		s.OK+s.Skipped[ReasonStale] != 2 || s.BadCaptureTime != 1 {
		t.Errorf("stats: %+v", s)
	}
}

// TestStaleFrames: frames older than MaxAge are skipped, not analysed.
func TestStaleFrames(t *testing.T) {
	tc := newCluster(t, 3)
	o := tc.options(t)
	o.MaxAge = 0 // the default, 2 s
	p := start(t, o)
	face, _ := images(t)
	old := time.Now().Add(-10 * time.Second)
	tc.Produce(t, testkit.FrameRecord("old-cam", 1, 0, old, face), testkit.FrameRecord("old-cam", 1, 1, old, face), testkit.FrameRecord("old-cam", 1, 2, old, face))
	testkit.Eventually(t, 60*time.Second, "the frames to be delivered", func() bool { return p.Stats().Out() >= 3 })
	results := tc.ReadTopic(t, topics.Results, 3)
	rs := checkResults(t, results)["old-cam"]
	if len(results) != 3 || len(rs) != 3 {
		t.Fatalf("%d results", len(results))
	}
	for _, r := range rs {
		if r.Status != frame.StatusSkipped || r.Reason != ReasonStale || len(r.Faces) != 0 || r.LatencyMS < 10_000 || r.TimingsMS.Decode != 0 {
			t.Errorf("stale frame: %+v", r)
		}
	}
	if s := p.Stats(); s.Skipped[ReasonStale] != 3 {
		t.Errorf("stats: %+v", s)
	}
}

// TestHeaderlessRecord: a JPEG sent by another client without framecast
// headers is analysed, seq from the offset and capture time from the
// record timestamp.
func TestHeaderlessRecord(t *testing.T) {
	tc := newCluster(t, 3)
	face, _ := images(t)
	// Two records ahead of it so the offset is not 0.
	now := time.Now()
	tc.Produce(t, testkit.FrameRecord("other", 2, 0, now, face), testkit.FrameRecord("other", 2, 1, now, face))
	ts := time.Now().Truncate(time.Millisecond)
	tc.Produce(t, &kgo.Record{Topic: topics.Frames, Partition: 2, Key: []byte("kcat-cam"), Value: face, Timestamp: ts})
	p := start(t, tc.options(t))
	testkit.Eventually(t, 60*time.Second, "the frames to be delivered", func() bool { return p.Stats().Out() >= 3 })
	rs := checkResults(t, tc.ReadTopic(t, topics.Results, 3))["kcat-cam"]
	if len(rs) != 1 {
		t.Fatalf("%d results for kcat-cam", len(rs))
	}
	r := rs[0]
	if r.Seq != 2 || *r.Frame.Offset != 2 || !r.CapturedAt.Equal(ts) || r.Status != frame.StatusOK || len(r.Faces) != 4 {
		t.Errorf("header-less frame: seq %d offset %d captured %v (want %v) status %s faces %d", r.Seq, *r.Frame.Offset, r.CapturedAt, ts, r.Status, len(r.Faces))
	}
}

// TestTwoProcessorsShare: two members of one group split the partitions;
// when one stops, the other takes its partitions and finishes the rest.
func TestTwoProcessorsShare(t *testing.T) {
	tc := newCluster(t, 6)
	o := tc.options(t)
	o.Group, o.Concurrency = "pair", 1
	a, b := start(t, o), start(t, o)
	testkit.Eventually(t, 30*time.Second, "both members to own partitions", func() bool {
		sa, sb := a.Stats(), b.Stats()
		return sa.Assigned > 0 && sb.Assigned > 0 && sa.Assigned+sb.Assigned == 6
	})
	face, noface := images(t)
	batch := func(from int64) []*kgo.Record {
		var recs []*kgo.Record
		for seq := from; seq < from+4; seq++ {
			for c := range 6 {
				img := face
				if c%2 == 1 {
					img = noface
				}
				recs = append(recs, testkit.FrameRecord(fmt.Sprintf("cam-%d", c), int32(c), seq, time.Now(), img))
			}
		}
		return recs
	}
	tc.Produce(t, batch(0)...)
	testkit.Eventually(t, 90*time.Second, "the first frames", func() bool { return a.Stats().Out()+b.Stats().Out() >= 24 })
	if a.Stats().Out() == 0 || b.Stats().Out() == 0 {
		t.Fatalf("one member did all the work: %d and %d", a.Stats().Out(), b.Stats().Out())
	}
	if err := a.stop(); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 30*time.Second, "the survivor to own every partition", func() bool { return b.Stats().Assigned == 6 })
	outA := a.Stats().Out()
	tc.Produce(t, batch(4)...)
	testkit.Eventually(t, 90*time.Second, "the survivor to finish", func() bool { return outA+b.Stats().Out() >= 48 })
	if err := b.stop(); err != nil {
		t.Fatal(err)
	}
	results := tc.ReadTopic(t, topics.Results, 48)
	by := checkResults(t, results)
	if len(results) != 48 {
		t.Fatalf("%d results, want 48", len(results))
	}
	for cam, rs := range by {
		if len(rs) != 8 {
			t.Errorf("%s: %d results", cam, len(rs))
		}
	}
	if lag := groupLag(t, tc, o.Group); lag != 0 {
		t.Errorf("group lag %d", lag)
	}
}

// TestRebalanceWhileBusy: a member that joins while the first is busy
// takes half the partitions; the first finishes or drops its in-flight
// frames of them and commits exactly what it delivered, so every frame
// gets one result, in order, with no duplicates.
func TestRebalanceWhileBusy(t *testing.T) {
	tc := newCluster(t, 6)
	face, noface := images(t)
	const cameras, perCamera = 6, 10
	var recs []*kgo.Record
	for seq := range int64(perCamera) {
		for c := range cameras {
			img := face
			if (int(seq)+c)%2 == 1 {
				img = noface
			}
			recs = append(recs, testkit.FrameRecord(fmt.Sprintf("cam-%d", c), int32(c), seq, time.Now(), img))
		}
	}
	tc.Produce(t, recs...)
	o := tc.options(t)
	o.Group, o.Concurrency, o.MaxInFlight = "busy", 1, 8
	// Busy: 60 frames take 3 s, so the second member joins half-way.
	o.NewAnalyzer = func() (analysis.Analyzer, error) { return &analysis.Fake{Delay: 50 * time.Millisecond}, nil }
	a := start(t, o)
	testkit.Eventually(t, 60*time.Second, "the first member to be under way", func() bool { return a.Stats().Out() >= 5 })
	b := start(t, o)
	testkit.Eventually(t, 30*time.Second, "the second member to get partitions", func() bool { return b.Stats().Assigned > 0 })
	n := uint64(cameras * perCamera)
	testkit.Eventually(t, 120*time.Second, "every frame to be delivered", func() bool { return a.Stats().Out()+b.Stats().Out() >= n })
	if err := a.stop(); err != nil {
		t.Fatal(err)
	}
	if err := b.stop(); err != nil {
		t.Fatal(err)
	}
	sa, sb := a.Stats(), b.Stats()
	t.Logf("first member: %d delivered, %d dropped at the revoke; second: %d delivered", sa.Out(), sa.Dropped, sb.Out())
	if sb.Out() == 0 {
		t.Error("the second member delivered nothing")
	}
	results := tc.ReadTopic(t, topics.Results, int(n))
	if len(results) != int(n) {
		t.Fatalf("%d results for %d frames", len(results), n)
	}
	for cam, rs := range checkResults(t, results) {
		if len(rs) != perCamera {
			t.Errorf("%s: %d results", cam, len(rs))
		}
	}
	if lag := groupLag(t, tc, o.Group); lag != 0 {
		t.Errorf("group lag %d", lag)
	}
}

func TestLatencyRingAndReasons(t *testing.T) {
	var r latencyRing
	if p50, p99 := r.percentiles(); p50 != 0 || p99 != 0 {
		t.Error("empty ring has percentiles")
	}
	for i := 1; i <= 2*latencyWindow; i++ {
		r.add(time.Duration(i) * time.Millisecond)
	}
	// The window holds the last 1024 samples: 1025..2048 ms.
	if p50, p99 := r.percentiles(); p50 != 1536*time.Millisecond || p99 != 2038*time.Millisecond {
		t.Errorf("p50 %v p99 %v", p50, p99)
	}
	if got := formatReasons(map[string]uint64{"truncated": 2, "stale": 0, "bad_header": 1}); got != "bad_header=1 truncated=2" {
		t.Errorf("formatReasons = %q", got)
	}
	if got := formatReasons(nil); got != "0" {
		t.Errorf("formatReasons(nil) = %q", got)
	}
}

func TestParseDelivery(t *testing.T) {
	for in, want := range map[string]Delivery{"at-least-once": AtLeastOnce, "Exactly-Once": ExactlyOnce} {
		if got, err := ParseDelivery(in); err != nil || got != want {
			t.Errorf("%s: %v %v", in, got, err)
		}
	}
	if _, err := ParseDelivery("at-most-once"); err == nil {
		t.Error("at-most-once accepted")
	}
}

// TestConfigValidate: zero fields are the defaults (a delivery in any
// case is one); the errors name the flags of `framecast process`.
func TestConfigValidate(t *testing.T) {
	for _, ok := range []Config{{}, {Delivery: "Exactly-Once", Concurrency: 256, FetchMaxBytes: 64 << 20, MaxAge: -1, StallAlarm: -1}} {
		if err := ok.Validate(); err != nil {
			t.Errorf("%+v: %v", ok, err)
		}
	}
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{Concurrency: 257}, "--concurrency 257: want 1 to 256"},
		{Config{Concurrency: -1}, "--concurrency -1"},
		{Config{Delivery: "at-most-once"}, `--delivery "at-most-once": use at-least-once or exactly-once`},
		{Config{MaxInFlight: -1}, "--max-in-flight"},
		{Config{MaxInFlightBytes: -1}, "--max-in-flight-bytes"},
		{Config{FetchMaxBytes: 64<<20 + 1}, "--fetch-max-bytes 67108865: at most 64MiB"},
		{Config{DrainTimeout: -time.Second}, "--drain-timeout must be positive"},
	} {
		if err := tc.cfg.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want an error about %s", tc.cfg, err, tc.want)
		}
	}
}

func TestMissingTopic(t *testing.T) {
	tc := newCluster(t, 1)
	o := tc.options(t)
	o.Topics.Results = "nope"
	_, err := New(context.Background(), o)
	if err == nil || !strings.Contains(err.Error(), "nope") {
		t.Fatalf("err = %v", err)
	}
}
