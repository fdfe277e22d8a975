package cli

import (
	"flag"
	"fmt"

	"github.com/framecast/framecast/internal/analysis"
	"github.com/framecast/framecast/internal/flagvalue"
	"github.com/framecast/framecast/internal/imagex"
	"github.com/framecast/framecast/internal/models"
	"github.com/framecast/framecast/internal/vision"
)

// visionFlags are the vision-engine flags shared by every role that
// analyses frames.
type visionFlags struct {
	home      string
	ortLib    string
	detector  string
	emotion   string
	threads   int
	provider  string
	minScore  float64
	maxFaces  int
	maxPixels int64
	maxBytes  flagvalue.Size
}

func (v *visionFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&v.home, "home", models.Home(), "cache directory holding models and the ONNX Runtime library")
	fs.StringVar(&v.ortLib, "onnxruntime-lib", "", "ONNX Runtime shared library to use instead of the cached one (e.g. a GPU build)")
	fs.StringVar(&v.detector, "detector-model", "", "face detector ONNX model (default: <home>/models/blazeface.onnx)")
	fs.StringVar(&v.emotion, "emotion-model", "", "emotion ONNX model (default: <home>/models/emotion.onnx)")
	fs.IntVar(&v.threads, "threads", 0, "ONNX Runtime intra-op threads per model (0 = one per core)")
	fs.StringVar(&v.provider, "provider", "cpu", "ONNX Runtime execution provider: cpu or cuda")
	fs.Float64Var(&v.minScore, "min-score", 0.5, "minimum face detection score, 0..1")
	fs.IntVar(&v.maxFaces, "max-faces", 20, "maximum faces per frame")
	fs.Int64Var(&v.maxPixels, "max-pixels", imagex.DefaultLimits().MaxPixels, "largest image accepted, in pixels (checked before decoding)")
	v.maxBytes = flagvalue.Size(imagex.DefaultLimits().MaxBytes)
	fs.Var(&v.maxBytes, "max-bytes", "`size` of the largest encoded image accepted (e.g. 32MiB)")
}

func (v *visionFlags) limits() imagex.Limits {
	return imagex.Limits{MaxPixels: v.maxPixels, MaxBytes: int64(v.maxBytes)}
}

func (v *visionFlags) validate() error {
	if v.minScore < 0 || v.minScore > 1 {
		return usageError("--min-score %v: must be between 0 and 1", v.minScore)
	}
	if v.maxFaces < 1 || v.maxFaces > 1000 {
		return usageError("--max-faces %d: must be between 1 and 1000", v.maxFaces)
	}
	if v.maxPixels < 1 {
		return usageError("--max-pixels %d: must be positive", v.maxPixels)
	}
	if v.maxBytes < 1 {
		return usageError("--max-bytes %d: must be positive", v.maxBytes)
	}
	if v.threads < 0 {
		return usageError("--threads %d: must be 0 or more", v.threads)
	}
	return nil
}

// engine loads the ONNX Runtime and both models.
func (v *visionFlags) engine() (*vision.Engine, error) {
	p := models.At(v.home)
	if err := vision.InitRuntime(p.ResolveORTLib(v.ortLib)); err != nil {
		return nil, err
	}
	o := vision.Config{
		DetectorModel: v.detector, EmotionModel: v.emotion,
		Threads: v.threads, Provider: v.provider,
		// 0 would mean "default" to the engine; the user meant "everything".
		MinScore: max(v.minScore, 1e-9), MaxFaces: v.maxFaces,
	}
	if o.DetectorModel == "" {
		o.DetectorModel = p.Detector()
	}
	if o.EmotionModel == "" {
		o.EmotionModel = p.Emotion()
	}
	e, err := vision.New(o)
	if err != nil {
		return nil, fmt.Errorf("%w", err)
	}
	return e, nil
}

// analyzer is the engine as the analysis stage takes it (a nil interface,
// not a nil *vision.Engine, on error).
func (v *visionFlags) analyzer() (analysis.Analyzer, error) {
	e, err := v.engine()
	if err != nil {
		return nil, err
	}
	return e, nil
}
