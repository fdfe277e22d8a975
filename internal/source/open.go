package source

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Schemes lists the URI forms Open accepts, for usage texts and errors.
const Schemes = "synthetic:[?size=WxH&fps=N&seed=N&faces=sample1,sample4&quality=Q&dir=PATH], " +
	"an image file, a directory of images or a glob, a video file, rtsp:// rtmp:// srt:// http(s):// URLs, " +
	"/dev/videoN or v4l2:///dev/videoN, lavfi:GRAPH; " +
	"options after #: fps, size, every, quality, loop, realtime, format, stall (e.g. rtsp://cam/1#fps=5&size=640x360)"

// videoOptionKeys are the #fragment options of video, network and webcam
// URIs.
var videoOptionKeys = "fps, size, every, quality, loop, realtime, format, stall"

// networkSchemes are read by ffmpeg as network inputs.
var networkSchemes = map[string]bool{
	"rtsp": true, "rtsps": true, "rtmp": true, "rtmps": true, "srt": true,
	"udp": true, "tcp": true, "rtp": true, "mms": true, "mmsh": true,
}

// Open returns the source a URI names. Video, network and webcam sources
// connect in the background (see Supervised): Open fails only for what no
// retry can mend, such as a missing file, bad options or no ffmpeg.
func Open(uri string, opts Config) (Source, error) {
	opts, err := opts.checked()
	if err != nil {
		return nil, err
	}
	switch {
	case uri == "":
		return nil, fmt.Errorf("%w: empty source; use %s", ErrUnsupported, Schemes)
	case strings.HasPrefix(uri, "synthetic:"):
		return NewSyntheticURI(uri, opts)
	case strings.HasPrefix(uri, "lavfi:"):
		graph, frag, _ := strings.Cut(strings.TrimPrefix(uri, "lavfi:"), "#")
		if graph == "" {
			return nil, fmt.Errorf("source %q: empty filter graph; e.g. lavfi:testsrc2=size=640x480:rate=10", uri)
		}
		return openFFmpeg(uri, ffmpegInput{Kind: inputLavfi, Target: graph}, frag, opts, false, 0)
	case strings.HasPrefix(uri, "v4l2:"), strings.HasPrefix(uri, "/dev/video"):
		return openWebcam(uri, opts)
	case strings.HasPrefix(uri, "file://"):
		path := strings.TrimPrefix(uri, "file://")
		// file:///a%20b.mp4 names "/a b.mp4"; a path that is not valid
		// URL syntax is taken as it is.
		if u, err := url.Parse(uri); err == nil && u.Path != "" && u.Host == "" {
			path = u.Path
			if u.Fragment != "" {
				path += "#" + u.Fragment
			}
		}
		return openLocal(uri, path, opts)
	}
	if _, err := os.Stat(uri); err == nil {
		return openLocal(uri, uri, opts)
	}
	if scheme, ok := uriScheme(uri); ok {
		u, err := url.Parse(uri)
		if err != nil {
			// url.Error repeats the URL, password included.
			var ue *url.Error
			if errors.As(err, &ue) {
				err = ue.Err
			}
			return nil, fmt.Errorf("source %s: not a valid URL (%v); percent-encode special characters in the user and password (%% as %%25, / as %%2F, # as %%23)",
				redact(uri), err)
		}
		if strings.Contains(u.Fragment, "@") {
			// rtsp://admin:12#34@cam/x: the '#' of the password started
			// the options.
			return nil, fmt.Errorf("source %s: the URL's password seems to contain '#': percent-encode it as %%23", scheme+"://…")
		}
		frag := u.Fragment
		u.Fragment, u.RawFragment = "", ""
		switch {
		case scheme == "http" || scheme == "https":
			return openHTTP(u, frag, opts)
		case networkSchemes[scheme]:
			return openFFmpeg(u.String(), ffmpegInput{Kind: inputNetwork, Target: u.String()}, frag, opts, false, 0)
		}
		return nil, fmt.Errorf("%w %q: scheme %q is not supported; use %s", ErrUnsupported, redact(uri), scheme+":", Schemes)
	}
	return openLocal(uri, uri, opts)
}

// checked returns the options with their defaults, or the error of one
// out of range.
func (o Config) checked() (Config, error) {
	o = o.withDefaults()
	if o.JPEGQuality > 100 {
		return o, fmt.Errorf("JPEG quality %d: use 1 to 100", o.JPEGQuality)
	}
	return o, nil
}

// openLocal opens a path: a directory of images, a glob, an image file, or
// a video file. path may end in #options (video files).
func openLocal(uri, path string, opts Config) (Source, error) {
	frag := ""
	if _, err := os.Stat(path); err != nil {
		if p, f, ok := strings.Cut(path, "#"); ok {
			path, frag = p, f
		}
	}
	if strings.ContainsAny(path, "*?[") {
		if _, err := os.Stat(path); err != nil {
			return openGlob(path, opts)
		}
	}
	st, err := os.Stat(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("source %q: no such file or directory (sources: %s)", uri, Schemes)
		}
		return nil, fmt.Errorf("source %q: %w", uri, err)
	}
	if st.IsDir() || imageExts[strings.ToLower(filepath.Ext(path))] {
		if frag != "" {
			return nil, fmt.Errorf("source %q: #options apply to video, network and webcam sources, not images", uri)
		}
		return openPath(path, opts)
	}
	// A file that is not a readable video fails here, like a missing
	// one, instead of being retried forever by the supervisor; so does
	// a missing ffmpeg (FFprobeFor may find an ffprobe without it).
	if _, err := exec.LookPath(opts.FFmpeg); err != nil {
		return nil, fmt.Errorf("source %q: video files need ffmpeg: %w: %q: %s", uri, ErrNoFFmpeg, opts.FFmpeg, ffmpegInstallHint)
	}
	ctx, cancel := context.WithTimeout(context.Background(), probeTimeout)
	defer cancel()
	info, err := Probe(ctx, FFprobeFor(opts.FFmpeg), path)
	if err != nil {
		if errors.Is(err, ErrNoFFmpeg) {
			return nil, fmt.Errorf("source %q: video files need ffmpeg: %w", uri, err)
		}
		return nil, fmt.Errorf("source %q: neither an image nor a video: %w", uri, err)
	}
	return openFFmpeg(path, ffmpegInput{Kind: inputFile, Target: path}, frag, opts, true, info.FPS)
}

// OpenVideo opens a video file that Probe has described, as Open would
// but without probing it again (Open probes a video file to refuse one
// ffmpeg cannot read): analyze probes each video once, for its report,
// and then reads it.
func OpenVideo(path string, info VideoInfo, opts Config) (Source, error) {
	opts, err := opts.checked()
	if err != nil {
		return nil, err
	}
	return openFFmpeg(path, ffmpegInput{Kind: inputFile, Target: path}, "", opts, true, info.FPS)
}

// probeTimeout bounds the check of a video file at Open.
const probeTimeout = 30 * time.Second

// FFprobeFor returns the ffprobe that belongs to an ffmpeg. Given as a
// path (the --ffmpeg flag), ffmpeg's own directory is tried first, for a
// file named as ffmpeg is with "ffmpeg" replaced ("ffmpeg-6.1" →
// "ffprobe-6.1", "ffmpeg.exe" → "ffprobe.exe"; a name without "ffmpeg"
// gives "ffprobe" and ffmpeg's extension). Otherwise, and when there is
// no such file, it is "ffprobe", for a look-up in PATH.
func FFprobeFor(ffmpeg string) string {
	if !strings.ContainsRune(ffmpeg, filepath.Separator) {
		return "ffprobe"
	}
	dir, base := filepath.Split(ffmpeg)
	name := "ffprobe" + filepath.Ext(base)
	if strings.Contains(base, "ffmpeg") {
		name = strings.Replace(base, "ffmpeg", "ffprobe", 1)
	}
	if p := filepath.Join(dir, name); fileExists(p) {
		return p
	}
	return "ffprobe"
}

func fileExists(path string) bool {
	st, err := os.Stat(path)
	return err == nil && !st.IsDir()
}

// openWebcam opens /dev/videoN or v4l2:///dev/videoN[?options][#options].
func openWebcam(uri string, opts Config) (Source, error) {
	dev := strings.TrimPrefix(uri, "v4l2:")
	dev = strings.TrimPrefix(dev, "//")
	dev, frag, _ := strings.Cut(dev, "#")
	dev, query, _ := strings.Cut(dev, "?")
	if query != "" && frag != "" {
		frag = query + "&" + frag
	} else if query != "" {
		frag = query
	}
	if !strings.HasPrefix(dev, "/dev/") {
		return nil, fmt.Errorf("source %q: want a device path such as /dev/video0 or v4l2:///dev/video0", uri)
	}
	return openFFmpeg(uri, ffmpegInput{Kind: inputV4L2, Target: dev}, frag, opts, false, 0)
}

// openHTTP reads an HTTP camera: MJPEG and JPEG snapshots in Go, other
// content (HLS, progressive video) through ffmpeg.
func openHTTP(u *url.URL, frag string, opts Config) (Source, error) {
	in := ffmpegInput{Kind: inputNetwork, Target: u.String()}
	cfg, err := liveOptions(opts, frag, in.Kind)
	if err != nil {
		return nil, fmt.Errorf("source %q: %w", redact(u.String()), err)
	}
	cam := newHTTPCamera(u.String(), cfg.liveConfig, nil, newFFmpegDialer(in, cfg.liveConfig))
	finite := in
	finite.Finite = true
	cam.finiteFallback = newFFmpegDialer(finite, cfg.liveConfig)
	return newSupervised(redact(u.String()), cam.dial, supervisorConfig{
		StallTimeout: stallLimit(cfg.liveConfig, 0), BackoffMin: opts.BackoffMin, BackoffMax: opts.BackoffMax, FPS: cfg.FPS, Log: cfg.Log,
	}, false), nil
}

// openFFmpeg starts a supervised ffmpeg source. lossless: every frame in
// order (files), otherwise the newest frame (live). nativeFPS is the
// input's frame rate when known (files), else 0.
func openFFmpeg(name string, in ffmpegInput, frag string, opts Config, lossless bool, nativeFPS float64) (Source, error) {
	cfg, err := liveOptions(opts, frag, in.Kind)
	if err != nil {
		return nil, fmt.Errorf("source %q: %w", redact(name), err)
	}
	in.InputFormat = cfg.inputFormat
	return newSupervised(redact(name), newFFmpegDialer(in, cfg.liveConfig), supervisorConfig{
		StallTimeout: stallLimit(cfg.liveConfig, nativeFPS), BackoffMin: opts.BackoffMin, BackoffMax: opts.BackoffMax, FPS: cfg.FPS, Log: cfg.Log,
		FailFast: in.Kind == inputFile,
	}, lossless), nil
}

// stallLimit stretches the stall timeout for sources that deliver frames
// rarely by design (#fps=0.1, #every=300): a stall is no frame for at
// least three of their frame intervals. nativeFPS is the input's rate when
// known; unknown rates are taken as 5 fps, a slow camera.
func stallLimit(cfg liveConfig, nativeFPS float64) time.Duration {
	if cfg.Every <= 1 && cfg.FPS <= 0 {
		return cfg.StallTimeout // the camera's own rate, whatever it is
	}
	if nativeFPS <= 0 {
		nativeFPS = 5
	}
	interval := time.Duration(float64(time.Second) / nativeFPS)
	if cfg.Every > 1 {
		interval *= time.Duration(cfg.Every)
	}
	if cfg.FPS > 0 {
		interval = max(interval, time.Duration(float64(time.Second)/cfg.FPS))
	}
	return max(cfg.StallTimeout, 3*interval)
}

// liveOpts is a liveConfig plus the options that are not part of it.
type liveOpts struct {
	liveConfig
	inputFormat string
}

// liveOptions applies the Config and then the URI's #options.
func liveOptions(opts Config, frag string, kind inputKind) (liveOpts, error) {
	cfg := liveOpts{liveConfig: liveConfig{
		FFmpeg: opts.FFmpeg, Width: opts.VideoWidth, Height: opts.VideoHeight, FPS: opts.VideoFPS,
		Every: opts.Every, Quality: opts.JPEGQuality, Realtime: !opts.Unpaced, Loop: opts.Loop,
		StallTimeout: opts.StallTimeout, MaxFrameSize: DefaultMaxFrameSize, Log: opts.Log,
	}}
	if frag == "" {
		return cfg, nil
	}
	q, err := url.ParseQuery(frag)
	if err != nil {
		return cfg, fmt.Errorf("options %q: %w; write them as #key=value&key=value (%s)", frag, err, videoOptionKeys)
	}
	var errs []error
	for k, vs := range q {
		v := vs[len(vs)-1]
		bad := func(want string) { errs = append(errs, fmt.Errorf("option %s=%q: want %s", k, v, want)) }
		switch k {
		case "fps":
			f, err := strconv.ParseFloat(v, 64)
			if err != nil || !(f > 0 && f <= 1000) {
				bad("a frame rate above 0 and at most 1000")
			}
			cfg.FPS = f
		case "size":
			w, h, ok := ParseSize(v)
			if !ok {
				bad("WIDTHxHEIGHT, e.g. 640x480")
			}
			cfg.Width, cfg.Height = w, h
		case "every":
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				bad("a whole number of at least 1")
			}
			cfg.Every = n
		case "quality":
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > 100 {
				bad("1 to 100")
			}
			cfg.Quality = n
		case "loop", "realtime":
			b, err := strconv.ParseBool(v)
			if err != nil {
				bad("true or false")
			}
			if k == "loop" {
				cfg.Loop = b
			} else {
				cfg.Realtime = b
			}
		case "format":
			if kind != inputV4L2 {
				errs = append(errs, fmt.Errorf("option format=%q: only webcams (v4l2) take an input format", v))
			}
			cfg.inputFormat = v
		case "stall":
			d, err := time.ParseDuration(v)
			if err != nil || d <= 0 {
				bad("a duration such as 10s")
			}
			cfg.StallTimeout = d
		default:
			errs = append(errs, fmt.Errorf("unknown option %q (options: %s)", k, videoOptionKeys))
		}
	}
	return cfg, errors.Join(errs...)
}

// Redact removes secrets from a URI, for logs and errors: the password
// and the values of query parameters that usually carry one (see
// secretQueryKeys). A URI that does not parse keeps only its scheme.
func Redact(uri string) string { return redact(uri) }

// secretQueryKeys are query parameters whose values are masked: SRT's
// passphrase, cameras' ?user=&pwd=, signed URLs' tokens.
var secretQueryKeys = []string{"pass", "pwd", "secret", "token", "key", "auth", "sig", "credential"}

func isSecretKey(k string) bool {
	k = strings.ToLower(k)
	for _, s := range secretQueryKeys {
		if strings.Contains(k, s) {
			return true
		}
	}
	return false
}

func redact(uri string) string {
	scheme, ok := uriScheme(uri)
	if !ok {
		return uri // a path
	}
	u, err := url.Parse(uri)
	if err != nil {
		// url.Parse failed somewhere in the URL, perhaps in the
		// password: show nothing of it.
		return scheme + "://(unparsable URL)"
	}
	if u.RawQuery != "" {
		q := u.Query()
		masked := false
		for k := range q {
			if isSecretKey(k) {
				q[k] = []string{"xxxxx"}
				masked = true
			}
		}
		if masked {
			u.RawQuery = q.Encode()
		}
	}
	return u.Redacted()
}

// uriSecrets lists the secret strings of a URI as they may appear in a
// program's messages (raw and percent-encoded): its password and secret
// query values. ffmpeg's stderr is scrubbed of them.
func uriSecrets(uri string) []string {
	u, err := url.Parse(uri)
	if err != nil {
		return nil
	}
	var out []string
	add := func(v string) {
		if len(v) >= 3 { // shorter ones would mask ordinary text
			out = append(out, v, url.QueryEscape(v), url.PathEscape(v))
		}
	}
	if u.User != nil {
		if p, ok := u.User.Password(); ok {
			add(p)
		}
	}
	for k, vs := range u.Query() {
		if isSecretKey(k) {
			for _, v := range vs {
				add(v)
			}
		}
	}
	return out
}

// scrub replaces every secret in a line of text.
func scrub(line string, secrets []string) string {
	for _, s := range secrets {
		line = strings.ReplaceAll(line, s, "xxxxx")
	}
	return line
}
