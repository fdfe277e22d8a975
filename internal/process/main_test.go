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

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/framecast/framecast/internal/kafka"
	"github.com/framecast/framecast/internal/models"
	"github.com/framecast/framecast/internal/samples"
	"github.com/framecast/framecast/internal/testkit"
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

func (tc *testCluster) options(t testing.TB) Options {
	o := Options{
		Client: []kgo.Opt{kgo.SeedBrokers(tc.Addr)}, Brokers: tc.Addr, Topics: topics,
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
