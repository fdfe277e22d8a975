package view

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/framecast/framecast/internal/frame"
	"github.com/framecast/framecast/internal/kafka"
)

// TestViewStoreJoinAndStats: results join the frames they belong to
// (annotated streams show the newest frame played with its own result,
// however late), sequence gaps count as drops, duplicates are ignored, a
// sequence that goes back (publisher restart) starts over, and the
// statistics add up.
func TestViewStoreJoinAndStats(t *testing.T) {
	s := newStore(8, time.Minute, 30*time.Second, 10, DefaultMaxFrameBytes)
	t0 := time.Unix(1_795_000_000, 0)
	add := func(seq int64, at time.Time) *frameEntry {
		return s.addFrame(frame.Meta{Camera: "c", Seq: seq, CapturedAt: at, Width: 32, Height: 24}, []byte{0xff, 0xd8}, at)
	}
	result := func(seq int64, at time.Time, now time.Time) {
		r := fakeResult("c", seq, at, 32, 24)
		r.LatencyMS = 20
		s.addResult(&r, now)
	}
	for seq := range int64(5) {
		add(seq, t0.Add(time.Duration(seq)*100*time.Millisecond))
		if seq == 0 {
			result(0, t0, t0.Add(10*time.Millisecond)) // results flow: frames wait for theirs
		}
	}
	if f := add(4, t0.Add(400*time.Millisecond)); f != nil {
		t.Error("a duplicate frame was stored")
	}
	// A result for frame 3 arrives after frame 4: annotated streams show
	// frame 3 with its own boxes (1 and 2 have none coming).
	result(3, t0.Add(300*time.Millisecond), t0.Add(450*time.Millisecond))
	f, r, ok := s.pick("c", true)
	if !ok || f.seq != 3 || r == nil || r.seq != 3 {
		t.Fatalf("annotated pick: frame %v result %v", f, r)
	}
	if f, r, _ := s.pick("c", false); f.seq != 4 || r != nil {
		t.Errorf("raw pick: frame %d, result %v", f.seq, r)
	}
	// Frames 5, 6 lost upstream, 7 arrives 1.5 s after frame 3: frame 3
	// stays on screen with its boxes while 4 and 7 wait for theirs.
	add(7, t0.Add(1800*time.Millisecond))
	if f, r, _ := s.pick("c", true); f.seq != 3 || r == nil || r.seq != 3 {
		t.Errorf("while 4 and 7 wait: frame %d with result %v, want 3 with its own", f.seq, r)
	}
	m := s.snapshot(t0.Add(2 * time.Second))
	cs := m.Cams["c"]
	if cs == nil || cs.Gaps != 2 || cs.Frames != 6 || cs.Results != 2 || cs.Seq != 7 || cs.Faces != 1 || cs.DelayMS != 150 {
		t.Errorf("stats %+v: want 2 gaps, 6 frames, 2 results, seq 7, the face of frame 3 on screen 150 ms behind", cs)
	}
	if cs.P50 != 20 || cs.Emotions[emotionIndex(frame.Labels[3])] != 1 {
		t.Errorf("latency p50 %v, emotions %v", cs.P50, cs.Emotions)
	}
	// The publisher restarted: its sequence starts at 0 again.
	add(0, t0.Add(3*time.Second))
	if f, _, _ := s.pick("c", false); f.seq != 0 {
		t.Errorf("after a restart the newest frame is %d", f.seq)
	}
	if _, _, ok := s.pick("unknown", false); ok {
		t.Error("an unknown camera was found")
	}
	// Cameras beyond the limit evict the least recently seen: never more
	// than the limit.
	for i := range 20 {
		s.addFrame(frame.Meta{Camera: camName(i), Seq: 0, CapturedAt: t0}, []byte{1}, t0)
	}
	if n := len(s.cameraIDs()); n != 10 {
		t.Errorf("%d cameras tracked, limit 10", n)
	}
	if got := percentile([]float64{5, 1, 4, 2, 3}, 0.5); got != 3 {
		t.Errorf("median %v", got)
	}
}

// TestViewDropsOwnSequenceOnly: header-less cameras sharing a partition
// have the offset as their sequence number; the other camera's offsets are
// not their drops. Gaps in a camera's own sequence header still count.
func TestViewDropsOwnSequenceOnly(t *testing.T) {
	img := []byte{0xff, 0xd8}
	bare := func(camera string, offset int64) *kgo.Record {
		return &kgo.Record{Topic: kafka.DefaultFramesTopic, Key: []byte(camera), Value: img, Timestamp: time.Now(), Offset: offset}
	}
	for _, tc := range []struct {
		name string
		recs []*kgo.Record
		gaps map[string]int64
	}{
		{"header-less, interleaved", []*kgo.Record{bare("a", 0), bare("b", 1), bare("a", 2), bare("b", 3), bare("a", 7)}, map[string]int64{"a": 0, "b": 0}},
		{"own sequence headers", []*kgo.Record{frameRecord("a", 0, img, 2, 2), frameRecord("a", 1, img, 2, 2), frameRecord("a", 4, img, 2, 2)}, map[string]int64{"a": 2}},
		{"headers lost midway", []*kgo.Record{frameRecord("a", 0, img, 2, 2), bare("a", 9), frameRecord("a", 12, img, 2, 2), frameRecord("a", 14, img, 2, 2)}, map[string]int64{"a": 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := offline(t, Config{})
			for _, r := range tc.recs {
				s.onFrame(r)
			}
			m := s.store.snapshot(time.Now())
			for id, want := range tc.gaps {
				if got := m.Cams[id].Gaps; got != want {
					t.Errorf("%s: %d drops counted, want %d", id, got, want)
				}
			}
		})
	}
}
