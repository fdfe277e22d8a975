package track

import (
	"time"

	"github.com/framecast/framecast/internal/imagex"
)

// StaticConfig decides when a frame counts as unchanged. The zero value of
// each field means its default. The frames compared are thumbnails that
// libjpeg decodes at 1/8 scale (imagex.Decoder.DecodeScaled): each pixel
// is the DC coefficient of one 8×8 block, i.e. its mean, so sensor noise
// and JPEG ringing are averaged away before anything is compared, and the
// decode costs a fraction of a full one (no inverse DCT beyond the DC).
//
// The defaults were tuned on ffmpeg test videos (docs/BENCHMARKS.md): a
// still photo with temporal noise (ffmpeg noise=alls=4, H.264 crf 20, then
// JPEG) moves the thumbnail by 0.4–0.6 grey levels on average and no 4×4
// block by 2 or more; with heavy noise (alls=12, crf 23) by 1.2 on average,
// no block by 3. A pan of 4 px a frame moves it by 6–12 on average with
// 45–78 % of the blocks changed, and testsrc2's small moving objects by 3.5
// on average with 10 % of the blocks changed. A mouth opening on a 60 px
// face (≈200 px changed by ≈50 levels) moves its block by ≈10.
type StaticConfig struct {
	// MeanDiff is the largest mean absolute difference (grey levels
	// 0–255) over the whole thumbnail of a static frame (default 2.5):
	// twice the heavy-noise level, and below a global change of light.
	MeanDiff float64
	// BlockDiff is the mean absolute difference over a block of 4×4
	// thumbnail pixels (32×32 frame pixels) above which the block counts
	// as changed (default 6).
	BlockDiff float64
	// MaxChanged is the largest fraction of changed blocks in a static
	// frame (default 0: any changed block is motion; a face is a few
	// blocks, and missing it would reuse a stale emotion).
	MaxChanged float64
	// MaxAge forces a full analysis once the reused frame is this old
	// (capture times; default 1 s; negative: never), so a slow change that never crosses
	// the thresholds from one frame to the next is still seen.
	MaxAge time.Duration
}

func (c *StaticConfig) withDefaults() {
	if c.MeanDiff == 0 {
		c.MeanDiff = 2.5
	}
	if c.BlockDiff == 0 {
		c.BlockDiff = 6
	}
	if c.MaxAge == 0 {
		c.MaxAge = time.Second
	}
}

// Thumb is a grey thumbnail of a frame.
type Thumb struct {
	W, H int
	Pix  []uint8
}

// SetRGB makes t the grey version of img.
func (t *Thumb) SetRGB(img *imagex.RGB) {
	t.W, t.H = img.W, img.H
	n := img.W * img.H
	if cap(t.Pix) < n {
		t.Pix = make([]uint8, n)
	}
	t.Pix = t.Pix[:n]
	for i := range t.Pix {
		px := img.Pix[i*3 : i*3+3 : i*3+3]
		t.Pix[i] = uint8((77*int(px[0]) + 150*int(px[1]) + 29*int(px[2])) >> 8)
	}
}

// CopyFrom makes t a copy of u.
func (t *Thumb) CopyFrom(u *Thumb) {
	t.W, t.H = u.W, u.H
	t.Pix = append(t.Pix[:0], u.Pix...)
}

// Change measures how a thumbnail differs from a reference.
type Change struct {
	Mean    float64 // mean absolute difference, grey levels
	Changed float64 // fraction of blocks over BlockDiff
}

const block = 4

// Compare measures the change from ref to t; sizes must match (a size
// change is a new scene: callers check and analyse in full).
func Compare(ref, t *Thumb, cfg StaticConfig) Change {
	cfg.withDefaults()
	if ref.W != t.W || ref.H != t.H || len(t.Pix) == 0 {
		return Change{Mean: 255, Changed: 1}
	}
	var total, blocks, changed int
	for by := 0; by < t.H; by += block {
		for bx := 0; bx < t.W; bx += block {
			s, n := 0, 0
			for y := by; y < min(by+block, t.H); y++ {
				o := y*t.W + bx
				a, b := ref.Pix[o:o+min(block, t.W-bx)], t.Pix[o:o+min(block, t.W-bx)]
				for i := range a {
					d := int(a[i]) - int(b[i])
					if d < 0 {
						d = -d
					}
					s += d
					n++
				}
			}
			total += s
			blocks++
			if float64(s) > cfg.BlockDiff*float64(n) {
				changed++
			}
		}
	}
	return Change{Mean: float64(total) / float64(len(t.Pix)), Changed: float64(changed) / float64(blocks)}
}

// Static says whether the change is small enough to reuse the reference's
// analysis.
func (c Change) Static(cfg StaticConfig) bool {
	cfg.withDefaults()
	return c.Mean <= cfg.MeanDiff && c.Changed <= cfg.MaxChanged
}

// Reuse decides whether a frame captured at now, with thumbnail t, may
// reuse the analysis of the reference frame (thumbnail ref, captured at
// refAt): it must be static and the reference younger than MaxAge. A
// frame with a capture time before the reference's (a camera clock set
// back) is analysed in full.
func Reuse(ref, t *Thumb, refAt, now time.Time, cfg StaticConfig) bool {
	cfg.withDefaults()
	age := now.Sub(refAt)
	if age < 0 || (cfg.MaxAge > 0 && age >= cfg.MaxAge) {
		return false
	}
	return Compare(ref, t, cfg).Static(cfg)
}
