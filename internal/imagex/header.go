package imagex

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"image"
	"image/gif"
	"math"

	"golang.org/x/image/bmp"
	"golang.org/x/image/webp"
)

// header is what the pre-decode checks need. The JPEG and PNG parsers are
// hand-written so that the per-frame path allocates nothing.
type header struct {
	format string
	w, h   int
	// minBytes is a lower bound on the encoded size of a complete image
	// with these dimensions, 0 if unknown. A file shorter than that is
	// truncated for sure, and rejecting it early stops a few-KiB upload
	// from making us allocate the full pixel buffer first.
	minBytes float64
	// body is the offset just past the header that declared the size
	// (JPEG SOF segment, PNG IHDR chunk): where the image data, and after
	// it the end marker, must follow. Zero for the other formats.
	body int
}

var (
	sigJPEG = []byte{0xFF, 0xD8, 0xFF}
	sigPNG  = []byte("\x89PNG\r\n\x1a\n")
)

func sniff(data []byte) string {
	// A cut-off signature is a truncated file, and saying so helps more
	// than "not an image". One byte proves nothing.
	if len(data) >= 2 && len(data) < len(sigPNG) {
		switch {
		case bytes.HasPrefix(sigJPEG, data):
			return "jpeg"
		case bytes.HasPrefix(sigPNG, data):
			return "png"
		}
	}
	switch {
	case bytes.HasPrefix(data, sigJPEG):
		return "jpeg"
	case bytes.HasPrefix(data, sigPNG):
		return "png"
	case len(data) >= 6 && (string(data[:6]) == "GIF87a" || string(data[:6]) == "GIF89a"):
		return "gif"
	case len(data) >= 2 && string(data[:2]) == "BM":
		return "bmp"
	case len(data) >= 12 && string(data[:4]) == "RIFF" && string(data[8:12]) == "WEBP":
		return "webp"
	}
	return ""
}

func notImage(data []byte) error {
	n := min(len(data), 8)
	return fmt.Errorf("%w (first bytes: % x)", ErrNotImage, data[:n])
}

func parseHeader(data []byte) (header, error) {
	if len(data) == 0 {
		return header{}, ErrEmpty
	}
	var (
		hd  header
		err error
	)
	switch f := sniff(data); f {
	case "jpeg":
		hd, err = parseJPEG(data)
	case "png":
		hd, err = parsePNG(data)
	case "gif", "bmp", "webp":
		hd, err = parseStd(f, data)
	default:
		return header{}, notImage(data)
	}
	if err == nil && (hd.w <= 0 || hd.h <= 0) {
		err = zeroSize(hd.format, hd.w, hd.h)
	}
	return hd, err
}

// parseJPEG walks the marker segments up to the frame header (SOF). It is
// as lenient as libjpeg about garbage between segments, since libjpeg makes
// the final call anyway; what matters is the declared size.
func parseJPEG(data []byte) (header, error) {
	hd := header{format: "jpeg"}
	i := 2 // after SOI
	for {
		// Skip garbage up to the next marker.
		if i < len(data) && data[i] != 0xFF {
			if k := bytes.IndexByte(data[i:], 0xFF); k >= 0 {
				i += k
			} else {
				i = len(data)
			}
		}
		m, err := ReadJPEGMarker(data[i:])
		if err == ErrJPEGShort && i+m.Fill+1 >= len(data) {
			return hd, truncatedf("JPEG ends before its frame header (%d bytes)", len(data))
		}
		switch m.Code { // read even when its length field is not
		case JPEGSOI:
			return hd, corruptf("JPEG has a second start-of-image marker before its frame header")
		case JPEGEOI:
			return hd, corruptf("JPEG ends (EOI) before its frame header")
		case JPEGSOS:
			return hd, corruptf("JPEG has image data before its frame header")
		}
		switch err {
		case ErrJPEGShort:
			return hd, truncatedf("JPEG ends inside a marker segment header")
		case ErrJPEGLength:
			return hd, corruptf("JPEG marker 0x%02X has invalid length %d", m.Code, m.Len)
		}
		if JPEGIsSOF(m.Code) {
			end := i + m.Size()
			if end > len(data) {
				return hd, truncatedf("JPEG ends inside its frame header")
			}
			hd, err := parseSOF(m.Code, data[i+m.Header():end])
			hd.body = end
			return hd, err
		}
		// Stuffed zero, TEM, RSTn: no length; others: skip the payload.
		i = min(i+m.Size(), len(data))
	}
}

func parseSOF(m byte, seg []byte) (header, error) {
	hd := header{format: "jpeg"}
	if len(seg) < 6 {
		return hd, corruptf("JPEG frame header is %d bytes, too short", len(seg))
	}
	prec, nc := seg[0], int(seg[5])
	hd.w, hd.h, _ = JPEGFrameSize(seg)
	switch m {
	case 0xC3, 0xC5, 0xC6, 0xC7, 0xCB, 0xCD, 0xCE, 0xCF:
		return hd, unsupportedf("JPEG uses a lossless or hierarchical process (SOF 0x%02X)", m)
	}
	if prec != 8 {
		return hd, unsupportedf("JPEG has %d-bit samples, only 8-bit is supported", prec)
	}
	if nc == 0 || len(seg) < 6+3*nc {
		return hd, corruptf("JPEG frame header declares %d components in %d bytes", nc, len(seg))
	}
	if hd.w == 0 || hd.h == 0 {
		return hd, nil // caller reports zero size
	}
	if m == 0xC9 || m == 0xCA {
		return hd, nil // arithmetic coding: no useful size bound
	}
	// Huffman coding spends at least one bit on every 8×8 block of every
	// component that appears in a scan, and a complete image has a scan for
	// at least one component. Hence a floor of (fewest blocks of any
	// component)/8 bytes.
	hmax, vmax := 1, 1
	for c := range nc {
		s := seg[6+3*c+1]
		hmax = max(hmax, int(s>>4))
		vmax = max(vmax, int(s&15))
	}
	minBlocks := math.Inf(1)
	for c := range nc {
		s := seg[6+3*c+1]
		hs, vs := int(s>>4), int(s&15)
		if hs == 0 || vs == 0 {
			return hd, corruptf("JPEG component %d has sampling factor 0", c)
		}
		bw := ceilDiv(ceilDiv(hd.w*hs, hmax), 8)
		bh := ceilDiv(ceilDiv(hd.h*vs, vmax), 8)
		minBlocks = min(minBlocks, float64(bw)*float64(bh))
	}
	hd.minBytes = minBlocks / 8
	return hd, nil
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }

// parsePNG reads the IHDR chunk, which the PNG spec requires to come first.
func parsePNG(data []byte) (header, error) {
	const ihdrEnd = 8 + 8 + 13
	hd := header{format: "png", body: ihdrEnd + 4} // + the chunk's CRC
	if len(data) < ihdrEnd {
		return hd, truncatedf("PNG ends inside its header (%d bytes)", len(data))
	}
	if string(data[12:16]) != "IHDR" || binary.BigEndian.Uint32(data[8:]) != 13 {
		return hd, corruptf("PNG does not start with a valid IHDR chunk")
	}
	w := binary.BigEndian.Uint32(data[16:])
	h := binary.BigEndian.Uint32(data[20:])
	if w > math.MaxInt32 || h > math.MaxInt32 {
		return hd, corruptf("PNG declares %d×%d, beyond the format's maximum", w, h)
	}
	hd.w, hd.h = int(w), int(h)
	depth, ctype := int(data[24]), data[25]
	channels := 1 // grey, palette, and invalid types (png.Decode reports those)
	switch ctype {
	case 2:
		channels = 3
	case 4:
		channels = 2
	case 6:
		channels = 4
	}
	// Deflate cannot beat 1032:1, so the compressed stream is at least
	// raw/1032 bytes (filter bytes ignored: still a lower bound).
	raw := float64(hd.w) * float64(hd.h) * float64(channels*depth) / 8
	hd.minBytes = raw / 1032
	return hd, nil
}

// parseStd uses the x/image and stdlib config readers for the rare formats;
// their allocations do not matter off the JPEG path.
func parseStd(format string, data []byte) (header, error) {
	hd := header{format: format}
	var cfg image.Config
	err := guard(format, func() (err error) {
		r := bytes.NewReader(data)
		switch format {
		case "gif":
			cfg, err = gif.DecodeConfig(r)
		case "bmp":
			cfg, err = bmp.DecodeConfig(r)
		case "webp":
			cfg, err = webp.DecodeConfig(r)
		}
		return err
	})
	if err != nil {
		return hd, stdError(format, err)
	}
	hd.w, hd.h = cfg.Width, cfg.Height
	if format == "bmp" && len(data) >= 30 {
		// x/image/bmp only reads uncompressed rows, 4-byte aligned.
		bpp := int(binary.LittleEndian.Uint16(data[28:]))
		hd.minBytes = float64(hd.h) * float64((hd.w*bpp+31)/32*4)
	}
	return hd, nil
}

// End markers: libjpeg reads a JPEG up to EOI and image/png a PNG up to its
// IEND chunk, and both fail when the data ends first.
var (
	markEOI  = []byte{0xFF, 0xD9}
	markIEND = []byte("IEND")
)

// checkEnd rejects a JPEG or PNG that has no end marker after its header.
// Decoding would reject it too, but only after allocating the whole pixel
// buffer and decoding up to the cut; this finds most truncated files for
// the price of a scan back from the end, which for a complete file stops
// at once. A cut file cannot hold the marker by accident in a JPEG (its
// entropy-coded data stuffs every 0xFF with 0x00, so FF D9 there is always
// a marker) and only by a one-in-four-billion chance in a PNG's deflate
// data. Looking only past the header keeps an EXIF thumbnail's EOI from
// counting.
func checkEnd(hd header, data []byte) error {
	var mark []byte
	var name string
	switch hd.format {
	case "jpeg":
		mark, name = markEOI, "end-of-image marker (FF D9)"
	case "png":
		mark, name = markIEND, "IEND chunk"
	default:
		return nil // GIF, BMP and WebP: the decoders' size checks suffice
	}
	if hd.body > len(data) || bytes.LastIndex(data[hd.body:], mark) < 0 {
		return truncatedf("%d-byte %s declares %d×%d but has no %s", len(data), hd.format, hd.w, hd.h, name)
	}
	return nil
}
