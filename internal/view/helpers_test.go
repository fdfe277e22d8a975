package view

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/framecast/framecast/internal/broker"
	"github.com/framecast/framecast/internal/frame"
	"github.com/framecast/framecast/internal/kafka"
	"github.com/framecast/framecast/internal/testkit"
)

func testLogger(t testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo})).With("test", t.Name())
	}
	return slog.New(slog.DiscardHandler)
}

// startBroker runs the embedded broker on a free 127.0.0.1 port with a
// data directory and the three topics.
func startBroker(t testing.TB) *broker.Broker {
	t.Helper()
	b, err := broker.Start(context.Background(), broker.Config{
		Listen: "127.0.0.1:0", DataDir: t.TempDir(), Logger: testLogger(t).With("role", "broker"),
		TopicSettings: kafka.TopicSettings{Partitions: 4},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// testView is a dashboard running on a free 127.0.0.1 port.
type testView struct {
	*Server
	url  string // http://127.0.0.1:port/
	addr string
}

func startView(t testing.TB, brokers string, cfg Config) *testView {
	t.Helper()
	cfg.Client = []kgo.Opt{kgo.SeedBrokers(brokers)}
	if cfg.Log == nil {
		cfg.Log = testLogger(t).With("role", "view")
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	run := testkit.Go(t, func(ctx context.Context) error { return s.Run(ctx, ln) })
	t.Cleanup(func() {
		if err := run.Stop(10 * time.Second); err != nil {
			t.Errorf("view: Run returned %v", err)
		}
	})
	tv := &testView{Server: s, url: "http://" + ln.Addr().String() + "/", addr: ln.Addr().String()}
	testkit.Eventually(t, 30*time.Second, "/readyz to answer 200", func() bool {
		return tv.status(t, "readyz", nil) == http.StatusOK
	})
	return tv
}

// status GETs a path and returns the status code.
func (tv *testView) status(t testing.TB, path string, hdr http.Header) int {
	t.Helper()
	code, _ := tv.get(t, path, hdr)
	return code
}

func (tv *testView) get(t testing.TB, path string, hdr http.Header) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, tv.url+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, body
}

var noRedirect = &http.Client{
	Timeout:       10 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

func (tv *testView) cameras(t testing.TB) []cameraInfo {
	t.Helper()
	code, body := tv.get(t, "api/cameras", nil)
	if code != http.StatusOK {
		t.Fatalf("/api/cameras: %d %s", code, body)
	}
	var out struct{ Cameras []cameraInfo }
	if err := json.Unmarshal(body, &out); err != nil {
		t.Fatal(err)
	}
	return out.Cameras
}

// feeder produces frames and results the way publish and process do
// (headers, keys, result JSON), without the vision engine: for tests of
// many cameras on a 2-core machine.
type feeder struct {
	t  testing.TB
	cl *kgo.Client

	mu      sync.Mutex
	results map[string]map[int64]frame.Result // camera → seq → result produced
	seqs    map[string]int64
}

func newFeeder(t testing.TB, brokers string) *feeder {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers), kgo.ProducerLinger(0), kgo.ProducerBatchMaxBytes(16<<20))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return &feeder{t: t, cl: cl, results: map[string]map[int64]frame.Result{}, seqs: map[string]int64{}}
}

// testJPEG is a small frame of a colour, different per camera.
func testJPEG(t testing.TB, w, h, hue int) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	c := color.RGBA{uint8(40 + hue*37%200), uint8(80 + hue*53%160), uint8(120 + hue*71%120), 255}
	for y := range h {
		for x := range w {
			v := uint8((x + y) % 32)
			img.SetRGBA(x, y, color.RGBA{c.R + v, c.G, c.B - v, 255})
		}
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 80}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// fakeResult is the result the feeder produces for a frame: one face whose
// box moves with the sequence number.
func fakeResult(camera string, seq int64, captured time.Time, w, h int) frame.Result {
	emo := map[string]float64{}
	for _, l := range frame.Labels {
		emo[l] = 0.01
	}
	e := frame.Labels[int(seq)%len(frame.Labels)]
	emo[e] = 0.94
	x := float64(seq%10) * float64(w) / 20
	return frame.Result{
		Schema: frame.Schema, Camera: camera, Seq: seq, CapturedAt: captured, ProcessedAt: time.Now(),
		LatencyMS: float64(time.Since(captured)) / 1e6, Status: frame.StatusOK,
		Frame:  frame.FrameInfo{Width: w, Height: h, Topic: kafka.DefaultFramesTopic},
		Faces:  []frame.Face{{Box: frame.Box{X: x, Y: float64(h) / 4, W: float64(w) / 4, H: float64(h) / 3}, Score: 0.9, Emotion: e, Emotions: emo}},
		Worker: "test",
	}
}

// frame produces the camera's next frame (partition by camera index).
func (f *feeder) frame(camera string, partition int32, img []byte, w, h int) (int64, time.Time) {
	f.mu.Lock()
	seq := f.seqs[camera]
	f.seqs[camera] = seq + 1
	f.mu.Unlock()
	now := time.Now()
	rec := &kgo.Record{
		Topic: kafka.DefaultFramesTopic, Partition: partition, Key: []byte(camera), Value: img, Timestamp: now,
		Headers: frame.EncodeHeaders(frame.Meta{Seq: seq, CapturedAt: now, Width: w, Height: h}),
	}
	f.produce(rec)
	return seq, now
}

func (f *feeder) result(r frame.Result, partition int32) {
	v, err := json.Marshal(r)
	if err != nil {
		f.t.Error(err)
		return
	}
	f.mu.Lock()
	if f.results[r.Camera] == nil {
		f.results[r.Camera] = map[int64]frame.Result{}
	}
	f.results[r.Camera][r.Seq] = r
	f.mu.Unlock()
	f.produce(&kgo.Record{Topic: kafka.DefaultResultsTopic, Partition: partition, Key: []byte(r.Camera), Value: v})
}

func (f *feeder) produce(rec *kgo.Record) {
	rec.Partition = rec.Partition % 4
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := f.cl.ProduceSync(ctx, rec).FirstErr(); err != nil && ctx.Err() == nil {
		f.t.Errorf("produce: %v", err)
	}
}

func (f *feeder) lookup(camera string, seq int64) (frame.Result, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r, ok := f.results[camera][seq]
	return r, ok
}

// run feeds cameras at fps until ctx ends: each frame, then its result
// about 30 ms later unless withResult says no.
func (f *feeder) run(ctx context.Context, cameras []string, fps float64, w, h int, withResult func(camera string, seq int64) bool) *sync.WaitGroup {
	imgs := make([][]byte, len(cameras))
	for i := range cameras {
		imgs[i] = testJPEG(f.t, w, h, i)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(time.Duration(float64(time.Second) / fps))
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			type sent struct {
				seq int64
				at  time.Time
			}
			s := make([]sent, len(cameras))
			for i, c := range cameras {
				seq, at := f.frame(c, int32(i), imgs[i], w, h)
				s[i] = sent{seq, at}
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(30 * time.Millisecond): // results come after their frames
			}
			for i, c := range cameras {
				if withResult == nil || withResult(c, s[i].seq) {
					f.result(fakeResult(c, s[i].seq, s[i].at, w, h), int32(i))
				}
			}
		}
	})
	return &wg
}

// artifactDir is where tests leave files worth looking at (screenshots):
// $FRAMECAST_TEST_ARTIFACTS, else a directory under the system's temporary
// directory that is kept after the test (its path is logged).
func artifactDir(t testing.TB) string {
	t.Helper()
	dir := os.Getenv("FRAMECAST_TEST_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "framecast-test-artifacts")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

func camName(i int) string { return fmt.Sprintf("cam-%02d", i) }
