package imagex

import "testing"

// BenchmarkDecodeScaled8JPEG640x480 is the thumbnail --skip-static
// compares (80×60, each pixel a DCT block's DC): what deciding that a
// frame is static costs, next to BenchmarkDecodeJPEG640x480.
func BenchmarkDecodeScaled8JPEG640x480(b *testing.B) {
	data, _ := photo640(b)
	d := NewDecoder(Limits{})
	defer d.Close()
	var dst RGB
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if err := d.DecodeScaled(data, &dst, 8); err != nil {
			b.Fatal(err)
		}
	}
}
