package source

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"sync/atomic"

	"github.com/framecast/framecast/internal/imagex"
)

// jpegSplitter cuts a byte stream of concatenated JPEGs into frames: the
// output of ffmpeg's image2pipe muxer, or a camera stream with junk
// between frames. It parses the JPEG structure instead of searching for
// FF D8 and FF D9, because those bytes legitimately occur inside a frame:
// an EXIF thumbnail in APP1 is a whole JPEG with its own SOI and EOI, a
// comment may contain anything, and a naive search cuts such frames in
// two. Marker segments are skipped by their length fields; in entropy-coded
// data an FF is always followed by 00 (stuffing), a restart marker or the
// marker that ends the scan, so the next marker is found without decoding.
// The walking is imagex's (ReadJPEGMarker, JPEGScanLen), on the bytes
// buffered: it says when it needs more.
//
// A splitter is used by one goroutine; Stats may be called from any.
type jpegSplitter struct {
	src      io.Reader
	r        *bufio.Reader
	maxFrame int
	// hint is the capacity of the next frame's buffer: the previous
	// frame's size plus a margin, so a steady stream allocates each frame
	// once instead of growing it.
	hint int
	// ended is set after the input ended inside a frame: the next call
	// reports a clean io.EOF.
	ended bool

	frames, truncated, oversized, garbage atomic.Int64
}

// splitStats counts what a splitter saw.
type splitStats struct {
	// Frames is the number of frames returned.
	Frames int64
	// Truncated counts frames dropped because a new frame started inside
	// them, the input ended inside them, or their structure was broken.
	Truncated int64
	// Oversized counts frames dropped for being larger than the limit.
	Oversized int64
	// GarbageBytes counts bytes skipped outside frames.
	GarbageBytes int64
}

// jpegSplitterBuffer is the read buffer: large enough to hold a typical
// 1080p frame, so most frames are scanned without refilling.
const jpegSplitterBuffer = 1 << 20

// errBadJPEG ends a frame whose structure is broken. It never leaves the
// splitter: the frame is dropped and counted.
var errBadJPEG = errors.New("malformed JPEG")

// newJPEGSplitter reads frames from r. Frames larger than maxFrame bytes
// are dropped (maxFrame <= 0: DefaultMaxFrameSize).
func newJPEGSplitter(r io.Reader, maxFrame int) *jpegSplitter {
	if maxFrame <= 0 {
		maxFrame = DefaultMaxFrameSize
	}
	// A small frame limit needs no big buffer (and the fuzz test, which
	// makes millions of splitters, does not pay for one).
	size := min(max(maxFrame, 4<<10), jpegSplitterBuffer)
	return &jpegSplitter{src: r, r: bufio.NewReaderSize(r, size), maxFrame: maxFrame, hint: 64 << 10}
}

// Stats returns the counters so far.
func (s *jpegSplitter) Stats() splitStats {
	return splitStats{
		Frames:       s.frames.Load(),
		Truncated:    s.truncated.Load(),
		Oversized:    s.oversized.Load(),
		GarbageBytes: s.garbage.Load(),
	}
}

// Next returns the next complete frame, freshly allocated, with the size
// its SOF segment declares. It returns io.EOF when the input ends between
// frames and io.ErrUnexpectedEOF when it ends inside one; other read errors
// are returned as they are.
func (s *jpegSplitter) Next() (jpeg []byte, width, height int, err error) {
	if s.ended {
		return nil, 0, 0, io.EOF
	}
	for {
		if err := s.findSOI(); err != nil {
			return nil, 0, 0, err
		}
		f := splitFrame{max: s.maxFrame}
		f.buf = make([]byte, 0, min(s.hint, s.maxFrame))
		err := s.readFrame(&f)
		switch {
		case err == nil && f.over:
			s.oversized.Add(1)
			continue
		case err == nil:
			s.frames.Add(1)
			s.hint = len(f.buf) + len(f.buf)/8 + 1024
			return f.buf, f.width, f.height, nil
		case errors.Is(err, errNewSOI):
			// The reader stands on the next frame's SOI.
			s.truncated.Add(1)
			continue
		case errors.Is(err, errBadJPEG):
			s.truncated.Add(1)
			s.replay(&f)
			continue
		case errors.Is(err, io.ErrUnexpectedEOF):
			s.truncated.Add(1)
			if s.replay(&f) {
				continue
			}
			s.ended = true
			return nil, 0, 0, io.ErrUnexpectedEOF
		default:
			return nil, 0, 0, err
		}
	}
}

// replay handles a frame that broke before a new SOI showed up: when the
// broken frame was cut short inside a marker segment, the segment's length
// field swallowed the start of the next frame. If the dropped bytes hold
// an SOI, reading resumes there, so a truncated frame costs only itself.
// It reports whether it found one.
func (s *jpegSplitter) replay(f *splitFrame) bool {
	if f.over || len(f.buf) < 4 {
		return false
	}
	k := bytes.Index(f.buf[1:], []byte{0xFF, 0xD8, 0xFF})
	if k < 0 {
		return false
	}
	buffered, _ := s.r.Peek(s.r.Buffered())
	pending := append(f.buf[1+k:len(f.buf):len(f.buf)], buffered...)
	// Reset keeps the buffer; what it held is in pending.
	s.r.Reset(io.MultiReader(bytes.NewReader(pending), s.src))
	return true
}

// errNewSOI: a frame was cut short by the start of the next one. The
// reader stands on the new SOI.
var errNewSOI = errors.New("new SOI inside a frame")

// splitFrame accumulates one frame. Once it exceeds max it stops storing
// bytes but the frame is still parsed to its end, so the splitter resyncs
// on the next frame's SOI instead of counting the rest as garbage.
type splitFrame struct {
	buf           []byte
	max           int
	over          bool
	width, height int
	sawSOF        bool
	sawSOS        bool
}

func (f *splitFrame) add(p []byte) {
	if f.over {
		return
	}
	if len(f.buf)+len(p) > f.max {
		f.over = true
		f.buf = nil
		return
	}
	f.buf = append(f.buf, p...)
}

// findSOI skips to the next FF D8 FF, counting what it skips as garbage.
// It returns io.EOF at the end of the input.
func (s *jpegSplitter) findSOI() error {
	for {
		b, err := s.buffered()
		if len(b) == 0 {
			return splitEOF(err)
		}
		i := bytes.IndexByte(b, 0xFF)
		if i < 0 {
			s.skipGarbage(len(b))
			continue
		}
		s.skipGarbage(i)
		p, err := s.r.Peek(3)
		if len(p) < 3 {
			// Fewer than three bytes left: not a frame.
			s.skipGarbage(len(p))
			return splitEOF(err)
		}
		if p[1] == 0xD8 && p[2] == 0xFF {
			return nil
		}
		s.skipGarbage(1)
	}
}

func (s *jpegSplitter) skipGarbage(n int) {
	if n > 0 {
		s.r.Discard(n)
		s.garbage.Add(int64(n))
	}
}

// buffered returns the bytes buffered in the reader, reading more when
// there are none. The slice is valid until the next read.
func (s *jpegSplitter) buffered() ([]byte, error) {
	if s.r.Buffered() == 0 {
		if _, err := s.r.Peek(1); err != nil {
			return nil, err
		}
	}
	b, _ := s.r.Peek(s.r.Buffered())
	return b, nil
}

// splitEOF maps a nil error (no data, no error: cannot happen with bufio, but
// be safe) to io.EOF.
func splitEOF(err error) error {
	if err == nil {
		return io.EOF
	}
	return err
}

// splitUnexpected turns io.EOF inside a frame into io.ErrUnexpectedEOF.
func splitUnexpected(err error) error {
	if err == nil || err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// readFrame parses one frame, the reader standing on its SOI.
func (s *jpegSplitter) readFrame(f *splitFrame) error {
	soi, _ := s.r.Peek(2)
	f.add(soi)
	s.r.Discard(2)
	for {
		m, p, err := s.peekMarker()
		if err != nil {
			return err
		}
		if m.Fill > 0 {
			// Fill bytes before a marker: taken, then the marker is
			// read again from its own FF.
			f.add(p[:m.Fill])
			s.r.Discard(m.Fill)
			continue
		}
		switch {
		case m.Code == imagex.JPEGSOI:
			return errNewSOI
		case m.Code == imagex.JPEGEOI:
			f.add(p[:2])
			s.r.Discard(2)
			if !f.sawSOF || !f.sawSOS {
				return errBadJPEG
			}
			return nil
		case m.Code == 0x00:
			return errBadJPEG
		case !imagex.JPEGHasLength(m.Code):
			// TEM and RSTn stand alone.
			f.add(p[:2])
			s.r.Discard(2)
			continue
		}
		if err := s.readSegment(f, m); err != nil {
			return err
		}
		if m.Code == imagex.JPEGSOS {
			f.sawSOS = true
			if err := s.skipScan(f); err != nil {
				return err
			}
		}
	}
}

// peekMarker reads the marker the reader stands on, with p the bytes it
// peeked, which start with the marker's header. It waits for no byte the
// marker does not need: the EOI that ends what a camera has sent so far
// ends the frame now, not when the next frame comes. With fill bytes
// before the marker, m.Fill counts them (some of them) and nothing else
// is read: the caller takes them and calls again.
func (s *jpegSplitter) peekMarker() (m imagex.JPEGMarker, p []byte, err error) {
	for n := 2; ; n = 4 {
		if p, err = s.r.Peek(n); len(p) < n {
			return m, p, splitUnexpected(err)
		}
		p, _ = s.r.Peek(max(n, min(s.r.Buffered(), 4))) // what is there anyway
		m, err = imagex.ReadJPEGMarker(p)
		switch {
		case m.Fill > 0:
			return m, p, nil
		case err == imagex.ErrJPEGShort && n == 2:
			continue // a length field is due: wait for it
		case err != nil:
			return m, p, errBadJPEG
		}
		return m, p, nil
	}
}

// readSegment copies a length-prefixed marker segment, the reader standing
// on it, and takes the frame size from SOF segments.
func (s *jpegSplitter) readSegment(f *splitFrame, m imagex.JPEGMarker) error {
	if imagex.JPEGIsSOF(m.Code) {
		// Precision, height, width; a frame header also has its
		// component count.
		h, err := s.r.Peek(m.Header() + 5)
		if len(h) < m.Header()+5 {
			return splitUnexpected(err)
		}
		if m.Len < 8 {
			return errBadJPEG
		}
		f.width, f.height, _ = imagex.JPEGFrameSize(h[m.Header():])
		f.sawSOF = true
	}
	hdr, _ := s.r.Peek(m.Header())
	f.add(hdr)
	s.r.Discard(m.Header())
	return s.copyN(f, m.Size()-m.Header())
}

// copyN copies n bytes into the frame.
func (s *jpegSplitter) copyN(f *splitFrame, n int) error {
	for n > 0 {
		b, err := s.buffered()
		if len(b) == 0 {
			return splitUnexpected(err)
		}
		k := min(n, len(b))
		f.add(b[:k])
		s.r.Discard(k)
		n -= k
	}
	return nil
}

// skipScan copies entropy-coded data up to the marker that ends it,
// leaving the reader on that marker.
func (s *jpegSplitter) skipScan(f *splitFrame) error {
	for {
		b, err := s.buffered()
		if len(b) == 0 {
			return splitUnexpected(err)
		}
		n, done := imagex.JPEGScanLen(b)
		f.add(b[:n])
		s.r.Discard(n)
		if done {
			return nil
		}
		if n == 0 {
			// An FF is all that is buffered: its next byte decides.
			if p, err := s.r.Peek(2); len(p) < 2 {
				return splitUnexpected(err)
			}
		}
	}
}
