package frame

import (
	"strings"
	"testing"
	"time"
)

func valid() *Result {
	p, o := int32(3), int64(42)
	return &Result{
		Schema: Schema, Camera: "cam-1", Seq: 42,
		CapturedAt: time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.UTC), ProcessedAt: time.Date(2026, 1, 2, 3, 4, 5, 200000000, time.UTC),
		LatencyMS: 76.5, Status: StatusOK,
		Frame: FrameInfo{Width: 640, Height: 480, Topic: "framecast.frames", Partition: &p, Offset: &o},
		Faces: []Face{{
			Box: Box{X: 10, Y: 20, W: 80, H: 80}, Score: 0.97, Emotion: "happy",
			Emotions: map[string]float64{"angry": 0.01, "disgust": 0, "fear": 0.01, "happy": 0.95, "sad": 0.01, "surprise": 0.01, "neutral": 0.01},
		}},
		TimingsMS: Timings{Queue: 1, Decode: 2.1, Detect: 4.3, Classify: 1.5, Total: 9},
		Worker:    "host-1234",
	}
}

func TestSchemaAcceptsValid(t *testing.T) {
	b, err := Marshal(valid())
	if err != nil {
		t.Fatal(err)
	}
	if err := Validate(b); err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	// The optional fields of tracking (added to v1): a result with them
	// validates, as one without them (above) does.
	tracked := valid()
	tracked.Analysis, tracked.Faces[0].TrackID, tracked.Faces[0].Source = "tracked", 42001, "tracked"
	b, _ = Marshal(tracked)
	if err := Validate(b); err != nil || !strings.Contains(string(b), `"track_id":42001`) {
		t.Fatalf("tracked: %v\n%s", err, b)
	}
	skipped := valid()
	skipped.Status, skipped.Reason, skipped.Faces = StatusSkipped, "stale", []Face{}
	b, _ = Marshal(skipped)
	if err := Validate(b); err != nil {
		t.Fatalf("skipped: %v", err)
	}
}

func TestSchemaRejects(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(*Result)
		raw    func(string) string
	}{
		{name: "wrong schema", mutate: func(r *Result) { r.Schema = "framecast.result.v2" }},
		{name: "empty camera", mutate: func(r *Result) { r.Camera = "" }},
		{name: "negative seq", mutate: func(r *Result) { r.Seq = -1 }},
		{name: "unknown status", mutate: func(r *Result) { r.Status = "maybe" }},
		{name: "skipped without reason", mutate: func(r *Result) { r.Status = StatusSkipped; r.Faces = []Face{} }},
		{name: "unknown emotion", mutate: func(r *Result) { r.Faces[0].Emotion = "bored" }},
		{name: "missing label", mutate: func(r *Result) { delete(r.Faces[0].Emotions, "fear") }},
		{name: "probability over 1", mutate: func(r *Result) { r.Faces[0].Emotions["happy"] = 1.5 }},
		{name: "zero-width box", mutate: func(r *Result) { r.Faces[0].Box.W = 0 }},
		{name: "null faces", mutate: func(r *Result) { r.Faces = nil }},
		{name: "extra field", raw: func(s string) string { return strings.Replace(s, `"worker"`, `"extra":1,"worker"`, 1) }},
		{name: "bad timestamp", raw: func(s string) string {
			return strings.Replace(s, `"2026-01-02T03:04:05.123456789Z"`, `"yesterday"`, 1)
		}},
		{name: "not JSON", raw: func(string) string { return "{" }},
		{name: "unknown analysis", mutate: func(r *Result) { r.Analysis = "guessed" }},
		{name: "unknown face source", mutate: func(r *Result) { r.Faces[0].Source = "imagined" }},
		{name: "negative track id", mutate: func(r *Result) { r.Faces[0].TrackID = -5 }},
		{name: "track id 0 written out", raw: func(s string) string {
			return strings.Replace(s, `"emotion":"happy"`, `"track_id":0,"emotion":"happy"`, 1)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := valid()
			if tc.mutate != nil {
				tc.mutate(r)
			}
			b, err := Marshal(r)
			if err != nil {
				t.Fatal(err)
			}
			s := string(b)
			if tc.raw != nil {
				s = tc.raw(s)
			}
			if err := Validate([]byte(s)); err == nil {
				t.Errorf("accepted:\n%s", s)
			}
		})
	}
}

func TestMarshalIsOneLine(t *testing.T) {
	r := valid()
	r.Camera = "<cam&1>"
	b, err := Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(string(b), "\n") != 1 || !strings.HasSuffix(string(b), "\n") {
		t.Errorf("not one line: %q", b)
	}
	if !strings.Contains(string(b), `"<cam&1>"`) {
		t.Errorf("HTML-escaped: %s", b)
	}
}
