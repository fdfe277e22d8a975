// Package source produces camera frames as JPEG bytes: a Source is one
// camera, chosen by a URI.
//
// Sources, chosen by URI (see Open and the README):
//
//	synthetic:[?options]        the face-api sample photos filmed by a virtual
//	                            camera that pans, zooms, cuts and crossfades
//	PATH, file://PATH           an image, a directory of images or a glob
//	                            (name order, looped), or a video file (any
//	                            format ffmpeg reads)
//	rtsp://, rtmp://, srt://    network streams, through ffmpeg
//	http://, https://           MJPEG IP cameras (multipart/x-mixed-replace,
//	                            parsed in Go), JPEG snapshot URLs, or HLS and
//	                            progressive video through ffmpeg, chosen by
//	                            the response's content type
//	/dev/videoN, v4l2://...     webcams, through ffmpeg's v4l2 input
//	lavfi:GRAPH                 an ffmpeg test source (lavfi filter graph)
//
// Video, network and webcam sources run supervised (see Supervised):
// reconnect with backoff, stall watchdog, newest-frame delivery.
//
// Images and synthetic frames are not paced: Next returns the next frame
// as soon as it is ready and the caller (the publisher) decides when to
// ask. Supervised sources are paced by the camera (SelfPaced). A source is
// used by one goroutine at a time, apart from Close.
package source

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"time"

	"github.com/framecast/framecast/internal/models"
)

// Source is one camera.
type Source interface {
	// Next returns the next frame. Finite sources return an error
	// wrapping ErrEndOfInput after their last frame. The returned JPEG
	// belongs to the caller: sources never reuse it.
	Next(ctx context.Context) (Frame, error)
	// Close releases the source. Next must not be called afterwards.
	Close() error
}

// Frame is one encoded camera frame.
type Frame struct {
	JPEG          []byte
	Width, Height int
	// CapturedAt is when the frame was ready, the way a camera driver
	// stamps a frame when it delivers it.
	CapturedAt time.Time
}

// FrameRater is implemented by sources that have a frame rate of their
// own (the synthetic source's fps option). The publisher paces such a
// camera at FPS instead of its default.
type FrameRater interface {
	FPS() float64
}

// ErrEndOfInput is returned (wrapped) by finite sources after their last
// frame.
var ErrEndOfInput = errors.New("end of input")

// ErrUnsupported is wrapped by Open for URIs of unknown schemes.
var ErrUnsupported = errors.New("unsupported source")

// Config are the defaults a URI may override.
type Config struct {
	// Width and Height are the synthetic frame size. Default 640×480.
	Width, Height int
	// FPS is the synthetic source's frame rate, which sets how far the
	// scene moves per frame. Default 10.
	FPS float64
	// JPEGQuality is used for frames this package encodes (synthetic, and
	// images that are not JPEG already). Default 80.
	JPEGQuality int
	// SamplesDir holds the photos of the synthetic source. Default: the
	// face-api samples in the model cache (`framecast models fetch`).
	SamplesDir string
	// Once plays image files and directories once, then returns
	// ErrEndOfInput, instead of looping.
	Once bool

	// The options below are for video files, network streams and
	// webcams (the sources read through ffmpeg or HTTP). A URI's
	// #fragment options (e.g. rtsp://cam/stream#fps=5&size=640x360)
	// override them per camera.

	// FFmpeg is the ffmpeg executable. Default "ffmpeg" from PATH.
	FFmpeg string
	// VideoWidth and VideoHeight scale video frames; 0 keeps the input's
	// size. For webcams they choose the capture size.
	VideoWidth, VideoHeight int
	// VideoFPS limits the frame rate of video sources; 0 keeps the
	// input's rate. For webcams it chooses the capture rate.
	VideoFPS float64
	// Every keeps every Nth frame of a video (0 or 1: all).
	Every int
	// Unpaced reads video files as fast as possible instead of at their
	// native frame rate (the publisher's --realtime=false, and analyze).
	Unpaced bool
	// Loop plays video files again from the start when they end.
	Loop bool
	// StallTimeout reconnects a source that delivered no frame for this
	// long. Default DefaultStallTimeout.
	StallTimeout time.Duration
	// BackoffMin and BackoffMax bound the pause before a reconnect: it
	// starts at BackoffMin and doubles, with jitter, up to BackoffMax.
	// Defaults DefaultBackoffMin and DefaultBackoffMax.
	BackoffMin, BackoffMax time.Duration
	// Log receives the sources' narration (connects, reconnects, ffmpeg's
	// own messages, rate-limited). Default: discarded.
	Log *slog.Logger
}

// Defaults for Config.
const (
	DefaultWidth       = 640
	DefaultHeight      = 480
	DefaultFPS         = 10.0
	DefaultJPEGQuality = 80
	// DefaultStallTimeout: a live camera that sends nothing for this long
	// is reconnected.
	DefaultStallTimeout = 10 * time.Second
	// DefaultBackoffMin and DefaultBackoffMax bound reconnect pauses.
	DefaultBackoffMin = 500 * time.Millisecond
	DefaultBackoffMax = 30 * time.Second
	// DefaultMaxFrameSize is the largest JPEG a stream may deliver; a
	// larger one is dropped and counted as corrupt.
	DefaultMaxFrameSize = 32 << 20
)

func (o Config) withDefaults() Config {
	if o.Width <= 0 || o.Height <= 0 {
		o.Width, o.Height = DefaultWidth, DefaultHeight
	}
	if o.FPS <= 0 {
		o.FPS = DefaultFPS
	}
	if o.JPEGQuality <= 0 {
		o.JPEGQuality = DefaultJPEGQuality
	}
	if o.FFmpeg == "" {
		o.FFmpeg = "ffmpeg"
	}
	if o.StallTimeout <= 0 {
		o.StallTimeout = DefaultStallTimeout
	}
	if o.BackoffMin <= 0 {
		o.BackoffMin = DefaultBackoffMin
	}
	if o.BackoffMax < o.BackoffMin {
		o.BackoffMax = max(DefaultBackoffMax, o.BackoffMin)
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.SamplesDir == "" {
		o.SamplesDir = models.At("").Samples()
	}
	return o
}

// uriScheme reports a URI scheme prefix: letters, digits, + - . then ':'.
// One letter followed by ':' is a Windows drive, not a scheme.
func uriScheme(s string) (string, bool) {
	i := strings.IndexByte(s, ':')
	if i < 2 {
		return "", false
	}
	for j, c := range s[:i] {
		alpha := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
		if !alpha && (j == 0 || !(c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.')) {
			return "", false
		}
	}
	return strings.ToLower(s[:i]), true
}
