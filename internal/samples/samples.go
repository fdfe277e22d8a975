// Package samples derives the test and benchmark images from the face-api
// sample photos: scaled, mirrored, letterboxed and recompressed variants, a
// 640×480 camera-sized frame, and an image without faces. Derivation is
// deterministic, so golden files generated from these images stay valid on
// every machine (the pixel hashes in the golden files check it).
package samples

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"math/rand/v2"
	"os"
	"path/filepath"

	"golang.org/x/image/draw"

	"github.com/framecast/framecast/internal/imagex"
)

// Originals are the face-api photos, in the samples directory.
var Originals = []string{"sample1.jpg", "sample2.jpg", "sample3.jpg", "sample4.jpg", "sample5.jpg", "sample6.jpg"}

// Variant is one derived image.
type Variant struct {
	Name string // file name in the test-images directory
	From string // original it is derived from ("" for generated ones)
	make func(src *image.RGBA) image.Image
	jpeg int // JPEG quality, 0 for PNG
}

// Variants lists the derived images. PNG keeps their pixels exact; the JPEG
// ones exercise the JPEG path at camera-like sizes and qualities.
var Variants = []Variant{
	{Name: "sample1-half.png", From: "sample1.jpg", make: func(s *image.RGBA) image.Image { return scale(s, s.Bounds().Dx()/2, s.Bounds().Dy()/2) }},
	{Name: "sample2-mirror.png", From: "sample2.jpg", make: mirror},
	{Name: "sample3-letterbox.png", From: "sample3.jpg", make: letterbox},
	{Name: "sample4-q40.jpg", From: "sample4.jpg", make: func(s *image.RGBA) image.Image { return s }, jpeg: 40},
	{Name: "sample5-1280.jpg", From: "sample5.jpg", make: func(s *image.RGBA) image.Image { return fitWidth(s, 1280) }, jpeg: 85},
	{Name: "frame-640x480.jpg", From: "sample4.jpg", make: func(s *image.RGBA) image.Image { return cover(s, 640, 480) }, jpeg: 85},
	{Name: "noface.png", make: func(*image.RGBA) image.Image { return noFace(800, 600) }},
}

// Frame640 is the benchmark frame: 640×480 with four faces.
const Frame640 = "frame-640x480.jpg"

// Derive writes every variant into dst, reading originals from src. Files
// are rewritten only when their content changes.
func Derive(src, dst string) error {
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return err
	}
	cache := map[string]*image.RGBA{}
	for _, v := range Variants {
		var s *image.RGBA
		if v.From != "" {
			if s = cache[v.From]; s == nil {
				m, err := imagex.DecodeFile(filepath.Join(src, v.From), imagex.DefaultLimits())
				if err != nil {
					return fmt.Errorf("%s: %w (run `framecast models fetch`)", v.From, err)
				}
				s = m.ToImage()
				cache[v.From] = s
			}
		}
		img := v.make(s)
		var buf bytes.Buffer
		var err error
		if v.jpeg > 0 {
			err = jpeg.Encode(&buf, img, &jpeg.Options{Quality: v.jpeg})
		} else {
			err = (&png.Encoder{CompressionLevel: png.BestSpeed}).Encode(&buf, img)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", v.Name, err)
		}
		path := filepath.Join(dst, v.Name)
		if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, buf.Bytes()) {
			continue
		}
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// All returns the paths of every test image: originals then variants.
func All(src, dst string) []string {
	var out []string
	for _, o := range Originals {
		out = append(out, filepath.Join(src, o))
	}
	for _, v := range Variants {
		out = append(out, filepath.Join(dst, v.Name))
	}
	return out
}

func scale(s image.Image, w, h int) *image.RGBA {
	out := image.NewRGBA(image.Rect(0, 0, w, h))
	draw.CatmullRom.Scale(out, out.Bounds(), s, s.Bounds(), draw.Src, nil)
	return out
}

func fitWidth(s *image.RGBA, w int) *image.RGBA {
	b := s.Bounds()
	return scale(s, w, b.Dy()*w/b.Dx())
}

// cover scales s to fill w×h and crops the overflow, centred.
func cover(s *image.RGBA, w, h int) *image.RGBA {
	b := s.Bounds()
	sw, sh := w, b.Dy()*w/b.Dx()
	if sh < h {
		sw, sh = b.Dx()*h/b.Dy(), h
	}
	big := scale(s, sw, sh)
	out := image.NewRGBA(image.Rect(0, 0, w, h))
	draw.Draw(out, out.Bounds(), big, image.Pt((sw-w)/2, (sh-h)/2), draw.Src)
	return out
}

func mirror(s *image.RGBA) image.Image {
	b := s.Bounds()
	out := image.NewRGBA(b)
	for y := 0; y < b.Dy(); y++ {
		for x := 0; x < b.Dx(); x++ {
			copy(out.Pix[y*out.Stride+x*4:y*out.Stride+x*4+4], s.Pix[y*s.Stride+(b.Dx()-1-x)*4:])
		}
	}
	return out
}

// letterbox puts the photo, scaled to 720 rows, in the middle of a black
// 1920×1080 frame: faces smaller and off the detector's square grid.
func letterbox(s *image.RGBA) image.Image {
	b := s.Bounds()
	h := 720
	w := b.Dx() * h / b.Dy()
	small := scale(s, w, h)
	out := image.NewRGBA(image.Rect(0, 0, 1920, 1080))
	draw.Draw(out, out.Bounds(), image.NewUniform(color.Black), image.Point{}, draw.Src)
	off := image.Pt((1920-w)/2, (1080-h)/2)
	draw.Draw(out, image.Rectangle{off, off.Add(image.Pt(w, h))}, small, image.Point{}, draw.Src)
	return out
}

// noFace draws a scene of gradients, blocks and discs: texture and edges
// for the detector to reject, and no face.
func noFace(w, h int) image.Image {
	out := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			i := y*out.Stride + x*4
			out.Pix[i], out.Pix[i+1], out.Pix[i+2], out.Pix[i+3] = uint8(x*255/w), uint8(y*255/h), uint8(128+(x+y)%64), 255
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	for k := 0; k < 40; k++ {
		c := color.RGBA{uint8(r.IntN(256)), uint8(r.IntN(256)), uint8(r.IntN(256)), 255}
		x0, y0 := r.IntN(w), r.IntN(h)
		if k%2 == 0 {
			rect := image.Rect(x0, y0, x0+20+r.IntN(150), y0+20+r.IntN(150))
			draw.Draw(out, rect, image.NewUniform(c), image.Point{}, draw.Src)
			continue
		}
		rad := 10 + r.IntN(60)
		for y := y0 - rad; y <= y0+rad; y++ {
			for x := x0 - rad; x <= x0+rad; x++ {
				if (x-x0)*(x-x0)+(y-y0)*(y-y0) <= rad*rad && image.Pt(x, y).In(out.Bounds()) {
					out.SetRGBA(x, y, c)
				}
			}
		}
	}
	return out
}
