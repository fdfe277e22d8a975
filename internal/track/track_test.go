package track

import (
	"math"
	"testing"
	"time"

	"github.com/framecast/framecast/internal/imagex"
	"github.com/framecast/framecast/internal/vision"
)

func face(x, y, side float64) vision.Face {
	return vision.Face{Box: vision.Rect{X1: x, Y1: y, X2: x + side, Y2: y + side}, Score: 0.9}
}

func ids(ts []*Track) []int64 {
	out := make([]int64, len(ts))
	for i, t := range ts {
		out[i] = t.ID
	}
	return out
}

func TestUpdate(t *testing.T) {
	// Each step is one detector run: the faces found, and the ids they
	// must get (0: a new id, different from every earlier one).
	type step struct {
		faces []vision.Face
		want  []int64
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"ids stable while faces move", []step{
			{[]vision.Face{face(10, 10, 50), face(200, 10, 50)}, []int64{1, 2}},
			{[]vision.Face{face(15, 12, 50), face(205, 10, 52)}, []int64{1, 2}},
			{[]vision.Face{face(20, 14, 50), face(210, 10, 54)}, []int64{1, 2}},
		}},
		{"order of detections does not matter", []step{
			{[]vision.Face{face(10, 10, 50), face(200, 10, 50)}, []int64{1, 2}},
			{[]vision.Face{face(200, 10, 50), face(10, 10, 50)}, []int64{2, 1}},
		}},
		{"a new face gets a new id", []step{
			{[]vision.Face{face(10, 10, 50)}, []int64{1}},
			{[]vision.Face{face(10, 10, 50), face(300, 10, 50)}, []int64{1, 1001}},
		}},
		{"constant velocity keeps a fast face", []step{
			// 35 px a frame on a 50 px face, after a first step of 20:
			// without the prediction the boxes would overlap by IoU 0.18.
			{[]vision.Face{face(0, 0, 50)}, []int64{1}},
			{[]vision.Face{face(20, 0, 50)}, []int64{1}},
			{[]vision.Face{face(55, 0, 50)}, []int64{1}},
			{[]vision.Face{face(90, 0, 50)}, []int64{1}},
			{[]vision.Face{face(125, 0, 50)}, []int64{1}},
		}},
		{"a face missed once keeps its id", []step{
			{[]vision.Face{face(10, 10, 50)}, []int64{1}},
			{nil, nil},
			{[]vision.Face{face(10, 10, 50)}, []int64{1}},
		}},
		{"a face lost for longer gets a new id", []step{
			{[]vision.Face{face(10, 10, 50)}, []int64{1}},
			{nil, nil},
			{nil, nil},
			{nil, nil},
			{[]vision.Face{face(10, 10, 50)}, []int64{4001}},
		}},
		{"one detection continues one track", []step{
			{[]vision.Face{face(10, 10, 50), face(30, 10, 50)}, []int64{1, 2}},
			{[]vision.Face{face(20, 10, 50)}, []int64{1}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := New(Config{})
			for seq, s := range tt.steps {
				got := ids(tr.Update(int64(seq), s.faces, nil))
				if len(got) != len(s.want) {
					t.Fatalf("frame %d: ids %v, want %v", seq, got, s.want)
				}
				for i := range got {
					if got[i] != s.want[i] {
						t.Fatalf("frame %d: ids %v, want %v", seq, got, s.want)
					}
				}
			}
		})
	}
}

func TestReset(t *testing.T) {
	tr := New(Config{})
	tr.Update(0, []vision.Face{face(10, 10, 50)}, nil)
	tr.Reset()
	if got := ids(tr.Update(1, []vision.Face{face(10, 10, 50)}, nil)); got[0] != 1001 {
		t.Fatalf("after Reset the face has id %d, want a new one (1001)", got[0])
	}
	if v := tr.Visible(); len(v) != 1 {
		t.Fatalf("visible %d tracks, want 1", len(v))
	}
}

// scene draws a textured square ("face") on a flat background.
func scene(w, h int, fx, fy, side int) *imagex.RGB {
	img := &imagex.RGB{W: w, H: h, Pix: make([]byte, w*h*3)}
	for i := range img.Pix {
		img.Pix[i] = 60
	}
	for y := fy; y < fy+side; y++ {
		for x := fx; x < fx+side; x++ {
			if x < 0 || y < 0 || x >= w || y >= h {
				continue
			}
			v := byte(100 + (x-fx)*3%120 + ((y-fy)/4%2)*30)
			o := (y*w + x) * 3
			img.Pix[o], img.Pix[o+1], img.Pix[o+2] = v, v/2, 255-v
		}
	}
	return img
}

func TestFollow(t *testing.T) {
	tr := New(Config{})
	tr.Update(0, []vision.Face{face(100, 100, 96)}, scene(640, 480, 100, 100, 96))
	// The face moves 8 px right and 4 down a frame; Follow finds it.
	for seq := int64(1); seq <= 4; seq++ {
		x, y := 100+8*int(seq), 100+4*int(seq)
		if !tr.Follow(seq, scene(640, 480, x, y, 96)) {
			t.Fatalf("frame %d: not followed", seq)
		}
		v := tr.Visible()
		if len(v) != 1 || v[0].ID != 1 || v[0].Detected {
			t.Fatalf("frame %d: tracks %+v", seq, v)
		}
		if iou := vision.IoU(v[0].Face.Box, face(float64(x), float64(y), 96).Box); iou < 0.9 {
			t.Fatalf("frame %d: box %+v, IoU %.2f with the truth", seq, v[0].Face.Box, iou)
		}
	}
	// The face is gone: following fails, and changes nothing.
	before := tr.Visible()[0].Face.Box
	if tr.Follow(5, scene(640, 480, -500, -500, 96)) {
		t.Fatal("followed a face that left")
	}
	if got := tr.Visible()[0].Face.Box; got != before {
		t.Fatalf("a failed Follow moved the box from %+v to %+v", before, got)
	}
	// Leaving the frame is left to the detector.
	tr = New(Config{})
	tr.Update(0, []vision.Face{face(600, 100, 96)}, scene(640, 480, 600, 100, 96))
	if tr.Follow(1, scene(640, 480, 600, 100, 96)) {
		t.Fatal("followed a face mostly outside the frame")
	}
}

func thumb(w, h int, v byte) *Thumb {
	t := &Thumb{W: w, H: h, Pix: make([]uint8, w*h)}
	for i := range t.Pix {
		t.Pix[i] = v
	}
	return t
}

func TestReuse(t *testing.T) {
	t0 := time.Unix(1000, 0)
	ref := thumb(80, 60, 100)
	noisy := thumb(80, 60, 100)
	for i := range noisy.Pix {
		noisy.Pix[i] += byte(i % 2) // JPEG noise: ±1 level
	}
	moved := thumb(80, 60, 100)
	for y := 20; y < 28; y++ { // a face-sized change, 2×2 blocks
		for x := 30; x < 38; x++ {
			moved.Pix[y*80+x] = 160
		}
	}
	tests := []struct {
		name string
		t    *Thumb
		at   time.Time
		cfg  StaticConfig
		want bool
	}{
		{"identical", ref, t0.Add(100 * time.Millisecond), StaticConfig{}, true},
		{"noise only", noisy, t0.Add(100 * time.Millisecond), StaticConfig{}, true},
		{"motion forces full", moved, t0.Add(100 * time.Millisecond), StaticConfig{}, false},
		{"max age forces full", ref, t0.Add(time.Second), StaticConfig{}, false},
		{"shorter max age", ref, t0.Add(300 * time.Millisecond), StaticConfig{MaxAge: 200 * time.Millisecond}, false},
		{"no max age", ref, t0.Add(time.Hour), StaticConfig{MaxAge: -1}, true},
		{"clock set back", ref, t0.Add(-time.Millisecond), StaticConfig{}, false},
		{"scene change (size)", thumb(40, 30, 100), t0.Add(100 * time.Millisecond), StaticConfig{}, false},
		{"global brightness change", thumb(80, 60, 104), t0.Add(100 * time.Millisecond), StaticConfig{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Reuse(ref, tt.t, t0, tt.at, tt.cfg); got != tt.want {
				t.Fatalf("Reuse = %v, want %v (change %+v)", got, tt.want, Compare(ref, tt.t, tt.cfg))
			}
		})
	}
}

func BenchmarkFollow(b *testing.B) {
	tr := New(Config{})
	tr.Update(0, []vision.Face{face(100, 100, 120)}, scene(640, 480, 100, 100, 120))
	img := scene(640, 480, 104, 102, 120)
	for i := 0; b.Loop(); i++ {
		tr.Follow(int64(i+1), img)
		tr.Visible()[0].Face.Box = face(100, 100, 120).Box
		tr.Visible()[0].Seq = int64(i + 1)
	}
}

// TestTrackIDHugeSeq: a seq numbered like a nanosecond timestamp still
// gives positive, distinct ids, and small seqs keep seq·1000 + k + 1.
func TestTrackIDHugeSeq(t *testing.T) {
	if got := trackID(42, 1); got != 42002 {
		t.Errorf("trackID(42, 1) = %d, want 42002", got)
	}
	seen := map[int64]bool{}
	for _, seq := range []int64{1_733_000_000_000_000_000, 1_733_000_000_000_000_001, math.MaxInt64 - 1, math.MaxInt64} {
		for k := range int64(3) {
			id := trackID(seq, k)
			if id < 1 || seen[id] {
				t.Errorf("trackID(%d, %d) = %d: not positive or not distinct", seq, k, id)
			}
			seen[id] = true
		}
	}
}
