package imagex

import (
	"bytes"
	"errors"
	"image"
	"image/color"
	"image/color/palette"
	"image/gif"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/image/bmp"
	"golang.org/x/image/webp"
)

func TestDecodeTable(t *testing.T) {
	src := synth(97, 61) // odd sizes exercise partial MCUs
	colorJPEG := encJPEG(t, src, 90)
	grayJPEG := encJPEG(t, toGray(src), 90)

	nrgba := image.NewNRGBA(src.Rect)
	for i := range nrgba.Pix {
		nrgba.Pix[i] = src.Pix[i]
		if i%4 == 3 {
			nrgba.Pix[i] = uint8(i) // varying alpha must be dropped, not applied
		}
	}
	pngRGBA := encPNG(t, nrgba)
	pngGray := encPNG(t, toGray(src))
	pal := image.NewPaletted(src.Rect, palette.Plan9)
	for y := range src.Rect.Dy() {
		for x := range src.Rect.Dx() {
			pal.Set(x, y, src.At(x, y))
		}
	}
	pngPal := encPNG(t, pal)
	var gifBuf, bmpBuf bytes.Buffer
	if err := gif.Encode(&gifBuf, pal, nil); err != nil {
		t.Fatal(err)
	}
	if err := bmp.Encode(&bmpBuf, src); err != nil {
		t.Fatal(err)
	}

	rnd := rand.New(rand.NewPCG(1, 2))
	random := make([]byte, 4096)
	for i := range random {
		random[i] = byte(rnd.Uint32())
	}
	jpegGarbage := append([]byte{0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10}, random...)

	webpCfg, err := webp.DecodeConfig(bytes.NewReader(readTestdata(t, "lossy.webp")))
	if err != nil {
		t.Fatal(err)
	}
	webpW, webpH := webpCfg.Width, webpCfg.Height

	zeroW := forgeJPEGSize(t, colorJPEG, 0, 61)
	bits12 := bytes.Clone(colorJPEG)
	bits12[sofOffset(t, bits12)+4] = 12

	tests := []struct {
		name         string
		data         []byte
		limits       Limits
		want         error // nil: success
		wantW, wantH int
		exact        bool // pixels must equal Go's decoder exactly (lossless formats)
		noStd        bool // Go cannot decode it: compare with the source pattern
		format       string
	}{
		{name: "jpeg 4:2:0", data: colorJPEG, wantW: 97, wantH: 61, format: "jpeg"},
		{name: "jpeg gray", data: grayJPEG, wantW: 97, wantH: 61, format: "jpeg"},
		{name: "jpeg progressive", data: readTestdata(t, "progressive.jpg"), wantW: 96, wantH: 64, format: "jpeg"},
		{name: "jpeg arithmetic", data: readTestdata(t, "arith.jpg"), wantW: 96, wantH: 64, format: "jpeg", noStd: true},
		{name: "jpeg 4:2:2 restart", data: readTestdata(t, "h2v1_restart.jpg"), wantW: 96, wantH: 64, format: "jpeg"},
		{name: "jpeg cmyk", data: readTestdata(t, "cmyk.jpg"), wantW: 96, wantH: 64, format: "jpeg"},
		{name: "png nrgba", data: pngRGBA, wantW: 97, wantH: 61, exact: true, format: "png"},
		{name: "png gray", data: pngGray, wantW: 97, wantH: 61, exact: true, format: "png"},
		{name: "png paletted", data: pngPal, wantW: 97, wantH: 61, exact: true, format: "png"},
		{name: "gif", data: gifBuf.Bytes(), wantW: 97, wantH: 61, exact: true, format: "gif"},
		{name: "bmp", data: bmpBuf.Bytes(), wantW: 97, wantH: 61, exact: true, format: "bmp"},
		{name: "webp", data: readTestdata(t, "lossy.webp"), wantW: webpW, wantH: webpH, exact: true, format: "webp"},
		{name: "empty", data: nil, want: ErrEmpty},
		{name: "random bytes", data: random, want: ErrNotImage},
		{name: "text", data: []byte("<html>502 Bad Gateway</html>"), want: ErrNotImage},
		{name: "jpeg signature then garbage", data: jpegGarbage, want: ErrTruncated},
		{name: "jpeg 20000x20000", data: forgeJPEGSize(t, colorJPEG, 20000, 20000), want: ErrTooLarge},
		{name: "jpeg over custom MaxPixels", data: colorJPEG, limits: Limits{MaxPixels: 97*61 - 1}, want: ErrTooLarge},
		{name: "jpeg exactly MaxPixels", data: colorJPEG, limits: Limits{MaxPixels: 97 * 61}, wantW: 97, wantH: 61, format: "jpeg"},
		{name: "png huge IHDR", data: forgePNGSize(pngRGBA, 1<<20, 1<<20), want: ErrTooLarge},
		{name: "jpeg over MaxBytes", data: colorJPEG, limits: Limits{MaxBytes: int64(len(colorJPEG)) - 1}, want: ErrTooLarge},
		{name: "png over MaxBytes", data: pngRGBA, limits: Limits{MaxBytes: 100}, want: ErrTooLarge},
		{name: "jpeg zero width", data: zeroW, want: ErrZeroSize},
		{name: "png zero height", data: forgePNGSize(pngRGBA, 97, 0), want: ErrZeroSize},
		{name: "jpeg 12-bit", data: bits12, want: ErrUnsupported},
		// Within limits, but 6000×6000 cannot fit in a few KiB: rejected
		// before the 108 MB output buffer is allocated.
		{name: "jpeg bomb", data: forgeJPEGSize(t, colorJPEG, 6000, 6000), want: ErrTruncated},
		{name: "png bomb", data: forgePNGSize(pngRGBA, 6000, 6000), want: ErrTruncated},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := NewDecoder(tc.limits)
			defer d.Close()
			dst := RGB{W: 1, H: 1, Pix: []byte{1, 2, 3}}
			err := d.Decode(tc.data, &dst)
			if tc.want != nil {
				if !errors.Is(err, tc.want) {
					t.Fatalf("err = %v, want %v", err, tc.want)
				}
				if dst.W != 0 || dst.H != 0 || len(dst.Pix) != 0 {
					t.Errorf("dst not reset after error: %dx%d len %d", dst.W, dst.H, len(dst.Pix))
				}
				if r := Reason(err); r == "error" || r == "" {
					t.Errorf("Reason(%v) = %q", err, r)
				}
				t.Logf("%s: %v", Reason(err), err)
				return
			}
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if dst.W != tc.wantW || dst.H != tc.wantH || len(dst.Pix) != dst.W*dst.H*3 {
				t.Fatalf("got %dx%d len %d, want %dx%d", dst.W, dst.H, len(dst.Pix), tc.wantW, tc.wantH)
			}
			f, w, h, err := Info(tc.data)
			if err != nil || f != tc.format || w != tc.wantW || h != tc.wantH {
				t.Errorf("Info = %q %dx%d %v, want %q %dx%d", f, w, h, err, tc.format, tc.wantW, tc.wantH)
			}
			if tc.noStd {
				mean, _ := diffStats(t, &dst, FromImage(synth(96, 64)))
				t.Logf("vs source pattern: mean %.3f", mean)
				if mean > 3 {
					t.Errorf("mean diff %.3f from the source pattern", mean)
				}
				return
			}
			ref := stdDecode(t, tc.data)
			mean, maxd := diffStats(t, &dst, ref)
			t.Logf("vs Go decoder: mean %.3f max %d", mean, maxd)
			if tc.exact && maxd != 0 {
				t.Errorf("lossless format differs from Go's decoder: mean %.3f max %d", mean, maxd)
			}
			if !tc.exact && (mean > 2 || maxd > 12) {
				t.Errorf("too far from Go's decoder: mean %.3f max %d", mean, maxd)
			}
		})
	}
}

func TestTruncatedJPEG(t *testing.T) {
	inputs := map[string][]byte{
		"baseline":    encJPEG(t, synth(160, 120), 90),
		"gray":        encJPEG(t, toGray(synth(160, 120)), 90),
		"progressive": readTestdata(t, "progressive.jpg"),
		"arithmetic":  readTestdata(t, "arith.jpg"),
		"restart":     readTestdata(t, "h2v1_restart.jpg"),
		"cmyk":        readTestdata(t, "cmyk.jpg"),
	}
	d := NewDecoder(Limits{})
	defer d.Close()
	var dst RGB
	for name, full := range inputs {
		cuts := []int{1, 2, 3, 4, 10, 20, 100, len(full) - 2, len(full) - 1}
		for i := 1; i < 40; i++ {
			cuts = append(cuts, len(full)*i/40)
		}
		for _, n := range cuts {
			err := d.Decode(full[:n], &dst)
			if n == 1 && errors.Is(err, ErrNotImage) {
				continue // a lone 0xFF could be anything
			}
			if !errors.Is(err, ErrTruncated) && !errors.Is(err, ErrCorrupt) {
				t.Errorf("%s cut at %d/%d: err = %v, want ErrTruncated or ErrCorrupt", name, n, len(full), err)
			}
		}
		// The decoder must still work after all those failures.
		if err := d.Decode(full, &dst); err != nil {
			t.Errorf("%s: full decode after failures: %v", name, err)
		}
	}
}

// A frame whose data ends early but carries an EOI marker would make
// libjpeg paint the rest grey with only a warning; we must refuse it.
func TestTruncatedWithEOI(t *testing.T) {
	full := encJPEG(t, synth(160, 120), 90)
	d := NewDecoder(Limits{})
	defer d.Close()
	var dst RGB
	for _, n := range []int{len(full) / 2, len(full) * 3 / 4, len(full) - 10} {
		cut := append(bytes.Clone(full[:n]), 0xFF, 0xD9)
		if err := d.Decode(cut, &dst); !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrTruncated) {
			t.Errorf("cut at %d + EOI: err = %v, want ErrCorrupt", n, err)
		}
	}
}

func TestTooLargeAllocatesNothing(t *testing.T) {
	base := encJPEG(t, synth(64, 48), 90)
	cases := map[string][]byte{
		"over limit":     forgeJPEGSize(t, base, 20000, 20000),
		"bomb in limits": forgeJPEGSize(t, base, 6000, 6000),
	}
	d := NewDecoder(Limits{})
	defer d.Close()
	for name, data := range cases {
		var dst RGB
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		err := d.Decode(data, &dst)
		runtime.ReadMemStats(&after)
		if err == nil {
			t.Fatalf("%s: decoded", name)
		}
		if got := after.TotalAlloc - before.TotalAlloc; got > 64<<10 {
			t.Errorf("%s: allocated %d bytes before rejecting", name, got)
		}
		if cap(dst.Pix) != 0 {
			t.Errorf("%s: dst grown to %d", name, cap(dst.Pix))
		}
	}
}

func TestTooLargeMessage(t *testing.T) {
	data := forgeJPEGSize(t, encJPEG(t, synth(64, 48), 90), 20000, 20000)
	var dst RGB
	err := NewDecoder(Limits{}).Decode(data, &dst)
	msg := err.Error()
	for _, want := range []string{"20000×20000", "40000000", "--max-pixels"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q lacks %q", msg, want)
		}
	}
	if Reason(err) != "too_large" {
		t.Errorf("Reason = %q", Reason(err))
	}
}

func TestMatchesStdlib(t *testing.T) {
	photo, real := photo640(t)
	inputs := map[string][]byte{
		"synthetic 640x480": encJPEG(t, synth(640, 480), 85),
		"gray 640x480":      encJPEG(t, toGray(synth(640, 480)), 85),
	}
	if real {
		inputs["photo 640x480"] = photo
	}
	d := NewDecoder(Limits{})
	defer d.Close()
	for name, data := range inputs {
		var dst RGB
		if err := d.Decode(data, &dst); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		ref := stdDecode(t, data)
		mean, maxd := diffStats(t, &dst, ref)
		p99 := percentileDiff(&dst, ref, 0.99)
		t.Logf("%s: mean abs diff %.3f, p99 %d, max %d", name, mean, p99, maxd)
		if name == "photo 640x480" {
			// Go upsamples chroma by pixel replication, libjpeg by a
			// triangle filter: on sharp colour edges of a real photo that
			// differs by tens of levels (max ~71 on sample1), so the photo
			// is held to the bulk of the distribution instead of its max.
			if mean > 2 || p99 > 10 {
				t.Errorf("%s: mean %.3f p99 %d, want mean ≤ 2, p99 ≤ 10", name, mean, p99)
			}
		} else if mean > 2 || maxd > 12 {
			t.Errorf("%s: mean %.3f max %d, want mean ≤ 2, max ≤ 12", name, mean, maxd)
		}
	}
}

func TestBitStable(t *testing.T) {
	data, _ := photo640(t)
	d1, d2 := NewDecoder(Limits{}), NewDecoder(Limits{})
	defer d1.Close()
	defer d2.Close()
	var a, b RGB
	if err := d1.Decode(data, &a); err != nil {
		t.Fatal(err)
	}
	first := bytes.Clone(a.Pix)
	// Reused buffer, reused decoder, a different image in between.
	if err := d1.Decode(encJPEG(t, synth(320, 200), 70), &a); err != nil {
		t.Fatal(err)
	}
	if err := d1.Decode(data, &a); err != nil {
		t.Fatal(err)
	}
	if err := d2.Decode(data, &b); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(first, a.Pix) || !bytes.Equal(first, b.Pix) {
		t.Fatal("decoding the same JPEG twice gave different pixels")
	}
}

func TestDecodeAllocs(t *testing.T) {
	data, _ := photo640(t)
	d := NewDecoder(Limits{})
	defer d.Close()
	var dst RGB
	if err := d.Decode(data, &dst); err != nil {
		t.Fatal(err)
	}
	var err error
	allocs := testing.AllocsPerRun(50, func() { err = d.Decode(data, &dst) })
	if err != nil {
		t.Fatal(err)
	}
	if allocs != 0 {
		t.Errorf("steady-state JPEG decode: %v allocs/op, want 0", allocs)
	}
	// A smaller frame reuses the bigger buffer.
	small := encJPEG(t, synth(320, 240), 85)
	allocs = testing.AllocsPerRun(10, func() { err = d.Decode(small, &dst) })
	if err != nil || allocs != 0 || dst.W != 320 || len(dst.Pix) != 320*240*3 {
		t.Errorf("smaller frame: err %v, %v allocs, %dx%d len %d", err, allocs, dst.W, dst.H, len(dst.Pix))
	}
}

func TestDecodeScaled(t *testing.T) {
	data := encJPEG(t, synth(643, 481), 90)
	pngData := encPNG(t, synth(643, 481))
	d := NewDecoder(Limits{})
	defer d.Close()
	var full RGB
	if err := d.Decode(data, &full); err != nil {
		t.Fatal(err)
	}
	for _, denom := range []int{1, 2, 4, 8} {
		for name, in := range map[string][]byte{"jpeg": data, "png": pngData} {
			var dst RGB
			if err := d.DecodeScaled(in, &dst, denom); err != nil {
				t.Fatalf("%s 1/%d: %v", name, denom, err)
			}
			if dst.W != ceilDiv(643, denom) || dst.H != ceilDiv(481, denom) || len(dst.Pix) != dst.W*dst.H*3 {
				t.Fatalf("%s 1/%d: got %dx%d", name, denom, dst.W, dst.H)
			}
			var box RGB
			boxDownscale(&box, &full, denom)
			mean, maxd := diffStats(t, &dst, &box)
			t.Logf("%s 1/%d vs box filter of full JPEG decode: mean %.3f max %d", name, denom, mean, maxd)
			if mean > 3 {
				t.Errorf("%s 1/%d: mean diff %.3f vs box-filtered full decode", name, denom, mean)
			}
		}
	}
	var dst RGB
	if err := d.DecodeScaled(data, &dst, 3); err == nil {
		t.Error("denominator 3 accepted")
	}
}

func TestCMYKMatchesStdlib(t *testing.T) {
	data := readTestdata(t, "cmyk.jpg")
	var dst RGB
	if err := NewDecoder(Limits{}).Decode(data, &dst); err != nil {
		t.Fatal(err)
	}
	mean, maxd := diffStats(t, &dst, stdDecode(t, data))
	t.Logf("cmyk vs Go: mean %.3f max %d", mean, maxd)
	if mean > 2 || maxd > 12 {
		t.Errorf("cmyk: mean %.3f max %d", mean, maxd)
	}
	// And it should look like the source pattern, not its negative.
	mean, _ = diffStats(t, &dst, FromImage(synth(96, 64)))
	if mean > 6 {
		t.Errorf("cmyk: mean diff %.2f from the source pattern; inverted?", mean)
	}
}

func TestReuseAfterError(t *testing.T) {
	good := encJPEG(t, synth(200, 100), 90)
	want := stdDecode(t, good)
	bad := [][]byte{
		nil,
		good[:len(good)/2],
		forgeJPEGSize(t, good, 20000, 20000),
		[]byte("GIF89a"),
		append([]byte{0xFF, 0xD8, 0xFF, 0xDB, 0x00, 0x43}, make([]byte, 200)...),
	}
	d := NewDecoder(Limits{})
	defer d.Close()
	var dst RGB
	for i, b := range bad {
		if err := d.Decode(b, &dst); err == nil {
			t.Fatalf("bad input %d decoded", i)
		}
		if err := d.Decode(good, &dst); err != nil {
			t.Fatalf("after bad input %d: %v", i, err)
		}
		if mean, maxd := diffStats(t, &dst, want); mean > 2 || maxd > 12 {
			t.Fatalf("after bad input %d: pixels off (mean %.2f max %d)", i, mean, maxd)
		}
	}
}

func TestDecoderLifecycle(t *testing.T) {
	data := encJPEG(t, synth(32, 32), 90)
	var zero Decoder // zero value works, with default limits
	var dst RGB
	if err := zero.Decode(data, &dst); err != nil {
		t.Fatal(err)
	}
	if zero.limits != DefaultLimits() {
		t.Errorf("zero Decoder limits = %+v", zero.limits)
	}
	zero.Close()
	zero.Close()
	if err := zero.Decode(data, &dst); err == nil {
		t.Error("Decode after Close succeeded")
	}
}

func TestInfo(t *testing.T) {
	src := synth(33, 17)
	var gifBuf bytes.Buffer
	if err := gif.Encode(&gifBuf, src, nil); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		data   []byte
		format string
		err    error
	}{
		{data: encJPEG(t, src, 80), format: "jpeg"},
		{data: encPNG(t, src), format: "png"},
		{data: gifBuf.Bytes(), format: "gif"},
		{data: nil, err: ErrEmpty},
		{data: []byte("hello"), err: ErrNotImage},
		{data: encJPEG(t, src, 80)[:50], err: ErrTruncated},
		{data: encPNG(t, src)[:20], err: ErrTruncated},
	}
	for i, tc := range tests {
		f, w, h, err := Info(tc.data)
		if tc.err != nil {
			if !errors.Is(err, tc.err) {
				t.Errorf("%d: err = %v, want %v", i, err, tc.err)
			}
			continue
		}
		if err != nil || f != tc.format || w != 33 || h != 17 {
			t.Errorf("%d: Info = %q %dx%d %v", i, f, w, h, err)
		}
	}
}

func TestDecodeFile(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.jpg")
	if err := os.WriteFile(good, encJPEG(t, synth(40, 30), 90), 0o644); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty.jpg")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := DecodeFile(good, Limits{})
	if err != nil || m.W != 40 || m.H != 30 {
		t.Fatalf("DecodeFile: %v", err)
	}
	if _, err := DecodeFile(empty, Limits{}); !errors.Is(err, ErrEmpty) {
		t.Errorf("empty file: %v", err)
	}
	if _, err := DecodeFile(good, Limits{MaxBytes: 10}); !errors.Is(err, ErrTooLarge) {
		t.Errorf("big file: %v", err)
	}
	_, err = DecodeFile(filepath.Join(dir, "missing.jpg"), Limits{})
	if Reason(err) != "io" {
		t.Errorf("missing file: Reason %q for %v", Reason(err), err)
	}
}

func TestReason(t *testing.T) {
	for err, want := range map[error]string{
		nil:                          "",
		ErrEmpty:                     "empty",
		ErrNotImage:                  "not_image",
		truncatedf("x"):              "truncated",
		corruptf("x"):                "corrupt",
		tooManyBytes(2, 1):           "too_large",
		zeroSize("png", 0, 1):        "zero_size",
		unsupportedf("x"):            "unsupported",
		errors.New("something else"): "error",
	} {
		if got := Reason(err); got != want {
			t.Errorf("Reason(%v) = %q, want %q", err, got, want)
		}
	}
}

// FromImage must agree with the generic image.At path for every fast type.
func TestFromImageTypes(t *testing.T) {
	r := image.Rect(3, 5, 40, 31) // odd, offset bounds
	rnd := rand.New(rand.NewPCG(3, 4))
	fill := func(b []byte) {
		for i := range b {
			b[i] = byte(rnd.Uint32())
		}
	}
	var imgs []image.Image
	for _, ratio := range []image.YCbCrSubsampleRatio{
		image.YCbCrSubsampleRatio444, image.YCbCrSubsampleRatio422, image.YCbCrSubsampleRatio420,
		image.YCbCrSubsampleRatio440, image.YCbCrSubsampleRatio411, image.YCbCrSubsampleRatio410,
	} {
		y := image.NewYCbCr(r, ratio)
		fill(y.Y)
		fill(y.Cb)
		fill(y.Cr)
		imgs = append(imgs, y, y.SubImage(image.Rect(4, 6, 20, 30)))
		neg := image.NewYCbCr(image.Rect(-7, -5, 10, 9), ratio) // negative origin takes the exact path
		fill(neg.Y)
		fill(neg.Cb)
		fill(neg.Cr)
		imgs = append(imgs, neg)
	}
	nrgba := image.NewNRGBA(r)
	fill(nrgba.Pix)
	rgba := image.NewRGBA(r)
	fill(rgba.Pix)
	for i := 3; i < len(rgba.Pix); i += 4 {
		rgba.Pix[i] = 255 // keep it a valid premultiplied image
	}
	gray := image.NewGray(r)
	fill(gray.Pix)
	gray16 := image.NewGray16(r)
	fill(gray16.Pix)
	n64 := image.NewNRGBA64(r)
	fill(n64.Pix)
	r64 := image.NewRGBA64(r)
	fill(r64.Pix)
	for i := 6; i < len(r64.Pix); i += 8 {
		r64.Pix[i], r64.Pix[i+1] = 0xFF, 0xFF
	}
	cmyk := image.NewCMYK(r)
	fill(cmyk.Pix)
	pal := image.NewPaletted(r, palette.WebSafe)
	for i := range pal.Pix {
		pal.Pix[i] = byte(rnd.IntN(len(palette.WebSafe)))
	}
	nycc := image.NewNYCbCrA(r, image.YCbCrSubsampleRatio420)
	fill(nycc.Y)
	fill(nycc.Cb)
	fill(nycc.Cr)
	fill(nycc.A)
	imgs = append(imgs, nrgba, rgba, gray, gray16, n64, r64, cmyk, pal, nycc, nrgba.SubImage(image.Rect(10, 10, 20, 20)))

	for i, img := range imgs {
		got := FromImage(img)
		b := img.Bounds()
		if got.W != b.Dx() || got.H != b.Dy() {
			t.Fatalf("%d %T: size %dx%d", i, img, got.W, got.H)
		}
		for y := b.Min.Y; y < b.Max.Y; y++ {
			for x := b.Min.X; x < b.Max.X; x++ {
				var want [3]byte
				switch c := img.At(x, y).(type) {
				case color.NRGBA64:
					want = [3]byte{uint8(c.R >> 8), uint8(c.G >> 8), uint8(c.B >> 8)} // straight, high byte
				case color.NYCbCrA:
					want[0], want[1], want[2] = color.YCbCrToRGB(c.Y, c.Cb, c.Cr) // alpha dropped, straight colour kept
				default:
					n := color.NRGBAModel.Convert(c).(color.NRGBA)
					want = [3]byte{n.R, n.G, n.B}
				}
				o := ((y-b.Min.Y)*got.W + (x - b.Min.X)) * 3
				if [3]byte(got.Pix[o:o+3]) != want {
					t.Fatalf("%d %T at (%d,%d): got %v want %v", i, img, x, y, got.Pix[o:o+3], want)
				}
			}
		}
	}
}

func TestToImageRoundTrip(t *testing.T) {
	src := FromImage(synth(21, 13))
	back := FromImage(src.ToImage())
	if back.W != 21 || back.H != 13 || !bytes.Equal(back.Pix, src.Pix) {
		t.Fatal("ToImage/FromImage round trip changed pixels")
	}
	if a := src.ToImage().RGBAAt(5, 5).A; a != 255 {
		t.Errorf("alpha %d, want opaque", a)
	}
}

// A progressive JPEG that repeats a scan hundreds of times costs a full
// pass over the image per scan for a few bytes each; it must be cut off.
func TestTooManyScans(t *testing.T) {
	data := readTestdata(t, "progressive.jpg")
	// Repeat the first scan (DC, first pass): re-running it only
	// overwrites what it set before, so the data stays decodable.
	first := bytes.Index(data, []byte{0xFF, 0xDA})
	second := first + 2 + bytes.Index(data[first+2:], []byte{0xFF, 0xDA})
	eoi := len(data) - 2
	if first < 0 || second <= first+2 || !bytes.Equal(data[eoi:], []byte{0xFF, 0xD9}) {
		t.Fatal("unexpected test file layout")
	}
	scan := data[first:second]
	bomb := bytes.Clone(data[:eoi])
	for range 600 {
		bomb = append(bomb, scan...)
	}
	bomb = append(bomb, 0xFF, 0xD9)
	var dst RGB
	err := NewDecoder(Limits{}).Decode(bomb, &dst)
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "scans") {
		t.Fatalf("err = %v, want ErrCorrupt about scans", err)
	}
	// The same file with a few repeats is still fine.
	few := bytes.Clone(data[:eoi])
	for range 5 {
		few = append(few, scan...)
	}
	few = append(few, 0xFF, 0xD9)
	if err := NewDecoder(Limits{}).Decode(few, &dst); err != nil {
		t.Fatalf("5 repeated scans: %v", err)
	}
}

func TestToImageIntoReuses(t *testing.T) {
	src := FromImage(synth(21, 13))
	dst := src.ToImageInto(nil)
	again := FromImage(synth(21, 13)).ToImageInto(dst)
	if again != dst {
		t.Error("a destination of the right size was not reused")
	}
	if back := FromImage(again); !bytes.Equal(back.Pix, src.Pix) {
		t.Error("ToImageInto changed pixels")
	}
	if other := FromImage(synth(8, 8)).ToImageInto(dst); other == dst || other.Rect.Dx() != 8 {
		t.Error("a destination of another size was reused")
	}
}
