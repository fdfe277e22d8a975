package imagex

import (
	"bytes"
	"testing"
)

func TestReadJPEGMarker(t *testing.T) {
	for _, tc := range []struct {
		name   string
		in     []byte
		want   JPEGMarker
		err    error
		header int
		size   int
	}{
		{"SOI", []byte{0xFF, 0xD8, 0xFF}, JPEGMarker{Code: 0xD8}, nil, 2, 2},
		{"EOI at the end", []byte{0xFF, 0xD9}, JPEGMarker{Code: 0xD9}, nil, 2, 2},
		{"RST5", []byte{0xFF, 0xD5, 1, 2}, JPEGMarker{Code: 0xD5}, nil, 2, 2},
		{"TEM", []byte{0xFF, 0x01}, JPEGMarker{Code: 0x01}, nil, 2, 2},
		{"stuffing has no length", []byte{0xFF, 0x00, 0x00, 0x00}, JPEGMarker{Code: 0x00}, nil, 2, 2},
		{"APP0, payload not needed", []byte{0xFF, 0xE0, 0x00, 0x10}, JPEGMarker{Code: 0xE0, Len: 16}, nil, 4, 18},
		{"fill bytes", []byte{0xFF, 0xFF, 0xFF, 0xC0, 0x00, 0x11}, JPEGMarker{Fill: 2, Code: 0xC0, Len: 17}, nil, 6, 21},
		{"SOS", []byte{0xFF, 0xDA, 0x00, 0x0C}, JPEGMarker{Code: 0xDA, Len: 12}, nil, 4, 14},
		{"empty", nil, JPEGMarker{}, ErrJPEGShort, 2, 2},
		{"FF alone", []byte{0xFF}, JPEGMarker{}, ErrJPEGShort, 2, 2},
		{"fill to the end", []byte{0xFF, 0xFF, 0xFF}, JPEGMarker{Fill: 2}, ErrJPEGShort, 4, 4},
		{"code, no length", []byte{0xFF, 0xDA, 0x00}, JPEGMarker{Code: 0xDA}, ErrJPEGShort, 2, 2},
		{"not a marker", []byte{0x00, 0xFF, 0xD8}, JPEGMarker{}, ErrJPEGNotMarker, 2, 2},
		{"length below 2", []byte{0xFF, 0xE1, 0x00, 0x01}, JPEGMarker{Code: 0xE1, Len: 1}, ErrJPEGLength, 4, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := ReadJPEGMarker(tc.in)
			if m != tc.want || err != tc.err {
				t.Errorf("ReadJPEGMarker = %+v, %v; want %+v, %v", m, err, tc.want, tc.err)
			}
			if m.Header() != tc.header || m.Size() != tc.size {
				t.Errorf("Header %d Size %d, want %d and %d", m.Header(), m.Size(), tc.header, tc.size)
			}
		})
	}
}

func TestJPEGCodes(t *testing.T) {
	for c := range 256 {
		code := byte(c)
		standalone := code == 0x00 || code == 0x01 || code >= 0xD0 && code <= 0xD9
		if JPEGHasLength(code) == standalone && code != 0xFF {
			t.Errorf("JPEGHasLength(%02X) = %v", code, !standalone)
		}
		sof := code >= 0xC0 && code <= 0xCF && code != 0xC4 && code != 0xC8 && code != 0xCC
		if JPEGIsSOF(code) != sof {
			t.Errorf("JPEGIsSOF(%02X) = %v", code, !sof)
		}
	}
}

func TestJPEGFrameSize(t *testing.T) {
	for _, tc := range []struct {
		payload []byte
		w, h    int
		ok      bool
	}{
		{[]byte{8, 0x01, 0xE0, 0x02, 0x80, 3}, 640, 480, true},
		{[]byte{8, 0x04, 0x38, 0x07, 0x80}, 1920, 1080, true}, // the component count is the caller's
		{[]byte{8, 0x00, 0x00, 0x00, 0x10}, 16, 0, true},      // height from a DNL marker
		{[]byte{8, 0x01, 0xE0, 0x02}, 0, 0, false},
		{nil, 0, 0, false},
	} {
		if w, h, ok := JPEGFrameSize(tc.payload); w != tc.w || h != tc.h || ok != tc.ok {
			t.Errorf("JPEGFrameSize(% x) = %d, %d, %v; want %d, %d, %v", tc.payload, w, h, ok, tc.w, tc.h, tc.ok)
		}
	}
}

func TestJPEGScanLen(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []byte
		n    int
		done bool
	}{
		{"no FF", []byte{1, 2, 3}, 3, false},
		{"ends at EOI", []byte{1, 2, 0xFF, 0xD9}, 2, true},
		{"stuffing and restart markers", []byte{1, 0xFF, 0x00, 2, 0xFF, 0xD3, 3, 0xFF, 0xD9}, 7, true},
		{"fill before the marker", []byte{1, 0xFF, 0xFF, 0xC4}, 2, true},
		{"FF at the end decides nothing", []byte{1, 2, 0xFF}, 2, false},
		{"fill at the end", []byte{1, 0xFF, 0xFF}, 2, false},
		{"a marker at once", []byte{0xFF, 0xDA}, 0, true},
		{"empty", nil, 0, false},
	} {
		if n, done := JPEGScanLen(tc.in); n != tc.n || done != tc.done {
			t.Errorf("%s: JPEGScanLen = %d, %v; want %d, %v", tc.name, n, done, tc.n, tc.done)
		}
	}
}

// The walker run over a whole encoded JPEG reaches EOI at its end, and
// the frame header it passes declares the image's size.
func TestJPEGWalkWhole(t *testing.T) {
	data, _ := photo640(t)
	var w, h int
	i := 2
	for {
		m, err := ReadJPEGMarker(data[i:])
		if err != nil {
			t.Fatalf("at %d: %v", i, err)
		}
		if m.Code == JPEGEOI {
			break
		}
		if JPEGIsSOF(m.Code) {
			w, h, _ = JPEGFrameSize(data[i+m.Header() : i+m.Size()])
		}
		i += m.Size()
		if m.Code == JPEGSOS {
			n, done := JPEGScanLen(data[i:])
			if !done {
				t.Fatal("scan data runs to the end")
			}
			i += n
		}
	}
	if i+2 != len(data) || w != 640 || h != 480 {
		t.Errorf("EOI at %d of %d bytes, size %d×%d", i, len(data), w, h)
	}
}

func BenchmarkParseJPEGHeader(b *testing.B) {
	data, _ := photo640(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := parseHeader(data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkJPEGScanLen(b *testing.B) {
	data, _ := photo640(b)
	sos := bytes.Index(data, []byte{0xFF, JPEGSOS})
	m, _ := ReadJPEGMarker(data[sos:])
	scan := data[sos+m.Size():]
	b.SetBytes(int64(len(scan)))
	for b.Loop() {
		if _, done := JPEGScanLen(scan); !done {
			b.Fatal("no end")
		}
	}
}
