package source

import (
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/framecast/framecast/internal/testkit"
)

// TestOpenDispatch checks which kind of source each URI form opens, and
// that the #options reach it. Nothing is dialled: supervised sources
// connect in the background and are closed at once.
func TestOpenDispatch(t *testing.T) {
	dir := t.TempDir()
	writeImages(t, dir)
	video := filepath.Join(dir, "clip.mp4")
	ffmpeg := testkit.FFmpeg(t)
	if out, err := exec.Command(ffmpeg, "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc2=size=64x48:rate=5",
		"-t", "0.4", "-pix_fmt", "yuv420p", video).CombinedOutput(); err != nil {
		t.Fatalf("making a video: %v\n%s", err, out)
	}
	spaced := filepath.Join(dir, "a clip.mp4")
	if err := os.Link(video, spaced); err != nil {
		t.Fatal(err)
	}
	opts := Config{BackoffMin: time.Hour}
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
		{"file://" + strings.ReplaceAll(spaced, " ", "%20"), "lossless", DefaultStallTimeout, ""},
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
	if _, err := Open(notVideo, Config{FFmpeg: "/nonexistent/ffmpeg"}); !errors.Is(err, ErrNoFFmpeg) || !strings.Contains(err.Error(), "apt-get install ffmpeg") {
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
		s, err := Open(tc.uri, Config{})
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
	cfg, err := liveOptions(Config{VideoFPS: 10, JPEGQuality: 80}.withDefaults(), "fps=2.5&size=320x240&every=3&quality=60&loop=true&realtime=false&stall=4s", inputFile)
	if err != nil {
		t.Fatal(err)
	}
	want := liveConfig{FFmpeg: "ffmpeg", Width: 320, Height: 240, FPS: 2.5, Every: 3, Quality: 60, Realtime: false, Loop: true,
		StallTimeout: 4 * time.Second, MaxFrameSize: DefaultMaxFrameSize}
	cfg.Log = nil
	if cfg.liveConfig != want {
		t.Errorf("got %+v\nwant %+v", cfg.liveConfig, want)
	}
	cfg, err = liveOptions(Config{}.withDefaults(), "format=yuyv422", inputV4L2)
	if err != nil || cfg.inputFormat != "yuyv422" || !cfg.Realtime {
		t.Errorf("v4l2 format: %+v %v", cfg, err)
	}
	if _, err := liveOptions(Config{}.withDefaults(), "fps=0&every=x", inputFile); err == nil ||
		!strings.Contains(err.Error(), "fps") || !strings.Contains(err.Error(), "every") {
		t.Errorf("want both errors reported together: %v", err)
	}
}

func TestGlobLoopsInNameOrder(t *testing.T) {
	dir := t.TempDir()
	want := writeImages(t, dir)
	s, err := Open(filepath.Join(dir, "*"), Config{})
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

func TestRedactSecrets(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"rtsp://admin:hunter2@cam/x", "rtsp://admin:xxxxx@cam/x"},
		{"srt://127.0.0.1:9000?passphrase=s3cr3t&latency=200", "srt://127.0.0.1:9000?latency=200&passphrase=xxxxx"},
		{"http://cam/video.cgi?user=admin&pwd=hunter2", "http://cam/video.cgi?pwd=xxxxx&user=admin"},
		{"https://cdn/live.m3u8?token=abc123", "https://cdn/live.m3u8?token=xxxxx"},
		{"rtsp://admin:50%off@cam/x", "rtsp://(unparsable URL)"},
		{"/videos/a.mp4", "/videos/a.mp4"},
		{"synthetic:?seed=2", "synthetic:?seed=2"},
	} {
		if got := Redact(tc.in); got != tc.want {
			t.Errorf("Redact(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestOpenErrorsHidePasswords(t *testing.T) {
	for _, uri := range []string{
		"rtsp://admin:50%off@cam.local/x",
		"rtsp://admin:p/w0rd@cam.local/x",
		"rtsp://admin:1234#5@cam.local:554/x",
		"rtsp://admin:hunter2@cam.local/x#colour=red",
		"srt://127.0.0.1:1?passphrase=hunter2#fps=0",
		"http://admin:hunter2@cam.local/x#every=0",
	} {
		s, err := Open(uri, Config{})
		if err == nil {
			s.Close()
			continue // valid after all (p/w0rd parses as a path): nothing printed
		}
		for _, secret := range []string{"50%off", "p/w0rd", "1234", "5@cam", "hunter2"} {
			if strings.Contains(err.Error(), secret) {
				t.Errorf("%s: the error shows %q: %v", uri, secret, err)
			}
		}
	}
}

func TestStallLimit(t *testing.T) {
	for _, tc := range []struct {
		cfg    liveConfig
		native float64
		want   time.Duration
	}{
		{liveConfig{StallTimeout: 10 * time.Second}, 25, 10 * time.Second},
		{liveConfig{StallTimeout: 2 * time.Second, Every: 25}, 10, 7500 * time.Millisecond},   // a frame every 2.5 s
		{liveConfig{StallTimeout: time.Second, FPS: 0.4}, 0, 7500 * time.Millisecond},         // a frame every 2.5 s
		{liveConfig{StallTimeout: 10 * time.Second, Every: 300}, 0, 180 * time.Second},        // unknown rate: 5 fps
		{liveConfig{StallTimeout: 10 * time.Second, FPS: 30, Every: 2}, 30, 10 * time.Second}, // frequent frames
	} {
		if got := stallLimit(tc.cfg, tc.native); got != tc.want {
			t.Errorf("stallLimit(%+v, %v) = %v, want %v", tc.cfg, tc.native, got, tc.want)
		}
	}
}

// TestSparseFramesAreNotStalls plays a file keeping one frame in 25 with a
// 2 s stall timeout: frames come every 2.5 s, which must not count as a
// stall (before the fix the file ended after its first frame).
func TestSparseFramesAreNotStalls(t *testing.T) {
	ffmpeg := testkit.FFmpeg(t)
	video := filepath.Join(t.TempDir(), "clip.mp4")
	if out, err := exec.Command(ffmpeg, "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc2=size=64x48:rate=10",
		"-t", "5.5", "-pix_fmt", "yuv420p", video).CombinedOutput(); err != nil {
		t.Fatalf("making a video: %v\n%s", err, out)
	}
	s, err := Open(video+"#every=25&stall=2s", Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	n := 0
	for {
		_, err := s.Next(t.Context())
		if err != nil {
			if !errors.Is(err, ErrEndOfInput) {
				t.Fatalf("after %d frames: %v", n, err)
			}
			break
		}
		n++
	}
	if st := s.(StatusReporter).Status(); n != 3 || st.Stalls != 0 {
		t.Errorf("%d frames (want 3: 0, 25, 50), status %+v", n, st)
	}
}

func TestHTTPFinite(t *testing.T) {
	for _, tc := range []struct {
		ctype  string
		body   string
		length int64
		want   bool
	}{
		{"application/vnd.apple.mpegurl", "#EXTM3U\n#EXTINF:1,\na.ts\n#EXT-X-ENDLIST\n", -1, true},
		{"application/vnd.apple.mpegurl", "#EXTM3U\n#EXTINF:1,\na.ts\n", -1, false}, // live playlist
		{"text/plain", "#EXTM3U\n#EXT-X-ENDLIST\n", -1, true},                       // a server that does not know .m3u8
		{"text/plain", "hello #EXT-X-ENDLIST", -1, false},
		{"video/mp4", "", 12345, true},
		{"video/mp2t", "", -1, false}, // a live MPEG-TS stream: no length
		{"application/octet-stream", "", 12345, false},
	} {
		resp := &http.Response{Body: io.NopCloser(strings.NewReader(tc.body)), ContentLength: tc.length}
		if got := httpFinite(resp, tc.ctype); got != tc.want {
			t.Errorf("%s %q (length %d): finite %v, want %v", tc.ctype, tc.body, tc.length, got, tc.want)
		}
	}
}

func TestFFprobeFor(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"ffprobe", "ffprobe-6.1", "ffprobe.exe"} {
		if err := os.WriteFile(filepath.Join(dir, name), nil, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct{ ffmpeg, want string }{
		{"ffmpeg", "ffprobe"}, // from PATH, like ffmpeg
		{"ffmpeg-6.1", "ffprobe"},
		{filepath.Join(dir, "ffmpeg"), filepath.Join(dir, "ffprobe")},
		{filepath.Join(dir, "ffmpeg-6.1"), filepath.Join(dir, "ffprobe-6.1")},
		{filepath.Join(dir, "ffmpeg.exe"), filepath.Join(dir, "ffprobe.exe")},
		{filepath.Join(dir, "myff"), filepath.Join(dir, "ffprobe")},
		// None beside it: the one in PATH.
		{filepath.Join(dir, "ffmpeg-7"), "ffprobe"},
		{"/nonexistent/ffmpeg", "ffprobe"},
	} {
		if got := FFprobeFor(tc.ffmpeg); got != tc.want {
			t.Errorf("FFprobeFor(%q) = %q, want %q", tc.ffmpeg, got, tc.want)
		}
	}
}
