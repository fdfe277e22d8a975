package imagex

/*
#cgo LDFLAGS: -ljpeg
#cgo noescape fc_enc_pixels
#cgo nocallback fc_enc_pixels
#cgo noescape fc_enc_ycbcr420
#cgo nocallback fc_enc_ycbcr420
#include "jpegenc.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"image"
	"runtime"
	"sync"
	"unsafe"
)

// encRetainBytes is the largest output buffer an Encoder keeps between
// frames: a 4K frame at quality 95 fits; a rare larger one gets a buffer
// that is freed after its encode, as RetainBytes does for decoding.
const encRetainBytes = 8 << 20

// Encoder writes baseline JPEG with libjpeg-turbo, 4:2:0 for colour like
// image/jpeg, 7–10 times as fast as image/jpeg at 640×480 (0.6–0.8 ms
// against 6.2 ms; docs/BENCHMARKS.md) at the same size and fidelity. It
// keeps a libjpeg compressor and its output buffer between frames, so
// encoding into a dst with room allocates nothing. An Encoder is not safe
// for concurrent use; give each goroutine its own (or use AppendJPEG).
//
// The forward DCT is libjpeg's accurate integer one (JDCT_ISLOW), not
// JDCT_IFAST: libjpeg-turbo has SIMD code for both, and at 640×480 q80
// IFAST saved 3–4 % (about 25 µs a frame, measured interleaved on a noisy
// 2-core VM), while it loses 0.05 dB at q75 and 0.4 dB at q95 and makes
// files no smaller (TestEncodeDCTQuality logs both). The decoder uses
// ISLOW too.
type Encoder struct {
	_       noCopy // a copy would share, and double-free, the C state
	st      *C.fc_jpeg_enc
	res     *C.fc_enc_result
	cleanup runtime.Cleanup
	closed  bool
	fast    bool // JDCT_IFAST; for the measurements only
	scratch RGB  // image types without a direct path are converted here
}

// NewEncoder returns an Encoder. Close it when done; a forgotten one is
// freed by the garbage collector.
func NewEncoder() *Encoder {
	st := C.fc_enc_new()
	if st == nil {
		panic("imagex: out of C memory creating a libjpeg compressor")
	}
	e := &Encoder{st: st, res: C.fc_enc_result_of(st)}
	e.cleanup = runtime.AddCleanup(e, func(st *C.fc_jpeg_enc) { C.fc_enc_free(st) }, st)
	return e
}

// Close releases the libjpeg state. The Encoder must not be used
// afterwards. Calling Close more than once is harmless.
func (e *Encoder) Close() {
	if e.closed {
		return
	}
	e.closed = true
	e.cleanup.Stop()
	C.fc_enc_free(e.st)
	e.st, e.res = nil, nil
	e.scratch = RGB{}
}

var errEncoderClosed = errors.New("imagex: Encode called on a closed Encoder")

// clampQuality follows image/jpeg's Options.Quality: below 1 is 1, above
// 100 is 100.
func clampQuality(q int) int { return max(1, min(q, 100)) }

// maxEncodeSide is libjpeg's JPEG_MAX_DIMENSION.
const maxEncodeSide = 65500

func checkEncodeSize(w, h int) error {
	if w <= 0 || h <= 0 || w > maxEncodeSide || h > maxEncodeSide {
		return fmt.Errorf("imagex: cannot encode a %d×%d image as JPEG: sides must be 1 to %d", w, h, maxEncodeSide)
	}
	return nil
}

// EncodeRGB appends m as a JPEG of the given quality (1–100, clamped as
// image/jpeg does) to dst and returns the extended slice.
func (e *Encoder) EncodeRGB(dst []byte, m *RGB, quality int) ([]byte, error) {
	if err := checkEncodeSize(m.W, m.H); err != nil {
		return dst, err
	}
	if len(m.Pix) < m.W*m.H*3 {
		return dst, fmt.Errorf("imagex: RGB of %d×%d has %d bytes of pixels, want %d", m.W, m.H, len(m.Pix), m.W*m.H*3)
	}
	return e.pixels(dst, m.Pix, m.W, m.H, m.W*3, C.FC_IN_RGB, quality)
}

// EncodeImage appends img as a JPEG to dst, like EncodeRGB. *image.YCbCr
// with 4:2:0 subsampling is compressed as it is, without colour conversion
// or downsampling (the cheapest input, and what synthetic frames are
// rendered as); *image.RGBA, *image.NRGBA (alpha dropped, as everywhere in
// this package) and *image.Gray (a greyscale JPEG) are read in place;
// other types are first converted to RGB.
func (e *Encoder) EncodeImage(dst []byte, img image.Image, quality int) ([]byte, error) {
	b := img.Bounds()
	if err := checkEncodeSize(b.Dx(), b.Dy()); err != nil {
		return dst, err
	}
	switch m := img.(type) {
	case *image.YCbCr:
		// An odd origin would shift the chroma half a sample against
		// the luma: convert those instead.
		if m.SubsampleRatio == image.YCbCrSubsampleRatio420 && b.Min.X%2 == 0 && b.Min.Y%2 == 0 {
			return e.ycbcr420(dst, m, quality)
		}
	case *image.RGBA:
		return e.pixels(dst, m.Pix[m.PixOffset(b.Min.X, b.Min.Y):], b.Dx(), b.Dy(), m.Stride, C.FC_IN_RGBX, quality)
	case *image.NRGBA:
		return e.pixels(dst, m.Pix[m.PixOffset(b.Min.X, b.Min.Y):], b.Dx(), b.Dy(), m.Stride, C.FC_IN_RGBX, quality)
	case *image.Gray:
		return e.pixels(dst, m.Pix[m.PixOffset(b.Min.X, b.Min.Y):], b.Dx(), b.Dy(), m.Stride, C.FC_IN_GRAY, quality)
	}
	if e.closed {
		return dst, errEncoderClosed
	}
	convertInto(&e.scratch, img)
	defer e.scratch.Trim()
	return e.EncodeRGB(dst, &e.scratch, quality)
}

func (e *Encoder) pixels(dst, pix []byte, w, h, stride int, layout C.int, quality int) ([]byte, error) {
	if e.closed {
		return dst, errEncoderClosed
	}
	bpp := 3
	switch layout {
	case C.FC_IN_RGBX:
		bpp = 4
	case C.FC_IN_GRAY:
		bpp = 1
	}
	if need := (h-1)*stride + w*bpp; stride < w*bpp || len(pix) < need {
		return dst, fmt.Errorf("imagex: %d×%d image with stride %d has %d bytes of pixels, want %d", w, h, stride, len(pix), need)
	}
	code := C.fc_enc_pixels(e.st, (*C.uchar)(unsafe.Pointer(unsafe.SliceData(pix))),
		C.int(w), C.int(h), C.size_t(stride), layout, C.int(clampQuality(quality)), fastFlag(e.fast))
	return e.finish(dst, code)
}

func (e *Encoder) ycbcr420(dst []byte, m *image.YCbCr, quality int) ([]byte, error) {
	if e.closed {
		return dst, errEncoderClosed
	}
	b := m.Rect
	w, h := b.Dx(), b.Dy()
	cw, ch := (w+1)/2, (h+1)/2
	yo, co := m.YOffset(b.Min.X, b.Min.Y), m.COffset(b.Min.X, b.Min.Y)
	if m.YStride < w || m.CStride < cw || len(m.Y) < yo+(h-1)*m.YStride+w ||
		len(m.Cb) < co+(ch-1)*m.CStride+cw || len(m.Cr) < co+(ch-1)*m.CStride+cw {
		return dst, fmt.Errorf("imagex: %d×%d YCbCr 4:2:0 image has planes too small for its size", w, h)
	}
	code := C.fc_enc_ycbcr420(e.st,
		(*C.uchar)(unsafe.Pointer(&m.Y[yo])), C.size_t(m.YStride),
		(*C.uchar)(unsafe.Pointer(&m.Cb[co])), (*C.uchar)(unsafe.Pointer(&m.Cr[co])), C.size_t(m.CStride),
		C.int(w), C.int(h), C.int(clampQuality(quality)), fastFlag(e.fast))
	return e.finish(dst, code)
}

func fastFlag(fast bool) C.int {
	if fast {
		return 1
	}
	return 0
}

// finish copies the JPEG out of the C buffer (one memcpy of tens of KiB,
// against milliseconds of compression) and lets go of an oversized buffer.
func (e *Encoder) finish(dst []byte, code C.int) ([]byte, error) {
	r := e.res
	if code != C.FC_ENC_OK {
		err := fmt.Errorf("imagex: libjpeg could not encode the image: %s", C.GoString(&r.msg[0]))
		if r.cap > encRetainBytes {
			C.fc_enc_trim(e.st, encRetainBytes)
		}
		return dst, err
	}
	dst = append(dst, unsafe.Slice((*byte)(unsafe.Pointer(r.out)), int(r.len))...)
	if r.cap > encRetainBytes {
		C.fc_enc_trim(e.st, encRetainBytes)
	}
	return dst, nil
}

// encoders lends Encoders to AppendJPEG; the pool's cleanup-backed
// entries are freed by the garbage collector when the pool drops them.
var encoders = sync.Pool{New: func() any { return NewEncoder() }}

// AppendJPEG is EncodeImage with an Encoder from a process-wide pool, for
// callers that encode now and then (reports, files); per-frame loops keep
// their own Encoder.
func AppendJPEG(dst []byte, img image.Image, quality int) ([]byte, error) {
	e := encoders.Get().(*Encoder)
	defer encoders.Put(e)
	return e.EncodeImage(dst, img, quality)
}

// liveEncoders is how many C compressors exist (tests check for leaks).
func liveEncoders() int { return int(C.fc_enc_live()) }
