package bench_test

import (
	"bytes"
	"context"
	"flag"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/framecast/framecast/internal/analysis"
	"github.com/framecast/framecast/internal/bench"
	"github.com/framecast/framecast/internal/imagex"
	"github.com/framecast/framecast/internal/testkit"
	"github.com/framecast/framecast/internal/vision"
)

// TestCompareFake checks the mechanics on the fake analyzer: every
// variant sees every frame, the reference agrees with itself, and the
// share of tracked frames follows --detect-every.
func TestCompareFake(t *testing.T) {
	testkit.RequireSamples(t)
	rep, err := bench.RunCompare(context.Background(), bench.CompareConfig{
		Common: bench.Common{Cameras: 2, FramesPerCamera: 6, NewAnalyzer: fakeAnalyzers(0), Limits: imagex.DefaultLimits()},
		Variants: []bench.Variant{
			{Name: "full"},
			{Name: "detect-every 3", Tracking: analysis.Tracking{DetectEvery: 3}},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Frames != 12 || rep.Faces != 48 || len(rep.Variants) != 2 {
		t.Fatalf("report %+v", rep)
	}
	full, d3 := rep.Variants[0], rep.Variants[1]
	if full.Full != 1 || full.Matched != 1 || full.EmotionSame != 1 || full.IDStable != 1 {
		t.Errorf("the reference against itself: %+v", full)
	}
	// Frames 0 and 3 of each camera run the detector, unless following
	// failed on the synthetic scene's motion (the fake's boxes do not
	// move with it): at least a third.
	if d3.Full < 0.33 || d3.Full+d3.Tracked != 1 || d3.CPUMSPerFrame <= 0 {
		t.Errorf("detect-every 3: %+v", d3)
	}
	var b bytes.Buffer
	if err := rep.Print(&b); err != nil || !strings.Contains(b.String(), "detect-every 3") {
		t.Errorf("print: %v\n%s", err, b.String())
	}
}

// TestCompareRealModels runs the default variants with the real networks
// on a test video of moving faces: following them between detector runs
// keeps most faces (IoU ≥ 0.5 with the detector's boxes) and their ids.
func TestCompareRealModels(t *testing.T) {
	paths := testkit.RequireModels(t)
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		t.Skip("needs ffmpeg")
	}
	video := filepath.Join(t.TempDir(), "faces.mp4")
	if err := testkit.MakeVideo("ffmpeg", video, testkit.VideoConfig{Seconds: 3}); err != nil {
		t.Fatal(err)
	}
	if err := vision.InitRuntime(paths.ResolveORTLib("")); err != nil {
		t.Fatal(err)
	}
	newEngine := func() (analysis.Analyzer, error) {
		return vision.New(vision.Config{DetectorModel: paths.Detector(), EmotionModel: paths.Emotion(), Threads: 1})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	rep, err := bench.RunCompare(ctx, bench.CompareConfig{
		Common: bench.Common{Cameras: -1, FramesPerCamera: 30, NewAnalyzer: newEngine, Limits: imagex.DefaultLimits()},
		Videos: []string{video}, FFmpeg: "ffmpeg",
	})
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	_ = rep.Print(&b)
	t.Logf("\n%s", b.String())
	if rep.Frames != 30 || rep.Faces < 60 {
		t.Fatalf("%d frames, %d faces in the reference", rep.Frames, rep.Faces)
	}
	for _, v := range rep.Variants {
		if v.Matched < 0.9 || v.IDStable < 0.95 {
			t.Errorf("%s: %.1f%% of the faces matched, ids kept in %.1f%%", v.Name, 100*v.Matched, 100*v.IDStable)
		}
	}
}

// TestAddPrecisions: --compare-precisions adds each precision in full and
// with tracking, on the engines the caller makes for it.
func TestAddPrecisions(t *testing.T) {
	var cfg bench.CompareConfig
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	cfg.RegisterFlags(fs)
	if err := fs.Parse([]string{"--compare-precisions", "int8, mixed"}); err != nil {
		t.Fatal(err)
	}
	var asked []string
	cfg.AddPrecisions(func(p string) bench.NewAnalyzer { asked = append(asked, p); return fakeAnalyzers(0) })
	n := len(bench.DefaultVariants())
	if len(cfg.Variants) != n+4 || cfg.Variants[n].Name != "int8" || cfg.Variants[n+3].Tracking.DetectEvery != 3 || cfg.Variants[n+3].NewAnalyzer == nil {
		t.Fatalf("variants %+v", cfg.Variants[n:])
	}
	if strings.Join(asked, ",") != "int8,mixed" {
		t.Errorf("engines made for %v", asked)
	}
	if err := cfg.CheckFlags(); err != nil {
		t.Errorf("CheckFlags of int8, mixed: %v", err)
	}

	// A name that is no precision is refused, not compared as fp32
	// under another name.
	var bad bench.CompareConfig
	fs = flag.NewFlagSet("bench", flag.ContinueOnError)
	bad.RegisterFlags(fs)
	if err := fs.Parse([]string{"--compare-precisions", "int8,int9"}); err != nil {
		t.Fatal(err)
	}
	if err := bad.CheckFlags(); err == nil || !strings.Contains(err.Error(), `--compare-precisions "int9"`) {
		t.Errorf("CheckFlags of int9: %v, want it refused by name", err)
	}
}

// TestGates: the reference passes; a variant analysing every frame on
// another precision must match the reference exactly (to GateMaxProbDiff);
// a variant that leaves work out is held to the matched share, the ids
// kept and the reference's own steadiness, and to its precision's strict
// gates; Best is the fastest that passes.
func TestGates(t *testing.T) {
	track := analysis.Tracking{DetectEvery: 3}
	vs := []bench.Variant{
		{Name: "full"},
		{Name: "detect 3", Tracking: track},
		{Name: "detect 3 flickers", Tracking: track},
		{Name: "detect 3 loses faces", Tracking: track},
		{Name: "int8", Precision: "int8"},
		{Name: "int8 + detect 3", Precision: "int8", Tracking: track},
		{Name: "mixed", Precision: "mixed"},
		{Name: "mixed + detect 3", Precision: "mixed", Tracking: track},
	}
	good := bench.VariantReport{Matched: 1, EmotionSame: 1, IDStable: 1, Steady: 0.85}
	with := func(name string, fps float64, f func(*bench.VariantReport)) bench.VariantReport {
		r := good
		r.Name, r.FPSPerCore = name, fps
		if f != nil {
			f(&r)
		}
		return r
	}
	rep := bench.CompareReport{Variants: []bench.VariantReport{
		with("full", 60, nil),
		with("detect 3", 120, func(r *bench.VariantReport) { r.Matched, r.EmotionSame, r.MaxProbDiff = 0.99, 0.9, 0.4 }),
		with("detect 3 flickers", 130, func(r *bench.VariantReport) { r.EmotionSame = 0.84 }),
		with("detect 3 loses faces", 140, func(r *bench.VariantReport) { r.Matched, r.IDStable = 0.97, 0.98 }),
		with("int8", 50, func(r *bench.VariantReport) { r.EmotionSame, r.MaxProbDiff = 0.9, 0.2 }),
		with("int8 + detect 3", 150, nil),
		with("mixed", 70, func(r *bench.VariantReport) { r.MaxProbDiff = 0.02 }),
		with("mixed + detect 3", 125, nil),
	}}
	none := rep
	none.Variants = slices.Clone(rep.Variants)
	bench.Gate(&none, vs)
	if none.Best != "" || none.Variants[0].Pass {
		t.Errorf("without reference faces: best %q, reference pass %v; want nothing judged", none.Best, none.Variants[0].Pass)
	}
	rep.Faces = 100
	bench.Gate(&rep, vs)
	want := map[string]string{
		"full":                 "",
		"detect 3":             "",
		"detect 3 flickers":    "emotion 84.0% < the reference's steadiness 85.0%",
		"detect 3 loses faces": "faces 97.0% < 98%, ids kept 98.0% < 99%",
		"int8":                 "emotion 90.0% < 100%, probability diff 0.200 > 0.03",
		"int8 + detect 3":      "precision int8 misses the strict gates",
		"mixed":                "",
		"mixed + detect 3":     "",
	}
	for _, r := range rep.Variants {
		if r.Fails != want[r.Name] || r.Pass != (want[r.Name] == "") {
			t.Errorf("%s: pass %v, fails %q; want %q", r.Name, r.Pass, r.Fails, want[r.Name])
		}
	}
	if rep.Best != "mixed + detect 3" {
		t.Errorf("best %q, want the fastest passing variant, mixed + detect 3", rep.Best)
	}
}
