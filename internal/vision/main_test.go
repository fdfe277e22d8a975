package vision

import (
	"fmt"
	"os"
	"sync"
	"testing"

	"github.com/framecast/framecast/internal/imagex"
	"github.com/framecast/framecast/internal/models"
	"github.com/framecast/framecast/internal/testkit"
)

// The tests run against the real models and ONNX Runtime from the cache
// that `make setup` fills. Each test that needs them calls requireRuntime
// (testEngine and loadImage do): without them it is skipped, or fails
// under `make test` (see testkit.RequireModels); the geometry tests run
// regardless.
var paths = models.At("")

var initRuntime = sync.OnceValue(func() error { return InitRuntime(paths.ResolveORTLib("")) })

// requireRuntime skips the test without the models and loads ONNX Runtime
// once.
func requireRuntime(t testing.TB) {
	t.Helper()
	testkit.RequireModels(t)
	if err := initRuntime(); err != nil {
		t.Fatal(err)
	}
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
	requireRuntime(t)
	engOnce.Do(func() {
		engine, engErr = New(Config{DetectorModel: paths.Detector(), EmotionModel: paths.Emotion(), Threads: benchThreads()})
	})
	if engErr != nil {
		t.Fatal(engErr)
	}
	return engine
}

func loadImage(t testing.TB, path string) *imagex.RGB {
	t.Helper()
	requireRuntime(t)
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
