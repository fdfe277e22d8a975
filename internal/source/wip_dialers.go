package source

import (
	"context"
	"errors"
	"net/http"
)

// Temporary indirection while ffmpeg.go and mjpeg.go are written; replaced
// by direct calls once they exist.
var (
	wipFFmpegDialer func(ffmpegInput, liveConfig) dialer
	wipHTTPDialer   func(string, liveConfig, *http.Client, dialer) dialer
)

func newFFmpegDialerWIP(in ffmpegInput, cfg liveConfig) dialer {
	if wipFFmpegDialer == nil {
		return func(context.Context) (stream, error) { return nil, errors.New("ffmpeg sources are not built yet") }
	}
	return wipFFmpegDialer(in, cfg)
}

func newHTTPDialerWIP(u string, cfg liveConfig, c *http.Client, fb dialer) dialer {
	if wipHTTPDialer == nil {
		return fb
	}
	return wipHTTPDialer(u, cfg, c, fb)
}
