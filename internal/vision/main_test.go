package vision

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/framecast/framecast/internal/imagex"
	"github.com/framecast/framecast/internal/models"
	"github.com/framecast/framecast/internal/samples"
)

// The tests run against the real models and ONNX Runtime from the cache
// that `make setup` fills; without them the package cannot be tested at
// all, so TestMain fails loudly instead of skipping.
var paths = models.At("")

func TestMain(m *testing.M) {
	for _, p := range []string{paths.ORTLib(), paths.Detector(), paths.Emotion(), filepath.Join(paths.TestImages(), samples.Frame640)} {
		if _, err := os.Stat(p); err != nil {
			fmt.Fprintf(os.Stderr, "vision tests need %s: run `make setup` first (%v)\n", p, err)
			os.Exit(1)
		}
	}
	if err := InitRuntime(paths.ResolveORTLib("")); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(m.Run())
}

var (
	engOnce sync.Once
	engine  *Engine
	engErr  error
)

// testEngine is shared by the tests: sessions are expensive to create and
// the engine is used sequentially.
func testEngine(t testing.TB) *Engine {
	t.Helper()
	engOnce.Do(func() {
		engine, engErr = New(Options{DetectorModel: paths.Detector(), EmotionModel: paths.Emotion(), Threads: benchThreads()})
	})
	if engErr != nil {
		t.Fatal(engErr)
	}
	return engine
}

func loadImage(t testing.TB, path string) *imagex.RGB {
	t.Helper()
	img, err := imagex.DecodeFile(path, imagex.DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// benchThreads lets `FRAMECAST_BENCH_THREADS=2 go test -bench .` compare
// thread counts; the default 1 is what a worker per core uses.
func benchThreads() int {
	if v := os.Getenv("FRAMECAST_BENCH_THREADS"); v != "" {
		var n int
		fmt.Sscan(v, &n)
		return n
	}
	return 1
}
