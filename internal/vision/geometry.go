package vision

import (
	"cmp"
	"math"
	"slices"
)

// Rect is a box by its corners, in pixels of some image.
type Rect struct{ X1, Y1, X2, Y2 float64 }

// W is the width.
func (r Rect) W() float64 { return r.X2 - r.X1 }

// H is the height.
func (r Rect) H() float64 { return r.Y2 - r.Y1 }

// Area is zero for degenerate boxes.
func (r Rect) Area() float64 {
	if r.X2 <= r.X1 || r.Y2 <= r.Y1 {
		return 0
	}
	return (r.X2 - r.X1) * (r.Y2 - r.Y1)
}

// IoU is intersection over union; 0 when either box is empty.
func IoU(a, b Rect) float64 {
	ua, ub := a.Area(), b.Area()
	if ua <= 0 || ub <= 0 {
		return 0
	}
	ix := math.Min(a.X2, b.X2) - math.Max(a.X1, b.X1)
	iy := math.Min(a.Y2, b.Y2) - math.Max(a.Y1, b.Y1)
	if ix <= 0 || iy <= 0 {
		return 0
	}
	inter := ix * iy
	return inter / (ua + ub - inter)
}

// candidate is one anchor whose score passed the threshold.
type candidate struct {
	idx   int
	score float32
	box   Rect // in detector-input (256×256) pixels
}

// nms is greedy non-maximum suppression as TensorFlow.js does it: highest
// score first, a box is dropped when its IoU with any kept box exceeds
// iouThreshold. Ties keep anchor order, which makes the result deterministic.
func nms(cands []candidate, iouThreshold float64, maxOut int, keep []candidate) []candidate {
	slices.SortStableFunc(cands, func(a, b candidate) int { return cmp.Compare(b.score, a.score) })
	keep = keep[:0]
	for _, c := range cands {
		if len(keep) >= maxOut {
			break
		}
		ok := true
		for _, k := range keep {
			if IoU(c.box, k.box) > iouThreshold {
				ok = false
				break
			}
		}
		if ok {
			keep = append(keep, c)
		}
	}
	return keep
}

// jsRound is JavaScript's Math.round (halves go towards +∞), which the
// reference uses to square the crop box; Go's math.Round differs on
// negative halves, i.e. faces cut by the left or top edge.
func jsRound(x float64) float64 { return math.Floor(x + 0.5) }

// CropBox is the square region the emotion model sees: the detector box
// enlarged ×scale about its centre, made square on its longer side and
// rounded to whole pixels, exactly as Human's enlargeBox + squarifyBox.
func CropBox(r Rect, scale float64) Rect {
	cx := r.X1 + (r.X2-r.X1)/2
	cy := r.Y1 + (r.Y2-r.Y1)/2
	w := math.Abs(r.X2-r.X1) * scale
	h := math.Abs(r.Y2-r.Y1) * scale
	// enlargeBox: corners at centre ± scaled half sizes; squarifyBox then
	// takes the centre of that box again (the same point) and its size.
	ex1, ey1 := cx-w/2, cy-h/2
	ex2, ey2 := cx+w/2, cy+h/2
	ecx := ex1 + (ex2-ex1)/2
	ecy := ey1 + (ey2-ey1)/2
	half := math.Max(math.Abs(ex2-ex1), math.Abs(ey2-ey1)) / 2
	return Rect{jsRound(ecx - half), jsRound(ecy - half), jsRound(ecx + half), jsRound(ecy + half)}
}
