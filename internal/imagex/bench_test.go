package imagex

import (
	"bytes"
	"image"
	"image/jpeg"
	"testing"
)

func BenchmarkDecodeJPEG640x480(b *testing.B) {
	data, real := photo640(b)
	if !real {
		b.Log("face-api sample1.jpg not cached: using the synthetic pattern")
	}
	d := NewDecoder(Limits{})
	defer d.Close()
	var dst RGB
	if err := d.Decode(data, &dst); err != nil { // size dst once, as a stream would
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if err := d.Decode(data, &dst); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeScaled2JPEG640x480(b *testing.B) {
	data, _ := photo640(b)
	d := NewDecoder(Limits{})
	defer d.Close()
	var dst RGB
	if err := d.DecodeScaled(data, &dst, 2); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if err := d.DecodeScaled(data, &dst, 2); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeStdlib640x480 is the pure-Go baseline: image/jpeg plus
// this package's (already type-switched) conversion to packed RGB.
func BenchmarkDecodeStdlib640x480(b *testing.B) {
	data, _ := photo640(b)
	dst := RGB{Pix: make([]byte, 640*480*3)}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		img, err := jpeg.Decode(bytes.NewReader(data))
		if err != nil {
			b.Fatal(err)
		}
		convertInto(&dst, img)
	}
}

// BenchmarkEncode640x480 compares image/jpeg with libjpeg-turbo at quality
// 80 on the inputs framecast encodes: RGBA (annotated frames), packed RGB,
// and YCbCr 4:2:0 planes (synthetic cameras), with the accurate and the
// fast forward DCT.
func BenchmarkEncode640x480(b *testing.B) {
	data, _ := photo640(b)
	rgb := stdDecode(b, data)
	rgba := rgb.ToImage()
	g, err := jpeg.Decode(bytes.NewReader(data))
	if err != nil {
		b.Fatal(err)
	}
	ycc := g.(*image.YCbCr) // 4:2:0, as image/jpeg writes it
	const q = 80
	for _, bc := range []struct {
		name string
		img  image.Image
		fast bool
	}{
		{"RGBA", rgba, false},
		{"RGBA-ifast", rgba, true},
		{"RGB", nil, false},
		{"YCbCr420", ycc, false},
		{"YCbCr420-ifast", ycc, true},
	} {
		if bc.img != nil && !bc.fast {
			b.Run("image-jpeg/"+bc.name, func(b *testing.B) {
				var buf bytes.Buffer
				b.ReportAllocs()
				for b.Loop() {
					buf.Reset()
					if err := jpeg.Encode(&buf, bc.img, &jpeg.Options{Quality: q}); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(buf.Len()), "bytes")
			})
		}
		b.Run("libjpeg/"+bc.name, func(b *testing.B) {
			e := NewEncoder()
			defer e.Close()
			e.fast = bc.fast
			var out []byte
			b.ReportAllocs()
			for b.Loop() {
				var err error
				if bc.img == nil {
					out, err = e.EncodeRGB(out[:0], rgb, q)
				} else {
					out, err = e.EncodeImage(out[:0], bc.img, q)
				}
				if err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(out)), "bytes")
		})
	}
}
