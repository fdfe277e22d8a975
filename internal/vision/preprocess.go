package vision

import (
	"math"

	"github.com/framecast/framecast/internal/imagex"
)

// inv127 replaces the reference's division by 127.5 with a multiplication:
// it differs by at most one float32 rounding (≈6e-8), far inside the
// tolerance, and divisions are several times slower.
const inv127 = float32(1 / 127.5)

// EmotionSize is the emotion model's input side.
const EmotionSize = 64

// resizeTable caches, for one source size, where each detector-input row
// and column samples the source. Frames of a camera keep their size, so the
// tables are computed once and the per-frame work is only the arithmetic.
type resizeTable struct {
	srcW, srcH int
	x0, x1     [DetectorSize]int32 // byte offsets of the left/right neighbours
	xf         [DetectorSize]float32
	y0, y1     [DetectorSize]int32 // row indices
	yf         [DetectorSize]float32
}

// build fills the table with TensorFlow's resizeBilinear sampling
// (align_corners=false, half_pixel_centers=false): source = dst·(in/out),
// neighbours floor and ceil clamped to the last pixel.
func (t *resizeTable) build(w, h int) {
	t.srcW, t.srcH = w, h
	sx := float64(w) / DetectorSize
	sy := float64(h) / DetectorSize
	for i := 0; i < DetectorSize; i++ {
		fx := sx * float64(i)
		x0 := math.Floor(fx)
		x1 := math.Min(float64(w-1), math.Ceil(fx))
		t.x0[i], t.x1[i], t.xf[i] = int32(x0)*3, int32(x1)*3, float32(fx-x0)
		fy := sy * float64(i)
		y0 := math.Floor(fy)
		y1 := math.Min(float64(h-1), math.Ceil(fy))
		t.y0[i], t.y1[i], t.yf[i] = int32(y0), int32(y1), float32(fy-y0)
	}
}

// detectorInput resizes the whole frame to 256×256 and maps it to [-1, 1]
// (x/127.5 − 1) into dst, NHWC, exactly as Human's blazeface.getBoxes.
func (t *resizeTable) detectorInput(img *imagex.RGB, dst []float32) {
	if t.srcW != img.W || t.srcH != img.H {
		t.build(img.W, img.H)
	}
	stride := img.W * 3
	pix := img.Pix
	dst = dst[:DetectorSize*DetectorSize*3]
	for r := 0; r < DetectorSize; r++ {
		top := pix[int(t.y0[r])*stride : int(t.y0[r])*stride+stride]
		bot := pix[int(t.y1[r])*stride : int(t.y1[r])*stride+stride]
		yf := t.yf[r]
		row := dst[r*DetectorSize*3 : (r+1)*DetectorSize*3]
		for c := 0; c < DetectorSize; c++ {
			a, b, xf := int(t.x0[c]), int(t.x1[c]), t.xf[c]
			// Three channels unrolled, each slice resliced to length 3 so
			// the compiler drops the bounds checks inside.
			tl, tr, bl, br := top[a:a+3], top[b:b+3], bot[a:a+3], bot[b:b+3]
			o := row[c*3 : c*3+3]
			for ch := 0; ch < 3; ch++ {
				tv := float32(tl[ch]) + (float32(tr[ch])-float32(tl[ch]))*xf
				bv := float32(bl[ch]) + (float32(br[ch])-float32(bl[ch]))*xf
				o[ch] = (tv+(bv-tv)*yf)*inv127 - 1
			}
		}
	}
}

// emotionInput writes the 64×64 grey input of one face into dst.
//
// The reference crops the square box from the full frame with
// tf.image.cropAndResize to 256×256 (extrapolating with 0 outside the
// frame), divides by 255, then resizes that to 64×64 with resizeBilinear.
// With align_corners=false that second resize samples the 256 grid exactly
// at rows and columns 0, 4, 8, …, so only those 64×64 crop samples are
// computed here — the same values for a sixteenth of the work.
func emotionInput(img *imagex.RGB, box Rect, dst []float32) {
	const crop = 256
	const step = crop / EmotionSize
	H, W := float64(img.H), float64(img.W)
	y1n, x1n := box.Y1/H, box.X1/W
	y2n, x2n := box.Y2/H, box.X2/W
	hs := (y2n - y1n) * (H - 1) / (crop - 1)
	ws := (x2n - x1n) * (W - 1) / (crop - 1)
	stride := img.W * 3
	pix := img.Pix
	o := 0
	for i := 0; i < EmotionSize; i++ {
		inY := y1n*(H-1) + float64(i*step)*hs
		if inY < 0 || inY > H-1 {
			for j := 0; j < EmotionSize; j++ {
				dst[o] = grey(0, 0, 0)
				o++
			}
			continue
		}
		ty := math.Floor(inY)
		by := math.Ceil(inY)
		yl := float32(inY - ty)
		top := pix[int(ty)*stride:]
		bot := pix[int(by)*stride:]
		for j := 0; j < EmotionSize; j++ {
			inX := x1n*(W-1) + float64(j*step)*ws
			if inX < 0 || inX > W-1 {
				dst[o] = grey(0, 0, 0)
				o++
				continue
			}
			lx := math.Floor(inX)
			rx := math.Ceil(inX)
			xl := float32(inX - lx)
			l, r := int(lx)*3, int(rx)*3
			var c [3]float32
			for ch := 0; ch < 3; ch++ {
				tl, tr := float32(top[l+ch]), float32(top[r+ch])
				bl, br := float32(bot[l+ch]), float32(bot[r+ch])
				tv := tl + (tr-tl)*xl
				bv := bl + (br-bl)*xl
				c[ch] = (tv + (bv-tv)*yl) / 255
			}
			dst[o] = grey(c[0], c[1], c[2])
			o++
		}
	}
}

// grey applies the reference's rgb2gray weights and maps 0..1 to −1..1.
func grey(r, g, b float32) float32 {
	v := r*0.2989 + g*0.5870 + b*0.1140
	return (v - 0.5) * 2
}
