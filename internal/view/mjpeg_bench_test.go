package view

import (
	"bytes"
	"image/jpeg"
	"testing"
	"time"

	"github.com/framecast/framecast/internal/annotate"
)

// BenchmarkAnnotate640 is one annotated MJPEG part of a 640×480 frame with
// faces: decode, draw, encode, as the stream does it (libjpeg-turbo both
// ways, buffers kept), and with the image/jpeg encode the stream used
// before, for comparison.
func BenchmarkAnnotate640(b *testing.B) {
	const w, h = 640, 480
	f := &frameEntry{jpeg: testJPEG(b, w, h, 3), w: w, h: h}
	res := fakeResult("cam-1", 1, time.Now(), w, h)
	r := &resultEntry{seq: 1, res: &res}
	for _, enc := range []string{"libjpeg", "image-jpeg"} {
		b.Run(enc, func(b *testing.B) {
			a := newAnnotator(80)
			defer a.close()
			var buf bytes.Buffer
			b.ReportAllocs()
			for b.Loop() {
				if enc == "libjpeg" {
					if _, err := a.render(f, r); err != nil {
						b.Fatal(err)
					}
					continue
				}
				if err := a.dec.Decode(f.jpeg, &a.rgb); err != nil {
					b.Fatal(err)
				}
				img := a.rgb.ToImage()
				if err := annotate.Draw(img, res.Faces); err != nil {
					b.Fatal(err)
				}
				buf.Reset()
				if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 80}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
