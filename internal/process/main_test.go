package process

import (
	"bytes"
	"context"
	"fmt"
	"image/jpeg"
	"image/png"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/framecast/framecast/internal/frame"
	"github.com/framecast/framecast/internal/kafka"
	"github.com/framecast/framecast/internal/models"
	"github.com/framecast/framecast/internal/samples"
	"github.com/framecast/framecast/internal/vision"
)

// The tests run the real models from the cache that `make setup` fills,
// and an in-process kfake broker with a data directory.
var paths = models.At("")

func TestMain(m *testing.M) {
	for _, p := range []string{paths.ORTLib(), paths.Detector(), paths.Emotion(), filepath.Join(paths.TestImages(), samples.Frame640)} {
		if _, err := os.Stat(p); err != nil {
			fmt.Fprintf(os.Stderr, "process tests need %s: run `make setup` first (%v)\n", p, err)
			os.Exit(1)
		}
	}
	if err := vision.InitRuntime(paths.ResolveORTLib("")); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(m.Run())
}

// Engines are shared between tests (each takes a while to load): a
// processor's Close hands its engines back to the pool.
var enginePool struct {
	sync.Mutex
	free []*vision.Engine
}

type pooledEngine struct{ *vision.Engine }

func (e pooledEngine) Close() {
	enginePool.Lock()
	enginePool.free = append(enginePool.free, e.Engine)
	enginePool.Unlock()
}

func newAnalyzer() (Analyzer, error) {
	enginePool.Lock()
	defer enginePool.Unlock()
	if n := len(enginePool.free); n > 0 {
		e := enginePool.free[n-1]
		enginePool.free = enginePool.free[:n-1]
		return pooledEngine{e}, nil
	}
	e, err := vision.New(vision.Options{DetectorModel: paths.Detector(), EmotionModel: paths.Emotion(), Threads: 1})
	if err != nil {
		return nil, err
	}
	return pooledEngine{e}, nil
}

// testImages are the frames the tests send: a 640×480 JPEG with four faces
// and a JPEG of a scene without faces.
var testImages = sync.OnceValues(func() ([2][]byte, error) {
	face, err := os.ReadFile(filepath.Join(paths.TestImages(), samples.Frame640))
	if err != nil {
		return [2][]byte{}, err
	}
	f, err := os.Open(filepath.Join(paths.TestImages(), "noface.png"))
	if err != nil {
		return [2][]byte{}, err
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		return [2][]byte{}, err
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 85}); err != nil {
		return [2][]byte{}, err
	}
	return [2][]byte{face, b.Bytes()}, nil
})

func images(t testing.TB) (face, noface []byte) {
	t.Helper()
	im, err := testImages()
	if err != nil {
		t.Fatal(err)
	}
	return im[0], im[1]
}

var topics = kafka.Topics{Frames: kafka.DefaultFramesTopic, Results: kafka.DefaultResultsTopic, DLQ: kafka.DefaultDLQTopic}

// testCluster is a one-broker kfake with the three topics.
type testCluster struct {
	addr string
	c    *kfake.Cluster // for injecting faults
}

func newCluster(t testing.TB, partitions int32) *testCluster {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.DataDir(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	tc := &testCluster{addr: c.ListenAddrs()[0], c: c}
	cl := tc.client(t)
	maxBytes := "16777216"
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := kadm.NewClient(cl).CreateTopics(ctx, partitions, 1, map[string]*string{"max.message.bytes": &maxBytes},
		topics.Frames, topics.Results, topics.DLQ)
	if err != nil {
		t.Fatal(err)
	}
	if err := resp.Error(); err != nil {
		t.Fatal(err)
	}
	return tc
}

// client is a producer (manual partitioning) and plain client.
func (tc *testCluster) client(t testing.TB, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{
		kgo.SeedBrokers(tc.addr), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerLinger(0), kgo.ProducerBatchMaxBytes(16 << 20), kgo.FetchMaxWait(500 * time.Millisecond),
		kgo.WithLogger(kafka.NewLogger(testLogger(t).With("client", "test"))),
	}, opts...)...)

	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

func (tc *testCluster) produce(t testing.TB, recs ...*kgo.Record) {
	t.Helper()
	cl := tc.client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	cl.Close()
}

// frameRecord is a frame as the publisher sends it.
func frameRecord(camera string, partition int32, seq int64, captured time.Time, value []byte) *kgo.Record {
	return &kgo.Record{
		Topic: topics.Frames, Partition: partition, Key: []byte(camera), Value: value,
		Headers:   frame.EncodeHeaders(frame.Meta{Seq: seq, CapturedAt: captured}),
		Timestamp: captured,
	}
}

// readTopic reads a topic from the start until want records arrived, then
// waits a little longer to catch any extra ones.
func (tc *testCluster) readTopic(t *testing.T, topic string, want int, iso kgo.IsolationLevel) []*kgo.Record {
	t.Helper()
	cl := tc.client(t, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(iso))
	var out []*kgo.Record
	deadline := time.Now().Add(30 * time.Second)
	extra := time.Time{}
	for {
		wait := time.Until(deadline)
		if len(out) >= want {
			if extra.IsZero() {
				extra = time.Now().Add(500 * time.Millisecond)
			}
			wait = time.Until(extra)
		}
		if wait <= 0 {
			break
		}
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		fs := cl.PollFetches(ctx)
		cancel()
		out = append(out, fs.Records()...)
	}
	return out
}

// running is a processor running in the background.
type running struct {
	*Processor
	stop func() error
}

func testLogger(t testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: testLogLevel()})).With("test", t.Name())
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func (tc *testCluster) options(t testing.TB) Options {
	o := Options{
		Client: []kgo.Opt{kgo.SeedBrokers(tc.addr)}, Topics: topics,
		NewAnalyzer: newAnalyzer, Concurrency: 2, MaxAge: time.Minute,
		StatsInterval: 500 * time.Millisecond, Log: testLogger(t),
	}
	return o
}

func start(t testing.TB, o Options) *running {
	t.Helper()
	p, err := New(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- p.Run(ctx) }()
	var once sync.Once
	var runErr error
	r := &running{Processor: p, stop: func() error {
		once.Do(func() {
			cancel()
			select {
			case runErr = <-errc:
			case <-time.After(60 * time.Second):
				runErr = fmt.Errorf("processor did not stop within 60 s")
			}
		})
		return runErr
	}}
	t.Cleanup(func() { r.stop() })
	return r
}

// eventually polls cond until it holds or the timeout passes.
func eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func header(r *kgo.Record, key string) string {
	for _, h := range r.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

// testLogLevel is info, or debug with FRAMECAST_TEST_DEBUG=1 (franz-go's
// own narration included).
func testLogLevel() slog.Level {
	if os.Getenv("FRAMECAST_TEST_DEBUG") != "" {
		return slog.LevelDebug
	}
	return slog.LevelInfo
}
