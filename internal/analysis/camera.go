package analysis

import (
	"time"

	"github.com/framecast/framecast/internal/frame"
	"github.com/framecast/framecast/internal/imagex"
	"github.com/framecast/framecast/internal/track"
	"github.com/framecast/framecast/internal/vision"
)

// Values of frame.Result.Analysis and frame.Face.Source.
const (
	AnalysisFull    = "full"    // the detector ran on the frame
	AnalysisTracked = "tracked" // faces followed from earlier frames, no detector
	AnalysisReused  = "reused"  // a static frame: the last analysed frame's faces
	SourceDetected  = "detected"
	SourceTracked   = "tracked"
)

// Tracking says what a stage may leave out on a camera's frames. The zero
// value analyses every frame in full (and still gives faces track ids).
type Tracking struct {
	// DetectEvery runs the detector on every Nth analysed frame of a
	// camera and follows the faces in between (default 1: every frame).
	// The detector also runs whenever a face cannot be followed.
	DetectEvery int
	// ReclassifyEvery runs the emotion model on a followed face every Mth
	// frame and reuses its probabilities in between (default 1). New faces
	// are always classified.
	ReclassifyEvery int
	// SkipStatic reuses the last analysed frame's faces for a frame that
	// barely differs from it (Static decides), without decoding it in full
	// or running any network.
	SkipStatic bool
	Static     track.StaticConfig
	Track      track.Config
}

func (t *Tracking) withDefaults() {
	t.DetectEvery = max(t.DetectEvery, 1)
	t.ReclassifyEvery = max(t.ReclassifyEvery, 1)
}

// Camera is the state a stage keeps about one camera between its frames:
// its tracks and its last analysed frame. Frames must reach it in sequence
// order, one at a time; whoever owns the camera (the worker that holds its
// partition, the reader of a video) keeps it and drops it when it lets the
// camera go.
type Camera struct {
	cfg   Tracking
	tr    *track.Tracker
	since int // analysed frames since the detector last ran
	// The last analysed (full or tracked) frame, for SkipStatic.
	ref, thumb track.Thumb
	refAt      time.Time
	refOK      bool
	w, h       int
	faces      []frame.Face
	seq        int64 // of the last frame; -1: none
}

// order resets the camera when seq does not follow the last frame's: a
// publisher restarted counts from 0 again, and a frame seen again (a
// redelivery) must not be followed from frames after it.
func (c *Camera) order(seq int64) {
	if seq <= c.seq {
		c.tr.Reset()
		c.refOK, c.since, c.w, c.h = false, c.cfg.DetectEvery, 0, 0
	}
	c.seq = seq
}

// NewCamera returns the state of a camera not seen before.
func NewCamera(cfg Tracking) *Camera {
	cfg.withDefaults()
	// The first frame has nothing to follow: the detector runs.
	return &Camera{cfg: cfg, tr: track.New(cfg.Track), since: cfg.DetectEvery, seq: -1}
}

// Splitter is an Analyzer that can also run its two networks apart, which
// following faces needs; *vision.Engine and Fake are. With an Analyzer that
// is not, AnalyzeCamera detects and classifies every frame in full.
type Splitter interface {
	Analyzer
	Detect(img *imagex.RGB, dst []vision.Face) ([]vision.Face, error)
	Classify(img *imagex.RGB, faces []vision.Face) error
}

// AnalyzeCamera is Analyze for a frame of the camera cam (nil: Analyze):
// it may reuse, follow or detect, as cam's Tracking allows, and says which
// in res.Analysis and each face's Source; faces carry their track ids. at
// is the frame's time on the camera's clock (the capture time; a video's
// own time offline), which the age limit of reused frames is measured in.
// Image may then not be this frame's (a reused frame, or one followed on
// a half-size decode): FrameImage gives the frame to draw on.
func (s *Stage) AnalyzeCamera(data []byte, res *frame.Result, cam *Camera, at time.Time) error {
	if cam == nil {
		return s.Analyze(data, res)
	}
	cam.order(res.Seq)
	t0 := time.Now()
	// A frame is reused or followed on a scaled decode only at the
	// camera's size, which the scaled image does not tell (640 and 634
	// wide both give 80 at 1/8): the header does, in microseconds.
	var w, h int
	if cam.cfg.SkipStatic || cam.cfg.DetectEvery > 1 {
		var err error
		if _, w, h, err = s.dec.Check(data); err != nil {
			return err
		}
	}
	if cam.cfg.SkipStatic {
		// An 8th in each direction, scaled inside libjpeg's IDCT: half a
		// full decode (0.48 against 0.98 ms at 640×480: the entropy
		// decoding stays), 3 % of a full analysis, and with it a static
		// frame skips the other half and the networks.
		if err := s.dec.DecodeScaled(data, &s.small, 8); err != nil {
			return err
		}
		cam.thumb.SetRGB(&s.small)
		if cam.refOK && w == cam.w && h == cam.h && track.Reuse(&cam.ref, &cam.thumb, cam.refAt, at, cam.cfg.Static) {
			res.Status, res.Analysis = frame.StatusOK, AnalysisReused
			res.Frame.Width, res.Frame.Height = w, h
			res.Faces = append(res.Faces[:0], cam.faces...)
			res.TimingsMS.Decode = MS(time.Since(t0))
			s.stale = true
			return nil
		}
	}
	if ok, err := s.followHalf(data, res, cam, at, t0, w, h); ok || err != nil {
		return err
	}
	if err := s.dec.Decode(data, &s.img); err != nil {
		return err
	}
	s.stale = false
	t1 := time.Now()
	t, err := s.camera(res.Seq, cam, res)
	if err != nil {
		cam.tr.Reset()
		cam.refOK, cam.since = false, cam.cfg.DetectEvery
		return analysisError{err}
	}
	res.Status = frame.StatusOK
	res.Frame.Width, res.Frame.Height = s.img.W, s.img.H
	res.TimingsMS.Decode = MS(t1.Sub(t0))
	res.TimingsMS.Detect = MS(t.Detect)
	res.TimingsMS.Classify = MS(t.Classify)
	cam.analysed(res, s.img.W, s.img.H, at)
	return nil
}

// analysed notes res, a frame of w×h analysed (not reused), as the one
// the camera's next frames are reused from and compared with.
func (cam *Camera) analysed(res *frame.Result, w, h int, at time.Time) {
	cam.w, cam.h = w, h
	cam.faces = append(cam.faces[:0], res.Faces...)
	if cam.cfg.SkipStatic {
		// Static frames are compared with the last analysed one, not the
		// last reused one, so a slow drift adds up and is seen.
		cam.ref.CopyFrom(&cam.thumb)
		cam.refAt, cam.refOK = at, true
	}
}

// followHalf follows the camera's faces on a half-size decode of data when
// that is all the frame needs: the detector is not due, no face's emotion
// is, and the frame has the camera's size (w×h, from its header). A 640×480 frame decodes at half
// size in well under half the time (libjpeg scales inside the IDCT), and
// the decode is most of what a followed frame costs. It reports false
// when the frame needs more (then the caller decodes it in full and may
// still follow it there, at full size).
func (s *Stage) followHalf(data []byte, res *frame.Result, cam *Camera, at, t0 time.Time, w, h int) (bool, error) {
	if _, split := s.an.(Splitter); !split || cam.since+1 >= cam.cfg.DetectEvery || cam.w == 0 || w != cam.w || h != cam.h ||
		cam.tr.Due(res.Seq, cam.cfg.ReclassifyEvery) {
		return false, nil
	}
	if err := s.dec.DecodeScaled(data, &s.half, 2); err != nil {
		return false, err
	}
	t1 := time.Now()
	if !cam.tr.FollowScaled(res.Seq, &s.half, 2) {
		return false, nil
	}
	cam.since++
	res.Status, res.Analysis = frame.StatusOK, AnalysisTracked
	res.Frame.Width, res.Frame.Height = w, h
	facesOf(res, cam.tr.Visible())
	res.TimingsMS.Decode = MS(t1.Sub(t0))
	res.TimingsMS.Detect = MS(time.Since(t1))
	s.stale = true
	cam.analysed(res, w, h, at)
	return true, nil
}

// facesOf sets res's faces to the tracks'.
func facesOf(res *frame.Result, tracks []*track.Track) {
	res.Faces = res.Faces[:0]
	for _, tk := range tracks {
		f := FaceResult(&tk.Face)
		f.TrackID, f.Source = tk.ID, SourceTracked
		if tk.Detected {
			f.Source = SourceDetected
		}
		res.Faces = append(res.Faces, f)
	}
}

// FrameImage is the frame data decoded, for drawing on: Image when the
// last AnalyzeCamera decoded data in full, else data decoded now (a
// reused frame, or one followed on a half-size decode).
func (s *Stage) FrameImage(data []byte) (*imagex.RGB, error) {
	if s.stale {
		if err := s.dec.Decode(data, &s.img); err != nil {
			return nil, err
		}
		s.stale = false
	}
	return &s.img, nil
}

// camera runs the networks cam's state calls for on s.img and fills
// res.Faces and res.Analysis.
func (s *Stage) camera(seq int64, cam *Camera, res *frame.Result) (vision.Timings, error) {
	var t vision.Timings
	sp, split := s.an.(Splitter)
	start := time.Now()
	var tracks []*track.Track
	res.Analysis = AnalysisFull
	// A frame of a new size is a new scene: the detector runs.
	sameSize := s.img.W == cam.w && s.img.H == cam.h
	if split && sameSize && cam.since+1 < cam.cfg.DetectEvery && cam.tr.Follow(seq, &s.img) {
		res.Analysis = AnalysisTracked
		tracks = cam.tr.Visible()
		cam.since++
	} else {
		var err error
		if split {
			s.faces, err = sp.Detect(&s.img, s.faces[:0])
		} else {
			s.faces, t, err = s.an.Analyze(&s.img, s.faces[:0])
		}
		if err != nil {
			return t, err
		}
		tracks = cam.tr.Update(seq, s.faces, &s.img)
		if !split {
			for i, tk := range tracks {
				tk.Face.Probs, tk.Classified = s.faces[i].Probs, seq
			}
		}
		cam.since = 0
	}
	if split {
		mid := time.Now()
		t.Detect = mid.Sub(start)
		// Classify the faces that are new or due, in one batch.
		s.faces = s.faces[:0]
		var due []*track.Track
		for _, tk := range tracks {
			if tk.Classified < 0 || seq-tk.Classified >= int64(cam.cfg.ReclassifyEvery) {
				s.faces = append(s.faces, tk.Face)
				due = append(due, tk)
			}
		}
		if err := sp.Classify(&s.img, s.faces); err != nil {
			return t, err
		}
		for i, tk := range due {
			tk.Face.Probs, tk.Classified = s.faces[i].Probs, seq
		}
		t.Classify = time.Since(mid)
	}
	facesOf(res, tracks)
	return t, nil
}

// Assign gives the faces of res, a result of this camera analysed in full
// by Analyze, their track ids, as AnalyzeCamera would have: for callers
// that analyse a camera's frames in parallel and only see the results in
// order (the processor, when nothing is left out).
func (c *Camera) Assign(res *frame.Result) {
	c.order(res.Seq)
	faces := make([]vision.Face, len(res.Faces))
	for i, f := range res.Faces {
		faces[i].Box = vision.Rect{X1: f.Box.X, Y1: f.Box.Y, X2: f.Box.X + f.Box.W, Y2: f.Box.Y + f.Box.H}
	}
	for i, tk := range c.tr.Update(res.Seq, faces, nil) {
		res.Faces[i].TrackID, res.Faces[i].Source = tk.ID, SourceDetected
	}
	res.Analysis = AnalysisFull
}

// Stateful says whether the analysis of a camera's frame depends on its
// earlier frames (anything is left out), so they must be analysed one at
// a time, in order; if not, only the track ids do (Assign).
func (t Tracking) Stateful() bool {
	return t.DetectEvery > 1 || t.ReclassifyEvery > 1 || t.SkipStatic
}
