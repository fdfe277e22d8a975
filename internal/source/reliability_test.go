package source

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/framecast/framecast/internal/testkit"
)

// These tests run real cameras' failure modes through Open, the way
// publish uses it: servers killed and restarted, a camera that stalls with
// its connection open, a camera that is down at start-up. Reconnects are
// asserted by polling the status counters, never by sleeping.

// relCamera is an MJPEG camera on a fixed 127.0.0.1 port that the test
// can kill (listener and connections) and restart on the same port.
type relCamera struct {
	t     *testing.T
	addr  string
	frame []byte
	// stallAfter > 0: each connection sends this many frames, then keeps
	// the connection open without sending anything.
	stallAfter int

	mu    sync.Mutex
	srv   *http.Server
	conns int
}

func newRelCamera(t *testing.T) *relCamera {
	t.Helper()
	m := image.NewGray(image.Rect(0, 0, 96, 64))
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, m, nil); err != nil {
		t.Fatal(err)
	}
	c := &relCamera{t: t, frame: buf.Bytes()}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c.addr = l.Addr().String()
	c.serve(l)
	t.Cleanup(c.kill)
	return c
}

func (c *relCamera) serve(l net.Listener) {
	srv := &http.Server{Handler: http.HandlerFunc(c.handle)}
	c.mu.Lock()
	c.srv = srv
	c.mu.Unlock()
	go srv.Serve(l)
}

func (c *relCamera) handle(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	c.conns++
	c.mu.Unlock()
	w.Header().Set("Content-Type", "multipart/x-mixed-replace;boundary=cam")
	for i := 0; ; i++ {
		if c.stallAfter > 0 && i >= c.stallAfter {
			<-r.Context().Done() // frozen camera: connection open, no data
			return
		}
		if _, err := fmt.Fprintf(w, "--cam\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n", len(c.frame)); err != nil {
			return
		}
		w.Write(c.frame)
		w.Write([]byte("\r\n"))
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
			return
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func (c *relCamera) connections() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.conns
}

// kill closes the listener and every connection, like a camera losing
// power.
func (c *relCamera) kill() {
	c.mu.Lock()
	srv := c.srv
	c.srv = nil
	c.mu.Unlock()
	if srv != nil {
		srv.Close()
	}
}

// restart listens again on the same port.
func (c *relCamera) restart() {
	c.t.Helper()
	var l net.Listener
	var err error
	testkit.Eventually(c.t, relWait, "the port to be free again", func() bool {
		l, err = net.Listen("tcp", c.addr)
		return err == nil
	})
	c.serve(l)
}

func relOpts() Config {
	return Config{BackoffMin: 20 * time.Millisecond, BackoffMax: 200 * time.Millisecond, StallTimeout: 5 * time.Second,
		Log: slog.New(slog.DiscardHandler)}
}

// relRead reads frames in the background until the source ends or the
// test does, counting them.
type relReader struct {
	mu     sync.Mutex
	frames int
	err    error
}

func relStart(t *testing.T, s Source) *relReader {
	r := &relReader{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); s.Close(); <-done })
	go func() {
		defer close(done)
		for {
			_, err := s.Next(ctx)
			r.mu.Lock()
			if err != nil {
				r.err = err
				r.mu.Unlock()
				return
			}
			r.frames++
			r.mu.Unlock()
		}
	}()
	return r
}

func (r *relReader) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.frames
}

// relWait is how long the reliability tests wait for a source to notice
// and recover.
const relWait = 30 * time.Second

func TestReliabilityCameraKilledAndRestarted(t *testing.T) {
	cam := newRelCamera(t)
	s, err := Open("http://"+cam.addr+"/video.mjpg", relOpts())
	if err != nil {
		t.Fatal(err)
	}
	sr := s.(StatusReporter)
	r := relStart(t, s)
	testkit.Eventually(t, relWait, "frames", func() bool { return r.count() >= 5 })

	cam.kill()
	testkit.Eventually(t, relWait, "the source to notice the camera is gone", func() bool {
		st := sr.Status()
		return !st.Up && st.Failures >= 2
	})
	before := r.count()
	cam.restart()
	testkit.Eventually(t, relWait, "a reconnect", func() bool { return sr.Status().Reconnects >= 1 && sr.Status().Up })
	testkit.Eventually(t, relWait, "frames after the reconnect", func() bool { return r.count() >= before+5 })
	if st := sr.Status(); st.Connects != 2 || st.LastError == "" || st.Stalls != 0 {
		t.Errorf("status %+v", st)
	}
}

func TestReliabilityCameraDownAtStart(t *testing.T) {
	cam := newRelCamera(t)
	cam.kill()
	s, err := Open("http://"+cam.addr+"/video.mjpg", relOpts())
	if err != nil {
		t.Fatalf("a camera that is down at start is not an error for Open: %v", err)
	}
	sr := s.(StatusReporter)
	r := relStart(t, s)
	testkit.Eventually(t, relWait, "failed attempts", func() bool { return sr.Status().Failures >= 3 })
	if st := sr.Status(); st.Up || st.Connects != 0 {
		t.Fatalf("status %+v", st)
	}
	cam.restart()
	testkit.Eventually(t, relWait, "frames once the camera is up", func() bool { return r.count() >= 3 })
	if st := sr.Status(); st.Connects != 1 || st.Reconnects != 0 {
		t.Errorf("status %+v: want the first connection, after failures", st)
	}
}

func TestReliabilityStalledCamera(t *testing.T) {
	cam := newRelCamera(t)
	cam.stallAfter = 3
	opts := relOpts()
	opts.StallTimeout = 300 * time.Millisecond
	s, err := Open("http://"+cam.addr+"/video.mjpg", opts)
	if err != nil {
		t.Fatal(err)
	}
	sr := s.(StatusReporter)
	r := relStart(t, s)
	// Each connection gives 3 frames then freezes: the watchdog must
	// notice every time and reconnect.
	testkit.Eventually(t, relWait, "two stalls and reconnects", func() bool {
		st := sr.Status()
		return st.Stalls >= 2 && st.Reconnects >= 2 && r.count() >= 9
	})
	if n := cam.connections(); n < 3 {
		t.Errorf("%d connections to the camera, want at least 3", n)
	}
	if st := sr.Status(); !strings.Contains(st.LastError, "no frame for 300ms") {
		t.Errorf("last error %q", st.LastError)
	}
}

// TestReliabilityFFmpegServerRestarted reads streams served by ffmpeg
// itself (-listen 1), kills that server with SIGKILL and starts it again:
// the source reconnects and frames flow again. Two paths: MJPEG over HTTP
// (read by framecast's own multipart parser) and MPEG-TS over TCP (read by
// an ffmpeg child).
func TestReliabilityFFmpegServerRestarted(t *testing.T) {
	ffmpeg := testkit.FFmpeg(t)
	for _, tc := range []struct {
		name   string
		output func(addr string) []string
		uri    func(addr string) string
	}{
		{"http-mjpeg", func(addr string) []string {
			return []string{"-c:v", "mjpeg", "-q:v", "5", "-f", "mpjpeg", "-content_type", "multipart/x-mixed-replace;boundary=ffmpeg",
				"-listen", "1", "http://" + addr + "/video.mjpg"}
		}, func(addr string) string { return "http://" + addr + "/video.mjpg" }},
		{"tcp-mpegts", func(addr string) []string {
			return []string{"-c:v", "mpeg2video", "-f", "mpegts", "tcp://" + addr + "?listen=1"}
		}, func(addr string) string { return "tcp://" + addr }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := testkit.FreeAddr(t)
			var server *exec.Cmd
			serve := func() {
				args := append([]string{"-hide_banner", "-loglevel", "error", "-re", "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=10"},
					tc.output(addr)...)
				server = exec.Command(ffmpeg, args...)
				server.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
				if err := server.Start(); err != nil {
					t.Fatal(err)
				}
			}
			kill := func() {
				syscall.Kill(-server.Process.Pid, syscall.SIGKILL)
				server.Wait()
			}
			serve()
			t.Cleanup(kill)
			opts := relOpts()
			opts.BackoffMin = 100 * time.Millisecond
			s, err := Open(tc.uri(addr), opts)
			if err != nil {
				t.Fatal(err)
			}
			sr := s.(StatusReporter)
			r := relStart(t, s)
			testkit.Eventually(t, relWait, "frames from the ffmpeg server", func() bool { return r.count() >= 5 })

			kill()
			testkit.Eventually(t, relWait, "the source to notice the server is gone", func() bool { return !sr.Status().Up })
			before := r.count()
			serve()
			testkit.Eventually(t, relWait, "a reconnect to the restarted server", func() bool { return sr.Status().Reconnects >= 1 && r.count() >= before+5 })
			r.mu.Lock()
			defer r.mu.Unlock()
			if r.err != nil && !errors.Is(r.err, context.Canceled) {
				t.Errorf("reader stopped: %v", r.err)
			}
		})
	}
}

// TestHLSThroughFFmpeg serves an HLS recording (VOD: #EXT-X-ENDLIST)
// over HTTP: the HTTP source sees a playlist, hands the URL to ffmpeg,
// plays it at its rate and ends with it, instead of replaying it as if a
// live stream had dropped.
func TestHLSThroughFFmpeg(t *testing.T) {
	ffmpeg := testkit.FFmpeg(t)
	dir := t.TempDir()
	if out, err := exec.Command(ffmpeg, "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=10",
		"-t", "2", "-c:v", "mpeg2video", "-f", "hls", "-hls_time", "1", "-hls_list_size", "0", "-hls_playlist_type", "vod",
		dir+"/index.m3u8").CombinedOutput(); err != nil {
		t.Fatalf("making HLS segments: %v\n%s", err, out)
	}
	srv := httptest.NewServer(http.FileServer(http.Dir(dir)))
	defer srv.Close()
	var logs testkit.LockedBuffer
	opts := relOpts()
	opts.Log = slog.New(slog.NewTextHandler(&logs, nil))
	s, err := Open(srv.URL+"/index.m3u8", opts)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	start := time.Now()
	n := 0
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		_, err := s.Next(ctx)
		cancel()
		if err != nil {
			if !errors.Is(err, ErrEndOfInput) {
				t.Fatalf("after %d frames: %v, want the end of the recording", n, err)
			}
			break
		}
		n++
	}
	st := s.(StatusReporter).Status()
	if n < 15 || n > 20 || st.Connects != 1 {
		t.Errorf("%d frames over %d connections; want the recording's 20 frames (a few may be replaced) once", n, st.Connects)
	}
	if d := time.Since(start); d < 1500*time.Millisecond {
		t.Errorf("a 2 s recording played in %v: not paced", d)
	}
	if !strings.Contains(logs.String(), "reader=ffmpeg") || !strings.Contains(logs.String(), "finite=true") {
		t.Errorf("the HLS recording was not handed to ffmpeg as finite:\n%s", logs.String())
	}
}
