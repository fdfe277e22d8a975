package analysis

import (
	"bytes"
	"errors"
	"image"
	"image/jpeg"
	"testing"
	"time"

	"github.com/framecast/framecast/internal/frame"
	"github.com/framecast/framecast/internal/imagex"
	"github.com/framecast/framecast/internal/vision"
)

func testJPEG(t *testing.T, w, h int) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := jpeg.Encode(&b, image.NewGray(image.Rect(0, 0, w, h)), nil); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// The wire format's labels are the model's output order: FaceResult
// indexes one by the other.
func TestLabelsAgree(t *testing.T) {
	if frame.Labels != vision.Labels {
		t.Fatalf("frame.Labels %v, vision.Labels %v", frame.Labels, vision.Labels)
	}
}

func TestStage(t *testing.T) {
	fake := &Fake{Delay: 2 * time.Millisecond}
	s := NewStage(fake, imagex.Limits{})
	data := testJPEG(t, 640, 480)
	if w, h, err := s.Check(data); err != nil || w != 640 || h != 480 {
		t.Fatalf("Check: %d×%d, %v", w, h, err)
	}
	captured := time.Now().Add(-50 * time.Millisecond)
	received := time.Now().Add(-10 * time.Millisecond)
	part, off := int32(2), int64(9)
	res := Begin(Input{Camera: "cam", Seq: 7, CapturedAt: captured, Received: received,
		Frame: frame.FrameInfo{Topic: "frames", Partition: &part, Offset: &off}, Worker: "w"})
	if res.TimingsMS.Queue < 10 {
		t.Errorf("queue %v ms: not counted from the time received", res.TimingsMS.Queue)
	}
	if err := s.Analyze(data, &res); err != nil {
		t.Fatal(err)
	}
	Finish(&res, received)
	b, err := frame.Marshal(&res)
	if err != nil {
		t.Fatal(err)
	}
	if err := frame.Validate(b); err != nil {
		t.Fatalf("invalid result: %v\n%s", err, b)
	}
	if len(res.Faces) != 4 || res.Frame.Width != 640 || res.Frame.Height != 480 || *res.Frame.Offset != 9 {
		t.Errorf("result %s", b)
	}
	tm := res.TimingsMS
	if tm.Detect < 2 || tm.Total < tm.Queue+tm.Decode+tm.Detect || res.LatencyMS < 50 || res.LatencyMS < tm.Total {
		t.Errorf("timings %+v, latency %v", tm, res.LatencyMS)
	}
	if got := res.Faces[1]; got.Emotion != frame.Labels[1] || got.Emotions[frame.Labels[1]] != 0.9 {
		t.Errorf("face 1: %+v", got)
	}
	if s.Image().W != 640 {
		t.Errorf("Image() is %d wide", s.Image().W)
	}
	s.Close()
	if !fake.Closed.Load() {
		t.Error("Close did not close the analyzer")
	}
}

func TestStageErrors(t *testing.T) {
	boom := errors.New("boom")
	s := NewStage(&Fake{Err: boom}, imagex.Limits{})
	defer s.Close()
	res := Begin(Input{Camera: "cam", Received: time.Now()})
	if err := s.Analyze([]byte("not an image"), &res); err == nil || errors.Is(err, ErrAnalysis) || imagex.Reason(err) != "not_image" {
		t.Errorf("bad input: %v (reason %q)", err, imagex.Reason(err))
	}
	if err := s.Analyze(testJPEG(t, 64, 64), &res); !errors.Is(err, ErrAnalysis) || !errors.Is(err, boom) {
		t.Errorf("analyzer failure: %v", err)
	}
	if res.Status != "" || len(res.Faces) != 0 {
		t.Errorf("a failed analysis changed the result: %+v", res)
	}
}

// FaceResult rounds to what the schema documents.
func TestFaceResult(t *testing.T) {
	f := vision.Face{Box: vision.Rect{X1: 10.123, Y1: 20.456, X2: 50.789, Y2: 70.001}, Score: 0.987654}
	f.Probs[3] = 0.123456
	r := FaceResult(&f)
	if r.Box != (frame.Box{X: 10.12, Y: 20.46, W: 40.67, H: 49.55}) || r.Score != 0.9877 || r.Emotion != "happy" || r.Emotions["happy"] != 0.1235 || len(r.Emotions) != 7 {
		t.Errorf("%+v", r)
	}
}

func TestWorkers(t *testing.T) {
	var fakes []*Fake
	newFake := func() (Analyzer, error) {
		f := &Fake{}
		fakes = append(fakes, f)
		return f, nil
	}
	workers, closeAll, err := Workers(newFake, 2, imagex.DefaultLimits())
	if err != nil || len(workers) != 2 {
		t.Fatalf("%d workers, %v", len(workers), err)
	}
	jpeg := testJPEG(t, 320, 240)
	for _, w := range workers {
		if err := w(jpeg); err != nil {
			t.Fatal(err)
		}
	}
	if err := workers[0]([]byte("not an image")); err == nil {
		t.Error("a bad frame passed")
	}
	closeAll()
	for i, f := range fakes {
		if f.Calls.Load() < 1 || !f.Closed.Load() {
			t.Errorf("analyzer %d: %d calls, closed %v", i, f.Calls.Load(), f.Closed.Load())
		}
	}

	failing := errors.New("no engine")
	n := 0
	_, _, err = Workers(func() (Analyzer, error) {
		if n++; n == 2 {
			return nil, failing
		}
		return newFake()
	}, 3, imagex.DefaultLimits())
	if !errors.Is(err, failing) || !fakes[len(fakes)-1].Closed.Load() {
		t.Errorf("err %v; the first analyzer closed: %v", err, fakes[len(fakes)-1].Closed.Load())
	}
}
