package offline

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/framecast/framecast/internal/analysis"
	"github.com/framecast/framecast/internal/imagex"
	"github.com/framecast/framecast/internal/source"
	"github.com/framecast/framecast/internal/testkit"
)

func TestSplitInputs(t *testing.T) {
	dir := t.TempDir()
	files := map[string][]byte{
		"a.jpg":      {0xff, 0xd8},
		"b.mp4":      nil,
		"notes.txt":  []byte("hello"),
		"c.MKV":      nil,
		"phone-clip": append([]byte{0, 0, 0, 0x18}, []byte("ftypmp42\x00\x00\x00\x00")...),
		"cam.ts":     nil,
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	images, videos, err := SplitInputs([]string{dir, filepath.Join(dir, "phone-clip"), filepath.Join(dir, "notes.txt"), "-", filepath.Join(dir, "missing.mp4")})
	if err != nil {
		t.Fatal(err)
	}
	j := func(p ...string) string { return strings.Join(p, " ") }
	wantImages := j(filepath.Join(dir, "a.jpg"), filepath.Join(dir, "notes.txt"), "-", filepath.Join(dir, "missing.mp4"))
	wantVideos := j(filepath.Join(dir, "b.mp4"), filepath.Join(dir, "c.MKV"), filepath.Join(dir, "cam.ts"), filepath.Join(dir, "phone-clip"))
	if j(images...) != wantImages || j(videos...) != wantVideos {
		t.Errorf("images %v\nvideos %v", images, videos)
	}
	empty := t.TempDir()
	if _, _, err := SplitInputs([]string{empty}); err == nil || !strings.Contains(err.Error(), "no images") {
		t.Errorf("empty directory: %v", err)
	}
}

func TestVideoSampling(t *testing.T) {
	flags := func(every int, fps float64) *VideoPlan { return &VideoPlan{Every: every, FPS: fps} }
	info := source.VideoInfo{FPS: 30, Frames: 300, Duration: 10 * time.Second}
	for _, tc := range []struct {
		name     string
		plan     *VideoPlan
		every    int
		fps      float64
		seq2     int64
		at2      time.Duration
		rate     float64
		expected int64
		describe string
	}{
		{"all", flags(0, 0), 1, 0, 2, 66666666, 30, 300, "every frame"},
		{"every 4", flags(4, 0), 4, 0, 8, 266666666, 7.5, 75, "every 4th frame"},
		{"fps dividing the rate", flags(0, 5), 6, 0, 12, 400 * time.Millisecond, 5, 50, "every 6th frame"},
		{"fps not dividing it", flags(0, 4), 1, 4, 15, 500 * time.Millisecond, 4, 40, "4 frames per second"},
		{"fps above the rate", flags(0, 60), 1, 0, 2, 66666666, 30, 300, "every frame"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.plan.samplingFor(info)
			if s.every != tc.every || s.fps != tc.fps {
				t.Fatalf("sampling %+v", s)
			}
			if s.seq(2) != tc.seq2 || s.at(2) != tc.at2 || s.rate() != tc.rate || s.expected(info) != tc.expected || s.String() != tc.describe {
				t.Errorf("seq(2) %d, at(2) %v, rate %v, expected %d, %q", s.seq(2), s.at(2), s.rate(), s.expected(info), s.String())
			}
		})
	}
}

func TestVideoPlanAnnotate(t *testing.T) {
	testkit.FFmpeg(t)
	in := t.TempDir()
	a, b := filepath.Join(in, "clip.mp4"), filepath.Join(in, "sub", "clip.mkv")
	out := t.TempDir()

	p, dir, err := PlanVideos(VideoPlan{Videos: []string{a, b}}, []string{"photo.jpg"}, out)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{filepath.Join(out, "clip.mp4"), filepath.Join(out, "clip-2.mp4")}; strings.Join(p.Outputs, " ") != strings.Join(want, " ") || dir != out {
		t.Errorf("directory: outputs %v, images into %q", p.Outputs, dir)
	}

	p, dir, err = PlanVideos(VideoPlan{Videos: []string{a}}, nil, filepath.Join(out, "annotated.mkv"))
	if err != nil {
		t.Fatal(err)
	}
	if p.Outputs[0] != filepath.Join(out, "annotated.mkv") || dir != "" {
		t.Errorf("one video: outputs %v, directory %q", p.Outputs, dir)
	}

	// Annotating into the input's own directory never overwrites it.
	if err := os.WriteFile(a, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	p, _, err = PlanVideos(VideoPlan{Videos: []string{a}}, nil, in)
	if err != nil || p.Outputs[0] != filepath.Join(in, "clip-2.mp4") {
		t.Errorf("into the input's directory: %v, %v", p, err)
	}

	// A wrong plan is the invocation's fault.
	var perr *PlanError
	if _, _, err := PlanVideos(VideoPlan{Videos: []string{a, b}, Every: 2, FPS: 3}, nil, filepath.Join(out, "x.mp4")); !errors.As(err, &perr) || len(perr.Problems) != 2 {
		t.Errorf("two problems: %v", err)
	}
}

// TestImage runs the analyzer on the fake networks: a result per image,
// an annotated copy per image (names never collide), and a bad file is an
// error of its own.
func TestImage(t *testing.T) {
	dir, out := t.TempDir(), t.TempDir()
	good := filepath.Join(dir, "frame.jpg")
	if err := os.WriteFile(good, testkit.FlatJPEG(640, 480), 0o644); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "bad.jpg")
	if err := os.WriteFile(bad, []byte("not an image"), 0o644); err != nil {
		t.Fatal(err)
	}
	a := New(Config{Stage: analysis.NewStage(&analysis.Fake{}, imagex.Limits{}), Worker: "w", AnnotateDir: out})
	defer a.Close()
	for seq := range int64(2) {
		res, err := a.Image(good, seq)
		if err != nil {
			t.Fatal(err)
		}
		if res.Camera != "frame.jpg" || res.Seq != seq || len(res.Faces) != 4 || res.Frame.Source != good || res.Worker != "w" {
			t.Errorf("result %+v", res)
		}
	}
	for _, name := range []string{"frame.jpg", "frame-2.jpg"} {
		if _, err := os.Stat(filepath.Join(out, name)); err != nil {
			t.Errorf("annotated copy: %v", err)
		}
	}
	if _, err := a.Image(bad, 2); imagex.Reason(err) != "not_image" {
		t.Errorf("bad file: %v", err)
	}
	if _, err := a.Image(filepath.Join(dir, "missing.jpg"), 3); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	a2 := New(Config{Stage: analysis.NewStage(&analysis.Fake{}, imagex.Limits{}), Limits: imagex.Limits{MaxBytes: 100}})
	defer a2.Close()
	if _, err := a2.Image(good, 0); !errors.Is(err, imagex.ErrTooLarge) {
		t.Errorf("over --max-bytes: %v", err)
	}
}

func TestProgressBar(t *testing.T) {
	var buf bytes.Buffer
	now := time.Unix(0, 0)
	p := NewProgressBar(&buf, true, "clip.mp4", 100)
	p.now = func() time.Time { return now }
	p.start = now
	for i := range int64(50) {
		now = now.Add(20 * time.Millisecond) // 50 fps
		p.Update(i + 1)
	}
	// 1 s of updates, at most one redraw per 100 ms.
	if n := strings.Count(buf.String(), "\r"); n < 9 || n > 11 {
		t.Errorf("%d redraws in 1 s", n)
	}
	last := buf.String()[strings.LastIndex(buf.String(), "\r"):]
	for _, want := range []string{"clip.mp4", "46/100 frames", "50.0 fps", "ETA 1s", "█"} {
		if !strings.Contains(last, want) {
			t.Errorf("bar %q lacks %q", last, want)
		}
	}
	p.Finish(100)
	if !strings.HasSuffix(buf.String(), "\n") || !strings.Contains(buf.String(), "100/100 frames") {
		t.Errorf("final bar: %q", buf.String())
	}
	buf.Reset()
	q := NewProgressBar(&buf, false, "clip.mp4", 100)
	q.Update(1)
	q.Finish(1)
	if buf.Len() != 0 {
		t.Errorf("progress off a terminal: %q", buf.String())
	}
}
