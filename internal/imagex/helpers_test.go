package imagex

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/image/draw"
)

// synth draws a smooth, photo-like pattern (gradients, soft blobs, a
// sinusoid) so IDCT and upsampling differences stay small while every
// channel and region still carries signal.
func synth(w, h int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			fx, fy := float64(x)/float64(w), float64(y)/float64(h)
			blob := math.Exp(-((fx-0.4)*(fx-0.4) + (fy-0.5)*(fy-0.5)) * 12)
			r := 40 + 160*fx + 50*blob
			g := 30 + 120*fy + 40*math.Sin(fx*9+fy*4)
			b := 200 - 150*fx*fy + 30*blob
			img.SetRGBA(x, y, color.RGBA{clamp8(r), clamp8(g), clamp8(b), 255})
		}
	}
	return img
}

func clamp8(v float64) uint8 { return uint8(max(0, min(255, math.Round(v)))) }

func toGray(src image.Image) *image.Gray {
	g := image.NewGray(src.Bounds())
	draw.Draw(g, g.Rect, src, src.Bounds().Min, draw.Src)
	return g
}

func encJPEG(t testing.TB, img image.Image, q int) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: q}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func encPNG(t testing.TB, img image.Image) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// stdDecode is the reference: Go's decoder for the same bytes.
func stdDecode(t testing.TB, data []byte) *RGB {
	t.Helper()
	img, _, err := image.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("reference decode: %v", err)
	}
	return FromImage(img)
}

func diffStats(t testing.TB, a, b *RGB) (mean float64, maxd int) {
	t.Helper()
	if a.W != b.W || a.H != b.H || len(a.Pix) != len(b.Pix) {
		t.Fatalf("size mismatch: %dx%d (%d) vs %dx%d (%d)", a.W, a.H, len(a.Pix), b.W, b.H, len(b.Pix))
	}
	var sum int
	for i := range a.Pix {
		d := int(a.Pix[i]) - int(b.Pix[i])
		if d < 0 {
			d = -d
		}
		sum += d
		maxd = max(maxd, d)
	}
	return float64(sum) / float64(len(a.Pix)), maxd
}

// percentileDiff returns the q-quantile of per-sample absolute differences.
func percentileDiff(a, b *RGB, q float64) int {
	var hist [256]int
	for i := range a.Pix {
		d := int(a.Pix[i]) - int(b.Pix[i])
		hist[max(d, -d)]++
	}
	need := int(math.Ceil(q * float64(len(a.Pix))))
	for v, n := range hist {
		if need -= n; need <= 0 {
			return v
		}
	}
	return 255
}

// sofOffset finds the frame header segment in a JPEG so tests can forge it.
func sofOffset(t testing.TB, data []byte) int {
	t.Helper()
	for i := 2; i+4 < len(data); {
		if data[i] != 0xFF {
			t.Fatalf("unexpected byte 0x%02X at %d", data[i], i)
		}
		m := data[i+1]
		if m >= 0xC0 && m <= 0xC2 {
			return i
		}
		i += 2 + int(binary.BigEndian.Uint16(data[i+2:]))
	}
	t.Fatal("no SOF marker")
	return 0
}

// forgeJPEGSize rewrites the frame header's dimensions.
func forgeJPEGSize(t testing.TB, data []byte, w, h int) []byte {
	t.Helper()
	out := bytes.Clone(data)
	i := sofOffset(t, out)
	binary.BigEndian.PutUint16(out[i+5:], uint16(h))
	binary.BigEndian.PutUint16(out[i+7:], uint16(w))
	return out
}

// forgePNGSize rewrites IHDR's dimensions and fixes its CRC, so only the
// size is wrong.
func forgePNGSize(data []byte, w, h uint32) []byte {
	out := bytes.Clone(data)
	binary.BigEndian.PutUint32(out[16:], w)
	binary.BigEndian.PutUint32(out[20:], h)
	binary.BigEndian.PutUint32(out[29:], crc32.ChecksumIEEE(out[12:29]))
	return out
}

// photo640 returns a realistic 640×480 q85 JPEG: the face-api sample if
// the developer has it cached (center-cropped to 4:3, CatmullRom), else the
// synthetic pattern.
func photo640(t testing.TB) (data []byte, real bool) {
	t.Helper()
	home, _ := os.UserHomeDir()
	src, err := os.ReadFile(filepath.Join(home, ".cache", "framecast", "images", "face-api", "sample1.jpg"))
	if err != nil {
		return encJPEG(t, synth(640, 480), 85), false
	}
	img, err := jpeg.Decode(bytes.NewReader(src))
	if err != nil {
		t.Fatalf("sample1.jpg: %v", err)
	}
	b := img.Bounds()
	cw, ch := b.Dx(), b.Dx()*3/4
	if ch > b.Dy() {
		cw, ch = b.Dy()*4/3, b.Dy()
	}
	crop := image.Rect(0, 0, cw, ch).Add(b.Min).Add(image.Pt((b.Dx()-cw)/2, (b.Dy()-ch)/2))
	dst := image.NewRGBA(image.Rect(0, 0, 640, 480))
	draw.CatmullRom.Scale(dst, dst.Rect, img, crop, draw.Src, nil)
	return encJPEG(t, dst, 85), true
}

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}
