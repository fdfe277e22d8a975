package imagex

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/gif"
	"image/png"
	"io"
	"strings"

	"golang.org/x/image/bmp"
	"golang.org/x/image/webp"
)

// guard turns a panic in a Go decoder into ErrCorrupt: these decoders see
// hostile input, and one bad upload must not take the service down.
func guard(format string, f func() error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = corruptf("%s decoder failed: %v", format, p)
		}
	}()
	return f()
}

// stdError classifies errors from Go's decoders.
func stdError(format string, err error) error {
	if errors.Is(err, ErrCorrupt) {
		return err // from guard
	}
	msg := err.Error()
	if !strings.HasPrefix(msg, format+":") {
		msg = format + ": " + msg // zlib and lzw errors do not say whose stream broke
	}
	var pu png.UnsupportedError
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return truncatedf("%s", msg)
	case errors.As(err, &pu), errors.Is(err, bmp.ErrUnsupported):
		return unsupportedf("%s", msg)
	}
	return corruptf("%s", msg)
}

// decodeStd decodes the non-JPEG formats with Go's decoders. The header has
// already been checked against Limits.
func decodeStd(format string, data []byte, dst *RGB) error {
	var img image.Image
	err := guard(format, func() error {
		var err error
		r := bytes.NewReader(data)
		switch format {
		case "png":
			img, err = png.Decode(r)
		case "gif":
			img, err = gif.Decode(r)
		case "bmp":
			img, err = bmp.Decode(r)
		case "webp":
			img, err = webp.Decode(r)
		default:
			err = fmt.Errorf("imagex: internal error: no decoder for %q", format)
		}
		return err
	})
	if err != nil {
		return stdError(format, err)
	}
	convertInto(dst, img)
	return nil
}

// FromImage copies img into a new packed RGB image, dropping alpha (see the
// package comment). Common concrete types are converted without the
// per-pixel interface calls of img.At.
func FromImage(img image.Image) *RGB {
	m := new(RGB)
	convertInto(m, img)
	return m
}

// ToImage returns an opaque copy for the image/draw and encoder ecosystem
// (annotation, debug dumps); RGB itself is kept minimal for the hot path.
func (m *RGB) ToImage() *image.RGBA { return m.ToImageInto(nil) }

// ToImageInto is ToImage writing into dst, which is reused when it has the
// image's size (per-frame callers such as video annotation allocate once)
// and replaced otherwise.
func (m *RGB) ToImageInto(dst *image.RGBA) *image.RGBA {
	if dst == nil || dst.Rect.Dx() != m.W || dst.Rect.Dy() != m.H {
		dst = image.NewRGBA(image.Rect(0, 0, m.W, m.H))
	}
	for y := range m.H {
		src := m.Pix[y*m.W*3 : (y+1)*m.W*3]
		row := dst.Pix[y*dst.Stride : y*dst.Stride+m.W*4]
		for i, j := 0, 0; i < len(src); i, j = i+3, j+4 {
			row[j], row[j+1], row[j+2], row[j+3] = src[i], src[i+1], src[i+2], 0xFF
		}
	}
	return dst
}

// convertInto writes img into dst as packed RGB, reusing dst.Pix.
func convertInto(dst *RGB, img image.Image) {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	dst.resize(w, h)
	if w == 0 || h == 0 {
		return
	}
	out := dst.Pix
	switch t := img.(type) {
	case *image.RGBA:
		copyDrop(out, t.Pix, t.Stride, t.PixOffset(b.Min.X, b.Min.Y), w, h, 4, 1)
	case *image.NRGBA:
		copyDrop(out, t.Pix, t.Stride, t.PixOffset(b.Min.X, b.Min.Y), w, h, 4, 1)
	case *image.RGBA64:
		copyDrop(out, t.Pix, t.Stride, t.PixOffset(b.Min.X, b.Min.Y), w, h, 8, 2)
	case *image.NRGBA64:
		copyDrop(out, t.Pix, t.Stride, t.PixOffset(b.Min.X, b.Min.Y), w, h, 8, 2)
	case *image.Gray:
		grayInto(out, t.Pix, t.Stride, t.PixOffset(b.Min.X, b.Min.Y), w, h, 1)
	case *image.Gray16:
		grayInto(out, t.Pix, t.Stride, t.PixOffset(b.Min.X, b.Min.Y), w, h, 2)
	case *image.YCbCr:
		ycbcrInto(out, t)
	case *image.NYCbCrA:
		ycbcrInto(out, &t.YCbCr)
	case *image.Paletted:
		palettedInto(out, t)
	case *image.CMYK:
		o := 0
		for y := b.Min.Y; y < b.Max.Y; y++ {
			row := t.Pix[t.PixOffset(b.Min.X, y):][:w*4]
			for i := 0; i < len(row); i += 4 {
				out[o], out[o+1], out[o+2] = color.CMYKToRGB(row[i], row[i+1], row[i+2], row[i+3])
				o += 3
			}
		}
	default:
		o := 0
		for y := b.Min.Y; y < b.Max.Y; y++ {
			for x := b.Min.X; x < b.Max.X; x++ {
				c := color.NRGBAModel.Convert(img.At(x, y)).(color.NRGBA)
				out[o], out[o+1], out[o+2] = c.R, c.G, c.B
				o += 3
			}
		}
	}
}

// copyDrop copies the first three channels of a 4-channel image with
// bytesPer bytes per channel, keeping the most significant byte.
func copyDrop(out, pix []byte, stride, off, w, h, pixBytes, bytesPer int) {
	o := 0
	for y := range h {
		row := pix[off+y*stride:][:w*pixBytes]
		for i := 0; i < len(row); i += pixBytes {
			out[o] = row[i]
			out[o+1] = row[i+bytesPer]
			out[o+2] = row[i+2*bytesPer]
			o += 3
		}
	}
}

func grayInto(out, pix []byte, stride, off, w, h, bytesPer int) {
	o := 0
	for y := range h {
		row := pix[off+y*stride:][:w*bytesPer]
		for i := 0; i < len(row); i += bytesPer {
			v := row[i]
			out[o], out[o+1], out[o+2] = v, v, v
			o += 3
		}
	}
}

func palettedInto(out []byte, p *image.Paletted) {
	var lut [256][3]byte
	for i, c := range p.Palette {
		if i >= len(lut) {
			break
		}
		n := color.NRGBAModel.Convert(c).(color.NRGBA)
		lut[i] = [3]byte{n.R, n.G, n.B}
	}
	b := p.Rect
	w := b.Dx()
	o := 0
	for y := b.Min.Y; y < b.Max.Y; y++ {
		row := p.Pix[p.PixOffset(b.Min.X, y):][:w]
		for _, ix := range row {
			c := &lut[ix] // indexes past the palette map to black
			out[o], out[o+1], out[o+2] = c[0], c[1], c[2]
			o += 3
		}
	}
}

// ycbcrInto converts with exactly color.YCbCrToRGB's arithmetic, so results
// match image/jpeg + draw bit for bit, without a call per pixel.
func ycbcrInto(out []byte, p *image.YCbCr) {
	b := p.Rect
	w := b.Dx()
	// Horizontal chroma subsampling as a shift; COffset takes care of the
	// vertical direction once per row.
	var hs uint
	switch p.SubsampleRatio {
	case image.YCbCrSubsampleRatio422, image.YCbCrSubsampleRatio420:
		hs = 1
	case image.YCbCrSubsampleRatio411, image.YCbCrSubsampleRatio410:
		hs = 2
	}
	if b.Min.X < 0 || b.Min.Y < 0 {
		// Shifts and Go's truncating division disagree below zero; only
		// odd sub-images get here, so take the slow exact path.
		o := 0
		for y := b.Min.Y; y < b.Max.Y; y++ {
			for x := b.Min.X; x < b.Max.X; x++ {
				ci := p.COffset(x, y)
				out[o], out[o+1], out[o+2] = color.YCbCrToRGB(p.Y[p.YOffset(x, y)], p.Cb[ci], p.Cr[ci])
				o += 3
			}
		}
		return
	}
	x0 := b.Min.X >> hs
	cn := (b.Max.X-1)>>hs - x0 + 1 // chroma samples per row
	for y := b.Min.Y; y < b.Max.Y; y++ {
		yrow := p.Y[p.YOffset(b.Min.X, y):][:w]
		c0 := p.COffset(b.Min.X, y)
		cbrow := p.Cb[c0:][:cn]
		crrow := p.Cr[c0:][:cn]
		orow := out[(y-b.Min.Y)*w*3:][:w*3]
		// One chroma sample covers 1<<hs luma samples (fewer at the edges):
		// compute its terms once. Arithmetic of color.YCbCrToRGB (BSD
		// licence, The Go Authors), regrouped.
		i := 0
		for ci := range cn {
			cb1 := int32(cbrow[ci]) - 128
			cr1 := int32(crrow[ci]) - 128
			rc, gc, bc := 91881*cr1, -22554*cb1-46802*cr1, 116130*cb1
			end := min((x0+ci+1)<<hs-b.Min.X, w)
			for ; i < end; i++ {
				yy1 := int32(yrow[i]) * 0x10101
				px := orow[i*3 : i*3+3 : i*3+3]
				px[0], px[1], px[2] = clamp16(yy1+rc), clamp16(yy1+gc), clamp16(yy1+bc)
			}
		}
	}
}

// clamp16 is YCbCrToRGB's branch-light clamp of a 16.16 fixed-point value.
func clamp16(v int32) uint8 {
	if uint32(v)&0xff000000 == 0 {
		return uint8(v >> 16)
	}
	return uint8(^(v >> 31))
}

// boxDownscale shrinks src by denom in each direction (rounding the size
// up, like libjpeg's DCT scaling) by averaging each denom×denom block, so
// DecodeScaled gives the same dimensions whatever the input format.
func boxDownscale(dst, src *RGB, denom int) {
	w, h := ceilDiv(src.W, denom), ceilDiv(src.H, denom)
	dst.resize(w, h)
	o := 0
	for by := range h {
		y0, y1 := by*denom, min((by+1)*denom, src.H)
		for bx := range w {
			x0, x1 := bx*denom, min((bx+1)*denom, src.W)
			var s [3]int
			for y := y0; y < y1; y++ {
				row := src.Pix[(y*src.W+x0)*3 : (y*src.W+x1)*3]
				for i := 0; i < len(row); i += 3 {
					s[0] += int(row[i])
					s[1] += int(row[i+1])
					s[2] += int(row[i+2])
				}
			}
			n := (y1 - y0) * (x1 - x0)
			for c := range 3 {
				dst.Pix[o+c] = byte((s[c] + n/2) / n)
			}
			o += 3
		}
	}
}
