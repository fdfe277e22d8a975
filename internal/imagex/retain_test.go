package imagex

import (
	"bytes"
	"errors"
	"image"
	"runtime"
	"testing"

	"github.com/framecast/framecast/internal/testkit"
)

// heapInUse is the live heap after a full collection.
func heapInUse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// TestHugeImageNotRetained: a 6000×6000 frame is within DefaultMaxPixels and
// needs a 108 MB pixel buffer. Once the caller is done with it (Trim), or
// the next ordinary frame is decoded into the same RGB, or a decode fails,
// that buffer must be garbage: a long-lived decode target that kept it
// would pin 108 MB per worker for the rest of the run.
func TestHugeImageNotRetained(t *testing.T) {
	huge := testkit.FlatJPEG(6000, 6000)
	small := encJPEG(t, synth(640, 480), 85)
	hugePNG := encPNG(t, image.NewGray(image.Rect(0, 0, 3000, 3000))) // 27 MB as RGB, over RetainBytes
	const allowed = 16 << 20
	cases := []struct {
		name   string
		decode func(d *Decoder, dst *RGB) error // the huge image
		then   func(d *Decoder, dst *RGB)
		keep   int // bytes of pixels legitimately held afterwards
	}{
		{"Trim", decodeAll(huge), func(_ *Decoder, dst *RGB) { dst.Trim() }, 0},
		{"next frame", decodeAll(huge), func(d *Decoder, dst *RGB) {
			if err := d.Decode(small, dst); err != nil || dst.W != 640 {
				t.Errorf("small frame after the huge one: %v, %d×%d", err, dst.W, dst.H)
			}
		}, 640 * 480 * 3},
		{"failed decode", decodeAll(huge), func(d *Decoder, dst *RGB) {
			if err := d.Decode([]byte("not an image"), dst); !errors.Is(err, ErrNotImage) {
				t.Errorf("err = %v", err)
			}
		}, 0},
		{"scaled PNG scratch", func(d *Decoder, dst *RGB) error { return d.DecodeScaled(hugePNG, dst, 2) },
			func(*Decoder, *RGB) {}, 1500 * 1500 * 3},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := NewDecoder(Limits{})
			defer d.Close()
			var dst RGB
			before := heapInUse()
			if err := c.decode(d, &dst); err != nil {
				t.Fatal(err)
			}
			peak := heapInUse()
			c.then(d, &dst)
			after := heapInUse()
			retained := int64(after) - int64(before)
			t.Logf("heap before %d MB, after the huge decode %d MB, after %s %d MB (retained %+d KB)",
				before>>20, peak>>20, c.name, after>>20, retained>>10)
			if retained > int64(c.keep)+allowed {
				t.Errorf("%d MB still live after %s; a buffer over RetainBytes (%d MB) was kept",
					retained>>20, c.name, RetainBytes>>20)
			}
			runtime.KeepAlive(&dst)
			runtime.KeepAlive(d)
		})
	}
}

func decodeAll(data []byte) func(*Decoder, *RGB) error {
	return func(d *Decoder, dst *RGB) error {
		if err := d.Decode(data, dst); err != nil {
			return err
		}
		if dst.W != 6000 || dst.H != 6000 || dst.Pix[len(dst.Pix)/2] != 128 {
			return errors.New("huge test JPEG did not decode to 6000×6000 mid-grey")
		}
		return nil
	}
}

// TestRetainedSizes: buffers up to RetainBytes are reused as before, so a
// steady 4K stream still decodes without allocating.
func TestRetainedSizes(t *testing.T) {
	var m RGB
	m.resize(3840, 2160)
	p := &m.Pix[0]
	m.resize(640, 480)
	m.Trim()
	if &m.Pix[:1][0] != p || m.W != 640 {
		t.Error("a 4K buffer was not kept for reuse")
	}
	m.resize(6000, 6000)
	m.resize(6000, 6000)
	if cap(m.Pix) != 6000*6000*3 {
		t.Errorf("cap %d", cap(m.Pix))
	}
	m.Trim()
	if m.Pix != nil || m.W != 0 || m.H != 0 {
		t.Errorf("Trim kept an oversized buffer: %dx%d cap %d", m.W, m.H, cap(m.Pix))
	}
}

// TestCheck: the pre-decode checks find bad input without decoding, and
// accept every complete image.
func TestCheck(t *testing.T) {
	jpg := encJPEG(t, synth(160, 120), 90)
	pngData := encPNG(t, synth(160, 120))
	sof := sofOffset(t, jpg)
	// An EXIF-like APP1 segment holding a thumbnail's EOI before the frame
	// header must not make a cut file look complete.
	thumb := append([]byte{0xFF, 0xD8, 0xFF, 0xE1, 0, 6, 'E', 'x', 0xFF, 0xD9}, jpg[2:]...)
	cases := []struct {
		name string
		data []byte
		want error
	}{
		{"jpeg", jpg, nil},
		{"jpeg, bytes after EOI", append(bytes.Clone(jpg), 0, 0, 0, 0), nil},
		{"progressive", readTestdata(t, "progressive.jpg"), nil},
		{"arithmetic", readTestdata(t, "arith.jpg"), nil},
		{"png", pngData, nil},
		{"huge but valid", testkit.FlatJPEG(6000, 6000), nil},
		{"empty", nil, ErrEmpty},
		{"not an image", []byte("hello, world"), ErrNotImage},
		{"jpeg cut in its data", jpg[:len(jpg)*2/3], ErrTruncated},
		{"jpeg without EOI", jpg[:len(jpg)-2], ErrTruncated},
		{"jpeg cut right after SOF", jpg[:sof+19], ErrTruncated},
		{"thumbnail EOI, cut", thumb[:len(thumb)/2], ErrTruncated},
		{"png cut", pngData[:len(pngData)-20], ErrTruncated},
		{"pixel bomb", forgeJPEGSize(t, jpg, 20000, 20000), ErrTooLarge},
		{"size bomb", forgeJPEGSize(t, jpg, 6000, 6000), ErrTruncated},
	}
	d := NewDecoder(Limits{})
	defer d.Close()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			format, w, h, err := d.Check(c.data)
			if !errors.Is(err, c.want) || (c.want == nil) != (err == nil) {
				t.Fatalf("Check = %q %d×%d %v, want %v", format, w, h, err, c.want)
			}
			var dst RGB
			derr := d.Decode(c.data, &dst)
			if err != nil {
				if Reason(derr) != Reason(err) {
					t.Errorf("Decode says %v, Check %v", derr, err)
				}
				return
			}
			if derr != nil || w != dst.W || h != dst.H {
				t.Errorf("Check accepted %d×%d, Decode gave %d×%d %v", w, h, dst.W, dst.H, derr)
			}
		})
	}
	if n := testing.AllocsPerRun(20, func() { _, _, _, _ = d.Check(jpg) }); n != 0 {
		t.Errorf("Check allocates %v times", n)
	}
}
