package source

import (
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
	"strings"
	"sync"
	"sync/atomic"
	"time"
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
