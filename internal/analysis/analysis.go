// Package analysis is framecast's one analysis stage: the encoded bytes of
// one frame in, a framecast.result.v1 out, with the time each step took.
// The processor (frames from Kafka), offline analysis (image and video
// files) and the benchmarks all go through it, so a result, its timings and
// its faces mean the same whichever command made them.
//
// Invariants:
//   - A Stage is used by one goroutine at a time; it owns a decoder, an
//     Analyzer and their buffers, reused from frame to frame.
//   - Times are measured from Input.Received, the moment the frame's bytes
//     were in this process's memory (a fetch returned, a file was read, a
//     video source delivered it): timings.queue is Received → the stage
//     began, timings.total is Received → the result was finished, and
//     latency_ms is Input.CapturedAt → finished.
//   - This package is where the vision engine's faces become the wire
//     format (frame.Face): vision knows nothing of the result schema, and
//     frame nothing of the networks.
//   - The pixel buffer of a frame over imagex.RetainBytes is not kept past
//     Trim.
package analysis

import (
	"errors"
	"math"
	"time"

	"github.com/framecast/framecast/internal/frame"
	"github.com/framecast/framecast/internal/imagex"
	"github.com/framecast/framecast/internal/vision"
)

// Analyzer is what the stage needs from the vision engine; *vision.Engine
// implements it, and Fake stands in for it in tests that are about
// everything but the networks. An Analyzer is used by one goroutine at a
// time.
type Analyzer interface {
	Analyze(img *imagex.RGB, dst []vision.Face) ([]vision.Face, vision.Timings, error)
	Close()
}

// Input says what a frame is and where it came from.
type Input struct {
	Camera string
	Seq    int64
	// CapturedAt is when the camera took the frame; offline, where there
	// is no capture clock, the moment framecast started reading it.
	CapturedAt time.Time
	// Received is when the frame's bytes were in this process's memory.
	Received time.Time
	// Where: topic, partition and offset for Kafka records, Source for
	// files. Width and Height are filled in by the stage.
	Frame  frame.FrameInfo
	Worker string
}

// Stage decodes and analyses frames.
type Stage struct {
	an    Analyzer
	dec   *imagex.Decoder
	img   imagex.RGB
	small imagex.RGB // the 1/8 thumbnail of SkipStatic
	half  imagex.RGB // the 1/2 decode of frames only followed
	// stale: img is not the last frame's (it was reused, or followed on
	// half), for FrameImage.
	stale bool
	faces []vision.Face
}

// NewStage returns a stage that decodes within lim and analyses with an.
// The stage owns an: Close closes it.
func NewStage(an Analyzer, lim imagex.Limits) *Stage {
	return &Stage{an: an, dec: imagex.NewDecoder(lim), faces: make([]vision.Face, 0, 32)}
}

// Close releases the decoder and the analyzer.
func (s *Stage) Close() {
	s.dec.Close()
	s.an.Close()
}

// Check runs the checks that need only the header and the end of data
// (format, dimensions within the limits, size floor, the end marker), in
// microseconds. A frame that fails them can never be analysed, however
// fresh: callers run it before deciding that a frame is too old.
func (s *Stage) Check(data []byte) (width, height int, err error) {
	_, width, height, err = s.dec.Check(data)
	return width, height, err
}

// Begin starts the result of in: identity, where it came from, no faces
// yet, and the time it waited since it was received.
func Begin(in Input) frame.Result {
	res := frame.Result{
		Schema: frame.Schema, Camera: in.Camera, Seq: in.Seq,
		CapturedAt: in.CapturedAt.UTC(),
		Frame:      in.Frame,
		Faces:      []frame.Face{},
		Worker:     in.Worker,
	}
	res.TimingsMS.Queue = MS(max(time.Since(in.Received), 0))
	return res
}

// Analyze decodes data and finds its faces, filling res (begun by Begin):
// status ok, the image's own size, the faces and the decode, detect and
// classify times. On error res is unchanged but for the timings, and the
// error's imagex.Reason token says what was wrong with the input; an error
// of the analyzer is wrapped in ErrAnalysis.
func (s *Stage) Analyze(data []byte, res *frame.Result) error {
	t0 := time.Now()
	if err := s.dec.Decode(data, &s.img); err != nil {
		return err
	}
	s.stale = false
	t1 := time.Now()
	var t vision.Timings
	var err error
	s.faces, t, err = s.an.Analyze(&s.img, s.faces[:0])
	if err != nil {
		return analysisError{err}
	}
	res.Status = frame.StatusOK
	res.Frame.Width, res.Frame.Height = s.img.W, s.img.H
	res.Faces = res.Faces[:0]
	for i := range s.faces {
		res.Faces = append(res.Faces, FaceResult(&s.faces[i]))
	}
	res.TimingsMS.Decode = MS(t1.Sub(t0))
	res.TimingsMS.Detect = MS(t.Detect)
	res.TimingsMS.Classify = MS(t.Classify)
	return nil
}

// Finish stamps the moment res was done: processed_at, latency_ms
// (capture → now) and timings.total (received → now). A camera clock ahead
// of ours would make latency negative; the schema (and any reader) wants a
// duration, so it is floored at zero.
func Finish(res *frame.Result, received time.Time) time.Time {
	done := time.Now()
	res.ProcessedAt = done.UTC()
	res.LatencyMS = MS(max(done.Sub(res.CapturedAt), 0))
	res.TimingsMS.Total = MS(max(done.Sub(received), 0))
	return done
}

// Image is the frame the last Analyze decoded, for drawing on; valid
// until the next Analyze or Trim.
func (s *Stage) Image() *imagex.RGB { return &s.img }

// Trim drops the pixel buffer if it is over imagex.RetainBytes, so one
// huge frame does not stay with a long-lived stage.
func (s *Stage) Trim() { s.img.Trim() }

// ErrAnalysis marks a failure of the analyzer (the networks), as opposed
// to bad input: errors.Is(err, ErrAnalysis). The error's text is the
// analyzer's own, as dead letters carried it before.
var ErrAnalysis = errors.New("analysis failed")

type analysisError struct{ error }

func (e analysisError) Is(target error) bool { return target == ErrAnalysis }
func (e analysisError) Unwrap() error        { return e.error }

// MS is d in milliseconds with microsecond resolution, as results carry
// durations.
func MS(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// FaceResult converts a face to its framecast.result.v1 form. Coordinates
// are rounded to 0.01 px and probabilities to 1e-4: finer digits are noise
// from float32 inference and only make the JSON longer.
func FaceResult(f *vision.Face) frame.Face {
	best := f.Top()
	probs := make(map[string]float64, len(frame.Labels))
	for i, l := range frame.Labels {
		probs[l] = round(float64(f.Probs[i]), 4)
	}
	return frame.Face{
		Box: frame.Box{
			X: round(f.Box.X1, 2), Y: round(f.Box.Y1, 2),
			W: round(f.Box.W(), 2), H: round(f.Box.H(), 2),
		},
		Score:    round(float64(f.Score), 4),
		Emotion:  frame.Labels[best],
		Emotions: probs,
	}
}

// round keeps the given number of decimals; dividing by a power of ten
// (rather than multiplying by 1e-4) yields the double nearest the decimal,
// so JSON shows 0.0018, not 0.0018000000000000002.
func round(v float64, decimals int) float64 {
	p := math.Pow(10, float64(decimals))
	return math.Round(v*p) / p
}
