package source

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/framecast/framecast/internal/testkit"
)

// samplesDir returns the face-api photos (see testkit.RequireSamples).
func samplesDir(tb testing.TB) string {
	tb.Helper()
	return testkit.RequireSamples(tb).Samples()
}

func openSynthetic(t *testing.T, uri string) *Synthetic {
	t.Helper()
	samplesDir(t)
	s, err := NewSyntheticURI(uri, Config{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSyntheticDeterministic(t *testing.T) {
	a := openSynthetic(t, "synthetic:?seed=3&size=320x240")
	b := openSynthetic(t, "synthetic:?seed=3&size=320x240")
	other := openSynthetic(t, "synthetic:?seed=4&size=320x240")
	// 0: first frame; 61: inside a shot's opening (a crossfade or a
	// cut); 1000: many shots later.
	for _, i := range []int64{0, 1, 61, 1000} {
		x, err := a.Render(i)
		if err != nil {
			t.Fatal(err)
		}
		y, err := b.Render(i)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(x, y) {
			t.Errorf("frame %d: same seed, different bytes", i)
		}
		z, err := other.Render(i)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Equal(x, z) {
			t.Errorf("frame %d: seeds 3 and 4 give the same bytes", i)
		}
	}
	// Rendering out of order does not change a frame.
	x, _ := a.Render(5)
	_, _ = a.Render(999)
	y, _ := a.Render(5)
	if !bytes.Equal(x, y) {
		t.Error("frame 5 changed after rendering frame 999")
	}
}

func TestSyntheticNextMatchesRender(t *testing.T) {
	s := openSynthetic(t, "synthetic:?size=320x240&seed=9")
	ref := openSynthetic(t, "synthetic:?size=320x240&seed=9")
	before := time.Now()
	for i := int64(0); i < 3; i++ {
		f, err := s.Next(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		want, _ := ref.Render(i)
		if !bytes.Equal(f.JPEG, want) {
			t.Errorf("Next #%d differs from Render(%d)", i, i)
		}
		if f.Width != 320 || f.Height != 240 || f.CapturedAt.Before(before) || time.Since(f.CapturedAt) > time.Minute {
			t.Errorf("frame %d: %dx%d captured %v", i, f.Width, f.Height, f.CapturedAt)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Next(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Next after cancel: %v", err)
	}
}

// TestSyntheticClose: Close frees the camera's encoder; rendering after it
// is an error, not a crash, and a second Close is harmless.
func TestSyntheticClose(t *testing.T) {
	s := openSynthetic(t, "synthetic:?size=64x48")
	if _, err := s.Render(0); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Render(1); err == nil {
		t.Error("Render after Close: no error")
	}
	if _, err := s.Next(context.Background()); err == nil {
		t.Error("Next after Close: no error")
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestSyntheticJPEGSize(t *testing.T) {
	for _, tc := range []struct {
		uri  string
		w, h int
	}{
		{"synthetic:", 640, 480},
		{"synthetic:?size=400x225&quality=60", 400, 225},
		{"synthetic:?size=200x300&faces=sample4", 200, 300},
	} {
		s := openSynthetic(t, tc.uri)
		for _, i := range []int64{0, 35, 64} {
			data, err := s.Render(i)
			if err != nil {
				t.Fatal(err)
			}
			cfg, err := jpeg.DecodeConfig(bytes.NewReader(data))
			if err != nil {
				t.Fatalf("%s frame %d: %v", tc.uri, i, err)
			}
			if cfg.Width != tc.w || cfg.Height != tc.h {
				t.Errorf("%s frame %d: %dx%d, want %dx%d", tc.uri, i, cfg.Width, cfg.Height, tc.w, tc.h)
			}
			if _, err := jpeg.Decode(bytes.NewReader(data)); err != nil {
				t.Errorf("%s frame %d: %v", tc.uri, i, err)
			}
		}
	}
}

// TestSyntheticMoves checks that consecutive frames differ (the camera
// keeps moving) and that the view changes a lot over a shot.
func TestSyntheticMoves(t *testing.T) {
	s := openSynthetic(t, "synthetic:?size=160x120&seed=5")
	decode := func(i int64) *image.YCbCr {
		data, err := s.Render(i)
		if err != nil {
			t.Fatal(err)
		}
		m, err := jpeg.Decode(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		return m.(*image.YCbCr)
	}
	diff := func(a, b *image.YCbCr) float64 {
		var d int
		for i := range a.Y {
			d += absInt(int(a.Y[i]) - int(b.Y[i]))
		}
		return float64(d) / float64(len(a.Y))
	}
	prev := decode(0)
	for i := int64(1); i < 120; i++ {
		cur := decode(i)
		if d := diff(prev, cur); d < 0.2 {
			t.Errorf("frames %d and %d nearly identical (mean |ΔY| %.2f): the camera should move", i-1, i, d)
		}
		prev = cur
	}
	if d := diff(decode(10), decode(50)); d < 10 {
		t.Errorf("frames 10 and 50 of a shot differ by only %.1f: the pan is too small", d)
	}
}

func TestSyntheticOptions(t *testing.T) {
	dir := samplesDir(t)
	s, err := NewSyntheticURI("synthetic:?size=320x200&fps=25&seed=7&faces=sample2,sample5.jpg&quality=55", Config{})
	if err != nil {
		t.Fatal(err)
	}
	c := s.Config()
	if c.Width != 320 || c.Height != 200 || c.FPS != 25 || s.FPS() != 25 || c.Seed != 7 || c.Quality != 55 || c.Dir != dir ||
		strings.Join(c.Photos, ",") != "sample2,sample5.jpg" {
		t.Errorf("config %+v", c)
	}
	s, err = NewSyntheticURI("synthetic:", Config{Width: 100, Height: 80, FPS: 4, JPEGQuality: 90})
	if err != nil {
		t.Fatal(err)
	}
	if c := s.Config(); c.Width != 100 || c.Height != 80 || c.FPS != 4 || c.Quality != 90 || c.Seed != 1 || len(c.Photos) != 6 {
		t.Errorf("defaults from Config: %+v", c)
	}
	for _, bad := range []string{
		"synthetic:?size=640", "synthetic:?size=0x0", "synthetic:?fps=0", "synthetic:?fps=x", "synthetic:?seed=-1",
		"synthetic:?quality=101", "synthetic:?faces=nope", "synthetic:?colour=red", "synthetic:?dir=/nonexistent",
	} {
		if _, err := Open(bad, Config{}); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
}

func TestOpenUnknownScheme(t *testing.T) {
	for _, uri := range []string{"gopher://cam.local/stream", "webcam:0", "ftp://x/y.mjpg"} {
		_, err := Open(uri, Config{})
		if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "synthetic:") || !strings.Contains(err.Error(), "rtsp://") {
			t.Errorf("%s: %v", uri, err)
		}
	}
	if _, err := Open("", Config{}); !errors.Is(err, ErrUnsupported) {
		t.Errorf("empty: %v", err)
	}
}

// writeImages writes a.jpg, b.png (not JPEG, to be re-encoded) and c.jpeg,
// plus a file that is not an image and must be ignored.
func writeImages(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	for i, name := range []string{"c.jpeg", "a.jpg", "b.png"} {
		m := image.NewRGBA(image.Rect(0, 0, 40+8*i, 30))
		for p := range m.Pix {
			m.Pix[p] = uint8(p*(i+1)) | 3
		}
		m.Set(0, 0, color.RGBA{255, 0, 0, 255})
		var buf bytes.Buffer
		var err error
		if strings.HasSuffix(name, ".png") {
			err = png.Encode(&buf, m)
		} else {
			err = jpeg.Encode(&buf, m, nil)
		}
		if err != nil {
			t.Fatal(err)
		}
		files[name] = buf.Bytes()
		if err := os.WriteFile(filepath.Join(dir, name), buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("not an image"), 0o644); err != nil {
		t.Fatal(err)
	}
	return files
}

func TestDirectoryLoopsSorted(t *testing.T) {
	dir := t.TempDir()
	files := writeImages(t, dir)
	src, err := Open(dir, Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	want := []struct {
		name string
		w    int
	}{{"a.jpg", 48}, {"b.png", 56}, {"c.jpeg", 40}, {"a.jpg", 48}, {"b.png", 56}, {"c.jpeg", 40}, {"a.jpg", 48}}
	for i, w := range want {
		f, err := src.Next(context.Background())
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if f.Width != w.w || f.Height != 30 || f.CapturedAt.IsZero() {
			t.Errorf("frame %d: %dx%d, want %s (%dx30)", i, f.Width, f.Height, w.name, w.w)
		}
		if strings.HasSuffix(w.name, ".png") {
			if cfg, err := jpeg.DecodeConfig(bytes.NewReader(f.JPEG)); err != nil || cfg.Width != w.w {
				t.Errorf("frame %d: the PNG was not re-encoded as JPEG: %v", i, err)
			}
		} else if !bytes.Equal(f.JPEG, files[w.name]) {
			t.Errorf("frame %d: %s not passed through unchanged", i, w.name)
		}
	}
}

func TestDirectoryOnce(t *testing.T) {
	dir := t.TempDir()
	writeImages(t, dir)
	src, err := Open("file://"+dir, Config{Once: true})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if _, err := src.Next(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := src.Next(context.Background()); !errors.Is(err, ErrEndOfInput) {
		t.Errorf("after one pass: %v, want ErrEndOfInput", err)
	}
}

func TestSingleFileLoops(t *testing.T) {
	dir := t.TempDir()
	files := writeImages(t, dir)
	src, err := Open(filepath.Join(dir, "a.jpg"), Config{})
	if err != nil {
		t.Fatal(err)
	}
	var last time.Time
	for i := 0; i < 3; i++ {
		f, err := src.Next(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(f.JPEG, files["a.jpg"]) || f.Width != 48 || f.CapturedAt.Before(last) {
			t.Errorf("frame %d differs from the file", i)
		}
		last = f.CapturedAt
	}
}

func TestBadPaths(t *testing.T) {
	dir := t.TempDir()
	writeImages(t, dir)
	empty := t.TempDir()
	for _, p := range []string{
		filepath.Join(dir, "missing.jpg"),
		filepath.Join(dir, "notes.txt"), // not an image
		empty,                           // no images
	} {
		if _, err := Open(p, Config{}); err == nil {
			t.Errorf("%s: no error", p)
		}
	}
	_, err := Open(filepath.Join(dir, "missing.jpg"), Config{})
	if !strings.Contains(err.Error(), "no such file") {
		t.Errorf("missing file: %v", err)
	}
}

// BenchmarkSynthetic640 measures rendering and encoding one 640×480 frame
// at quality 80 (at 8 cameras × 10 fps on 2 cores it must stay well under
// 25 ms): as the cameras do it (libjpeg-turbo from the 4:2:0 planes), and
// as they did before, with image/jpeg, for comparison.
func BenchmarkSynthetic640(b *testing.B) {
	samplesDir(b)
	for _, enc := range []string{"libjpeg", "image-jpeg"} {
		b.Run(enc, func(b *testing.B) {
			s, err := NewSyntheticURI("synthetic:?size=640x480&seed=1", Config{})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			var n, size int64
			var buf bytes.Buffer
			b.ReportAllocs()
			for b.Loop() {
				// The same 300 frames (5 shots, cuts and fades) in
				// every run, so runs compare.
				var data []byte
				var err error
				if enc == "libjpeg" {
					data, err = s.Render(n % 300)
				} else {
					err = s.draw(n % 300)
					buf.Reset()
					if err == nil {
						err = jpeg.Encode(&buf, s.img, &jpeg.Options{Quality: s.cfg.Quality})
					}
					data = buf.Bytes()
				}
				if err != nil {
					b.Fatal(err)
				}
				size += int64(len(data))
				n++
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(n), "ms/frame")
			b.ReportMetric(float64(size)/1024/float64(n), "KiB/frame")
		})
	}
}

// BenchmarkSyntheticRenderOnly is the resampling alone, without JPEG.
func BenchmarkSyntheticRenderOnly(b *testing.B) {
	samplesDir(b)
	s, err := NewSyntheticURI("synthetic:?size=640x480&seed=1", Config{})
	if err != nil {
		b.Fatal(err)
	}
	sh := s.shot(0)
	var i int
	for b.Loop() {
		s.renderShot(s.img, sh, float64(i%60)/10)
		i++
	}
}

func absInt(x int) int {
	if x < 0 {
		return -x
	}
	return x
}
