package vision

import (
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/framecast/framecast/internal/imagex"
	"github.com/framecast/framecast/internal/samples"
)

func TestAnalyzeFrame(t *testing.T) {
	e := testEngine(t)
	img := loadImage(t, filepath.Join(paths.TestImages(), samples.Frame640))
	faces, tm, err := e.Analyze(img, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(faces) != 4 {
		t.Fatalf("found %d faces in the 640×480 frame, want 4", len(faces))
	}
	if tm.Detect <= 0 || tm.Classify <= 0 {
		t.Errorf("timings not measured: %+v", tm)
	}
	for i, f := range faces {
		if i > 0 && f.Score > faces[i-1].Score {
			t.Errorf("faces not in descending score order")
		}
		if f.Score < 0.5 || f.Score > 1 {
			t.Errorf("face %d score %v", i, f.Score)
		}
		var sum float64
		for _, p := range f.Probs {
			sum += float64(p)
		}
		if math.Abs(sum-1) > 1e-3 {
			t.Errorf("face %d: probabilities sum to %v", i, sum)
		}
		if f.Box.X1 < -5 || f.Box.Y1 < -5 || f.Box.X2 > 645 || f.Box.Y2 > 485 || f.Box.Area() < 100 {
			t.Errorf("face %d: implausible box %v", i, f.Box)
		}
		if f.Crop.W() != f.Crop.H() || f.Crop.W() < f.Box.W() {
			t.Errorf("face %d: crop %v is not the enlarged square of %v", i, f.Crop, f.Box)
		}
	}
}

func TestNoFace(t *testing.T) {
	e := testEngine(t)
	img := loadImage(t, filepath.Join(paths.TestImages(), "noface.png"))
	faces, _, err := e.Analyze(img, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(faces) != 0 {
		t.Errorf("found %d faces in an image without faces: %+v", len(faces), faces)
	}
	// A flat grey frame too.
	grey := &imagex.RGB{W: 320, H: 240, Pix: make([]byte, 320*240*3)}
	for i := range grey.Pix {
		grey.Pix[i] = 128
	}
	if faces, _, _ = e.Analyze(grey, faces[:0]); len(faces) != 0 {
		t.Errorf("found %d faces in a grey frame", len(faces))
	}
}

// TestMirror is metamorphic: a mirrored frame has the same faces at
// mirrored positions (the detector is not exactly symmetric, so the boxes
// need only overlap well).
func TestMirror(t *testing.T) {
	e := testEngine(t)
	img := loadImage(t, filepath.Join(paths.TestImages(), samples.Frame640))
	m := &imagex.RGB{W: img.W, H: img.H, Pix: make([]byte, len(img.Pix))}
	for y := 0; y < img.H; y++ {
		for x := 0; x < img.W; x++ {
			copy(m.Pix[(y*img.W+x)*3:(y*img.W+x)*3+3], img.Pix[(y*img.W+img.W-1-x)*3:])
		}
	}
	a, _, err := e.Analyze(img, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _, err := e.Analyze(m, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(a) != len(b) {
		t.Fatalf("%d faces, mirrored %d", len(a), len(b))
	}
	for i, f := range a {
		want := Rect{float64(img.W) - f.Box.X2, f.Box.Y1, float64(img.W) - f.Box.X1, f.Box.Y2}
		best := 0.0
		for _, g := range b {
			best = math.Max(best, IoU(want, g.Box))
		}
		if best < 0.7 {
			t.Errorf("face %d %v has no mirrored counterpart (best IoU %.2f)", i, f.Box, best)
		}
	}
}

func TestMaxFacesAndMinScore(t *testing.T) {
	img := loadImage(t, filepath.Join(paths.TestImages(), samples.Frame640))
	for _, tc := range []struct {
		name string
		o    Config
		max  int
	}{
		{"max faces 2", Config{MaxFaces: 2}, 2},
		{"min score 0.99", Config{MinScore: 0.99}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := tc.o
			o.DetectorModel, o.EmotionModel, o.Threads = paths.Detector(), paths.Emotion(), 1
			e, err := New(o)
			if err != nil {
				t.Fatal(err)
			}
			defer e.Close()
			faces, _, err := e.Analyze(img, nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(faces) > tc.max {
				t.Errorf("%d faces, want at most %d", len(faces), tc.max)
			}
		})
	}
}

func TestOptionsErrors(t *testing.T) {
	requireRuntime(t)
	for _, tc := range []struct {
		o    Config
		want string
	}{
		{Config{MinScore: 2}, "min score"},
		{Config{IoU: -1}, "IoU"},
		{Config{MaxFaces: -3}, "max faces"},
		{Config{Threads: -1}, "threads"},
		{Config{DetectorModel: "/nonexistent.onnx", EmotionModel: paths.Emotion()}, "models fetch"},
		{Config{DetectorModel: paths.Emotion(), EmotionModel: paths.Emotion()}, "want 1 input and 4 outputs"},
		{Config{DetectorModel: paths.Detector(), EmotionModel: paths.Emotion(), Provider: "tpu"}, "unknown execution provider"},
	} {
		_, err := New(tc.o)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New(%+v) = %v, want error containing %q", tc.o, err, tc.want)
		}
	}
}

func TestAnalyzeRejectsInvalidImage(t *testing.T) {
	e := testEngine(t)
	if _, _, err := e.Analyze(&imagex.RGB{W: 10, H: 10, Pix: make([]byte, 5)}, nil); err == nil {
		t.Error("short pixel buffer accepted")
	}
}

// Steady state must not allocate: a worker analyses frames for days.
func TestAnalyzeAllocations(t *testing.T) {
	e := testEngine(t)
	img := loadImage(t, filepath.Join(paths.TestImages(), samples.Frame640))
	faces := make([]Face, 0, 32)
	faces, _, _ = e.Analyze(img, faces[:0]) // warm up: tensors per batch size
	allocs := testing.AllocsPerRun(10, func() {
		faces, _, _ = e.Analyze(img, faces[:0])
	})
	if allocs > 0 {
		t.Errorf("Analyze allocates %.1f times per frame in steady state", allocs)
	}
}
