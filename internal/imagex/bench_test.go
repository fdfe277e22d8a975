package imagex

import (
	"bytes"
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
