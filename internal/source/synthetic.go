package source

import (
	"context"
	"fmt"
	"image"
	"image/color"
	"math"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/framecast/framecast/internal/imagex"
)

// SyntheticConfig describes a synthetic camera. Zero fields take the
// defaults of Config.
type SyntheticConfig struct {
	Width, Height int
	// FPS sets how far the scene moves from one frame to the next: frame
	// i shows the scene at i/FPS seconds. Default 10.
	FPS float64
	// Seed picks the photo order, camera paths and transitions. Default 1.
	Seed uint64
	// Dir holds the photos. Default: the face-api samples.
	Dir string
	// Photos are file names in Dir (".jpg" is added to names without an
	// extension). Default: every image in Dir.
	Photos []string
	// Quality is the JPEG quality, 1–100. Default 80.
	Quality int
}

// Scene timing: a shot per photo, each shotSeconds long; half the shots
// start with a crossfade of fadeSeconds from the previous one, the others
// with a cut.
const (
	shotSeconds = 6.0
	fadeSeconds = 1.0
	// zoomMin is the narrowest view, as a fraction of the widest view of
	// a photo: at 0.45 faces are 2.2 times as large as in the widest view.
	zoomMin = 0.45
	// offPhoto is how far the view may leave the photo, as a fraction of
	// the view's width or height, so faces also leave at the frame edges
	// in wide views.
	offPhoto = 0.3
)

// bgYCbCr fills the part of the view outside the photo: a dark grey.
var bgYCbCr = func() [3]uint8 {
	y, cb, cr := color.RGBToYCbCr(28, 30, 34)
	return [3]uint8{y, cb, cr}
}()

// Synthetic is a virtual camera filming photos: it pans across them,
// zooms in and out, and moves from photo to photo with cuts and
// crossfades, so faces drift across the frame, grow and shrink, and enter
// and leave at the edges. A frame is a pure function of the configuration,
// the photos and its index: the same seed gives the same JPEG bytes for
// the same index, which tests rely on.
//
// Rendering samples precomputed, downscaled copies of the photos
// (bilinear, fixed point) straight into YCbCr 4:2:0 planes, which
// libjpeg-turbo compresses as they are (imagex.Encoder: no colour
// conversion, no downsampling); the photos are decoded once per process
// and shared by every synthetic camera.
type Synthetic struct {
	cfg    SyntheticConfig
	photos []*photo

	img   *image.YCbCr // the frame, 4:2:0 as encoded
	fade  *image.YCbCr // the previous shot during crossfades
	cols  []tap        // per output column
	rows  []tap        // per output row
	enc   *imagex.Encoder
	last  int // size of the last JPEG, to size the next one's buffer
	index int64
}

// NewSyntheticURI parses a synthetic: URI. Query options (all optional):
//
//	size=WxH        frame size (default opts Width×Height, 640x480)
//	fps=N           scene frame rate, and the camera's pace (default opts.FPS, 10)
//	seed=N          scene variant, a non-negative integer (default 1)
//	faces=a,b       photos to use, by name: sample1 … sample6 (default all)
//	quality=Q       JPEG quality 1–100 (default opts.JPEGQuality, 80)
//	dir=PATH        film the images of another directory instead of the samples
//
// Example: synthetic:?size=1280x720&fps=15&seed=3&faces=sample2,sample4
func NewSyntheticURI(uri string, opts Config) (*Synthetic, error) {
	opts = opts.withDefaults()
	u, err := url.Parse(uri)
	if err != nil {
		return nil, fmt.Errorf("synthetic source %q: %w", uri, err)
	}
	cfg := SyntheticConfig{Width: opts.Width, Height: opts.Height, FPS: opts.FPS, Seed: 1, Dir: opts.SamplesDir, Quality: opts.JPEGQuality}
	for k, vs := range u.Query() {
		v := vs[len(vs)-1]
		bad := func(want string) error {
			return fmt.Errorf("synthetic source %q: %s=%q: want %s", uri, k, v, want)
		}
		switch k {
		case "size":
			w, h, ok := ParseSize(v)
			if !ok {
				return nil, bad("WIDTHxHEIGHT, e.g. 640x480")
			}
			cfg.Width, cfg.Height = w, h
		case "fps":
			f, err := strconv.ParseFloat(v, 64)
			if err != nil || f <= 0 || f > 1000 || math.IsNaN(f) {
				return nil, bad("frames per second, more than 0 and at most 1000")
			}
			cfg.FPS = f
		case "seed":
			s, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				return nil, bad("a non-negative integer")
			}
			cfg.Seed = s
		case "faces":
			cfg.Photos = nil
			for _, name := range strings.Split(v, ",") {
				if name = strings.TrimSpace(name); name != "" {
					cfg.Photos = append(cfg.Photos, name)
				}
			}
		case "quality":
			q, err := strconv.Atoi(v)
			if err != nil || q < 1 || q > 100 {
				return nil, bad("a JPEG quality from 1 to 100")
			}
			cfg.Quality = q
		case "dir":
			cfg.Dir = v
		default:
			return nil, fmt.Errorf("synthetic source %q: unknown option %q; options: size, fps, seed, faces, quality, dir", uri, k)
		}
	}
	return NewSynthetic(cfg)
}

// ParseSize parses "WIDTHxHEIGHT" (each 16 to 8192).
func ParseSize(s string) (w, h int, ok bool) {
	ws, hs, found := strings.Cut(strings.ToLower(s), "x")
	if !found {
		return 0, 0, false
	}
	w, err1 := strconv.Atoi(ws)
	h, err2 := strconv.Atoi(hs)
	if err1 != nil || err2 != nil || w < 16 || h < 16 || w > 8192 || h > 8192 {
		return 0, 0, false
	}
	return w, h, true
}

// NewSynthetic returns a synthetic camera. The photos are decoded here (or
// taken from the process-wide cache), so errors about them come now.
func NewSynthetic(cfg SyntheticConfig) (*Synthetic, error) {
	d := Config{Width: cfg.Width, Height: cfg.Height, FPS: cfg.FPS, JPEGQuality: cfg.Quality, SamplesDir: cfg.Dir}.withDefaults()
	cfg.Width, cfg.Height, cfg.FPS, cfg.Quality, cfg.Dir = d.Width, d.Height, d.FPS, d.JPEGQuality, d.SamplesDir
	if cfg.Quality > 100 {
		return nil, fmt.Errorf("synthetic source: JPEG quality %d: use 1 to 100", cfg.Quality)
	}
	names := cfg.Photos
	if len(names) == 0 {
		entries, err := os.ReadDir(cfg.Dir)
		if err != nil {
			return nil, fmt.Errorf("synthetic source: photos: %w (run `framecast models fetch`: it downloads the face-api sample photos)", err)
		}
		for _, e := range entries {
			if e.Type().IsRegular() && imageExts[strings.ToLower(filepath.Ext(e.Name()))] {
				names = append(names, e.Name())
			}
		}
		sort.Strings(names)
		if len(names) == 0 {
			return nil, fmt.Errorf("synthetic source: no images in %s (run `framecast models fetch`: it downloads the face-api sample photos)", cfg.Dir)
		}
	}
	s := &Synthetic{cfg: cfg}
	for _, n := range names {
		if filepath.Ext(n) == "" {
			n += ".jpg"
		}
		ph, err := loadPhoto(filepath.Join(cfg.Dir, n), cfg.Width, cfg.Height)
		if err != nil {
			return nil, fmt.Errorf("synthetic source: %w", err)
		}
		s.photos = append(s.photos, ph)
	}
	cfg.Photos = names
	s.cfg = cfg
	s.img = image.NewYCbCr(image.Rect(0, 0, cfg.Width, cfg.Height), image.YCbCrSubsampleRatio420)
	s.fade = image.NewYCbCr(s.img.Rect, image.YCbCrSubsampleRatio420)
	s.cols = make([]tap, cfg.Width)
	s.rows = make([]tap, cfg.Height)
	s.enc = imagex.NewEncoder()
	return s, nil
}

// Config returns the configuration with defaults filled in.
func (s *Synthetic) Config() SyntheticConfig { return s.cfg }

// FPS is the scene's frame rate: the publisher paces the camera at it.
func (s *Synthetic) FPS() float64 { return s.cfg.FPS }

// Next renders the next frame.
func (s *Synthetic) Next(ctx context.Context) (Frame, error) {
	if err := ctx.Err(); err != nil {
		return Frame{}, err
	}
	data, err := s.Render(s.index)
	if err != nil {
		return Frame{}, err
	}
	s.index++
	return Frame{JPEG: data, Width: s.cfg.Width, Height: s.cfg.Height, CapturedAt: time.Now()}, nil
}

// Close releases the JPEG encoder; the photo cache is shared and kept.
// Render and Next fail afterwards.
func (s *Synthetic) Close() error {
	s.enc.Close()
	return nil
}

// Render returns frame i as a new JPEG. It does not change what Next
// returns.
func (s *Synthetic) Render(i int64) ([]byte, error) {
	if err := s.draw(i); err != nil {
		return nil, err
	}
	// The caller owns the frame, so each gets its own slice; room for
	// the last frame's size and some keeps append from growing it.
	data, err := s.enc.EncodeImage(make([]byte, 0, s.last+s.last/4+1024), s.img, s.cfg.Quality)
	if err != nil {
		return nil, fmt.Errorf("synthetic source: %w", err)
	}
	s.last = len(data)
	return data, nil
}

// draw renders frame i into s.img.
func (s *Synthetic) draw(i int64) error {
	if i < 0 {
		return fmt.Errorf("synthetic source: frame index %d is negative", i)
	}
	t := float64(i) / s.cfg.FPS
	k := int64(t / shotSeconds)
	tau := t - float64(k)*shotSeconds
	cur := s.shot(k)
	s.renderShot(s.img, cur, tau)
	if k > 0 && cur.fade && tau < fadeSeconds {
		s.renderShot(s.fade, s.shot(k-1), tau+shotSeconds)
		w := int(256 * tau / fadeSeconds)
		blend(s.img.Y, s.fade.Y, w)
		blend(s.img.Cb, s.fade.Cb, w)
		blend(s.img.Cr, s.fade.Cr, w)
	}
	return nil
}

// shot is one camera move over one photo.
type shot struct {
	photo      *photo
	fade       bool    // starts with a crossfade (else a cut)
	z0, z1     float64 // view width as a fraction of the widest view
	u0, u1     float64 // horizontal position, 0 (left) … 1 (right)
	v0, v1     float64 // vertical position, 0 (top) … 1 (bottom)
	durSeconds float64
}

// shot derives shot k from the seed alone, so any frame can be rendered
// without rendering the ones before it.
func (s *Synthetic) shot(k int64) shot {
	r := rand.New(rand.NewPCG(s.cfg.Seed, uint64(k)<<1|1))
	sh := shot{photo: s.photos[s.photoIndex(k)], durSeconds: shotSeconds}
	sh.fade = r.IntN(2) == 0
	// Zoom in or out by a clear amount, so faces visibly grow or shrink.
	sh.z0 = zoomMin + r.Float64()*(1-zoomMin)
	d := 0.25 + 0.3*r.Float64()
	if sh.z0-d >= zoomMin && (sh.z0+d > 1 || r.IntN(2) == 0) {
		sh.z1 = sh.z0 - d
	} else {
		sh.z1 = min(1, sh.z0+d)
	}
	// Pan from one side to the other, so faces cross the frame and leave
	// at an edge; drift vertically, mostly in the upper half of the
	// photo, where the faces of group photos are.
	sh.u0, sh.u1 = 0.3*r.Float64(), 0.7+0.3*r.Float64()
	if r.IntN(2) == 0 {
		sh.u0, sh.u1 = sh.u1, sh.u0
	}
	sh.v0, sh.v1 = 0.15+0.4*r.Float64(), 0.15+0.4*r.Float64()
	return sh
}

// photoIndex shows every photo once per round, in a seeded order, with no
// photo twice in a row.
func (s *Synthetic) photoIndex(k int64) int {
	n := int64(len(s.photos))
	switch n {
	case 1:
		return 0
	case 2:
		return int((k + int64(s.cfg.Seed&1)) % 2)
	}
	round, pos := k/n, k%n
	perm := s.round(round)
	if round > 0 {
		if prev := s.round(round - 1); perm[0] == prev[n-1] {
			perm[0], perm[1] = perm[1], perm[0]
		}
	}
	return perm[pos]
}

func (s *Synthetic) round(r int64) []int {
	return rand.New(rand.NewPCG(s.cfg.Seed^0x5eed, uint64(r))).Perm(len(s.photos))
}

// renderShot draws shot sh at tau seconds into its start into dst (RGBA).
func (s *Synthetic) renderShot(dst *image.YCbCr, sh shot, tau float64) {
	u := tau / sh.durSeconds // beyond 1 during the crossfade out: keep moving
	ph := sh.photo
	W, H := float64(s.cfg.Width), float64(s.cfg.Height)
	// The widest view covers the photo in one direction.
	widest := min(float64(ph.w), float64(ph.h)*W/H)
	vw := widest * sh.z0 * math.Pow(sh.z1/sh.z0, u) // geometric: steady zoom speed
	vh := vw * H / W
	lerp := func(a, b float64) float64 { return a + (b-a)*u }
	// Centre range: the view may leave the photo by offPhoto of its size.
	cx := span(vw, float64(ph.w), lerp(sh.u0, sh.u1))
	cy := span(vh, float64(ph.h), lerp(sh.v0, sh.v1))
	s.renderView(dst, ph, cx-vw/2, cy-vh/2, vw/W)
}

// span maps a position 0…1 to a view centre along a photo side.
func span(view, side, pos float64) float64 {
	lo := view/2 - offPhoto*view
	hi := side - view/2 + offPhoto*view
	return lo + (hi-lo)*pos
}

// tap is where one output column (or row) samples a plane: offsets of the
// two neighbours and the weight of the second in 1/256, or a negative a for
// background.
type tap struct {
	a, b int32
	w    int32
}

// renderView samples photo ph with the view's top-left corner at (x0, y0)
// and step photo pixels per output pixel, in original-photo coordinates,
// into dst: luma at full resolution, chroma at half, as JPEG stores it.
func (s *Synthetic) renderView(dst *image.YCbCr, ph *photo, x0, y0, step float64) {
	lv := ph.levelFor(step)
	scale := float64(int(1) << lv.shift)
	cw, ch := dst.Rect.Dx(), dst.Rect.Dy()
	s.renderPlane(dst.Y, dst.YStride, cw, ch, lv.y, x0/scale, y0/scale, step/scale, bgYCbCr[0])
	cw, ch = (cw+1)/2, (ch+1)/2
	s.renderChroma(dst.Cb, dst.Cr, dst.CStride, cw, ch, lv.cb, lv.cr, x0/scale, y0/scale, 2*step/scale)
}

// renderPlane resamples one plane (bilinear, fixed point) into a w×h
// region of dst.
func (s *Synthetic) renderPlane(dst []byte, stride, w, h int, p plane, x0, y0, step float64, bg byte) {
	cols, rows := s.cols[:w], s.rows[:h]
	fillTaps(cols, x0, step, p.w, 1)
	fillTaps(rows, y0, step, p.h, p.w)
	lo, hi := photoColumns(cols)
	in := cols[lo:hi]
	for y, ry := range rows {
		row := dst[y*stride : y*stride+w]
		if ry.a < 0 || len(in) == 0 {
			fill(row, bg)
			continue
		}
		fill(row[:lo], bg)
		fill(row[hi:], bg)
		r0, r1 := p.pix[ry.a:int(ry.a)+p.w], p.pix[ry.b:int(ry.b)+p.w]
		wy := uint32(ry.w)
		iwy := 256 - wy
		out := row[lo:hi]
		out = out[:len(in)]
		for x, cx := range in {
			a, b, wx := cx.a, cx.b, uint32(cx.w)
			iwx := 256 - wx
			top := uint32(r0[a])*iwx + uint32(r0[b])*wx
			bot := uint32(r1[a])*iwx + uint32(r1[b])*wx
			out[x] = uint8((top*iwy + bot*wy + 32768) >> 16)
		}
	}
}

// renderChroma is renderPlane for the Cb and Cr planes at once: they share
// their size and taps, so one loop loads each tap once for both.
func (s *Synthetic) renderChroma(cb, cr []byte, stride, w, h int, pb, pr plane, x0, y0, step float64) {
	cols, rows := s.cols[:w], s.rows[:h]
	fillTaps(cols, x0, step, pb.w, 1)
	fillTaps(rows, y0, step, pb.h, pb.w)
	lo, hi := photoColumns(cols)
	in := cols[lo:hi]
	bgb, bgr := bgYCbCr[1], bgYCbCr[2]
	for y, ry := range rows {
		rowb, rowr := cb[y*stride:y*stride+w], cr[y*stride:y*stride+w]
		if ry.a < 0 || len(in) == 0 {
			fill(rowb, bgb)
			fill(rowr, bgr)
			continue
		}
		fill(rowb[:lo], bgb)
		fill(rowb[hi:], bgb)
		fill(rowr[:lo], bgr)
		fill(rowr[hi:], bgr)
		b0, b1 := pb.pix[ry.a:int(ry.a)+pb.w], pb.pix[ry.b:int(ry.b)+pb.w]
		r0, r1 := pr.pix[ry.a:int(ry.a)+pr.w], pr.pix[ry.b:int(ry.b)+pr.w]
		wy := uint32(ry.w)
		iwy := 256 - wy
		outb, outr := rowb[lo:hi], rowr[lo:hi]
		outb, outr = outb[:len(in)], outr[:len(in)]
		for x, cx := range in {
			a, b, wx := cx.a, cx.b, uint32(cx.w)
			iwx := 256 - wx
			top := uint32(b0[a])*iwx + uint32(b0[b])*wx
			bot := uint32(b1[a])*iwx + uint32(b1[b])*wx
			outb[x] = uint8((top*iwy + bot*wy + 32768) >> 16)
			top = uint32(r0[a])*iwx + uint32(r0[b])*wx
			bot = uint32(r1[a])*iwx + uint32(r1[b])*wx
			outr[x] = uint8((top*iwy + bot*wy + 32768) >> 16)
		}
	}
}

// photoColumns returns the output columns [lo, hi) that sample the photo:
// the mapping is monotonic, so the background columns form one run at
// each side, and the loops between them need no per-pixel test.
func photoColumns(cols []tap) (lo, hi int) {
	lo, hi = 0, len(cols)
	for lo < hi && cols[lo].a < 0 {
		lo++
	}
	for hi > lo && cols[hi-1].a < 0 {
		hi--
	}
	return lo, hi
}

func fill(b []byte, v byte) {
	for i := range b {
		b[i] = v
	}
}

// fillTaps computes the taps of output pixels starting at plane coordinate
// start with the given step, over a side of size pixels whose neighbours
// are stride bytes apart.
func fillTaps(taps []tap, start, step float64, size, stride int) {
	for i := range taps {
		p := start + (float64(i)+0.5)*step - 0.5 // pixel centres
		if p < -0.5 || p > float64(size)-0.5 {
			taps[i] = tap{a: -1}
			continue
		}
		p = max(0, min(p, float64(size-1)))
		i0 := int(p)
		i1 := min(i0+1, size-1)
		taps[i] = tap{a: int32(i0 * stride), b: int32(i1 * stride), w: int32((p - float64(i0)) * 256)}
	}
}

// blend mixes b into a: a = a*wa/256 + b*(256-wa)/256.
func blend(a, b []byte, wa int) {
	wb := 256 - wa
	b = b[:len(a)]
	for i := range a {
		a[i] = uint8((int(a[i])*wa + int(b[i])*wb + 128) >> 8)
	}
}

// photo is a decoded photo at a few sizes, halving each time.
type photo struct {
	w, h   int // original size
	levels []level
}

// plane is one 8-bit channel.
type plane struct {
	w, h int
	pix  []byte
}

// level is the photo scaled by 1/2^shift, as Y, Cb and Cr planes at full
// resolution (the JFIF conversion, color.RGBToYCbCr), so rendering writes
// the encoder's input format directly.
type level struct {
	shift     int
	y, cb, cr plane
}

// levelFor picks the smallest copy that still has at least one pixel per
// output pixel (step original pixels per output pixel), or the largest
// copy kept.
func (p *photo) levelFor(step float64) *level {
	best := &p.levels[0]
	for i := range p.levels {
		if float64(int(1)<<p.levels[i].shift) <= step {
			best = &p.levels[i]
		}
	}
	return best
}

var photoCache struct {
	sync.Mutex
	m map[string]*photo
}

// loadPhoto decodes a photo once per process and output size class. The
// largest copy kept has at least half an output pixel per photo pixel at
// the narrowest view, so zooming in upsamples by at most 2: a camera-like
// softness, at a quarter of the memory of keeping full-size photos.
func loadPhoto(path string, outW, outH int) (*photo, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	_, w, h, err := imagex.Info(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	widest := min(float64(w), float64(h)*float64(outW)/float64(outH))
	minStep := widest * zoomMin / float64(outW)
	base := 0
	for base < 3 && float64(int(2)<<base) <= minStep*2 {
		base++
	}
	key := fmt.Sprintf("%s|%d", path, base)
	photoCache.Lock()
	defer photoCache.Unlock()
	if p := photoCache.m[key]; p != nil {
		return p, nil
	}
	dec := imagex.NewDecoder(imagex.DefaultLimits())
	defer dec.Close()
	var rgb imagex.RGB
	if err := dec.DecodeScaled(data, &rgb, 1<<base); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	p := &photo{w: w, h: h, levels: []level{toYCbCr(&rgb, base)}}
	// Smaller copies while the widest view would skip pixels: it then
	// samples one to two photo pixels per output pixel.
	maxStep := widest / float64(outW)
	for l := p.levels[0]; float64(int(2)<<l.shift) <= maxStep && l.y.w >= 4 && l.y.h >= 4; l = p.levels[len(p.levels)-1] {
		p.levels = append(p.levels, level{shift: l.shift + 1, y: halve(l.y), cb: halve(l.cb), cr: halve(l.cr)})
	}
	if photoCache.m == nil {
		photoCache.m = map[string]*photo{}
	}
	photoCache.m[key] = p
	return p, nil
}

func toYCbCr(m *imagex.RGB, shift int) level {
	n := m.W * m.H
	l := level{shift: shift,
		y:  plane{m.W, m.H, make([]byte, n)},
		cb: plane{m.W, m.H, make([]byte, n)},
		cr: plane{m.W, m.H, make([]byte, n)},
	}
	for i := 0; i < n; i++ {
		l.y.pix[i], l.cb.pix[i], l.cr.pix[i] = color.RGBToYCbCr(m.Pix[3*i], m.Pix[3*i+1], m.Pix[3*i+2])
	}
	return l
}

// halve box-filters a plane to half its size.
func halve(p plane) plane {
	w, h := p.w/2, p.h/2
	out := plane{w, h, make([]byte, w*h)}
	for y := 0; y < h; y++ {
		r0 := p.pix[(2*y)*p.w:]
		r1 := p.pix[(2*y+1)*p.w:]
		o := out.pix[y*w : (y+1)*w]
		for x := range o {
			o[x] = uint8((int(r0[2*x]) + int(r0[2*x+1]) + int(r1[2*x]) + int(r1[2*x+1]) + 2) >> 2)
		}
	}
	return out
}
