package source

import (
	"context"
	"errors"
	"log/slog"
	"time"
)

// stream is one connection to a camera: one ffmpeg child, or one HTTP
// response. A stream is not restarted: when it fails, the supervisor
// (supervised.go) closes it and dials a new one after a backoff.
//
// Next blocks until the next complete frame, and returns an error
// wrapping ErrEndOfInput when the input ended cleanly (a video file played
// to its end), or any other error when the connection failed. Close
// unblocks a pending Next (which then returns an error) and releases
// everything, including child processes; it may be called from another
// goroutine than Next, and more than once.
type stream interface {
	Next(ctx context.Context) (Frame, error)
	Close() error
}

// dialer opens a new stream. It returns a permanent error (wrapped
// errPermanent) when retrying cannot help, such as a missing ffmpeg.
type dialer func(ctx context.Context) (stream, error)

// errPermanent marks dial errors that no reconnect can mend.
var errPermanent = errors.New("permanent")

// ErrNoFFmpeg is returned by Open for sources that need ffmpeg when no
// ffmpeg executable is found.
var ErrNoFFmpeg = errors.New("ffmpeg not found")

// liveConfig holds the options of video, network and webcam sources (the
// Config fields below, with defaults applied).
type liveConfig struct {
	FFmpeg       string        // ffmpeg executable (path or name in PATH)
	Width        int           // output width, 0: as the input
	Height       int           // output height, 0: as the input
	FPS          float64       // output frames per second, 0: as the input
	Every        int           // keep every Nth decoded frame, 0 or 1: all
	Quality      int           // JPEG quality 1-100 of frames ffmpeg encodes
	Realtime     bool          // files: paced at the native frame rate
	Loop         bool          // files: play again from the start at the end
	StallTimeout time.Duration // no frame for this long: reconnect
	MaxFrameSize int           // largest JPEG accepted from a stream
	Log          *slog.Logger
}

// inputKind is how ffmpeg opens an input.
type inputKind int

const (
	inputFile    inputKind = iota // a video file: -re (unless Unpaced), -stream_loop -1 with Loop
	inputNetwork                  // rtsp://, rtmp://, http(s):// (HLS, progressive), srt://, …
	inputV4L2                     // a webcam: -f v4l2 with capture size, rate and input format
	inputLavfi                    // an ffmpeg lavfi graph (test sources): -f lavfi
)

// ffmpegInput is one input for ffmpeg.
type ffmpegInput struct {
	Kind inputKind
	// Target is the file path, URL, device path or lavfi graph.
	Target string
	// InputFormat is the webcam's pixel format (-input_format: mjpeg,
	// yuyv422, …); empty lets ffmpeg choose.
	InputFormat string
	// Finite marks a network input that ends (an HLS playlist with
	// #EXT-X-ENDLIST, a video file over HTTP): it is paced like a file
	// (-re unless Unpaced) and its clean end ends the source instead of
	// replaying it.
	Finite bool
}
