package vision

import (
	"errors"
	"fmt"
	"time"

	"github.com/framecast/framecast/internal/imagex"
)

// Config configures an Engine. The zero value of each field means its
// documented default.
type Config struct {
	// DetectorModel and EmotionModel are ONNX files (see models.Paths).
	DetectorModel string
	EmotionModel  string
	// Threads is ONNX Runtime's intra-op thread count per session; 0 lets
	// ONNX Runtime pick (one per core). Workers that run several engines
	// side by side should set 1.
	Threads int
	// Provider is the execution provider: "cpu" (default) or "cuda".
	Provider string
	// MinScore is the detector score a face needs (default 0.5).
	MinScore float64
	// IoU is the non-maximum-suppression overlap threshold (default 0.1).
	IoU float64
	// MaxFaces bounds the faces per frame (default 20).
	MaxFaces int
	// CropScale enlarges the detector box for the emotion crop (default 1.4).
	CropScale float64
}

func (o *Config) withDefaults() error {
	if o.MinScore == 0 {
		o.MinScore = 0.5
	}
	if o.IoU == 0 {
		o.IoU = 0.1
	}
	if o.MaxFaces == 0 {
		o.MaxFaces = 20
	}
	if o.CropScale == 0 {
		o.CropScale = 1.4
	}
	var errs []error
	if o.MinScore < 0 || o.MinScore > 1 {
		errs = append(errs, fmt.Errorf("min score %v: must be in [0, 1]", o.MinScore))
	}
	if o.IoU < 0 || o.IoU > 1 {
		errs = append(errs, fmt.Errorf("IoU threshold %v: must be in [0, 1]", o.IoU))
	}
	if o.MaxFaces < 1 || o.MaxFaces > 1000 {
		errs = append(errs, fmt.Errorf("max faces %d: must be between 1 and 1000", o.MaxFaces))
	}
	if o.Threads < 0 {
		errs = append(errs, fmt.Errorf("threads %d: must be ≥ 0", o.Threads))
	}
	return errors.Join(errs...)
}

// Face is one detected face.
type Face struct {
	// Box is the tight detector box in frame pixels.
	Box Rect
	// Crop is the square region the emotion model saw (Box ×1.4, squared).
	Crop Rect
	// Score is the detector's confidence.
	Score float32
	// Landmarks are six keypoints in frame pixels: eyes, nose, mouth, ears.
	Landmarks [6][2]float32
	// Probs are the emotion probabilities in Labels order.
	Probs [7]float32
}

// Labels is the emotion model's output order (FER2013).
var Labels = [7]string{"angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"}

// Top is the index in Labels of the most likely emotion.
func (f *Face) Top() int {
	best := 0
	for i, p := range f.Probs {
		if p > f.Probs[best] {
			best = i
		}
	}
	return best
}

// Emotion is the most likely label and its probability.
func (f *Face) Emotion() (string, float32) {
	best := f.Top()
	return Labels[best], f.Probs[best]
}

// Timings splits the time of one Analyze call.
type Timings struct {
	Detect   time.Duration // resize, detector, decoding, NMS
	Classify time.Duration // crops and the batched emotion model
}

// Engine analyses frames. It is not safe for concurrent use: give each
// worker goroutine its own Engine (sessions and buffers are per engine).
type Engine struct {
	opts Config
	det  *detector
	cls  *classifier
}

// New loads both models. InitRuntime must have been called.
func New(o Config) (*Engine, error) {
	if err := o.withDefaults(); err != nil {
		return nil, err
	}
	det, err := newDetector(o.DetectorModel, o)
	if err != nil {
		return nil, err
	}
	cls, err := newClassifier(o.EmotionModel, o)
	if err != nil {
		det.close()
		return nil, err
	}
	return &Engine{opts: o, det: det, cls: cls}, nil
}

// Config returns the effective options, defaults applied.
func (e *Engine) Config() Config { return e.opts }

// Close releases the sessions and tensors.
func (e *Engine) Close() {
	e.det.close()
	e.cls.close()
}

// Analyze detects the faces in img and classifies each one's emotion. The
// faces are appended to dst (pass dst[:0] of a reused slice to avoid
// allocations), in descending detector score.
func (e *Engine) Analyze(img *imagex.RGB, dst []Face) ([]Face, Timings, error) {
	var t Timings
	if img.W <= 0 || img.H <= 0 || len(img.Pix) < img.W*img.H*3 {
		return dst, t, fmt.Errorf("invalid image %d×%d with %d bytes", img.W, img.H, len(img.Pix))
	}
	start := time.Now()
	n0 := len(dst)
	dst, err := e.Detect(img, dst)
	if err != nil {
		return dst, t, err
	}
	mid := time.Now()
	t.Detect = mid.Sub(start)
	if err := e.Classify(img, dst[n0:]); err != nil {
		return dst, t, err
	}
	t.Classify = time.Since(mid)
	return dst, t, nil
}

// Detect runs only the detector; Probs of the returned faces are zero.
func (e *Engine) Detect(img *imagex.RGB, dst []Face) ([]Face, error) {
	e.det.table.detectorInput(img, e.det.in.GetData())
	if err := e.det.run(); err != nil {
		return dst, err
	}
	return e.det.decode(img.W, img.H, &e.opts, dst), nil
}

// Classify fills Probs of faces with one batched emotion-model call.
func (e *Engine) Classify(img *imagex.RGB, faces []Face) error {
	if len(faces) == 0 {
		return nil
	}
	b, err := e.cls.batch(len(faces))
	if err != nil {
		return err
	}
	in := b.in.GetData()
	const sz = EmotionSize * EmotionSize
	for i := range faces {
		emotionInput(img, faces[i].Crop, in[i*sz:(i+1)*sz])
	}
	if err := e.cls.run(b); err != nil {
		return err
	}
	out := b.out.GetData()
	for i := range faces {
		copy(faces[i].Probs[:], out[i*7:i*7+7])
	}
	return nil
}

// DetectorInput writes the detector's input tensor for img into dst (length
// 256·256·3), for tests and tools that compare preprocessing.
func (e *Engine) DetectorInput(img *imagex.RGB, dst []float32) {
	e.det.table.detectorInput(img, dst)
}

// EmotionInput writes the emotion model's input for one crop box into dst
// (length 64·64).
func EmotionInput(img *imagex.RGB, crop Rect, dst []float32) { emotionInput(img, crop, dst) }

// RunDetectorRaw runs the detector on a given input tensor and returns copies
// of its outputs keyed by shape: [1,512,1], [1,512,16], [1,384,1], [1,384,16].
func (e *Engine) RunDetectorRaw(input []float32) ([4][]float32, error) {
	var out [4][]float32
	if len(input) != DetectorSize*DetectorSize*3 {
		return out, fmt.Errorf("detector input has %d values, want %d", len(input), DetectorSize*DetectorSize*3)
	}
	copy(e.det.in.GetData(), input)
	if err := e.det.run(); err != nil {
		return out, err
	}
	for i, t := range e.det.outs {
		out[i] = append([]float32(nil), t.GetData()...)
	}
	return out, nil
}

// RunEmotionRaw runs the emotion model on n stacked 64×64 inputs.
func (e *Engine) RunEmotionRaw(input []float32, n int) ([]float32, error) {
	if len(input) != n*EmotionSize*EmotionSize {
		return nil, fmt.Errorf("emotion input has %d values, want %d", len(input), n*EmotionSize*EmotionSize)
	}
	b, err := e.cls.batch(n)
	if err != nil {
		return nil, err
	}
	copy(b.in.GetData(), input)
	if err := e.cls.run(b); err != nil {
		return nil, err
	}
	return append([]float32(nil), b.out.GetData()...), nil
}
