package cli

import (
	"context"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/framecast/framecast/internal/analysis"
	"github.com/framecast/framecast/internal/demo"
	"github.com/framecast/framecast/internal/publish"
)

// calibrationBudget is how long the demo analyses sample frames at start.
const calibrationBudget = time.Second

// demoRate sets the cameras' default rate (*sf.fps) for the demo: --fps
// or FRAMECAST_FPS when given, else a rate this machine keeps up with,
// measured by analysing a few of the synthetic camera's frames with the
// engines the processor will use. Cameras with their own rate (#fps,
// ?fps=, the camera file, a video's frame rate) keep it. It returns the
// attributes for the start-up line.
func demoRate(ctx context.Context, sf *sourceFlags, vf analysis.Flags, specs []publish.CameraSpec, engines int) ([]any, error) {
	if given(sf.fs, "fps") {
		return []any{"fps", *sf.fps, "fps_from", "--fps"}, nil
	}
	synth, _ := sf.options(publish.CameraSpec{URI: "synthetic:"})
	synthetic := 0
	for _, s := range specs {
		if strings.HasPrefix(s.URI, "synthetic:") {
			synthetic++
		}
	}
	pl, err := demo.Calibrate(ctx, demo.Calibration{
		Synthetic: synth, Cameras: len(specs), SyntheticCameras: synthetic,
		NewAnalyzer: vf.Analyzer, Engines: engines, Limits: vf.Limits(),
		Budget: calibrationBudget, MaxFPS: sf.defaultFPS,
	})
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		// The processor reports a missing model better; the synthetic
		// cameras a missing photo.
		return []any{"fps", *sf.fps, "fps_from", "default (calibration failed: " + err.Error() + ")"}, nil
	}
	*sf.fps = pl.FPS
	attrs := []any{"fps", pl.FPS, "fps_from", "calibration",
		"analyse_ms", round1(pl.AnalyseMS), "render_ms", round1(pl.RenderMS),
		"capacity_fps", round1(pl.CapacityFPS), "utilisation", round2(pl.Utilisation)}
	switch pl.Limit {
	case "max":
		attrs = append(attrs, "fps_limit", "the default: this machine has room to spare")
	case "min":
		attrs = append(attrs, "fps_limit", fmt.Sprintf("the minimum: %d cameras are more than this machine can analyse; stale frames will be skipped", pl.Cameras))
	}
	return attrs, nil
}

func round2(x float64) float64 { return math.Round(x*100) / 100 }
