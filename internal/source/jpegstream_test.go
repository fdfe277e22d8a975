package source

import (
	"bytes"
	"errors"
	"image"
	"image/color"
	"image/jpeg"
	"io"
	"math/rand/v2"
	"os"
	"testing"
	"testing/iotest"
	"time"
)

// splitTestJPEG encodes a w×h noise image: noise makes the entropy-coded data
// contain FF bytes, which the encoder stuffs as FF 00.
func splitTestJPEG(t testing.TB, w, h int, seed uint64) []byte {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, 7))
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for i := range img.Pix {
		img.Pix[i] = uint8(r.IntN(256))
	}
	for x := 0; x < w; x++ {
		img.Set(x, h/2, color.White)
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 90}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// splitWithSegment inserts a marker segment right after the SOI.
func splitWithSegment(j []byte, marker byte, payload []byte) []byte {
	n := len(payload) + 2
	seg := append([]byte{0xFF, marker, byte(n >> 8), byte(n)}, payload...)
	out := append([]byte{}, j[:2]...)
	out = append(out, seg...)
	return append(out, j[2:]...)
}

// splitProgressive is testdata/progressive.jpg: 64×48, ten scans, made once
// with ImageMagick (convert -seed 1 -size 64x48 plasma:red-blue -strip
// -interlace Plane -quality 85).
func splitProgressive(t testing.TB) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/progressive.jpg")
	if err != nil {
		t.Fatal(err)
	}
	if n := bytes.Count(b, []byte{0xFF, 0xDA}); n < 2 {
		t.Fatalf("testdata/progressive.jpg has %d scans, want several", n)
	}
	return b
}

type splitWant struct {
	frames    [][]byte // expected frames, in order
	sizes     [][2]int
	end       error // io.EOF or io.ErrUnexpectedEOF
	truncated int64
	oversized int64
	garbage   int64
}

func TestJPEGSplitter(t *testing.T) {
	a := splitTestJPEG(t, 64, 48, 1)
	b := splitTestJPEG(t, 32, 16, 2)
	c := splitTestJPEG(t, 8, 8, 3)
	if !bytes.Contains(a, []byte{0xFF, 0x00}) {
		t.Fatal("test JPEG has no stuffed FF 00; the stuffing cases test nothing")
	}
	prog := splitProgressive(t)
	// An EXIF-like APP1 holding a whole thumbnail JPEG (SOI … EOI) and a
	// comment with FF D9 in it: a byte search for FF D9 cuts these early.
	thumb := splitWithSegment(a, 0xE1, append([]byte("Exif\x00\x00"), c...))
	comment := splitWithSegment(b, 0xFE, []byte{'x', 0xFF, 0xD9, 0xFF, 0xD8, 0xFF, 'y'})
	// Restart markers, a stuffed FF followed by D9, and fill bytes: RST
	// inside the scan, FF 00 D9 and FF FF before the EOI must not end the
	// frame. The decoder would reject this one; the splitter only needs
	// its structure.
	rst := append(append([]byte{}, c[:len(c)-2]...), 0xFF, 0xD3, 0x12, 0xFF, 0x00, 0xD9, 0xFF, 0xFF, 0xFF, 0xD9)
	garbage := []byte("garbage\xff\x00\xff\xd8\x00 between")
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

	tests := []struct {
		name     string
		in       []byte
		maxFrame int
		want     splitWant
	}{
		{"clean concatenation", cat(a, b, c), 0,
			splitWant{frames: [][]byte{a, b, c}, sizes: [][2]int{{64, 48}, {32, 16}, {8, 8}}, end: io.EOF}},
		{"empty input", nil, 0, splitWant{end: io.EOF}},
		{"garbage before, between and after", cat(garbage, a, garbage, b, []byte("tail\xff")), 0,
			splitWant{frames: [][]byte{a, b}, sizes: [][2]int{{64, 48}, {32, 16}}, end: io.EOF,
				garbage: 2*int64(len(garbage)) + 5}},
		{"truncated frame then a good one", cat(a[:len(a)/2], b), 0,
			splitWant{frames: [][]byte{b}, sizes: [][2]int{{32, 16}}, end: io.EOF, truncated: 1}},
		{"truncated in the headers", cat(a[:40], b), 0,
			splitWant{frames: [][]byte{b}, sizes: [][2]int{{32, 16}}, end: io.EOF, truncated: 1}},
		{"EOF inside a frame", cat(a, b[:len(b)-1]), 0,
			splitWant{frames: [][]byte{a}, sizes: [][2]int{{64, 48}}, end: io.ErrUnexpectedEOF, truncated: 1}},
		{"thumbnail JPEG inside APP1", cat(thumb, b), 0,
			splitWant{frames: [][]byte{thumb, b}, sizes: [][2]int{{64, 48}, {32, 16}}, end: io.EOF}},
		{"FF D9 inside a comment", cat(comment, a), 0,
			splitWant{frames: [][]byte{comment, a}, sizes: [][2]int{{32, 16}, {64, 48}}, end: io.EOF}},
		{"restart markers and fill bytes", cat(rst, c), 0,
			splitWant{frames: [][]byte{rst, c}, sizes: [][2]int{{8, 8}, {8, 8}}, end: io.EOF}},
		{"progressive", cat(prog, a, prog), 0,
			splitWant{frames: [][]byte{prog, a, prog}, sizes: [][2]int{{64, 48}, {64, 48}, {64, 48}}, end: io.EOF}},
		{"oversized frame dropped", cat(c, a, c), len(c) + 10,
			splitWant{frames: [][]byte{c, c}, sizes: [][2]int{{8, 8}, {8, 8}}, end: io.EOF, oversized: 1}},
		{"SOI without a frame", cat([]byte{0xFF, 0xD8, 0xFF, 0xD9}, c), 0,
			splitWant{frames: [][]byte{c}, sizes: [][2]int{{8, 8}}, end: io.EOF, truncated: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// One byte per read as well: every boundary falls between
			// reads somewhere.
			for _, r := range []struct {
				name string
				r    io.Reader
			}{{"whole", bytes.NewReader(tt.in)}, {"bytewise", iotest.OneByteReader(bytes.NewReader(tt.in))}} {
				s := newJPEGSplitter(r.r, tt.maxFrame)
				var got [][]byte
				var sizes [][2]int
				var err error
				for {
					var f []byte
					var w, h int
					if f, w, h, err = s.Next(); err != nil {
						break
					}
					got = append(got, f)
					sizes = append(sizes, [2]int{w, h})
				}
				if err != tt.want.end {
					t.Errorf("%s: ended with %v, want %v", r.name, err, tt.want.end)
				}
				if len(got) != len(tt.want.frames) {
					t.Fatalf("%s: %d frames, want %d", r.name, len(got), len(tt.want.frames))
				}
				for i := range got {
					if !bytes.Equal(got[i], tt.want.frames[i]) {
						t.Errorf("%s: frame %d: %d bytes differ from the %d expected", r.name, i, len(got[i]), len(tt.want.frames[i]))
					}
					if sizes[i] != tt.want.sizes[i] {
						t.Errorf("%s: frame %d: size %v, want %v", r.name, i, sizes[i], tt.want.sizes[i])
					}
				}
				st := s.Stats()
				want := splitStats{Frames: int64(len(tt.want.frames)), Truncated: tt.want.truncated,
					Oversized: tt.want.oversized, GarbageBytes: tt.want.garbage}
				if st != want {
					t.Errorf("%s: stats %+v, want %+v", r.name, st, want)
				}
				if _, _, _, err := s.Next(); err != io.EOF {
					t.Errorf("%s: Next after the end: %v, want io.EOF", r.name, err)
				}
			}
		})
	}
}

// Frames decode, and each is a fresh slice the caller may keep and modify.
func TestJPEGSplitterFramesAreOwned(t *testing.T) {
	a, b := splitTestJPEG(t, 64, 48, 1), splitTestJPEG(t, 64, 48, 2)
	s := newJPEGSplitter(bytes.NewReader(bytes.Join([][]byte{a, b, splitProgressive(t)}, nil)), 0)
	var frames [][]byte
	for {
		f, _, _, err := s.Next()
		if err != nil {
			break
		}
		frames = append(frames, f)
	}
	if len(frames) != 3 {
		t.Fatalf("%d frames, want 3", len(frames))
	}
	for i, f := range frames {
		if _, err := jpeg.Decode(bytes.NewReader(f)); err != nil {
			t.Errorf("frame %d does not decode: %v", i, err)
		}
	}
	frames[0][100] ^= 0xFF
	if !bytes.Equal(frames[1], b) {
		t.Error("changing one frame changed another: frames share memory")
	}
}

// A read error other than EOF is returned as it is.
func TestJPEGSplitterReadError(t *testing.T) {
	boom := errors.New("boom")
	a := splitTestJPEG(t, 16, 16, 1)
	s := newJPEGSplitter(io.MultiReader(bytes.NewReader(a), iotest.ErrReader(boom)), 0)
	if _, _, _, err := s.Next(); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := s.Next(); !errors.Is(err, boom) {
		t.Errorf("got %v, want the reader's error", err)
	}
}

func FuzzJPEGSplitter(f *testing.F) {
	// Small seeds: the fuzzer minimizes interesting inputs byte by byte.
	a, b := splitTestJPEG(f, 16, 8, 1), splitTestJPEG(f, 8, 8, 2)
	prog := splitProgressive(f)
	f.Add(bytes.Join([][]byte{a, b}, nil), 4096)
	f.Add(bytes.Join([][]byte{[]byte("junk\xff\xd8"), a[:50], b, prog, []byte("\xff")}, nil), 1000)
	f.Add(splitWithSegment(b, 0xE1, a), 200)
	f.Add([]byte{0xFF, 0xD8, 0xFF, 0xDA, 0x00, 0x02, 0xFF, 0xFF, 0xD9}, 10)
	f.Add(append(append([]byte{}, b[:len(b)-2]...), 0xFF, 0xD3, 0xFF, 0x00, 0xD9, 0xFF, 0xFF, 0xD9), 300)
	f.Fuzz(func(t *testing.T, in []byte, maxFrame int) {
		maxFrame = 1 + int(uint(maxFrame)%(1<<16))
		s := newJPEGSplitter(bytes.NewReader(in), maxFrame)
		var out int
		for i := 0; ; i++ {
			if i > len(in) {
				t.Fatalf("more than %d results from %d bytes", i, len(in))
			}
			fr, w, h, err := s.Next()
			if err != nil {
				if err != io.EOF && err != io.ErrUnexpectedEOF {
					t.Fatalf("error %v", err)
				}
				break
			}
			if len(fr) < 4 || fr[0] != 0xFF || fr[1] != 0xD8 || fr[len(fr)-2] != 0xFF || fr[len(fr)-1] != 0xD9 {
				t.Fatalf("frame % x … is not SOI … EOI", fr[:min(len(fr), 4)])
			}
			if len(fr) > maxFrame {
				t.Fatalf("frame of %d bytes above the limit %d", len(fr), maxFrame)
			}
			if w < 0 || h < 0 {
				t.Fatalf("size %d×%d", w, h)
			}
			out += len(fr)
		}
		st := s.Stats()
		if int64(out)+st.GarbageBytes > int64(len(in)) {
			t.Fatalf("%d bytes of frames and %d of garbage from %d bytes", out, st.GarbageBytes, len(in))
		}
		if _, _, _, err := s.Next(); err != io.EOF {
			t.Fatalf("Next after the end: %v", err)
		}
	})
}

func BenchmarkJPEGSplitter(b *testing.B) {
	frame := splitTestJPEG(b, 640, 480, 1)
	stream := bytes.Repeat(frame, 50)
	b.SetBytes(int64(len(stream)))
	for b.Loop() {
		s := newJPEGSplitter(bytes.NewReader(stream), 0)
		for {
			if _, _, _, err := s.Next(); err != nil {
				break
			}
		}
	}
}

// A frame is returned as soon as its EOI is in: a camera sending a frame
// every few seconds is not held a frame behind.
func TestJPEGSplitterDoesNotWaitPastEOI(t *testing.T) {
	frame := splitTestJPEG(t, 16, 8, 1)
	pr, pw := io.Pipe()
	defer pw.Close()
	go pw.Write(frame) // and then nothing: the next frame is far off
	got := make(chan error, 1)
	go func() {
		fr, _, _, err := newJPEGSplitter(pr, 0).Next()
		if err == nil && !bytes.Equal(fr, frame) {
			err = errors.New("not the frame written")
		}
		got <- err
	}()
	select {
	case err := <-got:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Next waited for bytes after the frame's EOI")
	}
}
