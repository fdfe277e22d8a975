package cli

import (
	"context"
	"fmt"
	"math"
	"runtime"
	"strings"
	"time"

	"github.com/framecast/framecast/internal/analysis"
	"github.com/framecast/framecast/internal/capacity"
	"github.com/framecast/framecast/internal/publish"
	"github.com/framecast/framecast/internal/source"
)

// calibrationBudget is how long the demo analyses sample frames at start.
const calibrationBudget = time.Second

// demoRate sets the cameras' default rate (*sf.fps) for the demo: --fps
// or FRAMECAST_FPS when given, else a rate this machine keeps up with,
// measured by analysing a few of the synthetic camera's frames with the
// engines the processor will use. Cameras with their own rate (#fps,
// ?fps=, the camera file, a video's frame rate) keep it. It returns the
// attributes for the start-up line.
func demoRate(ctx context.Context, sf *sourceFlags, vf visionFlags, specs []publish.CameraSpec, engines int) ([]any, error) {
	if given(sf.fs, "fps") {
		return []any{"fps", *sf.fps, "fps_from", "--fps"}, nil
	}
	pl, err := calibrate(ctx, sf, vf, specs, engines)
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

// calibrate renders a few synthetic frames at the demo's size and quality
// (timing the render and encode), analyses them on engines engines at once
// for calibrationBudget and chooses the rate with capacity.DefaultPolicy.
func calibrate(ctx context.Context, sf *sourceFlags, vf visionFlags, specs []publish.CameraSpec, engines int) (capacity.Plan, error) {
	opts, _ := sf.options(publish.CameraSpec{URI: "synthetic:"})
	cam, err := source.NewSyntheticURI("synthetic:?seed=1", opts)
	if err != nil {
		return capacity.Plan{}, err
	}
	defer cam.Close()
	// Frames a few seconds apart: different shots, different faces.
	var frames [][]byte
	t0 := time.Now()
	for i := range 6 {
		data, err := cam.Render(int64(i) * int64(3*opts.FPS+1))
		if err != nil {
			return capacity.Plan{}, err
		}
		frames = append(frames, data)
	}
	renderMS := ms(time.Since(t0)) / float64(len(frames))
	synthetic := 0
	for _, s := range specs {
		if strings.HasPrefix(s.URI, "synthetic:") {
			synthetic++
		}
	}

	workers, closeWorkers, err := analysis.Workers(vf.analyzer, engines, vf.limits())
	if err != nil {
		return capacity.Plan{}, err
	}
	defer closeWorkers()
	analyseMS, _, err := capacity.Measure(ctx, workers, frames, calibrationBudget)
	if err != nil {
		return capacity.Plan{}, err
	}
	c := capacity.Costs{
		AnalyseMS: analyseMS,
		// Only the synthetic cameras render; the others deliver JPEG.
		RenderMS:   renderMS * float64(synthetic) / float64(max(1, len(specs))),
		OverheadMS: capacity.DefaultOverheadMS,
		Engines:    engines, Cores: runtime.GOMAXPROCS(0),
	}
	p := capacity.DefaultPolicy
	p.MaxFPS = sf.defaultFPS
	return capacity.Choose(c, len(specs), p), nil
}

func round2(x float64) float64 { return math.Round(x*100) / 100 }
