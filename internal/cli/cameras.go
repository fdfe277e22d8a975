package cli

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/framecast/framecast/internal/flagvalue"
	"github.com/framecast/framecast/internal/publish"
	"github.com/framecast/framecast/internal/source"
)

// sourceFlags are the flags that choose and tune sources, shared by the
// commands that open cameras (publish, demo).
type sourceFlags struct {
	fs                 *flag.FlagSet
	sources, cameras   flagvalue.List
	cameraFile         string
	fps                *float64
	size               *string
	quality            *int
	once, loop         *bool
	realtime           *bool
	stallTimeout       *time.Duration
	ffmpeg             *string
	defaultFPS         float64
	defaultW, defaultH int
}

func (sf *sourceFlags) register(fs *flag.FlagSet, defaultFPS float64) {
	sf.fs, sf.defaultFPS = fs, defaultFPS
	fs.Var(&sf.sources, "source", "a source URI, optionally ID=URI; repeat for several cameras (URIs may also follow the flags)")
	fs.Var(&sf.cameras, "camera", "camera id of the next --source given without ID=; repeatable")
	fs.StringVar(&sf.cameraFile, "camera-file", "", "YAML file listing cameras (id, uri, fps, size), in addition to --source")
	sf.fps = fs.Float64("fps", defaultFPS, "frames per second per camera for images and synthetic: sources; for video, network and webcam sources only when given (default: their own rate)")
	sf.size = fs.String("size", fmt.Sprintf("%dx%d", source.DefaultWidth, source.DefaultHeight), "frame size of synthetic: sources, WIDTHxHEIGHT; scales video, network and webcam sources only when given")
	sf.quality = fs.Int("jpeg-quality", source.DefaultJPEGQuality, "JPEG quality of frames framecast or ffmpeg encodes, 1-100")
	sf.once = fs.Bool("once", false, "play image files and directories once instead of looping")
	sf.loop = fs.Bool("loop", false, "play video files again from the start when they end")
	sf.realtime = fs.Bool("realtime", true, "play video files at their native frame rate; false: as fast as possible")
	sf.stallTimeout = fs.Duration("stall-timeout", source.DefaultStallTimeout, "reconnect a video, network or webcam source that delivers no frame for this long")
	sf.ffmpeg = fs.String("ffmpeg", "ffmpeg", "the ffmpeg executable, for video files, network streams and webcams")
}

// given reports whether a flag was set on the command line or through its
// FRAMECAST_* variable.
func given(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	if !set {
		_, set = os.LookupEnv(envName(name))
	}
	return set
}

// specs validates the flags and returns every camera (publish.Cameras):
// the --source ones, then the camera file's. Errors are usage errors, all
// reported together.
func (sf *sourceFlags) specs(args []string) ([]publish.CameraSpec, error) {
	var errs []error
	if !(*sf.fps > 0 && *sf.fps <= 1000) {
		errs = append(errs, fmt.Errorf("--fps %v: want more than 0 and at most 1000", *sf.fps))
	}
	if *sf.quality < 1 || *sf.quality > 100 {
		errs = append(errs, fmt.Errorf("--jpeg-quality %d: want 1 to 100", *sf.quality))
	}
	w, h, ok := source.ParseSize(*sf.size)
	if !ok {
		errs = append(errs, fmt.Errorf("--size %q: want WIDTHxHEIGHT, e.g. 640x480", *sf.size))
	}
	sf.defaultW, sf.defaultH = w, h
	if *sf.stallTimeout <= 0 {
		errs = append(errs, fmt.Errorf("--stall-timeout %v: want more than 0", *sf.stallTimeout))
	}
	specs, err := publish.Cameras(append(sf.sources, args...), sf.cameras, sf.cameraFile)
	return specs, errors.Join(append(errs, err)...)
}

// options returns the source options and the publisher's pace for one
// camera: its own fps and size win over the flags.
func (sf *sourceFlags) options(spec publish.CameraSpec) (source.Config, float64) {
	opts := source.Config{
		Width: sf.defaultW, Height: sf.defaultH, FPS: *sf.fps, JPEGQuality: *sf.quality, Once: *sf.once,
		FFmpeg: *sf.ffmpeg, Unpaced: !*sf.realtime, Loop: *sf.loop, StallTimeout: *sf.stallTimeout,
	}
	if given(sf.fs, "fps") {
		opts.VideoFPS = *sf.fps
	}
	if given(sf.fs, "size") {
		opts.VideoWidth, opts.VideoHeight = sf.defaultW, sf.defaultH
	}
	if spec.FPS > 0 {
		opts.FPS, opts.VideoFPS = spec.FPS, spec.FPS
	}
	if spec.Size != "" {
		w, h, _ := source.ParseSize(spec.Size)
		opts.Width, opts.Height, opts.VideoWidth, opts.VideoHeight = w, h, w, h
	}
	return opts, opts.FPS
}
