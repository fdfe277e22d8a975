package process

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/framecast/framecast/internal/analysis"
	"github.com/framecast/framecast/internal/frame"
	"github.com/framecast/framecast/internal/imagex"
	"github.com/framecast/framecast/internal/samples"
	"github.com/framecast/framecast/internal/testkit"
	"github.com/framecast/framecast/internal/vision"
)

// TestRealModels runs a worker on the real networks, so what the fake
// stands in for is checked once here: the sample frame's four faces become
// a valid result, the image without faces none.
func TestRealModels(t *testing.T) {
	paths := testkit.RequireModels(t)
	if err := vision.InitRuntime(paths.ResolveORTLib("")); err != nil {
		t.Fatal(err)
	}
	eng, err := vision.New(vision.Config{DetectorModel: paths.Detector(), EmotionModel: paths.Emotion(), Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	w := &worker{stage: analysis.NewStage(eng, imagex.DefaultLimits()), results: "results", dlq: "dlq", maxAge: -1, name: "test-worker", maxDLQ: 1 << 20}
	t.Cleanup(w.stage.Close)
	for _, c := range []struct {
		file  string
		faces int
	}{{samples.Frame640, 4}, {"noface.png", 0}} {
		data, err := os.ReadFile(filepath.Join(paths.TestImages(), c.file))
		if err != nil {
			t.Fatal(err)
		}
		now := time.Now()
		in := testkit.FrameRecord("cam", 0, 1, now, data)
		out, oc := w.handle(in, now)
		checkOutput(t, in, out, oc)
		if oc.kind != kindOK || oc.faces != c.faces {
			t.Errorf("%s: outcome %+v, want %d faces", c.file, oc, c.faces)
		}
		if err := frame.Validate(out.Value); err != nil {
			t.Errorf("%s: %v", c.file, err)
		}
	}
}
