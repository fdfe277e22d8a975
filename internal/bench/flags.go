package bench

import (
	"errors"
	"flag"
	"fmt"
	"time"

	"github.com/framecast/framecast/internal/kafka"
	"github.com/framecast/framecast/internal/source"
)

// The benchmarks' flags are registered here, beside the Configs they fill,
// as kafka.Config registers its own: `framecast bench --pipeline` and
// `--soak` add the vision flags and --json and run what these parse. The
// checks are of the values as given on the command line, where a zero is
// a mistake rather than "the default" (the flags show their defaults).

// RegisterFlags adds the flags the pipeline and soak benchmarks share: the
// cameras and their frames.
func (c *Common) RegisterFlags(fs *flag.FlagSet) {
	fs.IntVar(&c.Cameras, "cameras", DefaultCameras, "cameras (synthetic, distinct seeds)")
	fs.IntVar(&c.FramesPerCamera, "frames-per-camera", DefaultFramesPerCamera, "frames rendered per camera (looped)")
	fs.StringVar(&c.sizeFlag, "size", fmt.Sprintf("%dx%d", source.DefaultWidth, source.DefaultHeight), "frame size, WIDTHxHEIGHT")
	fs.IntVar(&c.JPEGQuality, "jpeg-quality", source.DefaultJPEGQuality, "JPEG quality of the rendered frames")
}

func (c *Common) checkFlags() []error {
	var errs []error
	if c.FramesPerCamera < 1 || c.FramesPerCamera > 10000 {
		errs = append(errs, fmt.Errorf("--frames-per-camera %d: want 1 to 10000", c.FramesPerCamera))
	}
	var ok bool
	if c.Width, c.Height, ok = source.ParseSize(c.sizeFlag); !ok {
		errs = append(errs, fmt.Errorf("--size %q: want WIDTHxHEIGHT, e.g. 640x480", c.sizeFlag))
	}
	return errs
}

// RegisterFlags adds `framecast bench --pipeline`'s own flags.
func (c *PipelineConfig) RegisterFlags(fs *flag.FlagSet) {
	c.Common.RegisterFlags(fs)
	fs.Float64Var(&c.FPS, "fps", DefaultFPS, "frames per second per camera in the real-time phase")
	fs.DurationVar(&c.Duration, "duration", DefaultDuration, "length of the real-time phase")
	fs.IntVar(&c.Concurrency, "concurrency", DefaultConcurrency, "analysis engines, in the compute-only phase and in the processor")
	fs.DurationVar(&c.ComputeDuration, "compute-duration", DefaultComputeDuration, "length of the compute-only measurement")
	fs.DurationVar(&c.Backlog, "backlog", DefaultBacklog, "saturation backlog: this much work at the compute-only rate")
	fs.DurationVar(&c.MaxAge, "max-age", DefaultMaxAge, "the real-time processor's --max-age (stale frames are skipped); the saturation processor never skips")
	fs.IntVar(&c.Partitions, "partitions", kafka.DefaultPartitions, "partitions of the broker's topics")
	fs.IntVar(&c.MaxInFlight, "max-in-flight", 0, "the processors' --max-in-flight (0: its default, 2×concurrency+2)")
	fs.StringVar(&c.CPUProfile, "cpu-profile", "", "write a Go CPU profile of this process during the saturation drain to this file (go tool pprof)")
}

// CheckFlags checks the flags' values, all problems at once; then --max-age
// 0 (never skip) becomes the Config's negative "never".
func (c *PipelineConfig) CheckFlags() error {
	var errs []error
	if c.Cameras < 1 || c.Cameras > 256 {
		errs = append(errs, fmt.Errorf("--cameras %d: want 1 to 256", c.Cameras))
	}
	if !(c.FPS > 0 && c.FPS <= 1000) {
		errs = append(errs, fmt.Errorf("--fps %v: want more than 0 and at most 1000", c.FPS))
	}
	if c.Duration < time.Second || c.ComputeDuration < 100*time.Millisecond || c.Backlog < 100*time.Millisecond {
		errs = append(errs, errors.New("--duration must be at least 1s, --compute-duration and --backlog at least 100ms"))
	}
	if c.Concurrency < 1 || c.Concurrency > 64 {
		errs = append(errs, fmt.Errorf("--concurrency %d: want 1 to 64", c.Concurrency))
	}
	errs = append(errs, c.checkFlags()...)
	if c.JPEGQuality < 1 || c.JPEGQuality > 100 {
		errs = append(errs, fmt.Errorf("--jpeg-quality %d: want 1 to 100", c.JPEGQuality))
	}
	if c.MaxAge < 0 {
		errs = append(errs, errors.New("--max-age must not be negative (0: never skip)"))
	}
	if c.MaxInFlight < 0 {
		errs = append(errs, errors.New("--max-in-flight must not be negative"))
	}
	if c.Partitions < 1 {
		errs = append(errs, fmt.Errorf("--partitions %d: want at least 1", c.Partitions))
	}
	if c.MaxAge == 0 {
		c.MaxAge = -1
	}
	return errors.Join(errs...)
}

// RegisterFlags adds `framecast bench --soak`'s own flags.
func (c *SoakConfig) RegisterFlags(fs *flag.FlagSet) {
	c.Common.RegisterFlags(fs)
	fs.DurationVar(&c.Duration, "soak", 0, "how long the cameras publish (e.g. 30m)")
	fs.Float64Var(&c.Load, "soak-load", DefaultSoakLoad, "the cameras' total rate, as a multiple of the measured capacity")
	fs.Float64Var(&c.Capacity, "capacity", 0, "the capacity in frames/s instead of measuring it (e.g. the compute-only rate of bench --pipeline on a quiet machine)")
	fs.DurationVar(&c.Warmup, "warmup", 0, "RSS slopes are fitted after this (0: a third of --soak, at most 5m)")
	fs.DurationVar(&c.SampleEvery, "sample-interval", DefaultSampleInterval, "how often the processes' RSS is read")
	fs.IntVar(&c.BacklogFrames, "backlog-frames", 0, "frames produced before the processor starts, on cameras of their own (0: none)")
	fs.IntVar(&c.Concurrency, "concurrency", DefaultConcurrency, "analysis engines, in the capacity measurement and in the processor")
	fs.DurationVar(&c.ComputeDuration, "compute-duration", DefaultCapacityTime, "length of the capacity measurement")
	fs.DurationVar(&c.MaxAge, "max-age", DefaultMaxAge, "the processor's --max-age: frames older than this are skipped as stale")
	fs.IntVar(&c.Partitions, "partitions", 0, "partitions of the broker's topics (0: 12, or enough for a partition per camera)")
}

// CheckFlags checks the flags' values, all problems at once.
func (c *SoakConfig) CheckFlags() error {
	var errs []error
	if c.Duration < time.Second {
		errs = append(errs, fmt.Errorf("--soak %v: want a duration of at least 1s, e.g. --soak 30m", c.Duration))
	}
	if c.Capacity < 0 {
		errs = append(errs, errors.New("--capacity must not be negative (0: measure it)"))
	}
	if !(c.Load > 0 && c.Load <= 100) {
		errs = append(errs, fmt.Errorf("--soak-load %v: want more than 0 and at most 100", c.Load))
	}
	if c.Warmup < 0 || c.Warmup >= max(c.Duration, time.Second) || c.SampleEvery < 100*time.Millisecond {
		errs = append(errs, errors.New("--warmup must be shorter than --soak, --sample-interval at least 100ms"))
	}
	if c.BacklogFrames < 0 {
		errs = append(errs, errors.New("--backlog-frames must not be negative"))
	}
	if c.Cameras < 1 || c.Cameras > 128 {
		errs = append(errs, fmt.Errorf("--cameras %d: want 1 to 128", c.Cameras))
	}
	if c.Concurrency < 1 || c.Concurrency > 64 || c.ComputeDuration < 100*time.Millisecond {
		errs = append(errs, errors.New("--concurrency: want 1 to 64; --compute-duration at least 100ms"))
	}
	errs = append(errs, c.checkFlags()...)
	if c.JPEGQuality < 1 || c.JPEGQuality > 100 || c.MaxAge <= 0 {
		errs = append(errs, errors.New("--jpeg-quality: want 1 to 100; --max-age must be positive (the soak skips stale frames)"))
	}
	if need := c.PartitionsNeeded(); c.Partitions != 0 && c.Partitions < need {
		errs = append(errs, fmt.Errorf("--partitions %d: the soak needs one per camera (and per backlog camera): at least %d", c.Partitions, need))
	}
	return errors.Join(errs...)
}
