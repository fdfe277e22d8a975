package imagex

import (
	"bytes"
	"image"
	"image/gif"
	_ "image/jpeg" // the independent decoders of the oracle
	_ "image/png"
	"strings"
	"sync"
	"testing"

	"golang.org/x/image/bmp"

	"github.com/framecast/framecast/internal/testkit"
)

// FuzzDecode feeds arbitrary bytes through one long-lived Decoder, the way
// the service does, and checks that nothing panics, that a success is
// well-formed, and that failures leave the decoder usable.
func FuzzDecode(f *testing.F) {
	limits := Limits{MaxPixels: 1 << 22, MaxBytes: 1 << 20}
	src := synth(48, 40)
	var gifBuf, bmpBuf bytes.Buffer
	if err := gif.Encode(&gifBuf, src, nil); err != nil {
		f.Fatal(err)
	}
	if err := bmp.Encode(&bmpBuf, src); err != nil {
		f.Fatal(err)
	}
	seeds := [][]byte{
		encJPEG(f, src, 90),
		encJPEG(f, toGray(src), 75),
		encPNG(f, src),
		encPNG(f, toGray(src)),
		readTestdata(f, "progressive.jpg"),
		readTestdata(f, "arith.jpg"),
		readTestdata(f, "h2v1_restart.jpg"),
		readTestdata(f, "cmyk.jpg"),
		readTestdata(f, "lossy.webp"),
		gifBuf.Bytes(),
		bmpBuf.Bytes(),
	}
	for _, s := range seeds {
		f.Add(s)
		for _, frac := range []int{2, 4, 8} {
			f.Add(s[:len(s)*(frac-1)/frac])
		}
	}
	f.Add(forgeJPEGSize(f, seeds[0], 20000, 20000))
	f.Add(testkit.FlatJPEG(1500, 1500))
	f.Add([]byte{})

	canary := encJPEG(f, synth(16, 16), 90)
	var mu sync.Mutex
	d := NewDecoder(limits)
	var dst, check RGB
	var want []byte

	f.Fuzz(func(t *testing.T, data []byte) {
		mu.Lock()
		defer mu.Unlock()
		if want == nil {
			if err := d.Decode(canary, &check); err != nil {
				t.Fatal(err)
			}
			want = bytes.Clone(check.Pix)
		}
		for _, denom := range []int{1, 4} {
			err := d.DecodeScaled(data, &dst, denom)
			// Check is the decode's first step: whatever it rejects, the
			// decode rejects for the same reason, and it never rejects a
			// decodable image.
			_, _, _, cerr := d.Check(data)
			if cerr != nil && Reason(cerr) != Reason(err) {
				t.Fatalf("Check: %v, but Decode: %v", cerr, err)
			}
			// An independent decoder: Go's own requires the JPEG
			// end-of-image marker and the PNG IEND chunk too, so an
			// image Check refuses for lacking them must not decode
			// there either.
			if cerr != nil && strings.Contains(cerr.Error(), " but has no ") {
				if _, format, serr := image.Decode(bytes.NewReader(data)); serr == nil {
					t.Fatalf("Check refused a %s that Go's decoder reads: %v", format, cerr)
				}
			}
			if err != nil {
				if Reason(err) == "error" {
					t.Fatalf("untyped error: %v", err)
				}
				if dst.W != 0 || dst.H != 0 || len(dst.Pix) != 0 {
					t.Fatalf("dst not reset after %v", err)
				}
				continue
			}
			if dst.W <= 0 || dst.H <= 0 || int64(dst.W)*int64(dst.H) > limits.MaxPixels ||
				len(dst.Pix) != dst.W*dst.H*3 {
				t.Fatalf("1/%d: bad result %dx%d len %d", denom, dst.W, dst.H, len(dst.Pix))
			}
			format, w, h, err := Info(data)
			if err != nil || ceilDiv(w, denom) != dst.W || ceilDiv(h, denom) != dst.H {
				t.Fatalf("1/%d: decoded %dx%d but Info says %q %dx%d %v", denom, dst.W, dst.H, format, w, h, err)
			}
		}
		// A bad input must not poison the next frame.
		if err := d.Decode(canary, &check); err != nil || !bytes.Equal(check.Pix, want) {
			t.Fatalf("decoder state corrupted: %v", err)
		}
	})
}
