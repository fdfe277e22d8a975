package process

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"image/jpeg"
	"io"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/framecast/framecast/internal/analysis"
	"github.com/framecast/framecast/internal/kafka"
	"github.com/framecast/framecast/internal/testkit"
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

// testCluster is the tests' kfake cluster with the three topics.
type testCluster struct{ *testkit.Cluster }

func newCluster(t testing.TB, partitions int32) *testCluster {
	t.Helper()
	return &testCluster{testkit.NewCluster(t, testkit.Partitions(partitions))}
}

// running is a processor running in the background.
type running struct {
	*Processor
	run *testkit.Background
}

// stop stops the processor as SIGTERM does and returns Run's error.
func (r *running) stop() error { return r.run.Stop(time.Minute) }

func testLogger(t testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: testLogLevel()})).With("test", t.Name())
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func (tc *testCluster) options(t testing.TB) Config {
	o := Config{
		Client: []kgo.Opt{kgo.SeedBrokers(tc.Addr)}, Topics: topics,
		NewAnalyzer: newAnalyzer, Concurrency: 2, MaxAge: time.Minute,
		StatsInterval: 500 * time.Millisecond, Log: testLogger(t),
	}
	return o
}

func start(t testing.TB, o Config) *running {
	t.Helper()
	p, err := New(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	return &running{Processor: p, run: testkit.Go(t, p.Run)}
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
