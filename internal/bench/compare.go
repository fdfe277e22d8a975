package bench

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/framecast/framecast/internal/analysis"
	"github.com/framecast/framecast/internal/frame"
	"github.com/framecast/framecast/internal/source"
	"github.com/framecast/framecast/internal/vision"
)

// Variant is one way of analysing a camera's frames for `framecast bench
// --compare`: a name, the engine (nil: CompareConfig.NewAnalyzer) and what
// the stage may leave out. Another precision or model is one more Variant
// with its own NewAnalyzer.
type Variant struct {
	Name        string
	NewAnalyzer NewAnalyzer
	Tracking    analysis.Tracking
	// Precision names the engine's precision when it is not the
	// reference's ("": the same), for the gates: such a variant passes
	// only if that precision, analysing every frame, passes the strict
	// ones.
	Precision string
}

// The fidelity gates a variant must pass to count as faithful (Gates
// explains them). Strict are float32's own gates against the reference
// (vision's TestFidelity): every face, the same top emotion, every
// probability within MaxProbDiff. A variant that leaves work out is held
// to what a consumer could not tell from the reference's own behaviour.
const (
	GateMaxProbDiff = 0.03
	GateMinMatched  = 0.98
	GateMinIDKept   = 0.99
)

// DefaultVariants are the variants compared by default; the first, every
// frame in full, is the reference the others' fidelity is measured
// against.
func DefaultVariants() []Variant {
	v := func(name string, detect, reclassify int, static bool) Variant {
		return Variant{Name: name, Tracking: analysis.Tracking{DetectEvery: detect, ReclassifyEvery: reclassify, SkipStatic: static}}
	}
	return []Variant{
		v("full", 1, 1, false),
		v("detect-every 2", 2, 1, false),
		v("detect-every 3", 3, 1, false),
		v("detect-every 5", 5, 1, false),
		v("reclassify-every 3", 1, 3, false),
		v("skip-static", 1, 1, true),
		v("detect 3 + reclassify 3", 3, 3, false),
		v("detect 3 + reclassify 3 + skip-static", 3, 3, true),
	}
}

// CompareConfig configures RunCompare. A zero field means its default.
type CompareConfig struct {
	// Cameras synthetic cameras (default DefaultCameras; negative: none)
	// of FramesPerCamera frames each, Width×Height at JPEGQuality, as the
	// pipeline bench renders them; NewAnalyzer, Limits and Log as there.
	Common
	// Videos are decoded by ffmpeg (FFmpeg, default "ffmpeg"), up to
	// FramesPerCamera frames each, each one more camera.
	Videos []string
	FFmpeg string
	// Variants (default DefaultVariants) run on the same frames, one after
	// the other, on one engine each, in this process.
	Variants []Variant

	precisions string // --compare-precisions, for AddPrecisions
}

// AddPrecisions adds, for each precision --compare-precisions names, two
// variants on that precision's engines (newFor gives them): every frame in
// full, and detect 3 + reclassify 3. Variants are first made the defaults
// if not set.
func (c *CompareConfig) AddPrecisions(newFor func(precision string) NewAnalyzer) {
	if len(c.Variants) == 0 {
		c.Variants = DefaultVariants()
	}
	for _, p := range strings.Split(c.precisions, ",") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		an := newFor(p)
		c.Variants = append(c.Variants,
			Variant{Name: p, NewAnalyzer: an, Precision: p},
			Variant{Name: p + " + detect 3 + reclassify 3", NewAnalyzer: an, Precision: p, Tracking: analysis.Tracking{DetectEvery: 3, ReclassifyEvery: 3}})
	}
}

// RegisterFlags adds `framecast bench --compare`'s own flags.
func (c *CompareConfig) RegisterFlags(fs *flag.FlagSet) {
	c.Common.RegisterFlags(fs)
	fs.StringVar(&c.FFmpeg, "ffmpeg", "ffmpeg", "ffmpeg executable, for the videos given as arguments")
	fs.StringVar(&c.precisions, "compare-precisions", "", "also compare these --precision values (comma-separated, e.g. int8,mixed), in full and with detect 3 + reclassify 3")
}

// CheckFlags checks the flags' values.
func (c *CompareConfig) CheckFlags() error {
	errs := c.checkFlags()
	if c.Cameras < 0 || c.Cameras > 256 {
		errs = append(errs, fmt.Errorf("--cameras %d: want 0 to 256", c.Cameras))
	}
	if c.Cameras == 0 {
		c.Cameras = -1 // the flag's 0 means none
	}
	for _, p := range strings.Split(c.precisions, ",") {
		if p = strings.TrimSpace(p); p != "" {
			if err := analysis.CheckPrecision(p); err != nil {
				errs = append(errs, fmt.Errorf("--compare-precisions %w", err))
			}
		}
	}
	return errors.Join(errs...)
}

// CompareReport is the result of `framecast bench --compare`.
type CompareReport struct {
	Clips    []string        `json:"clips"` // camera names: synthetic seeds and video files
	Frames   int             `json:"frames"`
	Faces    int             `json:"reference_faces"`
	Variants []VariantReport `json:"variants"`
	// Best is the variant with the most frames per second per core
	// among those that pass the gates.
	Best string `json:"best"`
}

// VariantReport is one variant's cost and fidelity.
type VariantReport struct {
	Name string `json:"name"`
	// MSPerFrame is wall time per frame (decode and analysis);
	// CPUMSPerFrame the process's CPU time per frame (every thread, ONNX
	// Runtime's too), and FPSPerCore its inverse: what one core sustains.
	MSPerFrame    float64 `json:"ms_per_frame"`
	CPUMSPerFrame float64 `json:"cpu_ms_per_frame"`
	FPSPerCore    float64 `json:"fps_per_core"`
	// Shares of frames analysed in full, tracked and reused.
	Full    float64 `json:"full"`
	Tracked float64 `json:"tracked"`
	Reused  float64 `json:"reused"`
	Faces   int     `json:"faces"`
	// Fidelity against the first variant: the share of its faces that
	// this variant has a face for with IoU ≥ 0.5 (one-to-one), the share
	// of those with the same top emotion, and the share of a reference
	// track's consecutive frames in which the matched face keeps its id.
	Matched     float64 `json:"faces_matched"`
	EmotionSame float64 `json:"emotion_agreement"`
	IDStable    float64 `json:"track_id_stability"`
	// Steady is the share of a track's consecutive frames (this variant's
	// own ids) with the same top emotion: how much the label flickers.
	// The reference's own flicker on a still scene bounds the emotion
	// agreement any variant that reuses probabilities can reach.
	Steady float64 `json:"emotion_steadiness"`
	// MaxProbDiff is the largest difference of an emotion probability
	// between a matched face and its reference face.
	MaxProbDiff float64 `json:"max_probability_diff"`
	// Pass says whether the variant passes the gates; Fails says which
	// it misses.
	Pass  bool   `json:"pass"`
	Fails string `json:"fails,omitempty"`
}

type clip struct {
	name   string
	frames [][]byte
	fps    float64
}

// RunCompare runs every variant on the same frames and compares them.
func RunCompare(ctx context.Context, cfg CompareConfig) (*CompareReport, error) {
	if err := cfg.withDefaults(DefaultComputeDuration); err != nil {
		return nil, err
	}
	if len(cfg.Variants) == 0 {
		cfg.Variants = DefaultVariants()
	}
	if t := cfg.Tracking; t.Stateful() {
		// --detect-every, --reclassify-every or --skip-static given to
		// --compare: that combination too.
		cfg.Variants = append(cfg.Variants, Variant{Name: fmt.Sprintf("flags: detect %d + reclassify %d + skip-static %v", max(t.DetectEvery, 1), max(t.ReclassifyEvery, 1), t.SkipStatic), Tracking: t})
	}
	clips, err := compareClips(ctx, &cfg)
	if err != nil {
		return nil, err
	}
	rep := &CompareReport{}
	for _, c := range clips {
		rep.Clips = append(rep.Clips, c.name)
		rep.Frames += len(c.frames)
	}
	if rep.Frames == 0 {
		return nil, errors.New("bench --compare: no frames (give --cameras or videos)")
	}
	var ref [][]frame.Result
	for i, v := range cfg.Variants {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		cfg.Log.Info("variant", "name", v.Name, "frames", rep.Frames)
		out, vr, err := runVariant(ctx, &cfg, v, clips)
		if err != nil {
			return nil, fmt.Errorf("variant %s: %w", v.Name, err)
		}
		if i == 0 {
			ref = out
			for _, c := range out {
				for _, r := range c {
					rep.Faces += len(r.Faces)
				}
			}
		}
		fidelity(ref, out, vr)
		rep.Variants = append(rep.Variants, *vr)
	}
	rep.gate(cfg.Variants)
	return rep, nil
}

// gate fills each variant's Pass and Fails and the report's Best. A
// variant that analyses every frame on another precision must pass
// float32's strict gates: every reference face matched, the same top
// emotion, every probability within GateMaxProbDiff (the reference
// matches TensorFlow.js's goldens to 1e-4, so these are TestFidelity's
// gates, here on the compared frames). A variant that leaves work out
// (tracking, reclassifying, reusing) must match at least GateMinMatched
// of the faces, keep the ids of GateMinIDKept of a face's consecutive
// frames, and agree on the top emotion at least as often as the
// reference agrees with itself from one frame to the next (its
// steadiness): the emotion model flickers, and a variant's disagreement
// within that flicker is not one a consumer can tell from the
// reference's own; on another precision it must also pass that
// precision's strict gates, which its full variant measures.
func (rep *CompareReport) gate(vs []Variant) {
	if rep.Faces == 0 {
		// Every share would be 1 of nothing: no variant is judged, and
		// none is best.
		for i := range rep.Variants {
			rep.Variants[i].Pass, rep.Variants[i].Fails = false, "no faces in the reference to judge by"
		}
		return
	}
	ref := rep.Variants[0]
	strict := map[string]string{} // precision → why its full variant fails ("" passes)
	for i := range rep.Variants {
		v, r := vs[i], &rep.Variants[i]
		var fails []string
		if i > 0 && !v.Tracking.Stateful() {
			if r.Matched < 1 {
				fails = append(fails, fmt.Sprintf("faces %.1f%% < 100%%", 100*r.Matched))
			}
			if r.EmotionSame < 1 {
				fails = append(fails, fmt.Sprintf("emotion %.1f%% < 100%%", 100*r.EmotionSame))
			}
			if r.MaxProbDiff > GateMaxProbDiff {
				fails = append(fails, fmt.Sprintf("probability diff %.3f > %.2f", r.MaxProbDiff, GateMaxProbDiff))
			}
			if v.Precision != "" {
				strict[v.Precision] = strings.Join(fails, ", ")
			}
		}
		if v.Tracking.Stateful() {
			if why, ok := strict[v.Precision]; v.Precision != "" && (!ok || why != "") {
				fails = append(fails, "precision "+v.Precision+" misses the strict gates")
			}
			if r.Matched < GateMinMatched {
				fails = append(fails, fmt.Sprintf("faces %.1f%% < %.0f%%", 100*r.Matched, 100*GateMinMatched))
			}
			if r.IDStable < GateMinIDKept {
				fails = append(fails, fmt.Sprintf("ids kept %.1f%% < %.0f%%", 100*r.IDStable, 100*GateMinIDKept))
			}
			if r.EmotionSame < ref.Steady {
				fails = append(fails, fmt.Sprintf("emotion %.1f%% < the reference's steadiness %.1f%%", 100*r.EmotionSame, 100*ref.Steady))
			}
		}
		r.Pass, r.Fails = len(fails) == 0, strings.Join(fails, ", ")
		if r.Pass && (rep.Best == "" || r.FPSPerCore > rep.byName(rep.Best).FPSPerCore) {
			rep.Best = r.Name
		}
	}
}

func (rep *CompareReport) byName(name string) *VariantReport {
	for i := range rep.Variants {
		if rep.Variants[i].Name == name {
			return &rep.Variants[i]
		}
	}
	return nil
}

func compareClips(ctx context.Context, cfg *CompareConfig) ([]clip, error) {
	var clips []clip
	for i := range max(cfg.Cameras, 0) {
		src, err := source.NewSyntheticURI(fmt.Sprintf("synthetic:?seed=%d&size=%dx%d", i+1, cfg.Width, cfg.Height), source.Config{JPEGQuality: cfg.JPEGQuality})
		if err != nil {
			return nil, err
		}
		c := clip{name: fmt.Sprintf("synthetic-%d", i+1), fps: src.FPS()}
		for j := range cfg.FramesPerCamera {
			data, err := src.Render(int64(j))
			if err != nil {
				return nil, err
			}
			c.frames = append(c.frames, data)
		}
		src.Close()
		clips = append(clips, c)
	}
	for _, path := range cfg.Videos {
		info, err := source.Probe(ctx, source.FFprobeFor(cfg.FFmpeg), path)
		if err != nil {
			return nil, err
		}
		src, err := source.OpenVideo(path, info, source.Config{Unpaced: true, FFmpeg: cfg.FFmpeg, Log: quietLog(cfg.Log, "source")})
		if err != nil {
			return nil, err
		}
		c := clip{name: filepath.Base(path), fps: info.FPS}
		for len(c.frames) < cfg.FramesPerCamera {
			f, err := src.Next(ctx)
			if errors.Is(err, source.ErrEndOfInput) {
				break
			}
			if err != nil {
				src.Close()
				return nil, fmt.Errorf("%s: %w", path, err)
			}
			c.frames = append(c.frames, f.JPEG)
		}
		src.Close()
		clips = append(clips, c)
	}
	return clips, nil
}

func runVariant(ctx context.Context, cfg *CompareConfig, v Variant, clips []clip) ([][]frame.Result, *VariantReport, error) {
	newAn := v.NewAnalyzer
	if newAn == nil {
		newAn = cfg.NewAnalyzer
	}
	an, err := newAn()
	if err != nil {
		return nil, nil, err
	}
	st := analysis.NewStage(an, cfg.Limits)
	defer st.Close()
	// A few unmeasured frames first: ONNX Runtime's first runs allocate.
	for _, data := range clips[0].frames[:min(3, len(clips[0].frames))] {
		res := frame.Result{}
		if err := st.Analyze(data, &res); err != nil {
			return nil, nil, err
		}
	}
	vr := &VariantReport{Name: v.Name}
	out := make([][]frame.Result, len(clips))
	cpu0, wall0 := cpuTime(), time.Now()
	n := 0
	for ci, c := range clips {
		cam := analysis.NewCamera(v.Tracking)
		fps := c.fps
		if fps <= 0 {
			fps = 10
		}
		for j, data := range c.frames {
			if err := ctx.Err(); err != nil {
				return nil, nil, err
			}
			res := analysis.Begin(analysis.Input{Camera: c.name, Seq: int64(j), Received: time.Now()})
			at := time.Unix(0, 0).Add(time.Duration(float64(j) / fps * float64(time.Second)))
			if err := st.AnalyzeCamera(data, &res, cam, at); err != nil {
				return nil, nil, fmt.Errorf("%s frame %d: %w", c.name, j, err)
			}
			switch res.Analysis {
			case analysis.AnalysisFull:
				vr.Full++
			case analysis.AnalysisTracked:
				vr.Tracked++
			case analysis.AnalysisReused:
				vr.Reused++
			}
			vr.Faces += len(res.Faces)
			out[ci] = append(out[ci], res)
			n++
		}
	}
	cpu, wall := cpuTime()-cpu0, time.Since(wall0)
	vr.MSPerFrame = round2(ms(wall) / float64(n))
	vr.CPUMSPerFrame = round2(ms(cpu) / float64(n))
	if cpu > 0 {
		vr.FPSPerCore = round1(float64(n) / cpu.Seconds())
	}
	vr.Full, vr.Tracked, vr.Reused = round3(vr.Full/float64(n)), round3(vr.Tracked/float64(n)), round3(vr.Reused/float64(n))
	return out, vr, nil
}

// cpuTime is the CPU time this process has used, user and system, in all
// its threads.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// fidelity fills vr's Matched, EmotionSame and IDStable from out against
// ref: per frame, reference faces and the variant's are paired greedily
// by IoU (≥ 0.5, best first).
func fidelity(ref, out [][]frame.Result, vr *VariantReport) {
	var refFaces, matched, same, pairs, stable int
	for ci := range ref {
		// last: reference track id → the variant's track id matched to it
		// in the previous frame.
		last := map[int64]int64{}
		for j := range ref[ci] {
			rf, of := ref[ci][j].Faces, out[ci][j].Faces
			refFaces += len(rf)
			m := matchFaces(rf, of)
			now := map[int64]int64{}
			for ri, oi := range m {
				if oi < 0 {
					continue
				}
				matched++
				if rf[ri].Emotion == of[oi].Emotion {
					same++
				}
				for l, p := range rf[ri].Emotions {
					vr.MaxProbDiff = max(vr.MaxProbDiff, math.Abs(p-of[oi].Emotions[l]))
				}
				id := rf[ri].TrackID
				now[id] = of[oi].TrackID
				if prev, ok := last[id]; ok {
					pairs++
					if prev == of[oi].TrackID {
						stable++
					}
				}
			}
			last = now
		}
	}
	vr.Matched, vr.EmotionSame, vr.IDStable = share(matched, refFaces), share(same, matched), share(stable, pairs)
	vr.MaxProbDiff = round3(vr.MaxProbDiff)
	var kept, steady int
	for ci := range out {
		last := map[int64]string{}
		for _, r := range out[ci] {
			now := map[int64]string{}
			for _, f := range r.Faces {
				now[f.TrackID] = f.Emotion
				if e, ok := last[f.TrackID]; ok {
					kept++
					if e == f.Emotion {
						steady++
					}
				}
			}
			last = now
		}
	}
	vr.Steady = share(steady, kept)
}

func share(a, b int) float64 {
	if b == 0 {
		return 1
	}
	return round3(float64(a) / float64(b))
}

// matchFaces pairs each face of a with one of b (index, or -1), greedily by
// IoU of at least 0.5.
func matchFaces(a, b []frame.Face) []int {
	m := make([]int, len(a))
	for i := range m {
		m[i] = -1
	}
	used := make([]bool, len(b))
	for {
		bi, bj, best := -1, -1, 0.5
		for i := range a {
			if m[i] >= 0 {
				continue
			}
			for j := range b {
				if !used[j] {
					if v := vision.IoU(rect(a[i].Box), rect(b[j].Box)); v >= best {
						bi, bj, best = i, j, v
					}
				}
			}
		}
		if bi < 0 {
			return m
		}
		m[bi], used[bj] = bj, true
	}
}

func rect(b frame.Box) vision.Rect {
	return vision.Rect{X1: b.X, Y1: b.Y, X2: b.X + b.W, Y2: b.Y + b.H}
}

// Print writes the report as a table.
func (rep *CompareReport) Print(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "VARIANT\tMS/FRAME\tCPU MS/FRAME\tFPS/CORE\tFULL\tTRACKED\tREUSED\tFACES\tMATCHED\tEMOTION\tMAX P DIFF\tID STABLE\tSTEADY\tGATES\t")
	for _, v := range rep.Variants {
		gates := "pass"
		if !v.Pass {
			gates = "FAIL"
		}
		fmt.Fprintf(tw, "%s\t%.2f\t%.2f\t%.1f\t%.0f%%\t%.0f%%\t%.0f%%\t%d\t%.1f%%\t%.1f%%\t%.3f\t%.1f%%\t%.1f%%\t%s\t\n", v.Name, v.MSPerFrame, v.CPUMSPerFrame, v.FPSPerCore,
			100*v.Full, 100*v.Tracked, 100*v.Reused, v.Faces, 100*v.Matched, 100*v.EmotionSame, v.MaxProbDiff, 100*v.IDStable, 100*v.Steady, gates)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, v := range rep.Variants {
		if !v.Pass {
			fmt.Fprintf(w, "%s fails the gates: %s\n", v.Name, v.Fails)
		}
	}
	if rep.Best != "" {
		fmt.Fprintf(w, "fastest variant that passes the gates: %s (%.1f frames/s per core)\n", rep.Best, rep.byName(rep.Best).FPSPerCore)
	}
	_, err := fmt.Fprintf(w, "\n%d frames of %d clips (%v), %d faces in the reference (%s); fidelity against it: faces matched at IoU ≥ 0.5, same top emotion, track id kept; steady: a track's top emotion unchanged from its previous frame\n",
		rep.Frames, len(rep.Clips), rep.Clips, rep.Faces, rep.Variants[0].Name)
	return err
}
