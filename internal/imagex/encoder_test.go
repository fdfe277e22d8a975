package imagex

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"math"
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"
	"time"
)

// psnr is the peak signal-to-noise ratio of b against a over all three
// channels, in dB; +Inf when they are equal.
func psnr(a, b *RGB) float64 {
	var se float64
	for i := range a.Pix {
		d := float64(a.Pix[i]) - float64(b.Pix[i])
		se += d * d
	}
	if se == 0 {
		return math.Inf(1)
	}
	return 10 * math.Log10(255*255*float64(len(a.Pix))/se)
}

// decodeBoth decodes data with libjpeg and with image/jpeg, which must
// agree on the size, so the output is readable by both.
func decodeBoth(t testing.TB, data []byte, w, h int) *RGB {
	t.Helper()
	var m RGB
	d := NewDecoder(Limits{})
	defer d.Close()
	if err := d.Decode(data, &m); err != nil {
		t.Fatalf("libjpeg cannot decode our JPEG: %v", err)
	}
	g, err := jpeg.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("image/jpeg cannot decode our JPEG: %v", err)
	}
	if m.W != w || m.H != h || g.Bounds().Dx() != w || g.Bounds().Dy() != h {
		t.Fatalf("decoded %d×%d (image/jpeg %v), want %d×%d", m.W, m.H, g.Bounds().Size(), w, h)
	}
	return &m
}

// sofComponents reads the SOF0 marker's component count and sampling
// factors (0x22 = 2×2).
func sofComponents(t testing.TB, data []byte) []byte {
	t.Helper()
	i := sofOffset(t, data)
	n := int(data[i+9])
	var f []byte
	for c := range n {
		f = append(f, data[i+11+3*c])
	}
	return f
}

func toYCbCr(src *image.RGBA, r image.YCbCrSubsampleRatio) *image.YCbCr {
	m := image.NewYCbCr(src.Rect, r)
	for y := src.Rect.Min.Y; y < src.Rect.Max.Y; y++ {
		for x := src.Rect.Min.X; x < src.Rect.Max.X; x++ {
			c := src.RGBAAt(x, y)
			yy, cb, cr := color.RGBToYCbCr(c.R, c.G, c.B)
			m.Y[m.YOffset(x, y)] = yy
			// Chroma: the top-left sample of each block, good enough here.
			ci := m.COffset(x, y)
			if x%2 == 0 && y%2 == 0 || r == image.YCbCrSubsampleRatio444 {
				m.Cb[ci], m.Cr[ci] = cb, cr
			}
		}
	}
	return m
}

func toNRGBA(src *image.RGBA) *image.NRGBA {
	return &image.NRGBA{Pix: src.Pix, Stride: src.Stride, Rect: src.Rect}
}

// TestEncodeRoundTrip encodes every input type at awkward sizes (one
// pixel, sizes that are not whole blocks or MCUs, a row wider than 4096)
// and checks that both decoders read the result, that colour is 4:2:0,
// and that the fidelity is no worse than image/jpeg's at the same quality.
func TestEncodeRoundTrip(t *testing.T) {
	sizes := []image.Point{{1, 1}, {7, 5}, {16, 16}, {17, 9}, {33, 31}, {640, 480}, {4097, 3}, {2, 300}}
	inputs := []struct {
		name    string
		make    func(*image.RGBA) image.Image
		samples []byte
	}{
		{"RGB", func(m *image.RGBA) image.Image { return m }, nil}, // EncodeRGB, below
		{"RGBA", func(m *image.RGBA) image.Image { return m }, []byte{0x22, 0x11, 0x11}},
		{"NRGBA", func(m *image.RGBA) image.Image { return toNRGBA(m) }, []byte{0x22, 0x11, 0x11}},
		{"Gray", func(m *image.RGBA) image.Image { return toGray(m) }, []byte{0x11}},
		{"YCbCr420", func(m *image.RGBA) image.Image { return toYCbCr(m, image.YCbCrSubsampleRatio420) }, []byte{0x22, 0x11, 0x11}},
		{"YCbCr444 (converted)", func(m *image.RGBA) image.Image { return toYCbCr(m, image.YCbCrSubsampleRatio444) }, []byte{0x22, 0x11, 0x11}},
		{"Paletted-like (converted)", func(m *image.RGBA) image.Image { return toRGBA64(m) }, []byte{0x22, 0x11, 0x11}},
	}
	e := NewEncoder()
	defer e.Close()
	for _, sz := range sizes {
		src := synth(sz.X, sz.Y)
		srcRGB := FromImage(src)
		for _, in := range inputs {
			for _, q := range []int{10, 50, 75, 95, 100} {
				t.Run(fmt.Sprintf("%dx%d/%s/q%d", sz.X, sz.Y, in.name, q), func(t *testing.T) {
					img := in.make(src)
					var data []byte
					var err error
					if in.name == "RGB" {
						data, err = e.EncodeRGB(nil, srcRGB, q)
					} else {
						data, err = e.EncodeImage(nil, img, q)
					}
					if err != nil {
						t.Fatal(err)
					}
					got := decodeBoth(t, data, sz.X, sz.Y)
					want := []byte{0x22, 0x11, 0x11}
					if in.samples != nil {
						want = in.samples
					}
					if f := sofComponents(t, data); !bytes.Equal(f, want) {
						t.Errorf("sampling factors %x, want %x", f, want)
					}
					ref := FromImage(img) // what was meant, through the same colour model
					goRef := decodeBoth(t, encJPEG(t, img, q), sz.X, sz.Y)
					p, pGo := psnr(ref, got), psnr(ref, goRef)
					// libjpeg's accurate DCT and edge extension should match
					// or beat image/jpeg; the margin covers rounding.
					if p < pGo-0.5 {
						t.Errorf("PSNR %.2f dB, image/jpeg %.2f dB", p, pGo)
					}
					// Below 32 pixels the pattern changes colour from pixel
					// to pixel, which 4:2:0 cannot keep (image/jpeg loses
					// the same): there the floor only catches garbage.
					floor := 14.0
					if min(sz.X, sz.Y) >= 32 {
						floor = psnrFloor(q)
					}
					if p < floor {
						t.Errorf("PSNR %.2f dB, below %.0f dB", p, floor)
					}
				})
			}
		}
	}
}

func toRGBA64(m *image.RGBA) *image.RGBA64 {
	out := image.NewRGBA64(m.Rect)
	for y := m.Rect.Min.Y; y < m.Rect.Max.Y; y++ {
		for x := m.Rect.Min.X; x < m.Rect.Max.X; x++ {
			out.Set(x, y, m.At(x, y))
		}
	}
	return out
}

// psnrFloor is the least PSNR the smooth synth pattern keeps at quality q.
func psnrFloor(q int) float64 {
	switch {
	case q >= 95:
		return 36
	case q >= 75:
		return 33
	case q >= 50:
		return 30
	}
	return 24
}

// TestEncodeSubImage: a sub-image is encoded from its own origin, for
// every type read in place.
func TestEncodeSubImage(t *testing.T) {
	src := synth(64, 48)
	r := image.Rect(10, 6, 50, 40)
	for _, img := range []interface {
		image.Image
		SubImage(image.Rectangle) image.Image
	}{src, toNRGBA(src), toGray(src), toYCbCr(src, image.YCbCrSubsampleRatio420)} {
		sub := img.SubImage(r)
		data, err := AppendJPEG(nil, sub, 95)
		if err != nil {
			t.Fatal(err)
		}
		got := decodeBoth(t, data, r.Dx(), r.Dy())
		if p := psnr(FromImage(sub), got); p < 35 {
			t.Errorf("%T: PSNR %.1f dB against the sub-image", img, p)
		}
	}
}

// TestEncodeQualityRange: every quality gives a readable JPEG, and size
// and fidelity grow with quality.
func TestEncodeQualityRange(t *testing.T) {
	src := FromImage(synth(96, 64))
	e := NewEncoder()
	defer e.Close()
	prevLen, prevP := 0, 0.0
	for q := -5; q <= 105; q++ {
		data, err := e.EncodeRGB(nil, src, q)
		if err != nil {
			t.Fatalf("q%d: %v", q, err)
		}
		p := psnr(src, decodeBoth(t, data, 96, 64))
		if q > 1 && q <= 100 && (len(data) < prevLen-64 || p < prevP-0.3) {
			t.Errorf("q%d: %d bytes, %.2f dB; q%d: %d bytes, %.2f dB", q, len(data), p, q-1, prevLen, prevP)
		}
		if q <= 1 || q > 100 { // clamped like image/jpeg
			edge := 1
			if q > 100 {
				edge = 100
			}
			ref, _ := e.EncodeRGB(nil, src, edge)
			if !bytes.Equal(data, ref) {
				t.Errorf("q%d differs from q%d", q, edge)
			}
		}
		prevLen, prevP = len(data), p
	}
}

func TestEncodeErrors(t *testing.T) {
	e := NewEncoder()
	defer e.Close()
	for _, tc := range []struct {
		name string
		enc  func() ([]byte, error)
	}{
		{"empty RGB", func() ([]byte, error) { return e.EncodeRGB(nil, &RGB{}, 80) }},
		{"short Pix", func() ([]byte, error) { return e.EncodeRGB(nil, &RGB{W: 4, H: 4, Pix: make([]byte, 47)}, 80) }},
		{"too wide", func() ([]byte, error) { return e.EncodeRGB(nil, &RGB{W: 70000, H: 1, Pix: make([]byte, 210000)}, 80) }},
		{"empty image", func() ([]byte, error) { return e.EncodeImage(nil, image.NewRGBA(image.Rect(0, 0, 0, 5)), 80) }},
	} {
		dst := []byte("keep")
		e2 := func() ([]byte, error) { return tc.enc() }
		out, err := e2()
		if err == nil {
			t.Errorf("%s: no error", tc.name)
		}
		if len(out) != 0 && !bytes.Equal(out, dst[:0]) {
			t.Errorf("%s: returned %d bytes", tc.name, len(out))
		}
	}
	// The encoder still works after the errors.
	src := FromImage(synth(20, 20))
	data, err := e.EncodeRGB([]byte("prefix"), src, 80)
	if err != nil || !bytes.HasPrefix(data, []byte("prefix\xff\xd8")) {
		t.Fatalf("after errors: %v, % x", err, data[:min(len(data), 8)])
	}
	decodeBoth(t, data[6:], 20, 20)
}

// TestEncodeDeterministic: the same input gives the same bytes from any
// encoder, after any other encode, from any goroutine (encoders run
// concurrently here, under -race in CI).
func TestEncodeDeterministic(t *testing.T) {
	imgs := []image.Image{synth(640, 480), toYCbCr(synth(333, 250), image.YCbCrSubsampleRatio420), toGray(synth(101, 77))}
	want := make([][]byte, len(imgs))
	for i, img := range imgs {
		var err error
		if want[i], err = AppendJPEG(nil, img, 80); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e := NewEncoder()
			defer e.Close()
			var buf []byte
			for r := range 6 {
				i := (g + r) % len(imgs)
				var err error
				buf, err = e.EncodeImage(buf[:0], imgs[i], 80)
				if err != nil {
					t.Error(err)
					return
				}
				if !bytes.Equal(buf, want[i]) {
					t.Errorf("goroutine %d round %d: image %d encoded differently", g, r, i)
				}
			}
		}()
	}
	wg.Wait()
}

// TestEncodeAllocs: into a dst with room, encoding allocates nothing.
func TestEncodeAllocs(t *testing.T) {
	e := NewEncoder()
	defer e.Close()
	rgb := FromImage(synth(640, 480))
	ycc := toYCbCr(synth(640, 480), image.YCbCrSubsampleRatio420)
	rgba := synth(640, 480)
	dst := make([]byte, 0, 1<<20)
	for name, f := range map[string]func() error{
		"RGB":      func() error { _, err := e.EncodeRGB(dst[:0], rgb, 80); return err },
		"YCbCr420": func() error { _, err := e.EncodeImage(dst[:0], ycc, 80); return err },
		"RGBA":     func() error { _, err := e.EncodeImage(dst[:0], rgba, 80); return err },
	} {
		if err := f(); err != nil {
			t.Fatal(err)
		}
		if n := testing.AllocsPerRun(5, func() { _ = f() }); n != 0 {
			t.Errorf("%s: %.0f allocations per encode", name, n)
		}
	}
}

// TestEncoderLifecycle: Close frees the compressor at once, a forgotten
// Encoder is freed by the garbage collector, and a huge frame's output
// buffer is not kept.
func TestEncoderLifecycle(t *testing.T) {
	// AppendJPEG's pool may hold encoders from earlier tests, which the
	// collections below would free mid-count: empty it first (a pooled
	// object survives one collection in the victim cache).
	before := liveEncoders()
	for range 10 {
		runtime.GC()
		runtime.GC()
		n := liveEncoders()
		if n == before {
			break
		}
		before = n
	}
	e := NewEncoder()
	if liveEncoders() != before+1 {
		t.Fatalf("live encoders %d, want %d", liveEncoders(), before+1)
	}
	// Noise at q100 needs far more than encRetainBytes of output.
	huge := &RGB{W: 3000, H: 2000, Pix: make([]byte, 3000*2000*3)}
	r := rand.New(rand.NewPCG(1, 2))
	for i := range huge.Pix {
		huge.Pix[i] = byte(r.Uint32())
	}
	if data, err := e.EncodeRGB(nil, huge, 100); err != nil || len(data) <= encRetainBytes {
		t.Fatalf("%d bytes of JPEG, %v; the test needs more than %d", len(data), err, encRetainBytes)
	}
	if c := int(e.res.cap); c > encRetainBytes {
		t.Errorf("encoder keeps a %d-byte output buffer, over %d", c, encRetainBytes)
	}
	e.Close()
	e.Close()
	if liveEncoders() != before {
		t.Errorf("after Close: %d live encoders, want %d", liveEncoders(), before)
	}
	if _, err := e.EncodeRGB(nil, huge, 80); err == nil {
		t.Error("encode after Close: no error")
	}
	if _, err := e.EncodeImage(nil, image.NewRGBA64(image.Rect(0, 0, 2, 2)), 80); err == nil {
		t.Error("encode after Close (converted type): no error")
	}

	func() {
		f := NewEncoder()
		_, _ = f.EncodeRGB(nil, FromImage(synth(8, 8)), 80)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for liveEncoders() > before && time.Now().Before(deadline) {
		runtime.GC()
		runtime.Gosched()
	}
	if liveEncoders() > before {
		t.Errorf("a forgotten Encoder was not freed: %d live, want %d", liveEncoders(), before)
	}
}

// TestEncodeDCTQuality records why the encoder uses JDCT_ISLOW: IFAST's
// loss of fidelity at the qualities framecast uses (docs/BENCHMARKS.md has
// the speed side, BenchmarkEncode640x480), with image/jpeg for reference.
func TestEncodeDCTQuality(t *testing.T) {
	data, _ := photo640(t)
	src := stdDecode(t, data)
	slow, fast := NewEncoder(), NewEncoder()
	defer slow.Close()
	defer fast.Close()
	fast.fast = true
	for _, q := range []int{50, 75, 80, 90, 95} {
		a, err := slow.EncodeRGB(nil, src, q)
		if err != nil {
			t.Fatal(err)
		}
		b, err := fast.EncodeRGB(nil, src, q)
		if err != nil {
			t.Fatal(err)
		}
		g := encJPEG(t, src.ToImage(), q)
		ps, pf := psnr(src, decodeBoth(t, a, 640, 480)), psnr(src, decodeBoth(t, b, 640, 480))
		t.Logf("q%d: ISLOW %.2f dB %d bytes, IFAST %.2f dB %d bytes; image/jpeg %.2f dB %d bytes",
			q, ps, len(a), pf, len(b), psnr(src, decodeBoth(t, g, 640, 480)), len(g))
		if ps < pf-0.05 {
			t.Errorf("q%d: ISLOW %.2f dB is worse than IFAST %.2f dB", q, ps, pf)
		}
	}
}

// FuzzEncode: any size, pixels and quality give a JPEG both decoders read
// at the right size; at quality 97 and above (quantisers of 6 or less:
// fuzzed pixels are noise, the worst case for larger ones) greyscale
// and each 4:2:0 plane come back within 30 dB PSNR.
func FuzzEncode(f *testing.F) {
	f.Add(uint16(1), uint16(1), uint8(80), []byte{0})
	f.Add(uint16(7), uint16(5), uint8(100), []byte("some pixels"))
	f.Add(uint16(4097), uint16(2), uint8(1), []byte{255, 0, 128})
	f.Fuzz(func(t *testing.T, w16, h16 uint16, q8 uint8, seed []byte) {
		w, h := int(w16%600)+1, int(h16%300)+1
		q := int(q8%100) + 1
		if len(seed) == 0 {
			seed = []byte{0}
		}
		gray := image.NewGray(image.Rect(0, 0, w, h))
		for i := range gray.Pix {
			// Smooth where the seed repeats, noisy where it does not.
			gray.Pix[i] = seed[i%len(seed)] + byte(i/w)
		}
		e := NewEncoder()
		defer e.Close()
		data, err := e.EncodeImage(nil, gray, q)
		if err != nil {
			t.Fatal(err)
		}
		got := decodeBoth(t, data, w, h)
		if q >= 97 {
			if p := psnr(FromImage(gray), got); p < 30 {
				t.Errorf("grey q%d: PSNR %.1f dB", q, p)
			}
		}
		ycc := image.NewYCbCr(gray.Rect, image.YCbCrSubsampleRatio420)
		copy(ycc.Y, gray.Pix)
		for i := range ycc.Cb {
			ycc.Cb[i], ycc.Cr[i] = seed[i%len(seed)], 128
		}
		data, err = e.EncodeImage(nil, ycc, q)
		if err != nil {
			t.Fatal(err)
		}
		decodeBoth(t, data, w, h)
		if q < 97 {
			return
		}
		// image/jpeg hands back the planes as stored, so each can be
		// compared with its input, free of colour conversion and chroma
		// upsampling.
		g, err := jpeg.Decode(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		out, ok := g.(*image.YCbCr)
		if !ok || out.SubsampleRatio != image.YCbCrSubsampleRatio420 {
			t.Fatalf("decoded as %T, want 4:2:0 YCbCr", g)
		}
		cw, ch := (w+1)/2, (h+1)/2
		for _, pl := range []struct {
			name       string
			in, out    []byte
			w, h, istr int
			ostr       int
		}{
			{"Y", ycc.Y, out.Y, w, h, ycc.YStride, out.YStride},
			{"Cb", ycc.Cb, out.Cb, cw, ch, ycc.CStride, out.CStride},
			{"Cr", ycc.Cr, out.Cr, cw, ch, ycc.CStride, out.CStride},
		} {
			var se float64
			for y := range pl.h {
				for x := range pl.w {
					d := float64(pl.in[y*pl.istr+x]) - float64(pl.out[y*pl.ostr+x])
					se += d * d
				}
			}
			if se > 0 {
				if p := 10 * math.Log10(255*255*float64(pl.w*pl.h)/se); p < 30 {
					t.Errorf("q%d: %s plane PSNR %.1f dB", q, pl.name, p)
				}
			}
		}
	})
}
