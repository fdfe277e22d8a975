package bench_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/framecast/framecast/internal/analysis"
	"github.com/framecast/framecast/internal/bench"
	"github.com/framecast/framecast/internal/imagex"
	"github.com/framecast/framecast/internal/testkit"
)

// fakeAnalyzers make analysis.Fake engines, which find four faces in a
// 640-pixel-wide frame and spend delay on each.
func fakeAnalyzers(delay time.Duration) bench.NewAnalyzer {
	return func() (analysis.Analyzer, error) { return &analysis.Fake{Delay: delay}, nil }
}

func TestCompute(t *testing.T) {
	dir := t.TempDir()
	wide, small := filepath.Join(dir, "wide.jpg"), filepath.Join(dir, "small.jpg")
	if err := os.WriteFile(wide, testkit.FlatJPEG(640, 480), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(small, testkit.FlatJPEG(96, 64), 0o600); err != nil {
		t.Fatal(err)
	}
	rep, err := bench.RunCompute(context.Background(), bench.ComputeConfig{
		Files: []string{wide, small}, Iterations: 5, Warmup: 2, Threads: 1,
		NewAnalyzer: fakeAnalyzers(2 * time.Millisecond), Limits: imagex.DefaultLimits(),
	})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Iterations != 5 || rep.Threads != 1 || rep.CPUs < 1 || len(rep.Images) != 2 {
		t.Fatalf("report %+v", rep)
	}
	w, s := rep.Images[0], rep.Images[1]
	if w.Name != "wide.jpg" || w.Width != 640 || w.Height != 480 || w.Faces != 4 || s.Faces != 0 || s.Width != 96 {
		t.Errorf("images %+v", rep.Images)
	}
	for _, im := range rep.Images {
		if im.DetectP50 < 2 || im.AnalyzeP50 < im.DetectP50 || im.TotalP50 < im.AnalyzeP50 || im.TotalP90 < im.TotalP50 {
			t.Errorf("times %+v", im)
		}
	}
	if rep.TotalMedian <= 0 || rep.FramesPerSec <= 0 || rep.FramesPerSec > 1000/rep.AnalyzeMedian {
		t.Errorf("summary %+v", rep)
	}
	var txt bytes.Buffer
	if err := rep.Print(&txt); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(txt.String(), "wide.jpg") || !strings.Contains(txt.String(), "640×480") || !strings.Contains(txt.String(), "medians of 5 runs") {
		t.Errorf("text:\n%s", txt.String())
	}
}

func TestComputeErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.jpg")
	if err := os.WriteFile(bad, []byte("not an image"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := bench.ComputeConfig{Files: []string{bad}, Iterations: 1, NewAnalyzer: fakeAnalyzers(0), Limits: imagex.DefaultLimits()}
	if _, err := bench.RunCompute(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "bad.jpg") {
		t.Errorf("a bad image: %v", err)
	}
	cfg.Files = []string{filepath.Join(dir, "missing.jpg")}
	if _, err := bench.RunCompute(context.Background(), cfg); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a missing file: %v", err)
	}
	noEngine := errors.New("no engine")
	cfg.NewAnalyzer = func() (analysis.Analyzer, error) { return nil, noEngine }
	if _, err := bench.RunCompute(context.Background(), cfg); !errors.Is(err, noEngine) {
		t.Errorf("no engine: %v", err)
	}
}
