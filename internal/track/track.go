// Package track follows faces from frame to frame of one camera: it gives
// each face a track id that stays the same while the person stays in view,
// predicts where a face is next (constant velocity) and refines that
// prediction by template matching, so the face detector need not run on
// every frame; and it decides when a frame differs so little from the last
// analysed one that its faces can be reused (static.go).
//
// A Tracker belongs to one camera and sees its frames in sequence order;
// it is not safe for concurrent use.
package track

import (
	"cmp"
	"math"
	"slices"

	"github.com/framecast/framecast/internal/imagex"
	"github.com/framecast/framecast/internal/vision"
)

// Config tunes a Tracker. The zero value of each field means its default.
type Config struct {
	// MatchIoU is the overlap a detection needs with a track's predicted
	// box to continue it (default 0.3). Lower than the usual 0.5 because
	// the prediction is a frame or more old and boxes jitter.
	MatchIoU float64
	// MaxMissed is how many detector runs in a row a track may go unseen
	// before it ends (default 2): a face the detector misses once keeps
	// its id when it is found again.
	MaxMissed int
	// MaxDiff is the mean absolute grey difference (0–255) per template
	// cell above which a refinement is not trusted (default 24).
	MaxDiff float64
	// Search is how far a refinement looks around the prediction, in
	// template cells (a 24th of the face's width; default 6, a quarter of
	// the face).
	Search int
}

func (c *Config) withDefaults() {
	if c.MatchIoU == 0 {
		c.MatchIoU = 0.3
	}
	if c.MaxMissed == 0 {
		c.MaxMissed = 2
	}
	if c.MaxDiff == 0 {
		c.MaxDiff = 24
	}
	if c.Search == 0 {
		c.Search = 6
	}
}

// maxPerFrame spaces track ids: a track begun at frame seq as that frame's
// k-th new face has id seq·maxPerFrame + k + 1. So ids are unique per
// camera without any state shared between processes: a worker that takes a
// camera over after a rebalance starts at a later seq and cannot reuse an
// id its predecessor handed out. analysis.Flags bounds faces per frame to
// 1000.
const maxPerFrame = 1000

// trackID is the id of the k-th new track of frame seq. A seq past
// MaxInt64/maxPerFrame (a producer numbering frames by nanosecond
// timestamps, say) wraps around rather than overflowing into a negative
// id, which the schema refuses: ids stay positive, and unique unless two
// frames' seqs differ by a multiple of 9.2e15.
func trackID(seq, k int64) int64 {
	return (seq%(math.MaxInt64/maxPerFrame))*maxPerFrame + k + 1
}

// Track is one face followed over frames.
type Track struct {
	// ID is stable for the life of the track.
	ID int64
	// Face is the face as last seen (box, crop, landmarks, score, probs).
	Face vision.Face
	// Seq is the frame it was last seen in; Classified the frame its
	// probabilities come from (-1: never).
	Seq, Classified int64
	// Detected says whether Face.Box came from the detector in frame Seq
	// (else from a refinement).
	Detected bool
	// Missed counts detector runs in a row that did not find it.
	Missed int

	vx, vy float64 // centre velocity, pixels per frame
	moving bool    // vx, vy are measured, not the initial zero
	tmpl   patch   // grey template from the last detection
}

// Box is where the track is predicted to be at frame seq.
func (t *Track) Box(seq int64) vision.Rect {
	d := float64(seq - t.Seq)
	return shift(t.Face.Box, t.vx*d, t.vy*d)
}

// Tracker follows one camera's faces.
type Tracker struct {
	cfg    Config
	tracks []*Track
	pairs  []pair
}

type pair struct {
	t, d int
	iou  float64
}

// New returns an empty tracker.
func New(cfg Config) *Tracker {
	cfg.withDefaults()
	return &Tracker{cfg: cfg}
}

// Reset forgets every track.
func (tr *Tracker) Reset() { tr.tracks = tr.tracks[:0] }

// Due reports whether a visible track's emotion is due again at frame seq
// (classified every every frames), or was never classified.
func (tr *Tracker) Due(seq int64, every int) bool {
	for _, t := range tr.tracks {
		if t.Missed == 0 && (t.Classified < 0 || seq-t.Classified >= int64(every)) {
			return true
		}
	}
	return false
}

// Visible are the tracks seen in the last frame, in the order Update or
// Follow returned them.
func (tr *Tracker) Visible() []*Track {
	var out []*Track
	for _, t := range tr.tracks {
		if t.Missed == 0 {
			out = append(out, t)
		}
	}
	return out
}

// Update takes the detector's faces of frame seq and returns the track of
// each, in the same order. A detection continues the track whose predicted
// box it overlaps most (greedy by IoU, at least MatchIoU, each track and
// detection used once: with faces seldom closer than their own size,
// greedy gives what the Hungarian method would); the others begin new
// tracks. img, if not nil, is the frame, from which the tracks take the
// templates Follow matches against.
func (tr *Tracker) Update(seq int64, dets []vision.Face, img *imagex.RGB) []*Track {
	tr.pairs = tr.pairs[:0]
	for ti, t := range tr.tracks {
		pred := t.Box(seq)
		for di := range dets {
			if v := vision.IoU(pred, dets[di].Box); v >= tr.cfg.MatchIoU {
				tr.pairs = append(tr.pairs, pair{ti, di, v})
			}
		}
	}
	// Stable, with ties in (track, detection) order: the same input always
	// gives the same ids.
	slices.SortStableFunc(tr.pairs, func(a, b pair) int { return cmp.Compare(b.iou, a.iou) })
	out := make([]*Track, len(dets))
	used := make([]bool, len(tr.tracks))
	for _, p := range tr.pairs {
		if used[p.t] || out[p.d] != nil {
			continue
		}
		used[p.t] = true
		t := tr.tracks[p.t]
		out[p.d] = t
		if d := float64(seq - t.Seq); d > 0 {
			ox, oy := centre(t.Face.Box)
			nx, ny := centre(dets[p.d].Box)
			t.velocity((nx-ox)/d, (ny-oy)/d)
		}
		t.see(seq, &dets[p.d], img)
	}
	// Tracks not found this time age, and end after MaxMissed.
	kept := tr.tracks[:0]
	for i, t := range tr.tracks {
		if !used[i] {
			t.Missed++
			if t.Missed > tr.cfg.MaxMissed {
				continue
			}
		}
		kept = append(kept, t)
	}
	tr.tracks = kept
	var k int64
	for di := range dets {
		if out[di] != nil {
			continue
		}
		t := &Track{ID: trackID(seq, k), Classified: -1}
		k = min(k+1, maxPerFrame-1)
		t.see(seq, &dets[di], img)
		out[di] = t
		tr.tracks = append(tr.tracks, t)
	}
	return out
}

// velocity takes a new measurement of the velocity: the first as it is,
// later ones averaged with the estimate so one jittery box does not throw
// the next predictions off.
func (t *Track) velocity(vx, vy float64) {
	if !t.moving {
		t.vx, t.vy, t.moving = vx, vy, true
		return
	}
	t.vx, t.vy = (t.vx+vx)/2, (t.vy+vy)/2
}

func (t *Track) see(seq int64, f *vision.Face, img *imagex.RGB) {
	probs, classified := t.Face.Probs, t.Classified
	t.Face, t.Seq, t.Detected, t.Missed = *f, seq, true, 0
	// The detector knows nothing of emotions: the track keeps its last
	// probabilities until the caller classifies again.
	t.Face.Probs, t.Classified = probs, classified
	if img != nil {
		t.tmpl.sample(img, f.Box, 0)
	}
}

// Follow moves every visible track to frame seq without the detector:
// each box is predicted from its velocity and refined by matching its
// template in img. It reports false, changing nothing, when any track
// cannot be followed (no template, the box leaves the frame, or the best
// match differs too much): the caller should run the detector instead.
func (tr *Tracker) Follow(seq int64, img *imagex.RGB) bool { return tr.FollowScaled(seq, img, 1) }

// FollowScaled is Follow on img holding the frame at 1/scale of its size
// (libjpeg's scaled decode: a quarter of the pixels at scale 2, for less
// than half the decoding time); boxes stay in frame pixels. The templates
// were sampled at full size, as averages over cells of several pixels, so
// a half-size frame gives nearly the same cells.
func (tr *Tracker) FollowScaled(seq int64, img *imagex.RGB, scale float64) bool {
	type move struct {
		t      *Track
		dx, dy float64
	}
	var moves []move
	for _, t := range tr.tracks {
		if t.Missed > 0 {
			continue
		}
		if t.tmpl.n == 0 {
			return false
		}
		pred := t.Box(seq)
		if !inside(pred, int(float64(img.W)*scale), int(float64(img.H)*scale)) {
			return false
		}
		dx, dy, diff, ok := t.tmpl.search(img, scale, pred, tr.cfg.Search)
		if !ok || diff > tr.cfg.MaxDiff {
			return false
		}
		moves = append(moves, move{t, pred.X1 - t.Face.Box.X1 + dx, pred.Y1 - t.Face.Box.Y1 + dy})
	}
	for _, m := range moves {
		t := m.t
		if d := float64(seq - t.Seq); d > 0 {
			t.velocity(m.dx/d, m.dy/d)
		}
		t.Face.Box = shift(t.Face.Box, m.dx, m.dy)
		// The crop stays on whole pixels, as the detector's are.
		t.Face.Crop = shift(t.Face.Crop, math.Round(m.dx), math.Round(m.dy))
		for i := range t.Face.Landmarks {
			t.Face.Landmarks[i][0] += float32(m.dx)
			t.Face.Landmarks[i][1] += float32(m.dy)
		}
		t.Seq, t.Detected = seq, false
	}
	return true
}

// inside says whether at least 80% of r is in a w×h frame: a face going
// out of view is left to the detector, which knows when it is gone.
func inside(r vision.Rect, w, h int) bool {
	in := vision.Rect{X1: max(r.X1, 0), Y1: max(r.Y1, 0), X2: min(r.X2, float64(w)), Y2: min(r.Y2, float64(h))}
	a := r.Area()
	return a > 0 && in.Area() >= 0.8*a
}

func shift(r vision.Rect, dx, dy float64) vision.Rect {
	return vision.Rect{X1: r.X1 + dx, Y1: r.Y1 + dy, X2: r.X2 + dx, Y2: r.Y2 + dy}
}

func centre(r vision.Rect) (x, y float64) { return (r.X1 + r.X2) / 2, (r.Y1 + r.Y2) / 2 }
