package source

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"image/jpeg"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/framecast/framecast/internal/testkit"
)

func TestFFmpegArgs(t *testing.T) {
	head := []string{"-hide_banner", "-nostdin", "-nostats", "-loglevel", "warning"}
	tail := func(q string) []string {
		return []string{"-fps_mode", "passthrough", "-threads", "1", "-c:v", "mjpeg", "-pix_fmt", "yuvj420p", "-q:v", q, "-f", "image2pipe", "pipe:1"}
	}
	cat := func(parts ...[]string) []string { return slices.Concat(parts...) }
	noData := []string{"-an", "-sn", "-dn"}
	tests := []struct {
		name string
		in   ffmpegInput
		cfg  liveConfig
		want []string
	}{
		{"file paced", ffmpegInput{Kind: inputFile, Target: "/v/a.mp4"}, liveConfig{Realtime: true, Quality: 80},
			cat(head, []string{"-re", "-i", "file:/v/a.mp4"}, noData, tail("8"))},
		{"file unpaced looped, scaled, every 3rd", ffmpegInput{Kind: inputFile, Target: "c:x.mkv"},
			liveConfig{Loop: true, Every: 3, Width: 320, Height: 240, Quality: 100},
			cat(head, []string{"-stream_loop", "-1", "-i", "file:c:x.mkv"}, noData,
				[]string{"-vf", `select='not(mod(n\,3))',scale=320:240`}, tail("2"))},
		{"rtsp over TCP with a socket timeout", ffmpegInput{Kind: inputNetwork, Target: "rtsp://cam/1"},
			liveConfig{StallTimeout: 5 * time.Second, FPS: 2.5, Quality: 1, Realtime: true, Loop: true},
			cat(head, []string{"-rtsp_transport", "tcp", "-timeout", "5000000", "-i", "rtsp://cam/1"}, noData,
				[]string{"-vf", `select='not(eq(floor(t*2.5)\,floor(prev_selected_t*2.5)))'`}, tail("31"))},
		{"http with the default timeout", ffmpegInput{Kind: inputNetwork, Target: "https://cam/live.m3u8"}, liveConfig{},
			cat(head, []string{"-timeout", "10000000", "-i", "https://cam/live.m3u8"}, noData, tail("8"))},
		{"rtmp: the generic I/O timeout", ffmpegInput{Kind: inputNetwork, Target: "rtmp://cam/app/key"}, liveConfig{StallTimeout: time.Second},
			cat(head, []string{"-rw_timeout", "1000000", "-i", "rtmp://cam/app/key"}, noData, tail("8"))},
		{"webcam: size and rate are capture options", ffmpegInput{Kind: inputV4L2, Target: "/dev/video0", InputFormat: "mjpeg"},
			liveConfig{Width: 1280, Height: 720, FPS: 15, Every: 2, Realtime: true},
			cat(head, []string{"-f", "v4l2", "-input_format", "mjpeg", "-video_size", "1280x720", "-framerate", "15", "-i", "/dev/video0"}, noData,
				[]string{"-vf", `select='not(mod(n\,2))'`}, tail("8"))},
		{"webcam with defaults", ffmpegInput{Kind: inputV4L2, Target: "/dev/video2"}, liveConfig{},
			cat(head, []string{"-f", "v4l2", "-i", "/dev/video2"}, noData, tail("8"))},
		{"lavfi unpaced, width only", ffmpegInput{Kind: inputLavfi, Target: "testsrc2=size=320x240:rate=25"}, liveConfig{Width: 160, Quality: 50},
			cat(head, []string{"-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25"}, noData, []string{"-vf", "scale=160:-1"}, tail("17"))},
		{"lavfi paced like a camera", ffmpegInput{Kind: inputLavfi, Target: "testsrc2"}, liveConfig{Realtime: true, Every: 1},
			cat(head, []string{"-re", "-f", "lavfi", "-i", "testsrc2"}, noData, tail("8"))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ffmpegArgs(tt.in, tt.cfg); !slices.Equal(got, tt.want) {
				t.Errorf("got\n%q\nwant\n%q", got, tt.want)
			}
		})
	}
}

func TestFFmpegQScale(t *testing.T) {
	for _, c := range [][2]int{{1, 31}, {100, 2}, {150, 2}, {0, 8}, {80, 8}, {50, 17}, {95, 3}} {
		if got := ffmpegQScale(c[0]); got != c[1] {
			t.Errorf("quality %d: -q:v %d, want %d", c[0], got, c[1])
		}
	}
	for q := 2; q <= 100; q++ {
		if ffmpegQScale(q) > ffmpegQScale(q-1) {
			t.Errorf("quality %d maps to a worse -q:v than %d", q, q-1)
		}
	}
}

func TestFFmpegCompatArgs(t *testing.T) {
	rtsp := ffmpegArgs(ffmpegInput{Kind: inputNetwork, Target: "rtsp://cam/1"}, liveConfig{})
	http := ffmpegArgs(ffmpegInput{Kind: inputNetwork, Target: "http://cam/1"}, liveConfig{})
	tests := []struct {
		name         string
		args         []string
		major, minor int
		has, hasNot  []string
	}{
		{"current", rtsp, 6, 1, []string{"-fps_mode", "-timeout"}, []string{"-vsync", "-stimeout"}},
		{"5.1", rtsp, 5, 1, []string{"-fps_mode", "-timeout"}, []string{"-vsync"}},
		{"unknown (git build)", rtsp, 0, 0, []string{"-fps_mode", "-timeout"}, []string{"-vsync"}},
		{"5.0", rtsp, 5, 0, []string{"-vsync", "-timeout"}, []string{"-fps_mode", "-stimeout"}},
		{"4.4 rtsp", rtsp, 4, 4, []string{"-vsync", "-stimeout"}, []string{"-fps_mode", "-timeout"}},
		{"4.4 http keeps -timeout", http, 4, 4, []string{"-vsync", "-timeout"}, []string{"-stimeout"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ffmpegCompatArgs(tt.args, tt.major, tt.minor)
			for _, a := range tt.has {
				if !slices.Contains(got, a) {
					t.Errorf("%q lacks %s", got, a)
				}
			}
			for _, a := range tt.hasNot {
				if slices.Contains(got, a) {
					t.Errorf("%q has %s", got, a)
				}
			}
		})
	}
	if !slices.Contains(rtsp, "-fps_mode") {
		t.Error("ffmpegCompatArgs changed its input")
	}
}

func TestFFmpegVersion(t *testing.T) {
	bin := testkit.FFmpeg(t)
	out, _ := exec.Command(bin, "-version").Output()
	major, minor := ffmpegVersion(context.Background(), bin)
	if major == 0 && !bytes.HasPrefix(out, []byte("ffmpeg version N-")) {
		t.Errorf("version of %q not recognised", bytes.SplitN(out, []byte("\n"), 2)[0])
	}
	t.Logf("ffmpeg %d.%d", major, minor)
}

// ffDial starts a stream and closes it at the end of the test, checking
// the ffmpeg process is gone then.
func ffDial(t *testing.T, in ffmpegInput, cfg liveConfig) *ffmpegStream {
	t.Helper()
	if cfg.FFmpeg == "" {
		cfg.FFmpeg = testkit.FFmpeg(t)
	}
	st, err := newFFmpegDialer(in, cfg)(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	s := st.(*ffmpegStream)
	t.Cleanup(func() {
		s.Close()
		ffGone(t, s.pid)
	})
	return s
}

// ffGone fails unless process pid has exited and been waited for (a
// zombie still has its /proc entry).
func ffGone(t *testing.T, pid int) {
	t.Helper()
	if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err == nil {
		t.Errorf("process %d still exists after Close", pid)
	}
}

// ffReadAll reads frames until an error, or until max frames.
func ffReadAll(t *testing.T, s stream, max int) ([]Frame, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var frames []Frame
	for len(frames) < max {
		f, err := s.Next(ctx)
		if err != nil {
			return frames, err
		}
		frames = append(frames, f)
	}
	return frames, nil
}

func TestFFmpegLavfi(t *testing.T) {
	const src = "testsrc2=size=320x240:rate=25:duration=2" // 50 frames
	tests := []struct {
		name          string
		cfg           liveConfig
		frames        int
		width, height int
	}{
		{"as is", liveConfig{}, 50, 320, 240},
		{"fps 5", liveConfig{FPS: 5}, 10, 320, 240},
		{"scaled", liveConfig{Width: 160, Height: 120}, 50, 160, 120},
		{"every 5th", liveConfig{Every: 5}, 10, 320, 240},
		// Every first, then the rate limit: 12.5 fps limited to 10.
		{"every 2nd at most 10 fps, scaled", liveConfig{Every: 2, FPS: 10, Width: 64, Height: 48}, 20, 64, 48},
		// Slower than the limit: no frame is duplicated to reach it.
		{"fps above the input's", liveConfig{FPS: 50}, 50, 320, 240},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg
			cfg.Quality = 70
			s := ffDial(t, ffmpegInput{Kind: inputLavfi, Target: src}, cfg)
			frames, err := ffReadAll(t, s, 1000)
			if !errors.Is(err, ErrEndOfInput) {
				t.Errorf("ended with %v, want ErrEndOfInput", err)
			}
			if len(frames) != tt.frames {
				t.Errorf("%d frames, want %d", len(frames), tt.frames)
			}
			for i, f := range frames {
				if f.Width != tt.width || f.Height != tt.height {
					t.Fatalf("frame %d: %d×%d, want %d×%d", i, f.Width, f.Height, tt.width, tt.height)
				}
				if f.CapturedAt.IsZero() || i > 0 && f.CapturedAt.Before(frames[i-1].CapturedAt) {
					t.Fatalf("frame %d: capture time %v out of order", i, f.CapturedAt)
				}
			}
			if len(frames) > 0 {
				img, err := jpeg.Decode(bytes.NewReader(frames[len(frames)-1].JPEG))
				if err != nil || img.Bounds().Dx() != tt.width {
					t.Errorf("last frame: %v", err)
				}
			}
			if _, err2 := s.Next(context.Background()); err2 == nil || err2.Error() != err.Error() {
				t.Errorf("Next after the end: %v, want %v again", err2, err)
			}
		})
	}
}

// ffVideo makes a test video of the sample photos.
func ffVideo(t *testing.T, opt testkit.VideoConfig) string {
	t.Helper()
	return testkit.Video(t, filepath.Join(t.TempDir(), "faces.mp4"), opt)
}

func TestFFmpegFileToTheEnd(t *testing.T) {
	video := ffVideo(t, testkit.VideoConfig{Width: 320, Height: 240, FPS: 10, Seconds: 2})
	s := ffDial(t, ffmpegInput{Kind: inputFile, Target: video}, liveConfig{Quality: 80})
	frames, err := ffReadAll(t, s, 1000)
	if !errors.Is(err, ErrEndOfInput) {
		t.Errorf("ended with %v, want ErrEndOfInput", err)
	}
	if len(frames) != 20 {
		t.Errorf("%d frames, want the file's 20", len(frames))
	}
	if len(frames) > 0 && (frames[0].Width != 320 || frames[0].Height != 240) {
		t.Errorf("frame size %d×%d", frames[0].Width, frames[0].Height)
	}
	if st := s.split.Stats(); st.Truncated+st.Oversized+st.GarbageBytes != 0 {
		t.Errorf("ffmpeg's output was not clean: %+v", st)
	}
}

func TestFFmpegFilePaced(t *testing.T) {
	video := ffVideo(t, testkit.VideoConfig{Width: 160, Height: 120, FPS: 10, Seconds: 1})
	start := time.Now()
	s := ffDial(t, ffmpegInput{Kind: inputFile, Target: video}, liveConfig{Realtime: true})
	frames, err := ffReadAll(t, s, 1000)
	if !errors.Is(err, ErrEndOfInput) || len(frames) != 10 {
		t.Fatalf("%d frames, %v; want 10 and the end of input", len(frames), err)
	}
	// Only a lower bound: a loaded machine may be slower, never faster.
	if d := time.Since(start); d < 800*time.Millisecond {
		t.Errorf("a 1 s clip played in %v: not paced", d)
	}
}

func TestFFmpegFileLoop(t *testing.T) {
	video := ffVideo(t, testkit.VideoConfig{Width: 160, Height: 120, FPS: 10, Seconds: 1})
	s := ffDial(t, ffmpegInput{Kind: inputFile, Target: video}, liveConfig{Loop: true})
	frames, err := ffReadAll(t, s, 25)
	if err != nil || len(frames) != 25 {
		t.Errorf("%d frames, %v; a looped 10-frame file should go on", len(frames), err)
	}
}

func TestFFmpegOversizedFramesDropped(t *testing.T) {
	s := ffDial(t, ffmpegInput{Kind: inputLavfi, Target: "testsrc2=size=320x240:rate=25:duration=0.4"}, liveConfig{MaxFrameSize: 1000})
	frames, err := ffReadAll(t, s, 100)
	if !errors.Is(err, ErrEndOfInput) || len(frames) != 0 {
		t.Errorf("%d frames, %v; want none and the end of input", len(frames), err)
	}
	if st := s.split.Stats(); st.Oversized != 10 {
		t.Errorf("stats %+v, want 10 oversized", st)
	}
}

func TestFFmpegMissing(t *testing.T) {
	d := newFFmpegDialer(ffmpegInput{Kind: inputLavfi, Target: "testsrc2"}, liveConfig{FFmpeg: "/nonexistent/ffmpeg"})
	_, err := d(context.Background())
	if !errors.Is(err, ErrNoFFmpeg) || !errors.Is(err, errPermanent) {
		t.Fatalf("got %v, want ErrNoFFmpeg and errPermanent", err)
	}
	for _, want := range []string{"/nonexistent/ffmpeg", "apt-get install ffmpeg", "brew install ffmpeg", "--ffmpeg"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q does not mention %q", err, want)
		}
	}
}

func TestFFmpegConnectionRefused(t *testing.T) {
	addr := testkit.FreeAddr(t)
	for _, url := range []string{"http://" + addr + "/video", "rtsp://" + addr + "/stream"} {
		s := ffDial(t, ffmpegInput{Kind: inputNetwork, Target: url}, liveConfig{})
		_, err := ffReadAll(t, s, 1)
		if err == nil || errors.Is(err, ErrEndOfInput) ||
			!strings.Contains(err.Error(), "exited with status") || !strings.Contains(err.Error(), "Connection refused") {
			t.Errorf("%s: %v; want ffmpeg's exit status and its message", url, err)
		}
		if err != nil && strings.Contains(err.Error(), "@ 0x") {
			t.Errorf("%s: %v: ffmpeg's context addresses are noise", url, err)
		}
		t.Log(err)
	}
}

// ffListening reports whether something listens on 127.0.0.1:port, from
// /proc/net/tcp: connecting to find out would use up the one connection
// an ffmpeg -listen 1 server accepts.
func ffListening(port int) bool {
	b, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		return false
	}
	want := fmt.Sprintf("0100007F:%04X", port)
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) > 3 && f[1] == want && f[3] == "0A" { // 0A: LISTEN
			return true
		}
	}
	return false
}

// An HTTP stream served by ffmpeg itself, read as a network camera.
func TestFFmpegHTTPStream(t *testing.T) {
	bin := testkit.FFmpeg(t)
	addr := testkit.FreeAddr(t)
	port, _ := strconv.Atoi(addr[strings.LastIndexByte(addr, ':')+1:])
	server := exec.Command(bin, "-hide_banner", "-nostdin", "-loglevel", "error", "-re",
		"-f", "lavfi", "-i", "testsrc2=size=160x120:rate=10", "-c:v", "mjpeg", "-f", "mpjpeg",
		"-listen", "1", "http://"+addr+"/cam")
	server.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := server.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		syscall.Kill(-server.Process.Pid, syscall.SIGKILL)
		server.Wait()
	})
	testkit.Eventually(t, 10*time.Second, "the ffmpeg server to listen", func() bool { return ffListening(port) })

	s := ffDial(t, ffmpegInput{Kind: inputNetwork, Target: "http://" + addr + "/cam"}, liveConfig{Width: 80, Height: 60})
	frames, err := ffReadAll(t, s, 5)
	if err != nil {
		t.Fatalf("after %d frames: %v", len(frames), err)
	}
	for i, f := range frames {
		if f.Width != 80 || f.Height != 60 {
			t.Errorf("frame %d: %d×%d, want 80×60", i, f.Width, f.Height)
		}
	}
	// The server going away ends the stream with an error, not
	// ErrEndOfInput: a camera that stops is reconnected.
	syscall.Kill(-server.Process.Pid, syscall.SIGKILL)
	_, err = ffReadAll(t, s, 1000)
	if err == nil || errors.Is(err, ErrEndOfInput) {
		t.Errorf("after the server died: %v, want a reconnectable error", err)
	}
}

func TestFFmpegCloseUnblocksNext(t *testing.T) {
	// One frame every 20 s, paced: after the first frame, Next blocks.
	s := ffDial(t, ffmpegInput{Kind: inputLavfi, Target: "testsrc2=size=64x48:rate=0.05"}, liveConfig{Realtime: true})
	first, cancelFirst := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancelFirst()
	if _, err := s.Next(first); err != nil {
		t.Fatalf("first frame: %v", err)
	}
	errc := make(chan error, 1)
	go func() {
		_, err := s.Next(context.Background())
		errc <- err
	}()
	select {
	case err := <-errc:
		t.Fatalf("Next returned before Close: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	var wg sync.WaitGroup
	for range 3 {
		wg.Add(1)
		go func() { defer wg.Done(); s.Close() }()
	}
	wg.Wait()
	ffGone(t, s.pid)
	select {
	case err := <-errc:
		if !errors.Is(err, errFFmpegClosed) {
			t.Errorf("Next after Close: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not unblock Next")
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// Cancelling Next's context ends the stream and its ffmpeg.
func TestFFmpegNextContext(t *testing.T) {
	s := ffDial(t, ffmpegInput{Kind: inputLavfi, Target: "testsrc2=size=64x48:rate=0.05"}, liveConfig{Realtime: true})
	// The first frame comes at once (with -threads 1 the encoder does
	// not hold it back until the second, 20 s later); the second does
	// not come within the context.
	first, cancelFirst := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancelFirst()
	if _, err := s.Next(first); err != nil {
		t.Fatalf("first frame: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if _, err := s.Next(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("got %v, want the context's error", err)
	}
	s.Close()
	ffGone(t, s.pid)
}

// fakeFFmpeg writes a shell script that stands in for ffmpeg: it answers
// -version like ffmpeg 6.0 and otherwise runs body.
func fakeFFmpeg(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "ffmpeg")
	script := "#!/bin/sh\nif [ \"$2\" = -version ]; then echo 'ffmpeg version 6.0'; exit 0; fi\n" + body + "\n"
	if err := os.WriteFile(p, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// recordLog captures log records.
type recordLog struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (h *recordLog) Enabled(context.Context, slog.Level) bool { return true }
func (h *recordLog) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.recs = append(h.recs, r.Clone())
	return nil
}
func (h *recordLog) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *recordLog) WithGroup(string) slog.Handler      { return h }

// attrs returns each record's message and attributes as a string.
func (h *recordLog) lines() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, r := range h.recs {
		s := r.Level.String() + " " + r.Message
		r.Attrs(func(a slog.Attr) bool { s += " " + a.String(); return true })
		out = append(out, s)
	}
	return out
}

// ffmpeg's stderr is logged at most ffmpegLogBurst lines per window, the
// rest counted; the error quotes the last lines.
func TestFFmpegStderrRateLimited(t *testing.T) {
	bin := fakeFFmpeg(t, `i=1; while [ $i -le 40 ]; do echo "warning $i" >&2; i=$((i+1)); done
echo "[swscaler @ 0x1] deprecated pixel format used, make sure you did set range correctly" >&2
exit 3`)
	var h recordLog
	s := ffDial(t, ffmpegInput{Kind: inputLavfi, Target: "testsrc2"}, liveConfig{FFmpeg: bin, Log: slog.New(&h)})
	_, err := ffReadAll(t, s, 1)
	want := "ffmpeg exited with status 3: warning 38; warning 39; warning 40"
	if err == nil || err.Error() != want {
		t.Errorf("got %v, want %q", err, want)
	}
	got := h.lines()
	wantLog := []string{
		"WARN ffmpeg source=lavfi:testsrc2 ffmpeg=warning 1",
		"WARN ffmpeg source=lavfi:testsrc2 ffmpeg=warning 2",
		"WARN ffmpeg source=lavfi:testsrc2 ffmpeg=warning 3",
		"WARN ffmpeg source=lavfi:testsrc2 ffmpeg=warning 4",
		"WARN ffmpeg source=lavfi:testsrc2 ffmpeg=warning 5",
		"WARN ffmpeg printed more source=lavfi:testsrc2 suppressed=35",
	}
	if !slices.Equal(got, wantLog) {
		t.Errorf("log:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(wantLog, "\n"))
	}
}

// A password in the URL stays out of the error even when ffmpeg prints
// the URL.
func TestFFmpegErrorRedactsPassword(t *testing.T) {
	// The fake ffmpeg prints its input URL (the argument after -i), raw
	// and percent-encoded, the way ffmpeg's protocol errors do.
	bin := fakeFFmpeg(t, `while [ $# -gt 0 ]; do if [ "$1" = -i ]; then in=$2; fi; shift; done
echo "$in: Server returned 401 Unauthorized" >&2; exit 1`)
	for _, target := range []string{
		"rtsp://admin:hunter%232@127.0.0.1:1/live",
		"srt://127.0.0.1:1?passphrase=s3cr3tkey&latency=200",
	} {
		s := ffDial(t, ffmpegInput{Kind: inputNetwork, Target: target}, liveConfig{FFmpeg: bin})
		_, err := ffReadAll(t, s, 1)
		if err == nil || !strings.Contains(err.Error(), "401 Unauthorized") {
			t.Fatalf("%s: got %v", target, err)
		}
		for _, secret := range []string{"hunter", "s3cr3tkey"} {
			if strings.Contains(err.Error(), secret) {
				t.Errorf("%s: the error shows the secret: %v", target, err)
			}
		}
	}
}

// Close ends what ffmpeg started too: its process group is killed.
func TestFFmpegCloseKillsProcessGroup(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "child.pid")
	bin := fakeFFmpeg(t, `trap '' TERM; sleep 60 & echo $! > `+pidFile+`; wait`)
	s := ffDial(t, ffmpegInput{Kind: inputLavfi, Target: "testsrc2"}, liveConfig{FFmpeg: bin})
	var child int
	testkit.Eventually(t, 10*time.Second, "the fake ffmpeg's child", func() bool {
		b, err := os.ReadFile(pidFile)
		if err != nil || !bytes.HasSuffix(b, []byte("\n")) {
			return false
		}
		child, err = strconv.Atoi(strings.TrimSpace(string(b)))
		return err == nil
	})
	start := time.Now()
	s.Close()
	// The script ignores SIGTERM: it takes the SIGKILL after the grace.
	if d := time.Since(start); d < ffmpegTermGrace/2 {
		t.Errorf("Close took %v: the script ignoring SIGTERM was not given its grace", d)
	}
	ffGone(t, s.pid)
	// The child was reparented; its new parent reaps it, which may take
	// a moment, and until then it is a zombie: dead either way.
	testkit.Eventually(t, 10*time.Second, "the child to die", func() bool { return ffDeadOrZombie(child) })
}

func ffDeadOrZombie(pid int) bool {
	f, err := os.Open(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	defer f.Close()
	line, _ := bufio.NewReader(f).ReadString('\n')
	// pid (comm) state …
	if i := strings.LastIndexByte(line, ')'); i >= 0 && i+2 < len(line) {
		return line[i+2] == 'Z' || line[i+2] == 'X'
	}
	return false
}
