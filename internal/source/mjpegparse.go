package source

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strconv"
	"strings"

	"github.com/framecast/framecast/internal/imagex"
)

// errMJPEGBadPart marks part headers that cannot be read; the reader drops
// the part and looks for the next boundary.
var errMJPEGBadPart = errors.New("unreadable part headers")

// mjpegReader splits a multipart body into JPEGs, tolerating what cameras
// send: boundaries with or without the RFC's "--", missing CRLFs, parts
// with or without Content-Length, headers it does not know, garbage
// between parts. It holds at most about max bytes of a part: a larger part
// is discarded while scanning for the next boundary.
type mjpegReader struct {
	br     *bufio.Reader
	delim  []byte // "--" + boundary without its leading dashes; nil until seen in the body
	window int    // how far back from a line end a delimiter can start
	max    int
	counts *mjpegCounters

	afterDelim bool  // positioned just after a delimiter line: part headers come next
	err        error // sticky: the body ended or failed
	sizeHint   int   // the last part's size, to allocate the next at once
	tail       []byte
	peak       int // most bytes held for one part, checked by the fuzz test
}

func newMJPEGReader(r io.Reader, boundary string, max, bufSize int, counts *mjpegCounters) *mjpegReader {
	m := &mjpegReader{br: bufio.NewReaderSize(r, bufSize), max: max, counts: counts}
	m.setBoundary(boundary)
	return m
}

// setBoundary takes the declared boundary with or without its "--": both
// forms are common, and the body is matched on what follows the dashes.
func (r *mjpegReader) setBoundary(b string) {
	core := strings.TrimLeft(b, "-")
	if core == "" {
		core = b
	}
	if core == "" {
		return // none declared: the first "--" line of the body sets it
	}
	r.delim = []byte("--" + core)
	r.window = len(r.delim) + 2 + mjpegDelimSlack
}

// next returns the next valid JPEG part with its size, dropping and
// counting the others. After an error it returns that error again.
func (r *mjpegReader) next() (jpg []byte, w, h int, err error) {
	for r.err == nil {
		if !r.afterDelim {
			if _, _, err := r.scan(false); err != nil {
				r.err = err
				break
			}
			r.afterDelim = true
		}
		ctype, length, err := r.headers()
		if err != nil {
			if err == errMJPEGBadPart {
				r.counts.corrupt.Add(1)
				r.afterDelim = false
				continue
			}
			r.err = err
			break
		}
		if ctype != "" && !mjpegIsJPEGType(mjpegPartType(ctype)) {
			r.counts.skipped.Add(1)
			r.afterDelim = false
			continue
		}

		if length > int64(r.max) {
			r.counts.corrupt.Add(1)
			r.afterDelim = false
			continue
		}
		body, ok := r.part(length)
		if !ok {
			continue
		}
		jpg, w, h, ok := mjpegCheck(body, r.max)
		if !ok {
			r.counts.corrupt.Add(1)
			continue
		}
		r.sizeHint = len(jpg)
		if cap(jpg)-len(jpg) > len(jpg)/4 {
			// The frame is the caller's and may be kept a while: do not
			// pin a mostly empty buffer.
			jpg = bytes.Clone(jpg)
		}
		return jpg, w, h, nil
	}
	return nil, 0, 0, r.err
}

// part reads a part's body: length bytes, or up to the next delimiter
// when length is 0. It reports false, with the part counted if it was
// broken, when there is nothing to check.
func (r *mjpegReader) part(length int64) ([]byte, bool) {
	if length > 0 {
		// Content-Length is trusted: JPEG data may hold anything, and
		// reading exactly that much never mistakes it for a boundary.
		// The CRLF and delimiter after it are skipped by the next scan.
		r.afterDelim = false
		buf := bytes.NewBuffer(make([]byte, 0, min(length, int64(mjpegBufSize)*4)))
		_, err := io.CopyN(buf, r.br, length)
		r.note(buf.Len())
		if err != nil {
			r.counts.corrupt.Add(1) // cut short by the end of the body
			r.err = err
			return nil, false
		}
		return buf.Bytes(), true
	}
	body, oversize, err := r.scan(true)
	r.afterDelim = err == nil
	r.err = err
	if oversize {
		r.counts.corrupt.Add(1)
		return nil, false
	}
	// At the end of the body without a final boundary the last part may
	// still be whole: it is checked like any other.
	return body, err == nil || len(bytes.TrimRight(body, "\r\n")) > 0
}

// headers reads a part's header block, up to the blank line that ends it
// or the first bytes of a JPEG (some cameras send no blank line, or no
// headers at all). Blank lines before the first header are skipped.
func (r *mjpegReader) headers() (ctype string, length int64, err error) {
	seen := false
	for i := 0; i < mjpegMaxHeaderLines; i++ {
		if p, _ := r.br.Peek(2); len(p) == 2 && p[0] == 0xFF && p[1] == 0xD8 {
			return ctype, length, nil
		}
		line, err := r.br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			return "", 0, errMJPEGBadPart
		}
		if len(line) == 0 && err != nil {
			return "", 0, err
		}
		if _, ok := r.delimEnd(line, true); ok {
			// An empty part: its headers start again.
			ctype, length, seen, i = "", 0, false, -1
			continue
		}
		t := bytes.TrimSpace(line)
		if len(t) == 0 {
			if seen {
				return ctype, length, nil
			}
		} else if k, v, ok := bytes.Cut(t, []byte(":")); ok {
			seen = true
			k, v = bytes.TrimSpace(k), bytes.TrimSpace(v)
			switch {
			case bytes.EqualFold(k, []byte("Content-Type")):
				ctype = string(v)
			case bytes.EqualFold(k, []byte("Content-Length")):
				// Unparsable or zero (some cameras send 0): read up
				// to the next boundary instead.
				if n, perr := strconv.ParseInt(string(v), 10, 64); perr == nil && n > 0 {
					length = n
				}
			}
		}
		if err != nil {
			return "", 0, err
		}
	}
	return "", 0, errMJPEGBadPart
}

// scan reads up to the end of the next delimiter line. With keep it
// returns the bytes before the delimiter, up to about max of them: past
// that it reports oversize and keeps only a tail to find the delimiter
// in. A delimiter is recognised at the end of a line, even with part data
// before it on the same line (cameras that send no CRLF after the JPEG),
// or at the end of the body.
func (r *mjpegReader) scan(keep bool) (body []byte, oversize bool, err error) {
	limit := r.max + r.window + 2
	if keep {
		body = make([]byte, 0, min(r.sizeHint+r.sizeHint/8+r.window+4, limit))
	}
	tail := r.tail[:0]
	tailLine := true // tail starts a line: scans start after a line or a Content-Length part
	atLineStart := true
	for {
		chunk, err := r.br.ReadSlice('\n')
		if keep && len(body)+len(chunk) > limit {
			keep, oversize, tailLine = false, true, false
			tail = append(tail, body[max(0, len(body)-r.window):]...)
			body = nil
		}
		var data []byte
		if keep {
			body = append(body, chunk...)
			data = body
			r.note(len(body))
		} else {
			tail = append(tail, chunk...)
			if len(tail) > 2*r.window {
				tail = append(tail[:0], tail[len(tail)-r.window:]...)
				tailLine = false
			}
			data = tail
		}
		lineEnd := len(chunk) > 0 && chunk[len(chunk)-1] == '\n'
		if lineEnd || err != nil && err != bufio.ErrBufferFull && len(data) > 0 {
			if r.delim == nil && atLineStart && r.adoptBoundary(chunk) {
				r.tail = tail[:0]
				return nil, oversize, nil // the line was the first delimiter
			}
			if n, ok := r.delimEnd(data, keep || tailLine); ok {
				r.tail = tail[:0]
				if keep {
					// The RFC's "--" before a boundary declared with
					// its own dashes stays behind: drop it.
					return bytes.TrimRight(body[:n], "-"), false, nil
				}
				return nil, oversize, nil
			}
		}
		atLineStart = lineEnd
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			r.tail = tail[:0]
			return body, oversize, err
		}
	}
}

// adoptBoundary takes the boundary from the body's first "--" line when
// the Content-Type declared none.
func (r *mjpegReader) adoptBoundary(line []byte) bool {
	t := bytes.TrimSpace(line)
	if len(t) < 3 || len(t) > 100 || t[0] != '-' || t[1] != '-' {
		return false
	}
	for _, c := range t {
		if c < 0x20 || c > 0x7e {
			return false
		}
	}
	r.setBoundary(string(bytes.TrimSuffix(t[2:], []byte("--"))))
	return r.delim != nil
}

// delimEnd reports whether data ends with a delimiter line (a delimiter,
// or a closing one with "--", then optional whitespace) and where the
// delimiter starts. Only the last window bytes (and the dashes before
// them) are looked at, so checking every line of a part costs the same
// whatever the part's size. startsLine tells whether data starts a line
// (a discarding scan keeps only a tail of what it read).
func (r *mjpegReader) delimEnd(data []byte, startsLine bool) (int, bool) {
	if r.delim == nil {
		return 0, false
	}
	win := data[max(0, len(data)-r.window):]
	t := bytes.TrimRight(win, " \t\r\n")
	m := 0
	switch {
	case bytes.HasSuffix(t, r.delim):
		m = len(r.delim)
	case bytes.HasSuffix(t, []byte("--")) && bytes.HasSuffix(t[:len(t)-2], r.delim):
		m = len(r.delim) + 2
	default:
		return 0, false
	}
	start := len(data) - len(win) + len(t) - m
	// The delimiter must start its line, or follow the end of a JPEG
	// (cameras that send no CRLF after it), past any extra dashes: a
	// short boundary would otherwise be found in JPEG data now and then.
	p := start
	for p > 0 && data[p-1] == '-' {
		p--
	}
	switch {
	case p == 0 && startsLine, p > 0 && data[p-1] == '\n', p >= 2 && data[p-2] == 0xFF && data[p-1] == 0xD9:
		return start, true
	}
	return 0, false
}

func (r *mjpegReader) note(n int) { r.peak = max(r.peak, n) }

// mjpegPartType is the lower-case media type of a part's Content-Type.
func mjpegPartType(ctype string) string {
	mt, _, _ := strings.Cut(ctype, ";")
	return strings.ToLower(strings.TrimSpace(mt))
}

// mjpegCheck returns a part's JPEG, trailing CR, LF and blanks removed
// (what a camera writes between the JPEG and the next delimiter) as well
// as leading CR and LF (an extra blank line after the headers), with its
// size, if it looks whole: FF D8 … FF D9, a frame header, at most max
// bytes. The entropy-coded data is not decoded: that is the consumers'
// job, and they count what they cannot decode.
func mjpegCheck(part []byte, max int) (jpg []byte, w, h int, ok bool) {
	jpg = bytes.TrimLeft(bytes.TrimRight(part, " \t\r\n"), "\r\n")
	n := len(jpg)
	if n < 4 || n > max || jpg[0] != 0xFF || jpg[1] != 0xD8 || jpg[n-2] != 0xFF || jpg[n-1] != 0xD9 {
		return nil, 0, 0, false
	}
	w, h, ok = jpegDims(jpg)
	if !ok {
		return nil, 0, 0, false
	}
	return jpg, w, h, true
}

// jpegDims reads a JPEG's size from its frame header (SOF0 to SOF15),
// walking the marker segments that precede it. It fails on a JPEG with no
// frame header before its scan, and on truncated or malformed segments.
// Segments are skipped by their length, so a thumbnail in an APP1 (EXIF)
// segment is not mistaken for the image.
func jpegDims(b []byte) (w, h int, ok bool) {
	if len(b) < 4 || b[0] != 0xFF || b[1] != imagex.JPEGSOI {
		return 0, 0, false
	}
	for i := 2; i < len(b); {
		m, err := imagex.ReadJPEGMarker(b[i:])
		switch {
		case err != nil:
			return 0, 0, false // garbage between segments, cut short or a bad length
		case m.Code == 0x00 || m.Code == imagex.JPEGEOI || m.Code == imagex.JPEGSOS:
			return 0, 0, false // stuffing, end of image or scan before any frame header
		case i+m.Size() > len(b):
			return 0, 0, false
		case imagex.JPEGIsSOF(m.Code):
			w, h, ok = imagex.JPEGFrameSize(b[i+m.Header() : i+m.Size()])
			if !ok || w == 0 || h == 0 {
				return 0, 0, false // height 0: given by a DNL marker later, which cameras do not use
			}
			return w, h, true
		}
		i += m.Size() // a segment, or TEM, RSTn and SOI, which have no length
	}
	return 0, 0, false
}
