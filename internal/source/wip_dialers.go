package source

import "net/http"

// Temporary indirection while ffmpeg.go and mjpeg.go are written; replaced
// by direct calls once they exist.
var (
	wipFFmpegDialer func(ffmpegInput, liveConfig) dialer
	wipHTTPDialer   func(string, liveConfig, *http.Client, dialer) dialer
)

func newFFmpegDialerWIP(in ffmpegInput, cfg liveConfig) dialer {
	if wipFFmpegDialer == nil {
		return nil
	}
	return wipFFmpegDialer(in, cfg)
}

func newHTTPDialerWIP(u string, cfg liveConfig, c *http.Client, fb dialer) dialer {
	if wipHTTPDialer == nil {
		return nil
	}
	return wipHTTPDialer(u, cfg, c, fb)
}
