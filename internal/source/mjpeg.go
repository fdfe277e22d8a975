package source

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/framecast/framecast/internal/imagex"
)

// HTTP cameras come in three kinds, told apart by the response's
// Content-Type: an MJPEG stream (multipart/x-mixed-replace, one JPEG per
// part), read here without ffmpeg; a snapshot URL (image/jpeg, one JPEG
// per request), polled here; anything else (HLS, progressive MP4 or TS,
// octet-stream) is left to ffmpeg through the fallback dialer.

const (
	// httpCameraTimeout bounds connecting to a camera and waiting for its
	// response headers. It does not bound the body: an MJPEG response
	// lasts as long as the camera streams, and a camera that stops
	// sending is caught by the supervisor's stall timeout.
	httpCameraTimeout = 10 * time.Second
	// httpCameraUserAgent is sent so a camera's access log says who reads it.
	httpCameraUserAgent = "framecast"
	// mjpegBufSize is the read buffer of an MJPEG stream. It also bounds a
	// header line: a longer one makes the part corrupt.
	mjpegBufSize = 64 << 10
	// mjpegMaxHeaderLines bounds a part's header block, so a stream of
	// text without blank lines cannot keep the parser in its headers.
	mjpegMaxHeaderLines = 64
	// mjpegDelimSlack is how much whitespace (the RFC's "transport
	// padding") may follow a boundary on its line.
	mjpegDelimSlack = 64
)

// mjpegStats counts what one HTTP camera stream did since it was dialled.
// Corrupt and Skipped parts are never delivered; a camera whose Corrupt
// count grows sends broken JPEGs or a body this reader does not
// understand.
type mjpegStats struct {
	Frames  int64 // frames returned by Next
	Corrupt int64 // parts dropped as broken: not FF D8 … FF D9, no frame size, cut short, larger than MaxFrameSize, unreadable headers
	Skipped int64 // parts dropped on purpose: a Content-Type other than JPEG, or over the fps or every limits
}

// mjpegCounters are the live counters behind mjpegStats; Stats may be read
// from another goroutine than Next.
type mjpegCounters struct {
	frames, corrupt, skipped atomic.Int64
}

func (c *mjpegCounters) stats() mjpegStats {
	return mjpegStats{Frames: c.frames.Load(), Corrupt: c.corrupt.Load(), Skipped: c.skipped.Load()}
}

// httpCamera dials one camera URL.
type httpCamera struct {
	url      string // as given, credentials included: only ever sent to the camera
	redacted string // for logs and errors: the password replaced by xxxxx
	hasUser  bool
	err      error // a URL that cannot work; every dial returns it

	cfg      liveConfig
	maxFrame int
	client   *http.Client
	fallback dialer
	// finiteFallback, when set, reads what ends (an HLS playlist with
	// #EXT-X-ENDLIST, a video file with a length) through ffmpeg paced
	// and ended like a file, instead of replaying it as a live stream.
	finiteFallback dialer
	headerTimeout  time.Duration

	mu     sync.Mutex
	logged string // the reader last logged, so each choice is logged once
}

// newHTTPDialer returns the dialer of an http(s):// camera. Each dial sends
// one GET and picks a reader by the response's Content-Type: MJPEG parts
// parsed in Go, a polled snapshot URL, or fallback (ffmpeg) for anything
// else. client nil builds one with connect and response-header timeouts;
// a client given must have no Timeout, which would cut a live stream.
// User and password in the URL are sent as Basic authentication.
func newHTTPDialer(rawURL string, cfg liveConfig, client *http.Client, fallback dialer) dialer {
	return newHTTPCamera(rawURL, cfg, client, fallback).dial
}

func newHTTPCamera(rawURL string, cfg liveConfig, client *http.Client, fallback dialer) *httpCamera {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	c := &httpCamera{url: rawURL, redacted: "(invalid URL)", cfg: cfg, maxFrame: cfg.MaxFrameSize,
		client: client, fallback: fallback, headerTimeout: httpCameraTimeout}
	if c.maxFrame <= 0 {
		c.maxFrame = DefaultMaxFrameSize
	}
	if c.client == nil {
		c.client = &http.Client{Transport: &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           (&net.Dialer{Timeout: httpCameraTimeout, KeepAlive: 30 * time.Second}).DialContext,
			TLSHandshakeTimeout:   httpCameraTimeout,
			ResponseHeaderTimeout: httpCameraTimeout,
			IdleConnTimeout:       90 * time.Second,
			// JPEGs do not compress, and a gzip layer on a live stream
			// only adds buffering, hence latency.
			DisableCompression: true,
		}}
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		// url.Error repeats the URL, password included: keep only the cause.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		c.err = fmt.Errorf("camera URL is not valid (%v); write it as http://[user:password@]host[:port]/path: %w", err, errPermanent)
		return c
	}
	c.redacted = redact(rawURL)
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		c.err = fmt.Errorf("camera URL %s: want http://[user:password@]host[:port]/path or https://…: %w", c.redacted, errPermanent)
		return c
	}
	c.hasUser = u.User != nil
	return c
}

// dial connects to the camera. The stream outlives ctx: ctx bounds the
// connection and the wait for the response headers only, and the
// supervisor ends the stream with Close.
func (c *httpCamera) dial(ctx context.Context) (stream, error) {
	if c.err != nil {
		return nil, c.err
	}
	base, cancelBase := context.WithCancel(context.WithoutCancel(ctx))
	reqCtx, cancelReq := context.WithCancel(base)
	stop := context.AfterFunc(ctx, cancelReq)
	resp, err := c.get(reqCtx, cancelReq)
	if !stop() || err != nil {
		if resp != nil {
			resp.Body.Close()
		}
		cancelBase()
		if ctx.Err() != nil {
			return nil, fmt.Errorf("camera %s: %w", c.redacted, ctx.Err())
		}
		return nil, err
	}

	if resp.StatusCode != http.StatusOK {
		if c.wantsDigest(resp) {
			// net/http only does Basic authentication; ffmpeg does
			// Digest, which many IP cameras require.
			discardBody(resp)
			cancelBase()
			c.logReader("ffmpeg", "reason", "the camera asks for Digest authentication")
			return c.fallback(ctx)
		}
		err := c.statusErr(resp)
		discardBody(resp)
		cancelBase()
		return nil, err
	}

	ctype := resp.Header.Get("Content-Type")
	mediaType, boundary := mjpegMediaType(ctype)
	switch {
	case mediaType == "multipart/x-mixed-replace" || mediaType == "multipart/mixed":
		c.logReader("mjpeg", "content_type", mediaType)
		return c.newMJPEGStream(resp, cancelBase, boundary), nil
	case mjpegIsJPEGType(mediaType):
		s := c.newSnapshotStream(base, cancelBase, resp, cancelReq)
		c.logReader("snapshot", "content_type", mediaType, "fps", float64(time.Second)/float64(s.interval))
		return s, nil
	}
	finite := c.finiteFallback != nil && httpFinite(resp, mediaType)
	resp.Body.Close()
	cancelBase()
	if c.fallback == nil {
		return nil, fmt.Errorf("camera %s sends %q, which only ffmpeg reads; install ffmpeg", c.redacted, ctype)
	}
	if finite {
		c.logReader("ffmpeg", "content_type", ctype, "finite", true)
		return c.finiteFallback(ctx)
	}
	c.logReader("ffmpeg", "content_type", ctype)
	return c.fallback(ctx)
}

// httpFinite reports whether a response is a recording rather than a live
// stream: an HLS playlist that says #EXT-X-ENDLIST (VOD), or a video with a
// Content-Length (live streams over HTTP are open-ended).
func httpFinite(resp *http.Response, mediaType string) bool {
	switch strings.ToLower(mediaType) {
	case "application/vnd.apple.mpegurl", "application/x-mpegurl", "audio/mpegurl", "audio/x-mpegurl", "text/plain":
		// Playlists are small; a longer one is read only this far.
		// (text/plain: servers that do not know .m3u8.)
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		return bytes.HasPrefix(bytes.TrimSpace(b), []byte("#EXTM3U")) && bytes.Contains(b, []byte("#EXT-X-ENDLIST"))
	}
	return resp.ContentLength > 0 && (strings.HasPrefix(mediaType, "video/") || mediaType == "application/mp4")
}

// get sends one GET in ctx, which cancel ends. The camera must answer
// within headerTimeout, whatever the client: a camera that accepts the
// connection and then says nothing would otherwise hang the dial.
func (c *httpCamera) get(ctx context.Context, cancel context.CancelFunc) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url, nil)
	if err != nil {
		return nil, fmt.Errorf("camera %s: %w", c.redacted, err)
	}
	req.Header.Set("User-Agent", httpCameraUserAgent)
	var timedOut atomic.Bool
	timer := time.AfterFunc(c.headerTimeout, func() { timedOut.Store(true); cancel() })
	resp, err := c.client.Do(req)
	if !timer.Stop() && err == nil {
		// The timer fired as the headers arrived: the body is cut already.
		resp.Body.Close()
		err = context.Canceled
	}
	if timedOut.Load() {
		return nil, fmt.Errorf("camera %s did not answer within %v: check that the camera is on and the host and port are right",
			c.redacted, c.headerTimeout)
	}
	if err != nil {
		return nil, c.requestErr(err)
	}
	return resp, nil
}

// requestErr explains a failed request without repeating the URL that
// net/http puts in its errors.
func (c *httpCamera) requestErr(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	hint := ""
	var certErr *tls.CertificateVerificationError
	var opErr *net.OpError
	switch {
	case errors.As(err, &certErr):
		hint = " (the camera's certificate is not trusted: add its CA to the system's certificates, or use http://)"
	case errors.As(err, &opErr):
		hint = " (check that the camera is on and the host and port are right)"
	}
	return fmt.Errorf("camera %s: %w%s", c.redacted, err, hint)
}

// statusErr explains a response other than 200. 401, 403 and 404 are
// retried like any failure: cameras answer them while they boot.
func (c *httpCamera) statusErr(resp *http.Response) error {
	var hint string
	switch code := resp.StatusCode; {
	case code == http.StatusUnauthorized || code == http.StatusForbidden:
		if c.hasUser {
			hint = "check the user and password in the URL"
		} else {
			hint = "the camera wants a login: check the user and password in the URL (http://user:password@host/path)"
		}
	case code == http.StatusNotFound:
		hint = "check the path: the camera's manual or web page gives its MJPEG or snapshot URL"
	case code >= 500:
		hint = "the camera failed to serve the stream"
	default:
		hint = "the camera should answer 200 OK with an MJPEG stream, a JPEG or a video"
	}
	return fmt.Errorf("camera %s: HTTP %s: %s", c.redacted, resp.Status, hint)
}

// wantsDigest reports a 401 that asks for Digest authentication of a URL
// with credentials, which net/http cannot answer and ffmpeg can.
func (c *httpCamera) wantsDigest(resp *http.Response) bool {
	if resp.StatusCode != http.StatusUnauthorized || !c.hasUser || c.fallback == nil {
		return false
	}
	for _, v := range resp.Header.Values("Www-Authenticate") {
		if len(v) >= 6 && strings.EqualFold(v[:6], "digest") {
			return true
		}
	}
	return false
}

// logReader says at Info which reader the camera gets, once per change:
// reconnects to the same kind of response say nothing.
func (c *httpCamera) logReader(reader string, attrs ...any) {
	c.mu.Lock()
	same := c.logged == reader
	c.logged = reader
	c.mu.Unlock()
	if !same {
		c.cfg.Log.Info("http camera", append([]any{"url", c.redacted, "reader", reader}, attrs...)...)
	}
}

// discardBody reads a little of an unwanted body so the connection can be
// reused, then closes it.
func discardBody(resp *http.Response) {
	io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
	resp.Body.Close()
}

// mjpegMediaType returns the lower-case media type of a Content-Type and
// its boundary parameter as given (leading dashes and all). Cameras write
// headers mime.ParseMediaType rejects, so those are split by hand.
func mjpegMediaType(ctype string) (mediaType, boundary string) {
	if mt, params, err := mime.ParseMediaType(ctype); err == nil {
		return mt, params["boundary"]
	}
	parts := strings.Split(ctype, ";")
	mediaType = strings.ToLower(strings.TrimSpace(parts[0]))
	for _, p := range parts[1:] {
		k, v, ok := strings.Cut(p, "=")
		if ok && strings.EqualFold(strings.TrimSpace(k), "boundary") {
			boundary = strings.Trim(strings.TrimSpace(v), `"`)
		}
	}
	return mediaType, boundary
}

// mjpegIsJPEGType accepts the JPEG media types cameras use, including the
// non-standard image/jpg and image/pjpeg.
func mjpegIsJPEGType(mediaType string) bool {
	return strings.HasPrefix(mediaType, "image/") &&
		(strings.Contains(mediaType, "jpeg") || strings.Contains(mediaType, "jpg"))
}

// mjpegStream reads one multipart/x-mixed-replace response.
type mjpegStream struct {
	camera string // redacted URL
	body   io.ReadCloser
	cancel context.CancelFunc // ends the request, which unblocks a Read
	r      *mjpegReader
	every  int
	seen   int64 // valid frames, for every
	pace   mjpegPacer

	closed atomic.Bool
	once   sync.Once
	counts mjpegCounters
}

func (c *httpCamera) newMJPEGStream(resp *http.Response, cancel context.CancelFunc, boundary string) *mjpegStream {
	s := &mjpegStream{camera: c.redacted, body: resp.Body, cancel: cancel, every: c.cfg.Every}
	if c.cfg.FPS > 0 {
		s.pace.interval = time.Duration(float64(time.Second) / c.cfg.FPS)
	}
	s.r = newMJPEGReader(resp.Body, boundary, c.maxFrame, mjpegBufSize, &s.counts)
	return s
}

// Next returns the next JPEG part. A cancelled ctx ends the response as
// well as this call: the stream cannot resume in the middle of a part, and
// the supervisor dials again.
func (s *mjpegStream) Next(ctx context.Context) (Frame, error) {
	if s.closed.Load() {
		return Frame{}, fmt.Errorf("camera %s: stream closed", s.camera)
	}
	if err := ctx.Err(); err != nil {
		return Frame{}, err
	}
	stop := context.AfterFunc(ctx, s.cancel)
	defer stop()
	for {
		jpg, w, h, err := s.r.next()
		if err != nil {
			switch {
			case ctx.Err() != nil:
				return Frame{}, ctx.Err()
			case s.closed.Load():
				return Frame{}, fmt.Errorf("camera %s: stream closed", s.camera)
			case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
				// A live camera does not end: this is a failure to
				// reconnect from, not ErrEndOfInput.
				return Frame{}, fmt.Errorf("camera %s closed the stream", s.camera)
			}
			return Frame{}, fmt.Errorf("camera %s: reading the MJPEG stream: %w", s.camera, err)
		}
		now := time.Now()
		s.seen++
		if s.every > 1 && (s.seen-1)%int64(s.every) != 0 || !s.pace.allow(now) {
			s.counts.skipped.Add(1)
			continue
		}
		s.counts.frames.Add(1)
		return Frame{JPEG: jpg, Width: w, Height: h, CapturedAt: now}, nil
	}
}

// Close ends the response; a Next blocked in a read returns an error.
func (s *mjpegStream) Close() error {
	s.once.Do(func() {
		s.closed.Store(true)
		s.cancel()
		s.body.Close()
	})
	return nil
}

// Stats returns the stream's counters.
func (s *mjpegStream) Stats() mjpegStats { return s.counts.stats() }

// mjpegPacer keeps at most one frame per interval. Frames up to half an
// interval early still pass, so a camera sending at exactly the limit is
// not halved by its jitter; over any span the rate stays within the limit
// plus a frame or two, and the long-run rate never exceeds it.
type mjpegPacer struct {
	interval time.Duration // 0: no limit
	due      time.Time
}

func (p *mjpegPacer) allow(now time.Time) bool {
	if p.interval <= 0 {
		return true
	}
	if !p.due.IsZero() && now.Before(p.due.Add(-p.interval/2)) {
		return false
	}
	// After a gap (a slow camera, a pause), start the schedule again
	// rather than let a burst catch up.
	if p.due.IsZero() || now.Sub(p.due) > p.interval {
		p.due = now
	}
	p.due = p.due.Add(p.interval)
	return true
}

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

// snapshotStream polls a URL that answers one JPEG per request.
type snapshotStream struct {
	c        *httpCamera
	base     context.Context // ends with Close
	cancel   context.CancelFunc
	interval time.Duration
	last     time.Time // when the last request was sent

	mu            sync.Mutex
	pending       *http.Response // the dial's response, not read yet
	pendingCancel context.CancelFunc

	closed atomic.Bool
	once   sync.Once
	counts mjpegCounters
}

func (c *httpCamera) newSnapshotStream(base context.Context, cancel context.CancelFunc, resp *http.Response, cancelReq context.CancelFunc) *snapshotStream {
	fps := c.cfg.FPS
	if fps <= 0 {
		fps = 1 // a snapshot costs the camera a request: poll gently unless asked
	}
	return &snapshotStream{c: c, base: base, cancel: cancel, interval: time.Duration(float64(time.Second) / fps),
		last: time.Now(), pending: resp, pendingCancel: cancelReq}
}

// Next returns the next snapshot, requested one interval after the
// previous request. A snapshot that is not a valid JPEG is counted corrupt
// and the next one requested; a failed request or a status other than 200
// ends the stream.
func (s *snapshotStream) Next(ctx context.Context) (Frame, error) {
	for {
		if s.closed.Load() {
			return Frame{}, fmt.Errorf("camera %s: stream closed", s.c.redacted)
		}
		s.mu.Lock()
		resp, cancel := s.pending, s.pendingCancel
		s.pending, s.pendingCancel = nil, nil
		s.mu.Unlock()
		if resp == nil {
			if wait := time.Until(s.last.Add(s.interval)); wait > 0 {
				t := time.NewTimer(wait)
				select {
				case <-ctx.Done():
					t.Stop()
					return Frame{}, ctx.Err()
				case <-s.base.Done():
					t.Stop()
					continue // closed
				case <-t.C:
				}
			}
			var reqCtx context.Context
			reqCtx, cancel = context.WithCancel(s.base)
			s.last = time.Now()
			stop := context.AfterFunc(ctx, cancel)
			var err error
			resp, err = s.c.get(reqCtx, cancel)
			stop()
			if err != nil {
				cancel()
				return Frame{}, s.failed(ctx, err)
			}
			if resp.StatusCode != http.StatusOK {
				err := s.c.statusErr(resp)
				discardBody(resp)
				cancel()
				return Frame{}, err
			}
		}
		frame, ok, err := s.read(ctx, resp, cancel)
		if err != nil {
			return Frame{}, s.failed(ctx, err)
		}
		if ok {
			s.counts.frames.Add(1)
			return frame, nil
		}
		s.counts.corrupt.Add(1)
	}
}

// read reads one snapshot body, at most MaxFrameSize of it.
func (s *snapshotStream) read(ctx context.Context, resp *http.Response, cancel context.CancelFunc) (Frame, bool, error) {
	stop := context.AfterFunc(ctx, cancel)
	defer func() {
		stop()
		resp.Body.Close()
		cancel()
	}()
	if resp.ContentLength > int64(s.c.maxFrame) {
		return Frame{}, false, nil
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, int64(s.c.maxFrame)+1))
	if err != nil {
		return Frame{}, false, err
	}
	jpg, w, h, ok := mjpegCheck(data, s.c.maxFrame)
	if !ok {
		return Frame{}, false, nil
	}
	return Frame{JPEG: jpg, Width: w, Height: h, CapturedAt: time.Now()}, true, nil
}

func (s *snapshotStream) failed(ctx context.Context, err error) error {
	switch {
	case ctx.Err() != nil:
		return ctx.Err()
	case s.closed.Load():
		return fmt.Errorf("camera %s: stream closed", s.c.redacted)
	}
	return err
}

// Close stops polling; a Next waiting or reading returns an error.
func (s *snapshotStream) Close() error {
	s.once.Do(func() {
		s.closed.Store(true)
		s.cancel()
		s.mu.Lock()
		if s.pending != nil {
			s.pending.Body.Close()
			s.pending = nil
		}
		s.mu.Unlock()
	})
	return nil
}

// Stats returns the stream's counters.
func (s *snapshotStream) Stats() mjpegStats { return s.counts.stats() }
