package track

import (
	"math"

	"github.com/framecast/framecast/internal/imagex"
	"github.com/framecast/framecast/internal/vision"
)

// cells is the template's side in cells: a face is matched as a 24×24 grey
// thumbnail whatever its size, so a refinement costs the same (≈0.1 ms,
// see BenchmarkFollow) for a small face and a large one, and far less than
// a detector run (7–10 ms), which is what lets --detect-every save time.
const cells = 24

// patch is a grey image of a region in cells of cw×ch frame pixels.
type patch struct {
	n      int // side in cells; 0: empty
	cw, ch float64
	pix    []uint8
}

// sample fills p with the region r grown by pad cells on each side. Each
// cell is the mean of four samples at its quarter points: enough to damp
// aliasing at any scale for a fixed cost per cell.
func (p *patch) sample(img *imagex.RGB, r vision.Rect, pad int) { p.sampleAt(img, 1, r, pad) }

// sampleAt is sample from img holding the frame at 1/scale of its size (a
// scaled decode), r still in frame pixels.
func (p *patch) sampleAt(img *imagex.RGB, scale float64, r vision.Rect, pad int) {
	p.cw, p.ch = r.W()/cells, r.H()/cells
	if p.cw <= 0 || p.ch <= 0 {
		p.n = 0
		return
	}
	p.n = cells + 2*pad
	if cap(p.pix) < p.n*p.n {
		p.pix = make([]uint8, p.n*p.n)
	}
	p.pix = p.pix[:p.n*p.n]
	x0 := r.X1 - float64(pad)*p.cw
	y0 := r.Y1 - float64(pad)*p.ch
	for j := 0; j < p.n; j++ {
		for i := 0; i < p.n; i++ {
			cx, cy := x0+float64(i)*p.cw, y0+float64(j)*p.ch
			s := grey(img, (cx+p.cw/4)/scale, (cy+p.ch/4)/scale) + grey(img, (cx+3*p.cw/4)/scale, (cy+p.ch/4)/scale) +
				grey(img, (cx+p.cw/4)/scale, (cy+3*p.ch/4)/scale) + grey(img, (cx+3*p.cw/4)/scale, (cy+3*p.ch/4)/scale)
			p.pix[j*p.n+i] = uint8((s + 2) / 4)
		}
	}
}

// grey is the luma of the pixel at (x, y), clamped to the frame.
func grey(img *imagex.RGB, x, y float64) int {
	xi := min(max(int(x), 0), img.W-1)
	yi := min(max(int(y), 0), img.H-1)
	o := (yi*img.W + xi) * 3
	px := img.Pix[o : o+3 : o+3]
	return (77*int(px[0]) + 150*int(px[1]) + 29*int(px[2])) >> 8
}

// search matches the template p around the predicted box pred in img,
// within ±r cells, and returns the best offset in pixels, its mean absolute
// difference per cell, and false when the best match lies on the edge of
// the search window (the face moved further than searched: not trusted).
func (p *patch) search(img *imagex.RGB, scale float64, pred vision.Rect, r int) (dx, dy, diff float64, ok bool) {
	var win patch
	// The window is sampled with the template's cell size, so sizes
	// match; the prediction keeps the size the face had when detected.
	box := vision.Rect{X1: pred.X1, Y1: pred.Y1, X2: pred.X1 + p.cw*cells, Y2: pred.Y1 + p.ch*cells}
	win.sampleAt(img, scale, box, r)
	if win.n == 0 {
		return 0, 0, 0, false
	}
	// The prediction itself first, and a move only for a strictly better
	// match: on flat or repetitive texture, where many offsets tie, the
	// face stays where it was predicted.
	sad := func(ox, oy, bound int) int {
		s := 0
		for j := 0; j < cells && s < bound; j++ {
			row := win.pix[(oy+j)*win.n+ox : (oy+j)*win.n+ox+cells]
			tr := p.pix[j*cells : j*cells+cells]
			for i, v := range tr {
				d := int(v) - int(row[i])
				if d < 0 {
					d = -d
				}
				s += d
			}
		}
		return s
	}
	best, bx, by := sad(r, r, math.MaxInt), r, r
	for oy := 0; oy <= 2*r; oy++ {
		for ox := 0; ox <= 2*r; ox++ {
			if s := sad(ox, oy, best); s < best {
				best, bx, by = s, ox, oy
			}
		}
	}
	ok = bx > 0 && by > 0 && bx < 2*r && by < 2*r
	return float64(bx-r) * p.cw, float64(by-r) * p.ch, float64(best) / (cells * cells), ok
}
