package analysis

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"slices"
	"strconv"
	"time"

	"github.com/framecast/framecast/internal/flagvalue"
	"github.com/framecast/framecast/internal/imagex"
	"github.com/framecast/framecast/internal/models"
	"github.com/framecast/framecast/internal/track"
	"github.com/framecast/framecast/internal/vision"
)

// Flags are the flags of every command that analyses frames (analyze,
// bench, process, demo): where the models and ONNX Runtime are, how the
// engine runs, and what input it accepts. They live beside the stage they
// configure, as bench's and kafka's flags do, so a new analysis option is
// one field here and not a change to every command.
type Flags struct {
	Home      string
	ORTLib    string
	Detector  string
	Emotion   string
	Threads   int
	Provider  string
	Precision string
	MinScore  float64
	MaxFaces  int
	MaxPixels int64
	MaxBytes  flagvalue.Size
	// Tracking (camera.go): what may be left out on a camera's frames.
	DetectEvery, ReclassifyEvery int
	SkipStatic                   bool
	SkipStaticMaxAge             time.Duration
}

// Register adds the flags to fs.
func (v *Flags) Register(fs *flag.FlagSet) {
	fs.StringVar(&v.Home, "home", models.Home(), "cache directory holding models and the ONNX Runtime library")
	fs.StringVar(&v.ORTLib, "onnxruntime-lib", "", "ONNX Runtime shared library to use instead of the cached one (e.g. a GPU build)")
	fs.StringVar(&v.Detector, "detector-model", "", "face detector ONNX model (default: <home>/models/blazeface.onnx)")
	fs.StringVar(&v.Emotion, "emotion-model", "", "emotion ONNX model (default: <home>/models/emotion.onnx)")
	fs.IntVar(&v.Threads, "threads", 0, "ONNX Runtime intra-op threads per model (0 = one per core)")
	fs.StringVar(&v.Provider, "provider", "cpu", "ONNX Runtime execution provider: cpu or cuda")
	fs.StringVar(&v.Precision, "precision", DefaultPrecision, "model precision: fp32; int8 (both models as models fetch quantises them); mixed (fp32 detector, int8 emotion: the cheaper one here). int8 and mixed are less faithful: see docs/BENCHMARKS.md")
	fs.Float64Var(&v.MinScore, "min-score", 0.5, "minimum face detection score, 0..1")
	fs.IntVar(&v.MaxFaces, "max-faces", 20, "maximum faces per frame")
	fs.Int64Var(&v.MaxPixels, "max-pixels", imagex.DefaultLimits().MaxPixels, "largest image accepted, in pixels (checked before decoding)")
	v.MaxBytes = flagvalue.Size(imagex.DefaultLimits().MaxBytes)
	fs.Var(&v.MaxBytes, "max-bytes", "`size` of the largest encoded image accepted (e.g. 32MiB)")
	fs.IntVar(&v.DetectEvery, "detect-every", 1, "run the face detector on every Nth frame of a camera and follow the faces in between (cameras and videos; an image is always analysed in full)")
	fs.IntVar(&v.ReclassifyEvery, "reclassify-every", 1, "classify a followed face's emotion every Nth frame and reuse it in between")
	fs.BoolVar(&v.SkipStatic, "skip-static", false, "give a frame that barely differs from the camera's last analysed one that frame's faces, without the networks")
	fs.DurationVar(&v.SkipStaticMaxAge, "skip-static-max-age", time.Second, "with --skip-static, analyse in full once the reused frame is this old (0: never, however old)")
}

// Tracking is the per-camera analysis the flags ask for.
func (v *Flags) Tracking() Tracking {
	maxAge := v.SkipStaticMaxAge
	if maxAge == 0 {
		maxAge = -1 // the flag's 0 is StaticConfig's "never"
	}
	return Tracking{DetectEvery: v.DetectEvery, ReclassifyEvery: v.ReclassifyEvery, SkipStatic: v.SkipStatic,
		Static: track.StaticConfig{MaxAge: maxAge}}
}

// DefaultPrecision is fp32: the int8 models do not meet the fp32 fidelity
// gates (vision's TestFidelityInt8; docs/BENCHMARKS.md, "int8"), so int8
// is opt-in.
const DefaultPrecision = "fp32"

// Limits are the input limits the flags set.
func (v *Flags) Limits() imagex.Limits {
	return imagex.Limits{MaxPixels: v.MaxPixels, MaxBytes: int64(v.MaxBytes)}
}

// Check checks the values as given on the command line, all problems at
// once; the caller reports them as a usage error.
func (v *Flags) Check() error {
	var errs []error
	if v.MinScore < 0 || v.MinScore > 1 {
		errs = append(errs, fmt.Errorf("--min-score %v: must be between 0 and 1", v.MinScore))
	}
	if v.MaxFaces < 1 || v.MaxFaces > 1000 {
		errs = append(errs, fmt.Errorf("--max-faces %d: must be between 1 and 1000", v.MaxFaces))
	}
	if v.MaxPixels < 1 {
		errs = append(errs, fmt.Errorf("--max-pixels %d: must be positive", v.MaxPixels))
	}
	if v.MaxBytes < 1 {
		errs = append(errs, fmt.Errorf("--max-bytes %d: must be positive", v.MaxBytes))
	}
	if v.DetectEvery < 1 || v.ReclassifyEvery < 1 {
		errs = append(errs, fmt.Errorf("--detect-every %d, --reclassify-every %d: must be 1 or more", v.DetectEvery, v.ReclassifyEvery))
	}
	if v.SkipStaticMaxAge < 0 {
		errs = append(errs, fmt.Errorf("--skip-static-max-age %v: must not be negative", v.SkipStaticMaxAge))
	}
	if v.Threads < 0 {
		errs = append(errs, fmt.Errorf("--threads %d: must be 0 or more", v.Threads))
	}
	if err := CheckPrecision(v.Precision); err != nil {
		errs = append(errs, fmt.Errorf("--precision %w", err))
	}
	return errors.Join(errs...)
}

// Engine loads the ONNX Runtime and both models, of the precision asked
// for unless --detector-model / --emotion-model name others.
func (v *Flags) Engine() (*vision.Engine, error) {
	p := models.At(v.Home)
	o := vision.Config{
		DetectorModel: v.Detector, EmotionModel: v.Emotion,
		Threads: v.Threads, Provider: v.Provider,
		// 0 would mean "default" to the engine; the user meant "everything".
		MinScore: max(v.MinScore, 1e-9), MaxFaces: v.MaxFaces,
	}
	det, emo := p.Detector(), p.Emotion()
	switch v.Precision {
	case "int8":
		det, emo = p.DetectorInt8(), p.EmotionInt8()
	case "mixed":
		// The int8 detector is slower than the float one on CPUs whose
		// int8 depthwise kernels lag (MLAS's, measured: 4×) and moves
		// boxes by up to 15 px; the int8 emotion model is ~1.9× faster
		// and changes 1 top-1 in 43 (docs/BENCHMARKS.md, "int8").
		emo = p.EmotionInt8()
	}
	if o.DetectorModel == "" {
		o.DetectorModel = det
	}
	if o.EmotionModel == "" {
		o.EmotionModel = emo
	}
	if v.Precision != "fp32" {
		// Checked here rather than left to ONNX Runtime, so the message
		// says where int8 models come from: a cache filled by an older
		// framecast has only the float ones.
		for _, m := range []string{o.DetectorModel, o.EmotionModel} {
			if _, err := os.Stat(m); err != nil {
				return nil, fmt.Errorf("--precision %s: %w: run `framecast models fetch` to quantise the models (or use --precision fp32)", v.Precision, err)
			}
		}
	}
	if err := vision.InitRuntime(p.ResolveORTLib(v.ORTLib)); err != nil {
		return nil, err
	}
	return vision.New(o)
}

// Analyzer is Engine as the stage takes it (a nil interface, not a nil
// *vision.Engine, on error).
func (v *Flags) Analyzer() (Analyzer, error) {
	e, err := v.Engine()
	if err != nil {
		return nil, err
	}
	return e, nil
}

// Args are the flags again as command-line arguments, for a child process
// (the soak's processor) that must analyse exactly as this one does. The
// threads are left out: the child gets its own.
func (v *Flags) Args() []string {
	args := []string{"--home", v.Home, "--provider", v.Provider, "--precision", v.Precision,
		"--min-score", strconv.FormatFloat(v.MinScore, 'g', -1, 64), "--max-faces", strconv.Itoa(v.MaxFaces),
		"--max-pixels", strconv.FormatInt(v.MaxPixels, 10), "--max-bytes", strconv.FormatInt(int64(v.MaxBytes), 10),
		"--detect-every", strconv.Itoa(max(v.DetectEvery, 1)), "--reclassify-every", strconv.Itoa(max(v.ReclassifyEvery, 1)),
		"--skip-static=" + strconv.FormatBool(v.SkipStatic), "--skip-static-max-age", v.SkipStaticMaxAge.String()}
	for _, f := range []struct{ flag, v string }{{"--onnxruntime-lib", v.ORTLib}, {"--detector-model", v.Detector}, {"--emotion-model", v.Emotion}} {
		if f.v != "" {
			args = append(args, f.flag, f.v)
		}
	}
	return args
}

// Precisions are the values of --precision.
var Precisions = []string{"fp32", "int8", "mixed"}

// CheckPrecision says what is wrong with a precision's name, nil when it
// is one of Precisions.
func CheckPrecision(p string) error {
	if !slices.Contains(Precisions, p) {
		return fmt.Errorf("%q: use fp32, int8 or mixed", p)
	}
	return nil
}
