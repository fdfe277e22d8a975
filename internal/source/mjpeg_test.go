package source

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/framecast/framecast/internal/testkit"
)

// mjpegWait bounds every wait in these tests: a hang fails in seconds
// instead of at the test binary's timeout.
const mjpegWait = 5 * time.Second

// mjpegTestJPEG encodes a w×h image; noise makes it large (it does not
// compress).
func mjpegTestJPEG(t testing.TB, w, h int, noise bool) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	rng := rand.New(rand.NewPCG(uint64(w), uint64(h)))
	for y := range h {
		for x := range w {
			c := color.RGBA{uint8(x * 4), uint8(y * 4), 128, 255}
			if noise {
				c = color.RGBA{uint8(rng.IntN(256)), uint8(rng.IntN(256)), uint8(rng.IntN(256)), 255}
			}
			img.Set(x, y, c)
		}
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 90}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// mjpegTestJPEGs are three small JPEGs of different sizes, so a frame
// shows which one it is.
func mjpegTestJPEGs(t testing.TB) [][]byte {
	return [][]byte{mjpegTestJPEG(t, 32, 24, false), mjpegTestJPEG(t, 48, 32, false), mjpegTestJPEG(t, 64, 40, false)}
}

// mjpegPart writes one part as most cameras do: delimiter line, headers,
// blank line, JPEG, CRLF.
func mjpegPart(b *bytes.Buffer, delim string, withLen bool, data []byte) {
	fmt.Fprintf(b, "%s\r\nContent-Type: image/jpeg\r\n", delim)
	if withLen {
		fmt.Fprintf(b, "Content-Length: %d\r\n", len(data))
	}
	b.WriteString("\r\n")
	b.Write(data)
	b.WriteString("\r\n")
}

// mjpegServer serves body under Content-Type ctype, then ends the
// response, as a camera that closes the stream.
func mjpegServer(t *testing.T, ctype string, body []byte) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", ctype)
		w.Write(body)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// mjpegDial dials url and closes the stream at the end of the test.
func mjpegDial(t *testing.T, url string, cfg liveConfig, fallback dialer) stream {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), mjpegWait)
	defer cancel()
	s, err := newHTTPDialer(url, cfg, nil, fallback)(ctx)
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

type mjpegResult struct {
	f   Frame
	err error
}

// mjpegNext calls Next, failing the test if it does not return in time.
func mjpegNext(t *testing.T, s stream) (Frame, error) {
	t.Helper()
	ch := make(chan mjpegResult, 1)
	go func() {
		f, err := s.Next(context.Background())
		ch <- mjpegResult{f, err}
	}()
	select {
	case r := <-ch:
		return r.f, r.err
	case <-time.After(mjpegWait):
		t.Fatal("Next did not return")
		return Frame{}, nil
	}
}

// mjpegDrain reads frames until the stream fails.
func mjpegDrain(t *testing.T, s stream) ([]Frame, error) {
	t.Helper()
	var frames []Frame
	for range 1000 {
		f, err := mjpegNext(t, s)
		if err != nil {
			return frames, err
		}
		frames = append(frames, f)
	}
	t.Fatal("the stream does not end")
	return nil, nil
}

func mjpegStatsOf(t *testing.T, s stream) mjpegStats {
	t.Helper()
	st, ok := s.(interface{ Stats() mjpegStats })
	if !ok {
		t.Fatalf("stream %T has no Stats", s)
	}
	return st.Stats()
}

func TestMJPEGParts(t *testing.T) {
	jpgs := mjpegTestJPEGs(t)
	big := mjpegTestJPEG(t, 200, 200, true) // tens of KB, over the 16 KiB limit below
	const std = "multipart/x-mixed-replace; boundary=myboundary"
	parts := func(delim string, withLen bool, data ...[]byte) []byte {
		var b bytes.Buffer
		for _, d := range data {
			mjpegPart(&b, delim, withLen, d)
		}
		return b.Bytes()
	}
	cat := func(bs ...[]byte) []byte { return bytes.Join(bs, nil) }
	cut := jpgs[1][:len(jpgs[1])/2]

	cases := []struct {
		name    string
		ctype   string
		body    []byte
		max     int
		want    []int // indexes into jpgs
		corrupt int64
		skipped int64
	}{
		{name: "content-length", ctype: std, body: parts("--myboundary", true, jpgs...), want: []int{0, 1, 2}},
		{name: "no content-length", ctype: std, body: parts("--myboundary", false, jpgs...), want: []int{0, 1, 2}},
		{name: "boundary declared with --", ctype: "multipart/x-mixed-replace;boundary=--myboundary",
			body: parts("--myboundary", false, jpgs...), want: []int{0, 1, 2}},
		{name: "boundary declared with --, RFC delimiter", ctype: "multipart/x-mixed-replace; boundary=--myboundary",
			body: parts("----myboundary", false, jpgs...), want: []int{0, 1, 2}},
		{name: "quoted boundary", ctype: `multipart/x-mixed-replace; boundary="frame: 42"`,
			body: parts("--frame: 42", true, jpgs...), want: []int{0, 1, 2}},
		{name: "no boundary declared", ctype: "multipart/x-mixed-replace",
			body: parts("--xyz", false, jpgs...), want: []int{0, 1, 2}},
		{name: "unparsable content type", ctype: "multipart/x-mixed-replace; boundary=myboundary; boundary=myboundary",
			body: parts("--myboundary", false, jpgs...), want: []int{0, 1, 2}},
		{name: "multipart/mixed", ctype: "multipart/mixed; boundary=myboundary",
			body: parts("--myboundary", true, jpgs...), want: []int{0, 1, 2}},
		{name: "garbage between parts", ctype: std, body: cat(
			[]byte("preamble\r\n\r\n"),
			parts("--myboundary", true, jpgs[0]),
			[]byte("\r\n\r\njunk line\r\n\x00\x01\x02binary\n"), bytes.Repeat([]byte("x"), 200<<10), []byte("\r\n"),
			parts("--myboundary", false, jpgs[1]),
			[]byte("   \r\n\n"),
			parts("--myboundary", true, jpgs[2])),
			want: []int{0, 1, 2}},
		{name: "no CRLF before the boundary", ctype: std, body: cat(
			[]byte("--myboundary\r\nContent-Type: image/jpeg\r\n\r\n"), jpgs[0],
			[]byte("--myboundary\r\nContent-Type: image/jpeg\r\n\r\n"), jpgs[1],
			[]byte("--myboundary\r\n")),
			want: []int{0, 1}},
		{name: "missing final CRLF, no length", ctype: std, body: cat(
			parts("--myboundary", false, jpgs[0]), []byte("--myboundary\r\n\r\n"), jpgs[1]),
			want: []int{0, 1}},
		{name: "missing final CRLF, with length", ctype: std, body: cat(
			parts("--myboundary", true, jpgs[0]), fmt.Appendf(nil, "--myboundary\r\nContent-Length: %d\r\n\r\n", len(jpgs[1])), jpgs[1]),
			want: []int{0, 1}},
		{name: "closing boundary", ctype: std, body: cat(parts("--myboundary", false, jpgs...), []byte("--myboundary--\r\n")),
			want: []int{0, 1, 2}},
		{name: "extra and lower-case headers, LF only", ctype: std, body: cat(
			fmt.Appendf(nil, "--myboundary\ncontent-type: image/jpeg\nX-Timestamp: 1700000000.123\ncontent-length: %d\n"+
				"Content-Disposition: inline; filename=frame.jpg\n\n", len(jpgs[0])), jpgs[0], []byte("\n"),
			[]byte("--myboundary\nX-Frame: 2\nCONTENT-TYPE: image/jpg\n\n"), jpgs[1], []byte("\n")),
			want: []int{0, 1}},
		{name: "parts without headers", ctype: std, body: cat(
			[]byte("--myboundary\r\n"), jpgs[0], []byte("\r\n--myboundary\r\n\r\n"), jpgs[1], []byte("\r\n--myboundary\r\n")),
			want: []int{0, 1}},
		{name: "extra blank line before the JPEG", ctype: std, body: cat(
			[]byte("--myboundary\r\nContent-Type: image/jpeg\r\n\r\n\r\n"), jpgs[0], []byte("\r\n"),
			parts("--myboundary", false, jpgs[1])),
			want: []int{0, 1}},
		{name: "empty parts", ctype: std, body: cat(
			[]byte("--myboundary\r\n--myboundary\r\n\r\n--myboundary\r\n"), parts("--myboundary", true, jpgs[0])),
			want: []int{0}},
		{name: "content-length zero", ctype: std, body: cat(
			[]byte("--myboundary\r\nContent-Type: image/jpeg\r\nContent-Length: 0\r\n\r\n"), jpgs[0], []byte("\r\n--myboundary\r\n")),
			want: []int{0}},
		{name: "other content types skipped", ctype: std, body: cat(
			parts("--myboundary", true, jpgs[0]),
			[]byte("--myboundary\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello\r\n"),
			[]byte("--myboundary\r\nContent-Type: application/json\r\n\r\n{\"motion\": true}\r\n"),
			parts("--myboundary", false, jpgs[1])),
			want: []int{0, 1}, skipped: 2},
		{name: "truncated JPEG with length", ctype: std, body: parts("--myboundary", true, jpgs[0], cut, jpgs[2]),
			want: []int{0, 2}, corrupt: 1},
		{name: "truncated JPEG without length", ctype: std, body: parts("--myboundary", false, jpgs[0], cut, jpgs[2]),
			want: []int{0, 2}, corrupt: 1},
		{name: "not a JPEG", ctype: std, body: parts("--myboundary", false, []byte("hello"), jpgs[1]),
			want: []int{1}, corrupt: 1},
		{name: "JPEG without frame header", ctype: std, body: parts("--myboundary", true, []byte{0xFF, 0xD8, 0xFF, 0xD9}, jpgs[1]),
			want: []int{1}, corrupt: 1},
		{name: "oversize with length", ctype: std, max: 16 << 10, body: parts("--myboundary", true, jpgs[0], big, jpgs[2]),
			want: []int{0, 2}, corrupt: 1},
		{name: "oversize without length", ctype: std, max: 16 << 10, body: parts("--myboundary", false, jpgs[0], big, jpgs[2]),
			want: []int{0, 2}, corrupt: 1},
		{name: "content-length lies", ctype: std, body: cat(
			[]byte("--myboundary\r\nContent-Type: image/jpeg\r\nContent-Length: 999999999999\r\n\r\n"), jpgs[0], []byte("\r\n"),
			parts("--myboundary", true, jpgs[1])),
			want: []int{1}, corrupt: 1},
		{name: "endless header block", ctype: std, body: cat(
			[]byte("--myboundary\r\n"), bytes.Repeat([]byte("X-Noise: 1\r\n"), 100), parts("--myboundary", true, jpgs[1])),
			want: []int{1}, corrupt: 1},
		{name: "last part cut by the end", ctype: std, body: cat(parts("--myboundary", true, jpgs[0]),
			fmt.Appendf(nil, "--myboundary\r\nContent-Length: %d\r\n\r\n", len(jpgs[1])), cut),
			want: []int{0}, corrupt: 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := mjpegServer(t, tc.ctype, tc.body)
			s := mjpegDial(t, srv.URL, liveConfig{MaxFrameSize: tc.max}, nil)
			if _, ok := s.(*mjpegStream); !ok {
				t.Fatalf("dial returned a %T, want the MJPEG stream", s)
			}
			frames, err := mjpegDrain(t, s)
			if err == nil || !strings.Contains(err.Error(), "closed the stream") {
				t.Errorf("error at the end: %v, want the camera closed the stream", err)
			}
			if errors.Is(err, ErrEndOfInput) {
				t.Errorf("a live camera must not end with ErrEndOfInput: %v", err)
			}
			if len(frames) != len(tc.want) {
				t.Fatalf("%d frames, want %d", len(frames), len(tc.want))
			}
			for i, f := range frames {
				want := jpgs[tc.want[i]]
				if !bytes.Equal(f.JPEG, want) {
					t.Errorf("frame %d: %d bytes, want JPEG %d (%d bytes)", i, len(f.JPEG), tc.want[i], len(want))
				}
				cfg, _ := jpeg.DecodeConfig(bytes.NewReader(want))
				if f.Width != cfg.Width || f.Height != cfg.Height {
					t.Errorf("frame %d: %d×%d, want %d×%d", i, f.Width, f.Height, cfg.Width, cfg.Height)
				}
				if f.CapturedAt.IsZero() {
					t.Errorf("frame %d: no CapturedAt", i)
				}
			}
			got := mjpegStatsOf(t, s)
			want := mjpegStats{Frames: int64(len(tc.want)), Corrupt: tc.corrupt, Skipped: tc.skipped}
			if got != want {
				t.Errorf("stats %+v, want %+v", got, want)
			}
		})
	}
}

func TestMJPEGServerStopsMidStream(t *testing.T) {
	jpgs := mjpegTestJPEGs(t)
	var whole, half bytes.Buffer
	mjpegPart(&whole, "--b", true, jpgs[0])
	half.Write(whole.Bytes())
	fmt.Fprintf(&half, "--b\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n", len(jpgs[1]))
	half.Write(jpgs[1][:len(jpgs[1])/2])

	cases := []struct {
		name    string
		handler http.HandlerFunc
	}{
		{"response ends", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "multipart/x-mixed-replace; boundary=b")
			w.Write(half.Bytes())
		}},
		{"connection dropped", func(w http.ResponseWriter, r *http.Request) {
			conn, bw, err := http.NewResponseController(w).Hijack()
			if err != nil {
				t.Error(err)
				return
			}
			defer conn.Close()
			bw.WriteString("HTTP/1.1 200 OK\r\nContent-Type: multipart/x-mixed-replace; boundary=b\r\n\r\n")
			bw.Write(half.Bytes())
			bw.Flush()
		}},
		{"chunked body cut", func(w http.ResponseWriter, r *http.Request) {
			conn, bw, err := http.NewResponseController(w).Hijack()
			if err != nil {
				t.Error(err)
				return
			}
			defer conn.Close()
			fmt.Fprintf(bw, "HTTP/1.1 200 OK\r\nContent-Type: multipart/x-mixed-replace; boundary=b\r\n"+
				"Transfer-Encoding: chunked\r\n\r\n%x\r\n", half.Len())
			bw.Write(half.Bytes())
			bw.Flush()
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(tc.handler)
			t.Cleanup(srv.Close)
			s := mjpegDial(t, srv.URL, liveConfig{}, nil)
			frames, err := mjpegDrain(t, s)
			if len(frames) != 1 || !bytes.Equal(frames[0].JPEG, jpgs[0]) {
				t.Errorf("%d frames, want the first JPEG only", len(frames))
			}
			if err == nil || !strings.Contains(err.Error(), "camera") {
				t.Errorf("error %v, want one naming the camera", err)
			}
			if st := mjpegStatsOf(t, s); st.Corrupt != 1 {
				t.Errorf("stats %+v, want the cut part counted corrupt", st)
			}
		})
	}
}

// mjpegBlockingServer sends the MJPEG response headers and then nothing
// until the client goes away, which it reports on gone.
func mjpegBlockingServer(t *testing.T, ctype string) (srv *httptest.Server, gone chan struct{}) {
	gone = make(chan struct{}, 1)
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", ctype)
		w.WriteHeader(http.StatusOK)
		http.NewResponseController(w).Flush()
		<-r.Context().Done()
		gone <- struct{}{}
	}))
	t.Cleanup(srv.Close)
	return srv, gone
}

func TestMJPEGCloseUnblocksNext(t *testing.T) {
	srv, gone := mjpegBlockingServer(t, "multipart/x-mixed-replace; boundary=b")
	s := mjpegDial(t, srv.URL, liveConfig{}, nil)
	errc := make(chan error, 1)
	go func() {
		_, err := s.Next(context.Background())
		errc <- err
	}()
	var wg sync.WaitGroup
	for range 3 { // Close is idempotent and safe from several goroutines
		wg.Go(func() {
			if err := s.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
	}
	wg.Wait()
	select {
	case err := <-errc:
		if err == nil {
			t.Error("Next returned no error after Close")
		}
	case <-time.After(mjpegWait):
		t.Fatal("Close did not unblock Next")
	}
	if _, err := s.Next(context.Background()); err == nil {
		t.Error("Next after Close returned no error")
	}
	select {
	case <-gone:
	case <-time.After(mjpegWait):
		t.Fatal("the camera's connection stayed open after Close")
	}
}

func TestMJPEGNextContextCancel(t *testing.T) {
	srv, _ := mjpegBlockingServer(t, "multipart/x-mixed-replace; boundary=b")
	s := mjpegDial(t, srv.URL, liveConfig{}, nil)
	next := testkit.Go(t, func(ctx context.Context) error {
		_, err := s.Next(ctx)
		return err
	})
	if err := next.Stop(mjpegWait); !errors.Is(err, context.Canceled) {
		t.Errorf("Next: %v, want context.Canceled", err)
	}
}

// TestHTTPStreamOutlivesDialContext: the supervisor may dial with a
// context that ends when the dial returns; the stream must go on.
func TestHTTPStreamOutlivesDialContext(t *testing.T) {
	jpgs := mjpegTestJPEGs(t)
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "multipart/x-mixed-replace; boundary=b")
		w.WriteHeader(http.StatusOK)
		http.NewResponseController(w).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
			return
		}
		var b bytes.Buffer
		mjpegPart(&b, "--b", true, jpgs[0])
		w.Write(b.Bytes())
	}))
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithCancel(context.Background())
	s, err := newHTTPDialer(srv.URL, liveConfig{}, nil, nil)(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	cancel()
	close(release)
	f, err := mjpegNext(t, s)
	if err != nil || !bytes.Equal(f.JPEG, jpgs[0]) {
		t.Fatalf("Next after the dial context ended: %d bytes, %v", len(f.JPEG), err)
	}
}

func TestMJPEGPacer(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	ms := func(v ...int) []time.Time {
		out := make([]time.Time, len(v))
		for i, x := range v {
			out[i] = t0.Add(time.Duration(x) * time.Millisecond)
		}
		return out
	}
	cases := []struct {
		name     string
		interval time.Duration
		at       []time.Time
		want     string // one letter per frame: k kept, d dropped
	}{
		{"no limit", 0, ms(0, 1, 2, 3), "kkkk"},
		{"camera at the limit, with jitter", 100 * time.Millisecond, ms(0, 99, 205, 297, 401, 498), "kkkkkk"},
		{"camera at 3× the limit", 100 * time.Millisecond, ms(0, 33, 66, 100, 133, 166, 200, 233, 266), "kdkddkddk"},
		{"burst", 100 * time.Millisecond, ms(0, 1, 2, 3, 4), "kdddd"},
		{"gap restarts the schedule", 100 * time.Millisecond, ms(0, 1000, 1001, 1060, 1100), "kkdkd"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := mjpegPacer{interval: tc.interval}
			var got strings.Builder
			for _, at := range tc.at {
				if p.allow(at) {
					got.WriteByte('k')
				} else {
					got.WriteByte('d')
				}
			}
			if got.String() != tc.want {
				t.Errorf("got %s, want %s", got.String(), tc.want)
			}
		})
	}
}

func TestMJPEGRateLimits(t *testing.T) {
	jpg := mjpegTestJPEGs(t)[0]
	var body bytes.Buffer
	const n = 30
	for range n {
		mjpegPart(&body, "--b", true, jpg)
	}
	srv := mjpegServer(t, "multipart/x-mixed-replace; boundary=b", body.Bytes())
	t.Run("fps", func(t *testing.T) {
		// 30 frames sent at once, 1 fps: the first passes, the others
		// arrive well within half a second of it.
		s := mjpegDial(t, srv.URL, liveConfig{FPS: 1}, nil)
		frames, _ := mjpegDrain(t, s)
		st := mjpegStatsOf(t, s)
		if len(frames) < 1 || len(frames) > 2 || st.Frames+st.Skipped != n || st.Corrupt != 0 {
			t.Errorf("%d frames, stats %+v: want 1 (2 on a very slow machine) delivered, the rest skipped", len(frames), st)
		}
	})
	t.Run("every", func(t *testing.T) {
		s := mjpegDial(t, srv.URL, liveConfig{Every: 3}, nil)
		frames, _ := mjpegDrain(t, s)
		if st := mjpegStatsOf(t, s); len(frames) != n/3 || st != (mjpegStats{Frames: n / 3, Skipped: n - n/3}) {
			t.Errorf("%d frames, stats %+v: want every third", len(frames), st)
		}
	})
}

func TestSnapshot(t *testing.T) {
	jpgs := mjpegTestJPEGs(t)
	var requests atomic.Int64
	var badAgent atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ua := r.UserAgent(); ua != "framecast" {
			badAgent.Store(ua)
		}
		n := requests.Add(1)
		switch n {
		case 2:
			w.Header().Set("Content-Type", "text/html")
			io.WriteString(w, "<html>camera busy</html>")
			return
		case 5:
			http.Error(w, "rebooting", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "image/jpeg")
		w.Write(jpgs[(n-1)%3])
	}))
	t.Cleanup(srv.Close)

	start := time.Now()
	s := mjpegDial(t, srv.URL, liveConfig{FPS: 20}, nil)
	if _, ok := s.(*snapshotStream); !ok {
		t.Fatalf("dial returned a %T, want the snapshot stream", s)
	}
	// Requests: 1 a frame, 2 not a JPEG (corrupt, polled again), 3 and 4
	// frames, 5 an error that ends the stream.
	frames, err := mjpegDrain(t, s)
	elapsed := time.Since(start)
	if len(frames) != 3 || !bytes.Equal(frames[0].JPEG, jpgs[0]) || !bytes.Equal(frames[1].JPEG, jpgs[2]) ||
		!bytes.Equal(frames[2].JPEG, jpgs[0]) {
		t.Errorf("got %d frames, want JPEGs 0, 2, 0", len(frames))
	}
	if len(frames) > 0 && (frames[0].Width != 32 || frames[0].Height != 24) {
		t.Errorf("frame size %d×%d, want 32×24", frames[0].Width, frames[0].Height)
	}
	if err == nil || !strings.Contains(err.Error(), "503") {
		t.Errorf("error %v, want the camera's 503", err)
	}
	if st := mjpegStatsOf(t, s); st != (mjpegStats{Frames: 3, Corrupt: 1}) {
		t.Errorf("stats %+v, want 3 frames and 1 corrupt", st)
	}
	// Five requests at 20 fps: at least four intervals.
	if elapsed < 4*50*time.Millisecond {
		t.Errorf("5 requests in %v: not paced at 20 fps", elapsed)
	}
	if ua := badAgent.Load(); ua != nil {
		t.Errorf("User-Agent %q, want framecast", ua)
	}
}

func TestSnapshotDefaultRateAndClose(t *testing.T) {
	jpg := mjpegTestJPEGs(t)[0]
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "image/jpeg")
		w.Write(jpg)
	}))
	t.Cleanup(srv.Close)
	s := mjpegDial(t, srv.URL, liveConfig{}, nil)
	if iv := s.(*snapshotStream).interval; iv != time.Second {
		t.Errorf("interval %v without fps, want 1s", iv)
	}
	if _, err := mjpegNext(t, s); err != nil {
		t.Fatal(err)
	}
	// The next Next waits for the interval: Close must end the wait.
	errc := make(chan error, 1)
	go func() {
		_, err := s.Next(context.Background())
		errc <- err
	}()
	s.Close()
	s.Close()
	select {
	case err := <-errc:
		if err == nil {
			t.Error("Next returned no error after Close")
		}
	case <-time.After(mjpegWait):
		t.Fatal("Close did not unblock Next")
	}
}

// mjpegFakeStream is what the fake fallback dialer returns.
type mjpegFakeStream struct{}

func (mjpegFakeStream) Next(context.Context) (Frame, error) { return Frame{}, ErrEndOfInput }
func (mjpegFakeStream) Close() error                        { return nil }

func TestHTTPFallback(t *testing.T) {
	for _, ctype := range []string{"video/mp4", "application/vnd.apple.mpegurl", "video/mp2t", "application/octet-stream", ""} {
		t.Run(ctype, func(t *testing.T) {
			srv, gone := mjpegBlockingServer(t, ctype)
			var calls atomic.Int64
			fallback := func(ctx context.Context) (stream, error) {
				calls.Add(1)
				return mjpegFakeStream{}, nil
			}
			var log testkit.LockedBuffer
			d := newHTTPDialer(srv.URL, liveConfig{Log: slog.New(slog.NewTextHandler(&log, nil))}, nil, fallback)
			for range 2 {
				s, err := d(context.Background())
				if err != nil {
					t.Fatal(err)
				}
				if _, ok := s.(mjpegFakeStream); !ok {
					t.Fatalf("dial returned a %T, want the fallback's stream", s)
				}
				select {
				case <-gone: // the response was closed, not left to leak
				case <-time.After(mjpegWait):
					t.Fatal("the camera's response stayed open")
				}
			}
			if calls.Load() != 2 {
				t.Errorf("fallback called %d times, want 2", calls.Load())
			}
			if n := strings.Count(log.String(), "reader=ffmpeg"); n != 1 {
				t.Errorf("log has %d lines for the ffmpeg reader, want 1:\n%s", n, log.String())
			}
		})
	}
}

func TestHTTPStatus(t *testing.T) {
	cases := []struct {
		status     int
		digest     bool
		user       bool
		want       []string
		toFallback bool
	}{
		{status: 401, user: true, want: []string{"HTTP 401 Unauthorized", "check the user and password in the URL"}},
		{status: 401, want: []string{"HTTP 401", "wants a login", "check the user and password in the URL"}},
		{status: 403, user: true, want: []string{"HTTP 403 Forbidden", "check the user and password in the URL"}},
		{status: 404, want: []string{"HTTP 404 Not Found", "check the path"}},
		{status: 500, want: []string{"HTTP 500", "failed"}},
		{status: 401, digest: true, user: true, toFallback: true},
		{status: 401, digest: true, want: []string{"HTTP 401"}}, // no credentials: nothing ffmpeg could do better
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%d digest=%v user=%v", tc.status, tc.digest, tc.user), func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tc.digest {
					w.Header().Set("WWW-Authenticate", `Digest realm="cam", nonce="abc", qop="auth"`)
				}
				w.WriteHeader(tc.status)
			}))
			t.Cleanup(srv.Close)
			u := srv.URL + "/video.mjpg"
			if tc.user {
				u = strings.Replace(u, "http://", "http://admin:s3cret@", 1)
			}
			fellBack := false
			fallback := func(context.Context) (stream, error) { fellBack = true; return mjpegFakeStream{}, nil }
			s, err := newHTTPDialer(u, liveConfig{}, nil, fallback)(context.Background())
			if tc.toFallback {
				if err != nil || !fellBack {
					t.Fatalf("dial: %v, fallback called %v: want ffmpeg for Digest", err, fellBack)
				}
				s.Close()
				return
			}
			if err == nil {
				s.Close()
				t.Fatal("dial succeeded")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Errorf("error %q shows the password", err)
			}
			if errors.Is(err, errPermanent) {
				t.Errorf("error %q is permanent: cameras answer %d while they boot", err, tc.status)
			}
		})
	}
}

func TestHTTPBasicAuth(t *testing.T) {
	jpg := mjpegTestJPEGs(t)[0]
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != "admin" || p != "s3cret" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "image/jpeg")
		w.Write(jpg)
	}))
	t.Cleanup(srv.Close)
	s := mjpegDial(t, strings.Replace(srv.URL, "http://", "http://admin:s3cret@", 1), liveConfig{}, nil)
	if f, err := mjpegNext(t, s); err != nil || !bytes.Equal(f.JPEG, jpg) {
		t.Fatalf("Next: %v", err)
	}
}

func TestHTTPBadURL(t *testing.T) {
	for _, u := range []string{"http://admin:s3cret@[::1", "ftp://admin:s3cret@cam/x", "http:///path"} {
		_, err := newHTTPDialer(u, liveConfig{}, nil, nil)(context.Background())
		if !errors.Is(err, errPermanent) {
			t.Errorf("%s: %v, want a permanent error", u, err)
		}
		if err != nil && strings.Contains(err.Error(), "s3cret") {
			t.Errorf("%s: error %q shows the password", u, err)
		}
	}
}

func TestHTTPNoAnswer(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select { // never answers
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) }) // runs first: Close waits for handlers

	t.Run("header timeout", func(t *testing.T) {
		c := newHTTPCamera(srv.URL, liveConfig{}, nil, nil)
		c.headerTimeout = 100 * time.Millisecond
		_, err := c.dial(context.Background())
		if err == nil || !strings.Contains(err.Error(), "did not answer") {
			t.Errorf("dial: %v, want the camera did not answer", err)
		}
	})
	t.Run("dial context", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		_, err := newHTTPDialer(srv.URL, liveConfig{}, nil, nil)(ctx)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("dial: %v, want the context's deadline", err)
		}
	})
}

func TestMJPEGDims(t *testing.T) {
	real := mjpegTestJPEG(t, 48, 32, false)
	seg := func(marker byte, payload ...byte) []byte {
		n := len(payload) + 2
		return append([]byte{0xFF, marker, byte(n >> 8), byte(n)}, payload...)
	}
	sof := func(marker byte, w, h int) []byte {
		return seg(marker, 8, byte(h>>8), byte(h), byte(w>>8), byte(w), 1, 1, 0x11, 0)
	}
	soi, eoi := []byte{0xFF, 0xD8}, []byte{0xFF, 0xD9}
	cat := func(bs ...[]byte) []byte { return bytes.Join(bs, nil) }
	// A thumbnail JPEG in an APP1 segment: its SOF must not be taken.
	thumb := cat(soi, sof(0xC0, 8, 8), eoi)

	cases := []struct {
		name string
		data []byte
		w, h int
		ok   bool
	}{
		{"encoded by image/jpeg", real, 48, 32, true},
		{"progressive SOF2", cat(soi, seg(0xE0, 'J', 'F', 'I', 'F', 0), sof(0xC2, 1920, 1080), eoi), 1920, 1080, true},
		{"APP1 thumbnail first", cat(soi, seg(0xE1, thumb...), sof(0xC0, 640, 480), eoi), 640, 480, true},
		{"fill bytes and RST", cat(soi, []byte{0xFF, 0xFF, 0xFF}, seg(0xDB, make([]byte, 65)...), []byte{0xFF, 0xD0}, sof(0xC1, 3, 2)), 3, 2, true},
		{"DHT is not a frame header", cat(soi, seg(0xC4, 0, 1, 2, 3, 4, 5, 6), sof(0xC0, 5, 6)), 5, 6, true},
		{"no frame header", cat(soi, seg(0xE0, 1, 2), eoi), 0, 0, false},
		{"scan before frame header", cat(soi, seg(0xDA, 1, 2, 3), sof(0xC0, 5, 6)), 0, 0, false},
		{"zero height", cat(soi, sof(0xC0, 640, 0), eoi), 0, 0, false},
		{"segment longer than the data", cat(soi, []byte{0xFF, 0xE0, 0x10, 0x00, 1, 2}), 0, 0, false},
		{"short SOF", cat(soi, seg(0xC0, 8, 0, 1)), 0, 0, false},
		{"truncated", real[:3], 0, 0, false},
		{"not a JPEG", []byte("\x89PNG\r\n\x1a\n"), 0, 0, false},
		{"empty", nil, 0, 0, false},
		{"garbage between segments", cat(soi, []byte{0x00, 0x01}, sof(0xC0, 5, 6)), 0, 0, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w, h, ok := jpegDims(tc.data)
			if w != tc.w || h != tc.h || ok != tc.ok {
				t.Errorf("jpegDims = %d, %d, %v; want %d, %d, %v", w, h, ok, tc.w, tc.h, tc.ok)
			}
		})
	}
}

// TestMJPEGReaderBoundedMemory: a part that never ends is not buffered
// whole, whether or not a boundary ever comes.
func TestMJPEGReaderBoundedMemory(t *testing.T) {
	const max = 64 << 10
	jpg := mjpegTestJPEGs(t)[0]
	junk := make([]byte, 2<<20)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range junk {
		junk[i] = byte(rng.IntN(256))
	}
	var body bytes.Buffer
	body.WriteString("--myboundary\r\n\r\n\xFF\xD8")
	body.Write(junk)
	body.WriteString("\r\n")
	mjpegPart(&body, "--myboundary", false, jpg)
	var counts mjpegCounters
	r := newMJPEGReader(&body, "myboundary", max, mjpegBufSize, &counts)
	got, _, _, err := r.next()
	if err != nil || !bytes.Equal(got, jpg) {
		t.Fatalf("next: %d bytes, %v; want the JPEG after the oversize part", len(got), err)
	}
	if limit := max + r.window + 2 + mjpegBufSize; r.peak > limit {
		t.Errorf("held %d bytes of one part, limit %d", r.peak, limit)
	}
	if st := counts.stats(); st.Corrupt != 1 {
		t.Errorf("stats %+v, want the oversize part counted", st)
	}
}

func FuzzMJPEGParts(f *testing.F) {
	jpgs := mjpegTestJPEGs(f)
	for _, withLen := range []bool{true, false} {
		var b bytes.Buffer
		mjpegPart(&b, "--b", withLen, jpgs[0])
		b.WriteString("junk\r\n")
		mjpegPart(&b, "--b", withLen, jpgs[0][:100])
		fmt.Fprintf(&b, "--b\r\nContent-Type: text/plain\r\n\r\nhi\r\n--b\r\n%s--b--", jpgs[1])
		f.Add(b.Bytes(), "b")
		f.Add(b.Bytes(), "--b")
		f.Add(b.Bytes(), "")
	}
	f.Add([]byte("--b\r\nContent-Length: 99999\r\n\r\n\xFF\xD8\xFF\xD9"), "b")
	f.Add([]byte("--\r\n--\r\n\xFF\xD8\xFF\xC0\x00\x0b\x08\x00\x01\x00\x01\x01\x01\x11\x00\xFF\xD9\r\n--\r\n"), "")
	f.Add([]byte("\xFF\xD8\xFF\xC0\x00\x0b\x08\x00\x01\x00\x01\x01\x01\x11\x00\xFF\xD9--b\n"), "----")

	const max = 4 << 10
	f.Fuzz(func(t *testing.T, body []byte, boundary string) {
		for _, bufSize := range []int{16, 4 << 10} { // 16: bufio's least, lines split everywhere
			var counts mjpegCounters
			r := newMJPEGReader(bytes.NewReader(body), boundary, max, bufSize, &counts)
			for i := 0; ; i++ {
				if i > len(body) {
					t.Fatal("more frames than bytes: the reader does not progress")
				}
				jpg, w, h, err := r.next()
				if err != nil {
					if _, _, _, again := r.next(); again != err {
						t.Fatalf("error %v, then %v: errors must stick", err, again)
					}
					break
				}
				n := len(jpg)
				if n > max || n < 4 || jpg[0] != 0xFF || jpg[1] != 0xD8 || jpg[n-2] != 0xFF || jpg[n-1] != 0xD9 {
					t.Fatalf("frame of %d bytes does not look like a JPEG: % x", n, jpg[:min(n, 16)])
				}
				if w <= 0 || h <= 0 {
					t.Fatalf("frame size %d×%d", w, h)
				}
			}
			if limit := max + r.window + 2 + bufSize; r.peak > limit {
				t.Fatalf("held %d bytes of one part, limit %d", r.peak, limit)
			}
			if st := counts.stats(); st.Frames != 0 || st.Corrupt < 0 || st.Skipped < 0 {
				t.Fatalf("reader stats %+v: frames are counted by the stream", st)
			}
		}
	})
}

// The reader's buffer must not be shared with returned frames.
func TestMJPEGFramesOwned(t *testing.T) {
	jpgs := mjpegTestJPEGs(t)
	var body bytes.Buffer
	for _, j := range jpgs {
		mjpegPart(&body, "--b", false, j)
	}
	var counts mjpegCounters
	r := newMJPEGReader(bufio.NewReader(&body), "b", 1<<20, 16, &counts)
	var got [][]byte
	for {
		jpg, _, _, err := r.next()
		if err != nil {
			break
		}
		got = append(got, jpg)
	}
	if len(got) != 3 {
		t.Fatalf("%d frames, want 3", len(got))
	}
	for i := range got {
		if !bytes.Equal(got[i], jpgs[i]) {
			t.Errorf("frame %d changed after later reads", i)
		}
	}
}
