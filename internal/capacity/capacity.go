// Package capacity measures how many frames a second this machine can
// analyse, and chooses a camera rate that leaves headroom.
//
// The demo runs everything on one machine: the synthetic cameras render
// and JPEG-encode their frames (about 11 ms each in Go's encoder), the
// processor decodes and analyses them (15–20 ms on one core), and the
// broker, the clients and the dashboard take the rest. At a fixed 10 fps
// per camera a small or busy machine falls behind and frames pile up, so
// the demo measures first (Measure, about a second) and chooses its
// default rate from the measurement (Choose). The arithmetic is kept apart
// from the measuring so that it can be tested as a table.
package capacity

import (
	"context"
	"errors"
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultOverheadMS is the CPU time per frame, besides rendering and
// analysis, that the rest of a one-machine pipeline costs: producing,
// the broker, fetching, the result and the dashboard. `framecast bench
// --pipeline` measured 2–4 ms (bench + broker CPU per frame in real time
// minus compute only).
const DefaultOverheadMS = 2.0

// Costs are the measured costs of one frame.
type Costs struct {
	// AnalyseMS is the wall-clock time to decode and analyse one frame
	// on one engine while every engine is busy at once, so that it
	// includes their contention and any other load on the machine.
	AnalyseMS float64
	// RenderMS is the CPU time to make one frame at the source: a
	// synthetic camera's render and JPEG encode. 0 when the sources
	// deliver JPEG (files, MJPEG cameras).
	RenderMS float64
	// OverheadMS is the CPU time per frame of everything else
	// (DefaultOverheadMS).
	OverheadMS float64
	// Engines is the number of analysis engines (the processor's
	// concurrency), Cores the CPUs the process may use (GOMAXPROCS).
	Engines, Cores int
}

// Capacity is how many frames a second, over all cameras, the machine can
// take: the engines' rate, or the cores' when rendering and the rest
// compete with the engines for them, whichever is lower. 0 when nothing
// was measured.
func (c Costs) Capacity() float64 {
	if !(c.AnalyseMS > 0) || c.Engines < 1 || c.Cores < 1 {
		return 0
	}
	engines := 1000 * float64(c.Engines) / c.AnalyseMS
	cores := 1000 * float64(c.Cores) / (c.AnalyseMS + max(0, c.RenderMS) + max(0, c.OverheadMS))
	return min(engines, cores)
}

// Policy is how a rate is chosen from the capacity.
type Policy struct {
	// Target is the share of the capacity the cameras may use together:
	// the rest is headroom for frames with more faces, bursts and other
	// load. DefaultPolicy: 0.65.
	Target float64
	// MinFPS and MaxFPS bound the rate per camera. The rate is never
	// above MaxFPS (the default rate when the machine is fast enough),
	// and never below MinFPS even when that overloads the machine.
	MinFPS, MaxFPS float64
}

// DefaultPolicy: at most 65 % of the capacity, 1 to 10 frames a second per
// camera.
var DefaultPolicy = Policy{Target: 0.65, MinFPS: 1, MaxFPS: 10}

// Plan is a chosen rate and how it was reached.
type Plan struct {
	Costs
	// CapacityFPS is Costs.Capacity(), over all cameras.
	CapacityFPS float64
	// FPS is the chosen rate per camera.
	FPS float64
	// Utilisation is Cameras × FPS / CapacityFPS: the share of the
	// capacity the cameras will use.
	Utilisation float64
	// Limit says what decided the rate: "capacity", "max" (MaxFPS: the
	// machine has room to spare) or "min" (MinFPS: the machine is too
	// slow for this many cameras even at the minimum).
	Limit   string
	Cameras int
}

// Choose picks the rate per camera for cameras cameras: Target × capacity
// shared evenly, rounded down to a half frame a second, within [MinFPS,
// MaxFPS]. With nothing measured it returns MaxFPS.
func Choose(c Costs, cameras int, p Policy) Plan {
	cameras = max(cameras, 1)
	pl := Plan{Costs: c, Cameras: cameras, CapacityFPS: c.Capacity()}
	if pl.CapacityFPS <= 0 {
		pl.FPS, pl.Limit = p.MaxFPS, "max"
		return pl
	}
	fps := math.Floor(2*p.Target*pl.CapacityFPS/float64(cameras)) / 2
	switch {
	case fps >= p.MaxFPS:
		pl.FPS, pl.Limit = p.MaxFPS, "max"
	case fps < p.MinFPS:
		pl.FPS, pl.Limit = p.MinFPS, "min"
	default:
		pl.FPS, pl.Limit = fps, "capacity"
	}
	pl.Utilisation = float64(cameras) * pl.FPS / pl.CapacityFPS
	return pl
}

// Measure runs every worker at once over frames, round robin, for about d
// after one untimed warm-up call each (first calls allocate and fault
// pages in), and returns the wall-clock milliseconds per frame per worker
// and the frames analysed. Each worker is used by one goroutine only.
func Measure(ctx context.Context, workers []func(frame []byte) error, frames [][]byte, d time.Duration) (msPerFrame float64, n int, err error) {
	if len(workers) == 0 || len(frames) == 0 {
		return 0, 0, errors.New("capacity: nothing to measure")
	}
	for i, w := range workers {
		if err := w(frames[i%len(frames)]); err != nil {
			return 0, 0, err
		}
	}
	var next, done atomic.Int64
	var stop atomic.Bool
	var wg sync.WaitGroup
	errs := make([]error, len(workers))
	start := time.Now()
	for i, w := range workers {
		wg.Go(func() {
			for !stop.Load() && ctx.Err() == nil {
				if err := w(frames[int(next.Add(1)-1)%len(frames)]); err != nil {
					errs[i] = err
					stop.Store(true)
					return
				}
				done.Add(1)
			}
		})
	}
	ended := make(chan struct{}) // every worker stopped: one failed
	go func() { wg.Wait(); close(ended) }()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	case <-ended:
	}
	stop.Store(true)
	<-ended
	elapsed := time.Since(start)
	if err := errors.Join(errs...); err != nil {
		return 0, 0, err
	}
	if err := ctx.Err(); err != nil {
		return 0, 0, err
	}
	n = int(done.Load())
	if n == 0 {
		return 0, 0, errors.New("capacity: no frame finished in the time given")
	}
	return elapsed.Seconds() * 1000 * float64(len(workers)) / float64(n), n, nil
}
