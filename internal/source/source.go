// Package source produces camera frames as JPEG bytes: a Source is one
// camera, chosen by a URI.
//
// Sources in this version:
//
//	synthetic:[?options]   the face-api sample photos filmed by a virtual camera
//	                       that pans, zooms, cuts and crossfades (see Synthetic)
//	PATH                   an image file, or a directory of images played in
//	                       name order; both loop (file:// URIs work too)
//
// Video files, RTSP, HTTP MJPEG and webcams come with the sources issue; their
// schemes are rejected with an error that lists what is supported today.
//
// Sources are not paced: Next returns the next frame as soon as it is ready
// and the caller (the publisher) decides when to ask. A source is used by one
// goroutine at a time.
package source

import (
	"context"
	"errors"
	"fmt"
	"os"
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

// Options are the defaults a URI may override.
type Options struct {
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
}

// Defaults for Options.
const (
	DefaultWidth       = 640
	DefaultHeight      = 480
	DefaultFPS         = 10.0
	DefaultJPEGQuality = 80
)

func (o Options) withDefaults() Options {
	if o.Width <= 0 || o.Height <= 0 {
		o.Width, o.Height = DefaultWidth, DefaultHeight
	}
	if o.FPS <= 0 {
		o.FPS = DefaultFPS
	}
	if o.JPEGQuality <= 0 {
		o.JPEGQuality = DefaultJPEGQuality
	}
	if o.SamplesDir == "" {
		o.SamplesDir = models.At("").Samples()
	}
	return o
}

// Schemes lists the URI forms Open accepts, for usage texts and errors.
const Schemes = "synthetic:[?size=WxH&fps=N&seed=N&faces=sample1,sample4&quality=Q&dir=PATH], " +
	"an image file, or a directory of images (file:///path also works)"

// Open returns the source a URI names.
func Open(uri string, opts Options) (Source, error) {
	opts = opts.withDefaults()
	if opts.JPEGQuality > 100 {
		return nil, fmt.Errorf("JPEG quality %d: use 1 to 100", opts.JPEGQuality)
	}
	switch {
	case uri == "":
		return nil, fmt.Errorf("%w: empty source; use %s", ErrUnsupported, Schemes)
	case strings.HasPrefix(uri, "synthetic:"):
		return NewSyntheticURI(uri, opts)
	case strings.HasPrefix(uri, "file://"):
		return openPath(strings.TrimPrefix(uri, "file://"), opts)
	}
	if _, err := os.Stat(uri); err == nil {
		return openPath(uri, opts)
	}
	if scheme, ok := uriScheme(uri); ok {
		return nil, fmt.Errorf("%w %q: scheme %q is not supported; use %s "+
			"(video files, rtsp://, http:// MJPEG and webcams come in a later version)",
			ErrUnsupported, uri, scheme+":", Schemes)
	}
	return openPath(uri, opts)
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
