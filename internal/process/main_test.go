package process

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"io"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/framecast/framecast/internal/analysis"
	"github.com/framecast/framecast/internal/frame"
	"github.com/framecast/framecast/internal/kafka"
)

// The tests run an in-process kfake broker with a data directory and, but
// for TestRealModels, analysis.Fake instead of the networks: what this
// package does (delivery, dead letters, staleness, stalls, memory) does
// not depend on what the networks find, and so the tests need neither
// ONNX Runtime nor the models.

// newAnalyzer is each worker's analyzer in the tests: four faces in a
// 640-pixel-wide frame, none in a thumbnail, each call taking 1 ms.
func newAnalyzer() (analysis.Analyzer, error) {
	return &analysis.Fake{Delay: time.Millisecond}, nil
}

// testImages are the frames the tests send: a 640×480 JPEG, in which the
// fake analyzer finds four faces, and a 120×90 one, in which it finds none.
var testImages = sync.OnceValues(func() ([2][]byte, error) {
	var out [2][]byte
	for i, size := range [][2]int{{640, 480}, {120, 90}} {
		img := image.NewRGBA(image.Rect(0, 0, size[0], size[1]))
		for y := range size[1] {
			for x := range size[0] {
				// Texture, so the JPEG has the size of a camera frame's.
				img.Set(x, y, color.RGBA{uint8(x * 7), uint8(y * 5), uint8((x * y) >> 3), 255})
			}
		}
		var b bytes.Buffer
		if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 85}); err != nil {
			return out, err
		}
		out[i] = b.Bytes()
	}
	return out, nil
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
