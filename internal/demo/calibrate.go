package demo

import (
	"context"
	"runtime"
	"time"

	"github.com/framecast/framecast/internal/analysis"
	"github.com/framecast/framecast/internal/capacity"
	"github.com/framecast/framecast/internal/imagex"
	"github.com/framecast/framecast/internal/source"
)

// Calibration is what Calibrate measures with.
type Calibration struct {
	// Synthetic is how the demo's synthetic cameras render (size, quality).
	Synthetic source.Config
	// Cameras is how many cameras the demo runs, SyntheticCameras how many
	// of them render their frames (the others deliver JPEG).
	Cameras, SyntheticCameras int
	// NewAnalyzer, Engines and Limits are the processor's.
	NewAnalyzer func() (analysis.Analyzer, error)
	Engines     int
	Limits      imagex.Limits
	// Budget is how long the frames are analysed; MaxFPS the highest rate
	// to choose.
	Budget time.Duration
	MaxFPS float64
}

// Calibrate chooses the cameras' rate for this machine: it renders a few
// synthetic frames (timing the render and encode), analyses them on the
// processor's engines at once for the budget, and applies
// capacity.DefaultPolicy.
func Calibrate(ctx context.Context, c Calibration) (capacity.Plan, error) {
	cam, err := source.NewSyntheticURI("synthetic:?seed=1", c.Synthetic)
	if err != nil {
		return capacity.Plan{}, err
	}
	defer cam.Close()
	// Frames a few seconds apart: different shots, different faces.
	var frames [][]byte
	t0 := time.Now()
	for i := range 6 {
		data, err := cam.Render(int64(i) * int64(3*c.Synthetic.FPS+1))
		if err != nil {
			return capacity.Plan{}, err
		}
		frames = append(frames, data)
	}
	renderMS := analysis.MS(time.Since(t0)) / float64(len(frames))
	workers, closeWorkers, err := analysis.Workers(c.NewAnalyzer, c.Engines, c.Limits)
	if err != nil {
		return capacity.Plan{}, err
	}
	defer closeWorkers()
	analyseMS, _, err := capacity.Measure(ctx, workers, frames, c.Budget)
	if err != nil {
		return capacity.Plan{}, err
	}
	costs := capacity.Costs{
		AnalyseMS: analyseMS,
		// Only the synthetic cameras render; the others deliver JPEG.
		RenderMS:   renderMS * float64(c.SyntheticCameras) / float64(max(1, c.Cameras)),
		OverheadMS: capacity.DefaultOverheadMS,
		Engines:    c.Engines, Cores: runtime.GOMAXPROCS(0),
	}
	p := capacity.DefaultPolicy
	p.MaxFPS = c.MaxFPS
	return capacity.Choose(costs, c.Cameras, p), nil
}
