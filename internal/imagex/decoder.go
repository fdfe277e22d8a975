package imagex

/*
#cgo LDFLAGS: -ljpeg
#cgo noescape fc_jpeg_decode
#cgo nocallback fc_jpeg_decode
#include "jpegshim.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"runtime"
	"unsafe"
)

// Decoder holds the state that makes steady-state decoding allocation-free:
// a libjpeg decompressor (whose creation costs more than a small decode) and
// nothing else that grows. The caller's RGB is the only pixel buffer. A
// Decoder is not safe for concurrent use; give each goroutine its own.
//
// The zero value is usable and applies DefaultLimits.
type Decoder struct {
	_       noCopy // a copy would share, and double-free, the C state
	limits  Limits
	st      *C.fc_jpeg
	res     *C.fc_result
	cleanup runtime.Cleanup
	closed  bool
	scratch RGB // full-size image for DecodeScaled of non-JPEG input; kept for reuse
}

// NewDecoder returns a Decoder enforcing l (zero fields take the defaults).
func NewDecoder(l Limits) *Decoder {
	d := &Decoder{limits: l.WithDefaults()}
	d.init()
	return d
}

func (d *Decoder) init() {
	if d.st != nil {
		return
	}
	d.limits = d.limits.WithDefaults()
	st := C.fc_jpeg_new()
	if st == nil {
		panic("imagex: out of C memory creating a libjpeg decompressor")
	}
	d.st = st
	d.res = C.fc_jpeg_result(st)
	// Close is the contract, but a forgotten Decoder must not leak C memory.
	d.cleanup = runtime.AddCleanup(d, func(st *C.fc_jpeg) { C.fc_jpeg_free(st) }, st)
}

// Close releases the libjpeg state. The Decoder must not be used afterwards.
// Calling Close more than once is harmless.
func (d *Decoder) Close() {
	if d.closed {
		return
	}
	d.closed = true
	if d.st != nil {
		d.cleanup.Stop()
		C.fc_jpeg_free(d.st)
		d.st, d.res = nil, nil
	}
}

var errClosed = errors.New("imagex: Decode called on a closed Decoder")

// Decode makes Check's checks before decoding anything, then decodes into
// dst, growing dst.Pix only when its capacity is too small (or replacing a
// buffer over RetainBytes, so a rare huge image does not stay pinned). On
// error dst is left with W = H = 0 and an empty Pix (capacity kept up to
// RetainBytes), never with partial pixels.
func (d *Decoder) Decode(data []byte, dst *RGB) error {
	return d.decode(data, dst, 1)
}

// DecodeScaled is Decode with the output shrunk by 1/denom in each
// direction (denom is 1, 2, 4 or 8), sizes rounded up. For JPEG the
// scaling happens inside the IDCT, so a 1/2 decode is faster than a full
// one; other formats are decoded at full size and box-filtered. Limits
// apply to the full-size image, since that is what the decoder works on.
func (d *Decoder) DecodeScaled(data []byte, dst *RGB, denom int) error {
	switch denom {
	case 1, 2, 4, 8:
	default:
		return fmt.Errorf("imagex: DecodeScaled denominator %d is invalid; use 1, 2, 4 or 8", denom)
	}
	return d.decode(data, dst, denom)
}

func (d *Decoder) decode(data []byte, dst *RGB, denom int) (err error) {
	if d.closed {
		return errClosed
	}
	d.init()
	defer func() {
		if err != nil {
			dst.reset()
		}
	}()
	hd, err := check(data, d.limits)
	if err != nil {
		return err
	}
	if hd.format != "jpeg" {
		if denom == 1 {
			return decodeStd(hd.format, data, dst)
		}
		// The full-size scratch image is only a step: an oversized one
		// must not stay with the Decoder.
		defer d.scratch.Trim()
		if err := decodeStd(hd.format, data, &d.scratch); err != nil {
			return err
		}
		boxDownscale(dst, &d.scratch, denom)
		return nil
	}
	return d.decodeJPEG(data, dst, hd, denom)
}

// Check makes the checks Decode makes before it allocates or decodes
// anything: the input size and the header's dimensions against the
// Decoder's Limits, a lower bound on the encoded size for those
// dimensions, and, for JPEG and PNG, the end marker that a complete file
// has. It reports the format and the declared size. It reads only the
// header and scans back from the end for the marker (microseconds, no
// allocation), so a caller can tell a bad frame from a plausible one
// without paying for a decode, say before dropping an old frame unseen.
// Decode can still fail on input that Check accepts (damage inside the
// compressed data shows only when decoding), never the other way round.
func (d *Decoder) Check(data []byte) (format string, w, h int, err error) {
	hd, err := check(data, d.limits.WithDefaults())
	if err != nil {
		return hd.format, 0, 0, err
	}
	return hd.format, hd.w, hd.h, nil
}

func check(data []byte, l Limits) (header, error) {
	if len(data) == 0 {
		return header{}, ErrEmpty
	}
	if n := int64(len(data)); n > l.MaxBytes {
		return header{}, tooManyBytes(n, l.MaxBytes)
	}
	hd, err := parseHeader(data)
	if err != nil {
		return hd, err
	}
	if int64(hd.w)*int64(hd.h) > l.MaxPixels {
		return hd, tooManyPixels(hd.format, hd.w, hd.h, l.MaxPixels)
	}
	if float64(len(data)) < hd.minBytes {
		return hd, truncatedf("%d bytes cannot hold a complete %d×%d %s (at least %.0f needed)",
			len(data), hd.w, hd.h, hd.format, hd.minBytes)
	}
	return hd, checkEnd(hd, data)
}

func (d *Decoder) decodeJPEG(data []byte, dst *RGB, hd header, denom int) error {
	dst.resize(ceilDiv(hd.w, denom), ceilDiv(hd.h, denom))
	for attempt := 0; ; attempt++ {
		code := C.fc_jpeg_decode(d.st,
			(*C.uchar)(unsafe.Pointer(unsafe.SliceData(data))), C.size_t(len(data)),
			(*C.uchar)(unsafe.Pointer(unsafe.SliceData(dst.Pix))), C.size_t(len(dst.Pix)),
			C.int(denom), C.longlong(d.limits.MaxPixels))
		r := d.res
		switch code {
		case C.FC_OK:
			// libjpeg's view of the size is authoritative.
			dst.W, dst.H = int(r.out_w), int(r.out_h)
			dst.Pix = dst.Pix[:dst.W*dst.H*3]
			return nil
		case C.FC_NEED_BUFFER:
			// Our header walk and libjpeg disagree on the size (odd marker
			// layout). libjpeg has already checked MaxPixels; retry once.
			if attempt > 0 {
				return corruptf("libjpeg keeps changing its mind about the JPEG size")
			}
			dst.resize(int(r.out_w), int(r.out_h))
		case C.FC_TOO_LARGE:
			return tooManyPixels("jpeg", int(r.src_w), int(r.src_h), d.limits.MaxPixels)
		case C.FC_TRUNCATED:
			return truncatedf("libjpeg: %s", C.GoString(&r.msg[0]))
		case C.FC_UNSUPPORTED:
			return unsupportedf("libjpeg: %s", C.GoString(&r.msg[0]))
		default:
			return corruptf("libjpeg: %s", C.GoString(&r.msg[0]))
		}
	}
}

// noCopy makes go vet's copylocks check flag copies of a Decoder.
type noCopy struct{}

func (*noCopy) Lock()   {}
func (*noCopy) Unlock() {}
