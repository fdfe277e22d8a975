package capacity

import (
	"context"
	"errors"
	"math"
	"testing"
	"time"
)

func TestChoose(t *testing.T) {
	for _, tc := range []struct {
		name      string
		c         Costs
		cameras   int
		wantCap   float64
		wantFPS   float64
		wantLimit string
	}{
		// The reference VM, quiet: 2 engines at 18 ms, rendering 11 ms.
		// Engines 111/s, cores 2000/31 = 64.5/s; 65 % over 4 cameras is
		// 10.5 → the default 10.
		{"quiet 2 cores, 4 cameras", Costs{AnalyseMS: 18, RenderMS: 11, OverheadMS: 2, Engines: 2, Cores: 2}, 4, 64.52, 10, "max"},
		// The same VM busy: analysis takes twice as long. 2000/49 = 40.8
		// frames/s; 65 % / 4 = 6.63 → 6.5.
		{"busy 2 cores, 4 cameras", Costs{AnalyseMS: 36, RenderMS: 11, OverheadMS: 2, Engines: 2, Cores: 2}, 4, 40.82, 6.5, "capacity"},
		// Eight cameras on it: 3.3 → 3.
		{"busy 2 cores, 8 cameras", Costs{AnalyseMS: 36, RenderMS: 11, OverheadMS: 2, Engines: 2, Cores: 2}, 8, 40.82, 3, "capacity"},
		// Cameras that deliver JPEG cost no rendering.
		{"no rendering", Costs{AnalyseMS: 36, OverheadMS: 2, Engines: 2, Cores: 2}, 8, 52.63, 4, "capacity"},
		// One engine on many cores: the engine is the limit (1000/20 = 50).
		{"one engine, 8 cores", Costs{AnalyseMS: 20, RenderMS: 11, OverheadMS: 2, Engines: 1, Cores: 8}, 4, 50, 8, "capacity"},
		// Far too slow: the minimum, even though it overloads.
		{"too slow", Costs{AnalyseMS: 200, RenderMS: 11, OverheadMS: 2, Engines: 1, Cores: 1}, 16, 4.69, 1, "min"},
		// A big machine: the default.
		{"fast", Costs{AnalyseMS: 10, RenderMS: 5, OverheadMS: 2, Engines: 16, Cores: 16}, 4, 941.18, 10, "max"},
		// Nothing measured: the default.
		{"unmeasured", Costs{Engines: 2, Cores: 2}, 4, 0, 10, "max"},
		{"zero cameras counts as one", Costs{AnalyseMS: 36, RenderMS: 11, OverheadMS: 2, Engines: 2, Cores: 2}, 0, 40.82, 10, "max"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := Choose(tc.c, tc.cameras, DefaultPolicy)
			if math.Abs(p.CapacityFPS-tc.wantCap) > 0.01 || p.FPS != tc.wantFPS || p.Limit != tc.wantLimit {
				t.Errorf("capacity %.2f, fps %v (%s); want %.2f, %v (%s)", p.CapacityFPS, p.FPS, p.Limit, tc.wantCap, tc.wantFPS, tc.wantLimit)
			}
			if p.CapacityFPS > 0 {
				if want := float64(max(tc.cameras, 1)) * p.FPS / p.CapacityFPS; math.Abs(p.Utilisation-want) > 1e-9 {
					t.Errorf("utilisation %v, want %v", p.Utilisation, want)
				}
				if p.Limit == "capacity" && p.Utilisation > DefaultPolicy.Target {
					t.Errorf("utilisation %.3f above the target %.2f", p.Utilisation, DefaultPolicy.Target)
				}
			}
		})
	}
}

func TestMeasure(t *testing.T) {
	frames := [][]byte{{1}, {2}, {3}}
	seen := make([]map[byte]int, 2)
	var workers []func([]byte) error
	for i := range seen {
		seen[i] = map[byte]int{}
		workers = append(workers, func(f []byte) error {
			seen[i][f[0]]++
			time.Sleep(2 * time.Millisecond)
			return nil
		})
	}
	ms, n, err := Measure(context.Background(), workers, frames, 200*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	// Two workers at ≥ 2 ms a frame: about 2 ms per frame per worker.
	if n < 10 || ms < 2 || ms > 50 {
		t.Errorf("%v ms per frame over %d frames", ms, n)
	}
	if len(seen[0])+len(seen[1]) < 3 {
		t.Errorf("not every frame was used: %v", seen)
	}

	boom := errors.New("boom")
	calls := 0
	_, _, err = Measure(context.Background(), []func([]byte) error{func([]byte) error {
		calls++
		if calls > 3 {
			return boom
		}
		return nil
	}}, frames, time.Minute)
	if !errors.Is(err, boom) {
		t.Errorf("err %v, want boom", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := Measure(ctx, workers, frames, time.Minute); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: err %v", err)
	}
	if _, _, err := Measure(context.Background(), nil, frames, time.Second); err == nil {
		t.Error("no workers: no error")
	}
}
