// Package imagex decodes untrusted still images (one JPEG per video frame,
// mostly) into a packed 8-bit RGB buffer that is reused from frame to frame.
//
// The per-frame budget leaves about 5 ms for everything except inference, and
// Go's image/jpeg plus a conversion to RGB takes longer than that at 640×480.
// JPEG therefore goes through libjpeg-turbo via cgo, straight into the
// caller's buffer, with no allocation in steady state. PNG, GIF, BMP and WebP
// are rare here and go through Go's decoders.
//
// Input comes from outside, so every decode first reads the header and
// rejects inputs whose byte size or pixel count exceed Limits before any
// pixel memory is allocated. Damaged input is rejected rather than patched:
// libjpeg would otherwise fill a truncated frame with grey and the models
// would happily analyse it.
//
// EXIF orientation is not applied: cameras in this pipeline send upright
// frames, and rotating would cost a full extra copy per frame.
//
// Alpha is dropped, not composited: straight-alpha sources (NRGBA, PNG and
// WebP with transparency) keep their colour channels as stored, so fully
// transparent pixels show whatever colour they hide; premultiplied sources
// (image.RGBA, image.RGBA64) already carry the alpha in their colours.
package imagex

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
)

// RGB is a packed 8-bit RGB image: Pix[(y*W+x)*3 + c], no row padding.
// That is the layout the model preprocessing reads, so no stride
// bookkeeping or conversion sits between decode and inference.
type RGB struct {
	W, H int
	Pix  []byte
}

// Limits guard decoding of outside input: without them a few bytes of
// forged header can make the decoder allocate gigabytes.
type Limits struct {
	// MaxPixels caps width×height as declared by the header. Zero or
	// negative means DefaultMaxPixels.
	MaxPixels int64
	// MaxBytes caps the size of the encoded input. Zero or negative means
	// DefaultMaxBytes.
	MaxBytes int64
}

// Defaults for Limits: 40 MP covers any phone or DSLR photo, 64 MiB any
// sane JPEG or PNG of that size.
const (
	DefaultMaxPixels int64 = 40_000_000
	DefaultMaxBytes  int64 = 64 << 20
)

// DefaultLimits returns the limits used when a field is left zero.
func DefaultLimits() Limits {
	return Limits{MaxPixels: DefaultMaxPixels, MaxBytes: DefaultMaxBytes}
}

// WithDefaults fills the fields left zero (or negative) with the defaults.
func (l Limits) WithDefaults() Limits {
	if l.MaxPixels <= 0 {
		l.MaxPixels = DefaultMaxPixels
	}
	if l.MaxBytes <= 0 {
		l.MaxBytes = DefaultMaxBytes
	}
	return l
}

// Errors returned by this package; match them with errors.Is. The returned
// error wraps one of these and adds the specifics (dimensions, decoder
// message), so log err.Error() and branch on the sentinel or on Reason.
var (
	ErrEmpty       = errors.New("imagex: input is empty (0 bytes); check that the sender attaches the image body")
	ErrNotImage    = errors.New("imagex: input is not a supported image; send JPEG or PNG (GIF, BMP and WebP are also accepted)")
	ErrTruncated   = errors.New("imagex: image data is truncated")
	ErrCorrupt     = errors.New("imagex: image data is corrupt")
	ErrTooLarge    = errors.New("imagex: image is too large")
	ErrZeroSize    = errors.New("imagex: image header declares zero width or height")
	ErrUnsupported = errors.New("imagex: image uses an unsupported encoding variant")
)

// Reason maps an error from this package to a short, stable token for
// metrics labels and dead-letter records, where full messages would explode
// cardinality. It returns "" for nil, "io" for file-system errors from
// DecodeFile and "error" for anything else it does not know.
func Reason(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, ErrEmpty):
		return "empty"
	case errors.Is(err, ErrNotImage):
		return "not_image"
	case errors.Is(err, ErrTruncated):
		return "truncated"
	case errors.Is(err, ErrCorrupt):
		return "corrupt"
	case errors.Is(err, ErrTooLarge):
		return "too_large"
	case errors.Is(err, ErrZeroSize):
		return "zero_size"
	case errors.Is(err, ErrUnsupported):
		return "unsupported"
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return "io"
	}
	return "error"
}

func truncatedf(format string, args ...any) error {
	return fmt.Errorf("%w: %s; re-send the complete file (check upload size limits and partial reads)",
		ErrTruncated, fmt.Sprintf(format, args...))
}

func corruptf(format string, args ...any) error {
	return fmt.Errorf("%w: %s; re-capture or re-encode the image",
		ErrCorrupt, fmt.Sprintf(format, args...))
}

func unsupportedf(format string, args ...any) error {
	return fmt.Errorf("%w: %s; re-encode it as baseline 8-bit JPEG or as PNG",
		ErrUnsupported, fmt.Sprintf(format, args...))
}

func tooManyPixels(format string, w, h int, max int64) error {
	return fmt.Errorf("%w: %s header declares %d×%d = %d pixels, over the limit of %d; "+
		"downscale at the source, or raise the limit (--max-pixels, Limits.MaxPixels) if such images are expected",
		ErrTooLarge, format, w, h, int64(w)*int64(h), max)
}

func tooManyBytes(n, max int64) error {
	return fmt.Errorf("%w: input is %d bytes, over the limit of %d bytes; "+
		"compress harder at the source, or raise Limits.MaxBytes if such files are expected",
		ErrTooLarge, n, max)
}

func zeroSize(format string, w, h int) error {
	return fmt.Errorf("%w: %s header says %d×%d; the file is damaged or was written by a broken encoder",
		ErrZeroSize, format, w, h)
}

// Info reads only the header, so callers can route or reject an image
// without paying for a decode. format is "jpeg", "png", "gif", "bmp" or
// "webp". It does not apply Limits; compare w×h yourself if needed.
func Info(data []byte) (format string, w, h int, err error) {
	hd, err := parseHeader(data)
	if err != nil {
		return hd.format, 0, 0, err
	}
	return hd.format, hd.w, hd.h, nil
}

// DecodeFile decodes the image in the file at path. It checks the file size
// against l.MaxBytes before reading, so pointing it at a huge file costs
// nothing. It creates a Decoder per call; loops should keep their own.
func DecodeFile(path string, l Limits) (*RGB, error) {
	l = l.WithDefaults()
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	var data []byte
	if fi.Mode().IsRegular() {
		switch size := fi.Size(); {
		case size == 0:
			return nil, fmt.Errorf("%s: %w", path, ErrEmpty)
		case size > l.MaxBytes:
			return nil, fmt.Errorf("%s: %w", path, tooManyBytes(size, l.MaxBytes))
		default:
			data = make([]byte, 0, size+1) // +1 lets ReadAll see EOF without growing
		}
	}
	// Read at most one byte past the limit: the file may grow after Stat, or
	// not be a regular file at all.
	buf := &byteBuf{b: data}
	if _, err := io.Copy(buf, io.LimitReader(f, l.MaxBytes+1)); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if int64(len(buf.b)) > l.MaxBytes {
		return nil, fmt.Errorf("%s: %w", path, tooManyBytes(int64(len(buf.b)), l.MaxBytes))
	}
	d := NewDecoder(l)
	defer d.Close()
	var m RGB
	if err := d.Decode(buf.b, &m); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &m, nil
}

// byteBuf is an append-only io.Writer over a caller-sized slice.
type byteBuf struct{ b []byte }

func (w *byteBuf) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}

// RetainBytes is the largest pixel buffer an RGB keeps from one decode to
// the next: a 4K UHD frame (3840×2160, 24.9 MB). Streams up to that size
// decode without allocating. A larger image (a 6000×6000 still is 108 MB
// and within DefaultMaxPixels) gets a buffer of its own that is not kept:
// otherwise one such frame would pin its size in every long-lived decode
// target, per worker, for the life of the process.
const RetainBytes = 3840 * 2160 * 3

// Trim lets go of m's pixel buffer if it is larger than RetainBytes,
// leaving m empty (W = H = 0); a smaller buffer stays for reuse. Call it
// when done with an image: the next decode would drop an oversized buffer
// too, but an idle stream may not decode again for hours. The garbage
// collector then frees the buffer, but the runtime keeps its pages from
// the OS for a while (for good, measured, after a burst of such frames);
// a long-running caller that wants the RSS back follows a Trim of a huge
// image with debug.FreeOSMemory.
func (m *RGB) Trim() {
	if cap(m.Pix) > RetainBytes {
		*m = RGB{}
	}
}

// resize sets m to w×h, reusing Pix when its capacity suffices and is not
// an oversized buffer left by a larger image.
func (m *RGB) resize(w, h int) {
	n := w * h * 3
	if c := cap(m.Pix); c < n || c > max(n, RetainBytes) {
		m.Pix = make([]byte, n)
	} else {
		m.Pix = m.Pix[:n]
	}
	m.W, m.H = w, h
}

// reset marks m empty after a failed decode so nobody uses stale or
// half-written pixels; the capacity is kept for the next frame unless it
// is over RetainBytes.
func (m *RGB) reset() {
	m.Trim()
	m.W, m.H = 0, 0
	m.Pix = m.Pix[:0]
}
