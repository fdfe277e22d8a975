package analysis

import (
	"errors"
	"sync/atomic"
	"time"

	"github.com/framecast/framecast/internal/imagex"
	"github.com/framecast/framecast/internal/vision"
)

// Fake is an Analyzer without networks, for tests of everything around
// them (Kafka, delivery, counters, the dashboard): it runs anywhere, in
// microseconds, without ONNX Runtime or the models.
//
// It "finds" one face for every full FaceWidth pixels of the image's
// width (160 by default: a 640×480 frame has four, a thumbnail none), laid
// out side by side and vertically centred, with scores from 0.9 down and
// emotions taking the labels in turn. So the result of a frame follows
// from its size alone, and a test can choose it.
type Fake struct {
	// FaceWidth is the image width per face (default 160).
	FaceWidth int
	// Delay is spent in each call (and reported as detection time), for
	// tests of a slow worker or of timings.
	Delay time.Duration
	// Err, when set, is returned by every call.
	Err error
	// Panic, when set, makes every call panic with it.
	Panic any
	// Calls counts the calls (of Analyze and Detect); Classified the
	// faces given to Classify.
	Calls, Classified atomic.Int64
	// Closed is set by Close.
	Closed atomic.Bool
}

// ErrFakeClosed is returned by a Fake used after Close.
var ErrFakeClosed = errors.New("fake analyzer used after Close")

// Analyze implements Analyzer.
func (f *Fake) Analyze(img *imagex.RGB, dst []vision.Face) ([]vision.Face, vision.Timings, error) {
	f.Calls.Add(1)
	start := time.Now()
	if f.Closed.Load() {
		return dst, vision.Timings{}, ErrFakeClosed
	}
	if f.Panic != nil {
		panic(f.Panic)
	}
	if f.Delay > 0 {
		time.Sleep(f.Delay)
	}
	if f.Err != nil {
		return dst, vision.Timings{}, f.Err
	}
	fw := f.FaceWidth
	if fw <= 0 {
		fw = 160
	}
	n := min(img.W/fw, 20)
	side := float64(fw) / 2
	for i := range n {
		x := float64(i*fw) + side/2
		y := (float64(img.H) - side) / 2
		face := vision.Face{
			Box:   vision.Rect{X1: x, Y1: y, X2: x + side, Y2: y + side},
			Crop:  vision.Rect{X1: x - side/5, Y1: y - side/5, X2: x + side*6/5, Y2: y + side*6/5},
			Score: 0.9 - 0.05*float32(i%8),
		}
		top := i % len(vision.Labels)
		for k := range face.Probs {
			face.Probs[k] = 0.1 / float32(len(face.Probs)-1)
		}
		face.Probs[top] = 0.9
		dst = append(dst, face)
	}
	return dst, vision.Timings{Detect: time.Since(start)}, nil
}

// Close implements Analyzer.
func (f *Fake) Close() { f.Closed.Store(true) }

// Detect implements Splitter: the faces of Analyze, without emotions.
func (f *Fake) Detect(img *imagex.RGB, dst []vision.Face) ([]vision.Face, error) {
	n0 := len(dst)
	dst, _, err := f.Analyze(img, dst)
	for i := n0; i < len(dst); i++ {
		dst[i].Probs = [7]float32{}
	}
	return dst, err
}

// Classify implements Splitter: a face's emotion follows from where it is,
// as in Analyze (the label of the FaceWidth column its box starts in), so
// a followed face keeps its label.
func (f *Fake) Classify(_ *imagex.RGB, faces []vision.Face) error {
	fw := f.FaceWidth
	if fw <= 0 {
		fw = 160
	}
	f.Classified.Add(int64(len(faces)))
	for i := range faces {
		top := max(int(faces[i].Box.X1)/fw, 0) % len(vision.Labels)
		for k := range faces[i].Probs {
			faces[i].Probs[k] = 0.1 / float32(len(faces[i].Probs)-1)
		}
		faces[i].Probs[top] = 0.9
	}
	return nil
}
