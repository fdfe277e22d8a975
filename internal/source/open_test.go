package source

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestOpenDispatch checks which kind of source each URI form opens, and
// that the #options reach it. Nothing is dialled: supervised sources
// connect in the background and are closed at once.
func TestOpenDispatch(t *testing.T) {
	dir := t.TempDir()
	writeImages(t, dir)
	video := filepath.Join(dir, "clip.mp4")
	ffmpeg, err := exec.LookPath("ffmpeg")
	if err != nil {
		t.Fatal("ffmpeg is needed by this test: apt-get install ffmpeg")
	}
	if out, err := exec.Command(ffmpeg, "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc2=size=64x48:rate=5",
		"-t", "0.4", "-pix_fmt", "yuv420p", video).CombinedOutput(); err != nil {
		t.Fatalf("making a video: %v\n%s", err, out)
	}
	opts := Options{BackoffMin: time.Hour}
	for _, tc := range []struct {
		uri      string
		kind     string // files, synthetic, lossless, live
		stall    time.Duration
		redacted string
	}{
		{dir, "files", 0, ""},
		{"file://" + dir, "files", 0, ""},
		{filepath.Join(dir, "*.jp*g"), "files", 0, ""},
		{filepath.Join(dir, "a.jpg"), "files", 0, ""},
		{"synthetic:", "synthetic", 0, ""},
		{video, "lossless", DefaultStallTimeout, ""},
		{video + "#loop=1&realtime=false&every=2", "lossless", DefaultStallTimeout, ""},
		{"file://" + video + "#stall=3s", "lossless", 3 * time.Second, ""},
		{"rtsp://user:secret@127.0.0.1:1/stream#fps=5&size=320x240", "live", DefaultStallTimeout, "rtsp://user:xxxxx@127.0.0.1:1/stream"},
		{"rtmp://127.0.0.1:1/live/x", "live", DefaultStallTimeout, ""},
		{"http://127.0.0.1:1/video.mjpg#stall=2s", "live", 2 * time.Second, ""},
		{"/dev/video9", "live", DefaultStallTimeout, ""},
		{"v4l2:///dev/video9?size=1280x720&fps=30&format=mjpeg", "live", DefaultStallTimeout, ""},
		{"lavfi:testsrc2=size=64x48:rate=5#quality=50", "live", DefaultStallTimeout, ""},
	} {
		s, err := Open(tc.uri, opts)
		if err != nil {
			t.Errorf("%s: %v", tc.uri, err)
			continue
		}
		kind := "?"
		switch v := s.(type) {
		case *files:
			kind = "files"
		case *Synthetic:
			kind = "synthetic"
		case *Supervised:
			kind = "live"
			if v.lossless {
				kind = "lossless"
			}
			if v.cfg.StallTimeout != tc.stall {
				t.Errorf("%s: stall timeout %v, want %v", tc.uri, v.cfg.StallTimeout, tc.stall)
			}
			if tc.redacted != "" && v.name != tc.redacted {
				t.Errorf("%s: logged as %q, want %q", tc.uri, v.name, tc.redacted)
			}
			if strings.Contains(v.name, "secret") {
				t.Errorf("%s: the password is in the name %q", tc.uri, v.name)
			}
		}
		if kind != tc.kind {
			t.Errorf("%s: opened %s (%T), want %s", tc.uri, kind, s, tc.kind)
		}
		s.Close()
	}
}

func TestOpenBadOptions(t *testing.T) {
	dir := t.TempDir()
	writeImages(t, dir)
	notVideo := filepath.Join(dir, "notes.mp4")
	if err := os.WriteFile(notVideo, []byte("not really a video"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(notVideo, Options{FFmpeg: "/nonexistent/ffmpeg"}); !errors.Is(err, ErrNoFFmpeg) || !strings.Contains(err.Error(), "apt-get install ffmpeg") {
		t.Errorf("video without ffmpeg: %v", err)
	}
	for _, tc := range []struct{ uri, want string }{
		{"rtsp://127.0.0.1:1/x#fps=0", "fps"},
		{"rtsp://127.0.0.1:1/x#size=big", "size"},
		{"rtsp://127.0.0.1:1/x#every=0", "every"},
		{"rtsp://127.0.0.1:1/x#quality=101", "quality"},
		{"rtsp://127.0.0.1:1/x#loop=maybe", "loop"},
		{"rtsp://127.0.0.1:1/x#stall=soon", "stall"},
		{"rtsp://127.0.0.1:1/x#format=mjpeg", "only webcams"},
		{"rtsp://127.0.0.1:1/x#colour=red", "unknown option"},
		{"v4l2:video0", "device path"},
		{"lavfi:", "filter graph"},
		{filepath.Join(dir, "a.jpg") + "#fps=2", "not images"},
		{filepath.Join(dir, "*.tiff"), "no images match"},
		{filepath.Join(dir, "[.jpg"), "glob"},
		{filepath.Join(dir, "missing.mp4"), "no such file"},
		{"gopher://x/y", "not supported"},
		{notVideo, "neither an image nor a video"},
	} {
		s, err := Open(tc.uri, Options{})
		if err == nil {
			s.Close()
			t.Errorf("%s: no error", tc.uri)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want it to mention %q", tc.uri, err, tc.want)
		}
	}
}

func TestOpenLiveOptions(t *testing.T) {
	cfg, err := liveOptions(Options{VideoFPS: 10, JPEGQuality: 80}.withDefaults(), "fps=2.5&size=320x240&every=3&quality=60&loop=true&realtime=false&stall=4s", inputFile)
	if err != nil {
		t.Fatal(err)
	}
	want := liveConfig{FFmpeg: "ffmpeg", Width: 320, Height: 240, FPS: 2.5, Every: 3, Quality: 60, Realtime: false, Loop: true,
		StallTimeout: 4 * time.Second, MaxFrameSize: DefaultMaxFrameSize}
	cfg.Log = nil
	if cfg.liveConfig != want {
		t.Errorf("got %+v\nwant %+v", cfg.liveConfig, want)
	}
	cfg, err = liveOptions(Options{}.withDefaults(), "format=yuyv422", inputV4L2)
	if err != nil || cfg.inputFormat != "yuyv422" || !cfg.Realtime {
		t.Errorf("v4l2 format: %+v %v", cfg, err)
	}
	if _, err := liveOptions(Options{}.withDefaults(), "fps=0&every=x", inputFile); err == nil ||
		!strings.Contains(err.Error(), "fps") || !strings.Contains(err.Error(), "every") {
		t.Errorf("want both errors reported together: %v", err)
	}
}

func TestGlobLoopsInNameOrder(t *testing.T) {
	dir := t.TempDir()
	want := writeImages(t, dir)
	s, err := Open(filepath.Join(dir, "*"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// a.jpg, b.png (re-encoded), c.jpeg, then a.jpg again.
	var sizes []int
	for range 4 {
		f, err := s.Next(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		sizes = append(sizes, f.Width)
	}
	if sizes[0] != sizes[3] || len(want) != 3 || sizes[0] == sizes[1] {
		t.Errorf("widths %v: want a.jpg, b.png, c.jpeg, a.jpg", sizes)
	}
}
