package imagex

import (
	"bytes"
	"errors"
)

// The JPEG marker walker: one reading of JPEG structure for the decoder's
// header check (parseJPEG) and for the sources that cut frames out of
// streams (source/mjpeg.go, source/jpegstream.go).
//
// A JPEG is a run of markers: FF, optional FF fill bytes, a code, and for
// most codes a 2-byte big-endian length that counts itself and the
// payload after it. After SOS comes entropy-coded data, in which FF is
// always followed by 00 (stuffing), a restart marker (D0–D7) or another
// FF (fill), so the marker that ends it is found without decoding.
//
// The walker reads one step at a time from a byte slice and says when the
// slice ended too soon, so a streaming caller hands it what it has
// buffered and reads more on ErrJPEGShort; a caller with the whole image
// just stops there. What to make of a code (a second SOI, a scan before
// the frame header, garbage between segments) is the caller's to decide:
// the decoder is as lenient as libjpeg, the stream splitters are strict.

// JPEG marker codes the walkers single out.
const (
	JPEGSOI = 0xD8 // start of image
	JPEGEOI = 0xD9 // end of image
	JPEGSOS = 0xDA // start of scan: entropy-coded data follows the segment
)

// Errors of ReadJPEGMarker.
var (
	// ErrJPEGShort: the bytes end before the marker's header does. A
	// streaming caller reads more and calls again.
	ErrJPEGShort = errors.New("JPEG marker cut short")
	// ErrJPEGNotMarker: the bytes do not start with FF.
	ErrJPEGNotMarker = errors.New("not a JPEG marker")
	// ErrJPEGLength: the length field is below 2, the length of
	// itself.
	ErrJPEGLength = errors.New("JPEG marker segment with an invalid length")
)

// JPEGMarker is one marker as ReadJPEGMarker found it.
type JPEGMarker struct {
	// Fill is the count of FF fill bytes before the marker's own FF.
	Fill int
	// Code is the byte after the FFs: D8 SOI, C0 SOF0, DA SOS, …
	Code byte
	// Len is the segment's length field, which counts itself and the
	// payload; 0 for codes without one (JPEGHasLength).
	Len int
}

// Header is the count of bytes from the first FF through the length
// field: where the segment's payload starts.
func (m JPEGMarker) Header() int {
	if m.Len == 0 {
		return m.Fill + 2
	}
	return m.Fill + 4
}

// Size is the count of bytes from the first FF to the end of the segment.
func (m JPEGMarker) Size() int {
	if m.Len == 0 {
		return m.Fill + 2
	}
	return m.Fill + 2 + m.Len
}

// JPEGHasLength reports whether a code is followed by a length field: all
// but 00 (FF 00 is stuffing, not a marker), TEM (01), the restart markers
// RST0–RST7 (D0–D7), SOI and EOI.
func JPEGHasLength(code byte) bool {
	return code > 0x01 && (code < 0xD0 || code > JPEGEOI)
}

// JPEGIsSOF reports the start-of-frame codes, whose segment declares the
// image size: C0–CF except DHT (C4), JPG (C8) and DAC (CC).
func JPEGIsSOF(code byte) bool {
	return code >= 0xC0 && code <= 0xCF && code != 0xC4 && code != 0xC8 && code != 0xCC
}

// ReadJPEGMarker reads the marker b starts with: FF, fill bytes, the code
// and, for a code with one, the length field; the payload is not needed.
// On ErrJPEGShort the marker holds what was read: Fill counts the fill
// bytes seen (a caller may take them and call again), and Code is set
// when b reached it (len(b) > Fill+1). On ErrJPEGLength, Code and Len are
// set.
func ReadJPEGMarker(b []byte) (JPEGMarker, error) {
	// The common case, small enough to be inlined: a segment without
	// fill bytes.
	if len(b) >= 4 && b[0] == 0xFF && b[1] != 0xFF && JPEGHasLength(b[1]) {
		if n := int(b[2])<<8 | int(b[3]); n >= 2 {
			return JPEGMarker{Code: b[1], Len: n}, nil
		}
	}
	return readJPEGMarker(b)
}

func readJPEGMarker(b []byte) (JPEGMarker, error) {
	var m JPEGMarker
	if len(b) == 0 {
		return m, ErrJPEGShort
	}
	if b[0] != 0xFF {
		return m, ErrJPEGNotMarker
	}
	i := 1
	for i < len(b) && b[i] == 0xFF {
		i++
	}
	if i == len(b) {
		m.Fill = i - 1
		return m, ErrJPEGShort
	}
	m.Fill, m.Code = i-1, b[i]
	if !JPEGHasLength(m.Code) {
		return m, nil
	}
	if i+3 > len(b) {
		return m, ErrJPEGShort
	}
	m.Len = int(b[i+1])<<8 | int(b[i+2])
	if m.Len < 2 {
		return m, ErrJPEGLength
	}
	return m, nil
}

// JPEGFrameSize reads the size a frame header (SOF) declares from the
// start of the segment's payload: precision, height and width (5 bytes;
// whether the rest must be there is the caller's call). A height of 0 (to
// come in a DNL marker) is returned as it is.
func JPEGFrameSize(payload []byte) (w, h int, ok bool) {
	if len(payload) < 5 {
		return 0, 0, false
	}
	h = int(payload[1])<<8 | int(payload[2])
	w = int(payload[3])<<8 | int(payload[4])
	return w, h, true
}

// JPEGScanLen returns how much of b, which starts inside the entropy-coded
// data after an SOS segment, is that data. With done the marker that ends
// it (anything but stuffing, restart markers and fill bytes) starts at
// b[n]. Without, all of b is data, or b ends in an FF whose next byte
// decides (b[n] is that FF): a streaming caller reads more and goes on
// from b[n:].
func JPEGScanLen(b []byte) (n int, done bool) {
	for {
		k := bytes.IndexByte(b[n:], 0xFF)
		if k < 0 {
			return len(b), false
		}
		n += k
		if n+1 == len(b) {
			return n, false
		}
		switch c := b[n+1]; {
		case c == 0x00 || c >= 0xD0 && c <= 0xD7:
			n += 2 // stuffing, RSTn
		case c == 0xFF:
			n++ // a fill byte; the FF after it starts the marker
		default:
			return n, true
		}
	}
}
