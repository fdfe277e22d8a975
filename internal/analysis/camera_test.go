package analysis

import (
	"bytes"
	"fmt"
	"image"
	"image/jpeg"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/framecast/framecast/internal/frame"
	"github.com/framecast/framecast/internal/imagex"
)

// texturedJPEG is a 640×480 frame with texture everywhere (so templates
// have something to match), shifted right by dx pixels.
func texturedJPEG(t *testing.T, dx int) []byte {
	t.Helper()
	m := image.NewGray(image.Rect(0, 0, 640, 480))
	for y := range 480 {
		for x := range 640 {
			u := x - dx
			m.Pix[y*640+x] = byte((u*u/7 + y*y/5 + u*y/3) % 200)
		}
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, m, &jpeg.Options{Quality: 90}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestAnalyzeCamera(t *testing.T) {
	static, moved := texturedJPEG(t, 0), texturedJPEG(t, 40)
	type frameIn struct {
		data []byte
		at   time.Duration
	}
	tests := []struct {
		name     string
		tr       Tracking
		frames   []frameIn
		want     []string // analysis per frame
		detects  int64    // detector runs
		classify int64    // faces classified (4 per frame analysed in full)
	}{
		{"full by default", Tracking{}, []frameIn{{static, 0}, {static, 100 * time.Millisecond}, {static, 200 * time.Millisecond}},
			[]string{"full", "full", "full"}, 3, 12},
		{"detect every 3", Tracking{DetectEvery: 3}, []frameIn{{static, 0}, {static, 100}, {static, 200}, {static, 300}, {static, 400}},
			[]string{"full", "tracked", "tracked", "full", "tracked"}, 2, 20},
		{"reclassify every 2", Tracking{DetectEvery: 3, ReclassifyEvery: 2}, []frameIn{{static, 0}, {static, 100}, {static, 200}, {static, 300}},
			[]string{"full", "tracked", "tracked", "full"}, 2, 8},
		{"static frames reused until max age", Tracking{SkipStatic: true}, []frameIn{
			{static, 0}, {static, 100 * time.Millisecond}, {static, 900 * time.Millisecond}, {static, time.Second}, {static, 1100 * time.Millisecond}},
			[]string{"full", "reused", "reused", "full", "reused"}, 2, 8},
		{"motion forces full", Tracking{SkipStatic: true}, []frameIn{{static, 0}, {moved, 100 * time.Millisecond}, {moved, 200 * time.Millisecond}, {static, 300 * time.Millisecond}},
			[]string{"full", "full", "reused", "full"}, 3, 12},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := &Fake{}
			s := NewStage(fake, imagex.Limits{})
			defer s.Close()
			cam := NewCamera(tt.tr)
			t0 := time.Unix(1000, 0)
			var ids []int64
			for i, f := range tt.frames {
				res := Begin(Input{Camera: "cam", Seq: int64(i), CapturedAt: t0.Add(f.at), Received: time.Now()})
				if err := s.AnalyzeCamera(f.data, &res, cam, t0.Add(f.at)); err != nil {
					t.Fatal(err)
				}
				Finish(&res, time.Now())
				b, _ := frame.Marshal(&res)
				if err := frame.Validate(b); err != nil {
					t.Fatalf("frame %d: invalid result: %v\n%s", i, err, b)
				}
				if res.Analysis != tt.want[i] || len(res.Faces) != 4 || res.Frame.Width != 640 {
					t.Fatalf("frame %d: analysis %q with %d faces, want %q with 4\n%s", i, res.Analysis, len(res.Faces), tt.want[i], b)
				}
				for k, face := range res.Faces {
					wantSrc := SourceDetected
					if res.Analysis == AnalysisTracked {
						wantSrc = SourceTracked
					}
					if face.Source != wantSrc || face.Emotion != frame.Labels[k] {
						t.Fatalf("frame %d face %d: source %q emotion %q", i, k, face.Source, face.Emotion)
					}
					if i == 0 {
						ids = append(ids, face.TrackID)
					} else if face.TrackID != ids[k] {
						t.Fatalf("frame %d face %d: track id %d, was %d", i, k, face.TrackID, ids[k])
					}
				}
			}
			if got := fake.Calls.Load(); got != tt.detects {
				t.Errorf("%d detector runs, want %d", got, tt.detects)
			}
			if got := fake.Classified.Load(); got != tt.classify {
				t.Errorf("%d faces classified, want %d", got, tt.classify)
			}
		})
	}
}

func TestAssign(t *testing.T) {
	cam := NewCamera(Tracking{})
	var first []int64
	for seq := range int64(3) {
		res := frame.Result{Seq: seq, Faces: []frame.Face{{Box: frame.Box{X: 10, Y: 10, W: 50, H: 50}}, {Box: frame.Box{X: 300, Y: 10, W: 50, H: 50}}}}
		cam.Assign(&res)
		if res.Analysis != AnalysisFull {
			t.Fatalf("analysis %q", res.Analysis)
		}
		for i, f := range res.Faces {
			if seq == 0 {
				first = append(first, f.TrackID)
			} else if f.TrackID != first[i] || f.Source != SourceDetected {
				t.Fatalf("frame %d face %d: %+v, first id %d", seq, i, f, first[i])
			}
		}
	}
	if first[0] == first[1] {
		t.Fatalf("two faces share id %d", first[0])
	}
}

// A camera whose seq goes back (a restarted publisher, a redelivered
// frame) starts afresh: the detector runs and ids begin again.
func TestCameraSeqBack(t *testing.T) {
	fake := &Fake{}
	s := NewStage(fake, imagex.Limits{})
	defer s.Close()
	cam := NewCamera(Tracking{DetectEvery: 5})
	data := texturedJPEG(t, 0)
	var got []string
	for _, seq := range []int64{100, 101, 102, 0, 1} {
		res := Begin(Input{Camera: "cam", Seq: seq, Received: time.Now()})
		if err := s.AnalyzeCamera(data, &res, cam, time.Now()); err != nil {
			t.Fatal(err)
		}
		got = append(got, fmt.Sprintf("%d:%s:%d", seq, res.Analysis, res.Faces[0].TrackID))
	}
	want := "[100:full:100001 101:tracked:100001 102:tracked:100001 0:full:1 1:tracked:1]"
	if fmt.Sprint(got) != want {
		t.Fatalf("got %v, want %s", got, want)
	}
}

// TestReuseNeedsSameSize: a static frame is reused only at the last
// analysed frame's size; frames of another size whose thumbnails match
// (640 and 634 wide both give 80) are analysed, and report their own size.
func TestReuseNeedsSameSize(t *testing.T) {
	flat := func(w int) []byte {
		m := image.NewGray(image.Rect(0, 0, w, 480))
		for i := range m.Pix {
			m.Pix[i] = 128
		}
		var b bytes.Buffer
		if err := jpeg.Encode(&b, m, nil); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}
	s := NewStage(&Fake{}, imagex.Limits{})
	defer s.Close()
	cam := NewCamera(Tracking{SkipStatic: true})
	t0 := time.Unix(1000, 0)
	for i, f := range []struct {
		w    int
		want string
	}{{640, "full"}, {640, "reused"}, {634, "full"}, {634, "reused"}} {
		res := Begin(Input{Camera: "cam", Seq: int64(i), Received: time.Now()})
		if err := s.AnalyzeCamera(flat(f.w), &res, cam, t0.Add(time.Duration(i)*100*time.Millisecond)); err != nil {
			t.Fatal(err)
		}
		if res.Analysis != f.want || res.Frame.Width != f.w {
			t.Errorf("frame %d (%d wide): analysis %q, width %d; want %q, %d", i, f.w, res.Analysis, res.Frame.Width, f.want, f.w)
		}
	}
}

// TestFollowHalf: a frame that is only followed (detector and emotions not
// due) is decoded at half size, and FrameImage still gives the frame in
// full; a frame whose emotions are due is decoded in full. (How well faces
// are followed at half size is measured on videos by bench --compare.)
func TestFollowHalf(t *testing.T) {
	data := texturedJPEG(t, 0)
	fake := &Fake{}
	s := NewStage(fake, imagex.Limits{})
	defer s.Close()
	cam := NewCamera(Tracking{DetectEvery: 4, ReclassifyEvery: 2})
	want := []struct {
		analysis string
		half     bool
	}{{"full", false}, {"tracked", true}, {"tracked", false}, {"tracked", true}, {"full", false}}
	var first []frame.Face
	for i, w := range want {
		s.half = imagex.RGB{}
		res := Begin(Input{Camera: "cam", Seq: int64(i), Received: time.Now()})
		if err := s.AnalyzeCamera(data, &res, cam, time.Unix(1000, 0).Add(time.Duration(i)*100*time.Millisecond)); err != nil {
			t.Fatal(err)
		}
		if res.Analysis != w.analysis || (s.half.W == 320) != w.half || len(res.Faces) != 4 || res.Frame.Width != 640 {
			t.Errorf("frame %d: %s, half-size decode %v (%d wide), %d faces; want %s, %v", i, res.Analysis, s.half.W == 320, s.half.W, len(res.Faces), w.analysis, w.half)
		}
		if i == 0 {
			first = slices.Clone(res.Faces)
		}
		for k := range res.Faces {
			// A still frame: followed faces stay put, to a cell.
			if d := math.Abs(res.Faces[k].Box.X-first[k].Box.X) + math.Abs(res.Faces[k].Box.Y-first[k].Box.Y); d > 1 {
				t.Errorf("frame %d face %d moved %.1f px on a still frame", i, k, d)
			}
		}
		img, err := s.FrameImage(data)
		if err != nil || img.W != 640 || img.H != 480 {
			t.Fatalf("frame %d: FrameImage %dx%d, %v", i, img.W, img.H, err)
		}
	}
	if got := fake.Calls.Load(); got != 2 {
		t.Errorf("%d detector runs, want 2", got)
	}
}
