package soak

import (
	"bytes"
	"math"
	"strings"
	"testing"
)

func TestSlope(t *testing.T) {
	for _, tc := range []struct {
		xs, ys []float64
		want   float64
	}{
		{[]float64{0, 1, 2, 3}, []float64{10, 12, 14, 16}, 2},
		{[]float64{0, 1, 2, 3}, []float64{5, 5, 5, 5}, 0},
		{[]float64{0, 1, 2, 3}, []float64{1, 3, 1, 3}, 0.4},
		{[]float64{1}, []float64{3}, 0},
		{[]float64{2, 2}, []float64{1, 3}, 0},
	} {
		if got := Slope(tc.xs, tc.ys); math.Abs(got-tc.want) > 1e-9 {
			t.Errorf("Slope(%v, %v) = %v, want %v", tc.xs, tc.ys, got, tc.want)
		}
	}
}

func TestSummarize(t *testing.T) {
	// 10 minutes, a sample every 5 s: 300 MB growing by 20 MB/min for 2
	// minutes of warm-up, then flat at 340 MB with ±1 MB of noise.
	var s []Sample
	s = append(s, Sample{AtS: -5, ProcessorMB: 999}) // before the soak: ignored
	for t := 0.0; t <= 600; t += 5 {
		mb := 300 + 20*min(t, 120)/60
		if int(t/5)%2 == 1 {
			mb++
		}
		s = append(s, Sample{AtS: t, ProcessorMB: mb, BrokerMB: 50 + 3*t/60})
	}
	p := Summarize(s, func(x Sample) float64 { return x.ProcessorMB }, 600, 120)
	if p.At1MinMB != 320 || p.MidMB != 340 || p.EndMB != 340 || p.MaxMB != 341 || !p.Flat || math.Abs(p.SlopeMBPerMin) > 0.1 || p.FitSamples != 97 {
		t.Errorf("processor %+v", p)
	}
	b := Summarize(s, func(x Sample) float64 { return x.BrokerMB }, 600, 120)
	if b.Flat || math.Abs(b.SlopeMBPerMin-3) > 1e-6 || b.EndMB != 80 {
		t.Errorf("broker %+v", b)
	}
	// A short soak: the first reading is at the warm-up's end.
	short := Summarize(s[:4], func(x Sample) float64 { return x.ProcessorMB }, 15, 5)
	if short.At1MinMB != s[2].ProcessorMB || short.FitSamples != 2 {
		t.Errorf("short %+v", short)
	}
	if (Summarize(nil, func(x Sample) float64 { return x.ProcessorMB }, 60, 10) != RSS{}) {
		t.Error("no samples: not zero")
	}
}

func TestCheck(t *testing.T) {
	r := Report{
		Cameras: []Camera{
			{ID: "cam-01", Frames: 10, Results: 9, DLQ: 1},
			{ID: "cam-02", Frames: 10, Results: 9, DLQ: 0},
		},
		Partitions: []Partition{{Partition: 0, End: 10, Committed: 10}, {Partition: 1, End: 10, Committed: 7}, {Partition: 2, End: 0, Committed: -1}},
	}
	r.Check()
	if r.OK || len(r.Failures) != 2 || !r.Cameras[0].Balanced || r.Cameras[1].Balanced ||
		r.Partitions[0].Stalled || !r.Partitions[1].Stalled || r.Partitions[2].Stalled {
		t.Errorf("%+v", r)
	}
	var out bytes.Buffer
	if err := r.Print(&out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"FAILED", "camera cam-02: 10 frames but 9 results + 0 dead letters", "partition 1 stalled: committed 7 of 10", "MISMATCH", "stalled 1"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("text lacks %q:\n%s", want, out.String())
		}
	}
	r.Cameras[1].Results = 10
	r.Partitions[1].Committed = 10
	r.Check()
	if !r.OK || len(r.Failures) != 0 {
		t.Errorf("%+v", r.Failures)
	}
	// Memory growing after the warm-up fails a long run, not a short one.
	r.Memory.Broker = RSS{FitSamples: MinFitSamples, SlopeMBPerMin: 2.5}
	r.Check()
	if r.OK || len(r.Failures) != 1 || !strings.Contains(r.Failures[0], "broker RSS growing") {
		t.Errorf("growing broker: %v", r.Failures)
	}
	r.Memory.Broker.FitSamples = MinFitSamples - 1
	r.Check()
	if !r.OK {
		t.Errorf("a short run failed on its slope: %v", r.Failures)
	}
	r.Memory.Broker = RSS{FitSamples: MinFitSamples, SlopeMBPerMin: 0.2, Flat: true}
	r.Check()
	if !r.OK {
		t.Errorf("flat memory failed: %v", r.Failures)
	}
	empty := Report{}
	empty.Check()
	if empty.OK {
		t.Error("a report without cameras passed")
	}
}
