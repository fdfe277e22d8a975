package bench

import (
	"errors"
	"log/slog"
	"time"

	"github.com/framecast/framecast/internal/analysis"
	"github.com/framecast/framecast/internal/imagex"
	"github.com/framecast/framecast/internal/kafka"
	"github.com/framecast/framecast/internal/publish"
	"github.com/framecast/framecast/internal/source"
)

// The defaults of the Configs' zero fields (the flags' defaults too).
const (
	DefaultIterations      = 50
	DefaultCameras         = 8
	DefaultFramesPerCamera = 100
	DefaultConcurrency     = 2
	DefaultMaxAge          = 2 * time.Second
	DefaultFPS             = publish.DefaultFPS
	DefaultDuration        = 10 * time.Minute
	DefaultComputeDuration = 10 * time.Second
	DefaultBacklog         = 20 * time.Second
	DefaultSoakLoad        = 1.2
	DefaultCapacityTime    = 5 * time.Second
	DefaultSampleInterval  = 5 * time.Second
	// DefaultMaxWarmup bounds the soak's default warm-up, a third of its
	// duration.
	DefaultMaxWarmup = 5 * time.Minute
)

// ComputeConfig configures RunCompute. A zero field means its default.
type ComputeConfig struct {
	// Files are the images, each measured on its own. Required.
	Files []string
	// Iterations are the measured runs per image (default
	// DefaultIterations), after Warmup unmeasured ones (0: none).
	Iterations, Warmup int
	// Threads are the engine's intra-op threads per model, as NewAnalyzer
	// applies them (0: one per core), for the report.
	Threads int
	// NewAnalyzer makes the engine. Required.
	NewAnalyzer NewAnalyzer
	// Limits guard decoding (default imagex.DefaultLimits).
	Limits imagex.Limits
}

func (c *ComputeConfig) withDefaults() error {
	if c.Iterations == 0 {
		c.Iterations = DefaultIterations
	}
	if c.NewAnalyzer == nil || len(c.Files) == 0 {
		return errors.New("bench: ComputeConfig needs Files and NewAnalyzer")
	}
	return nil
}

// Common are the settings the pipeline and soak benchmarks share. A zero
// field means its default.
type Common struct {
	// Cameras (default DefaultCameras) are synthetic, with distinct
	// seeds; each renders FramesPerCamera frames (default
	// DefaultFramesPerCamera) of Width×Height (source.DefaultWidth×
	// DefaultHeight) at JPEGQuality (source.DefaultJPEGQuality) once,
	// looped by every phase.
	Cameras                    int
	FramesPerCamera            int
	Width, Height, JPEGQuality int
	// Concurrency is the number of analysis engines (default
	// DefaultConcurrency), in the compute-only phase and in the
	// processor. Threads are their intra-op threads per model, as
	// NewAnalyzer applies them (0: one per core), for the report.
	Concurrency, Threads int
	// ComputeDuration is the length of the compute-only measurement
	// (default DefaultComputeDuration; the soak's DefaultCapacityTime).
	ComputeDuration time.Duration
	// MaxAge is the real-time processor's: frames older are skipped as
	// stale (default DefaultMaxAge; negative: never, which the soak does
	// not allow).
	MaxAge time.Duration
	// Partitions of the broker's topics (default kafka.DefaultPartitions;
	// the soak's, enough for one per camera and per backlog camera).
	Partitions int
	// NewAnalyzer makes the engines. Required.
	NewAnalyzer NewAnalyzer
	// Tracking is what the processor's analysis may leave out
	// (--detect-every, --reclassify-every, --skip-static; default nothing).
	// The compute-only phases analyse every frame in full.
	Tracking analysis.Tracking
	// Limits guard decoding (default imagex.DefaultLimits).
	Limits imagex.Limits
	// Log narrates the phases (default: nowhere).
	Log *slog.Logger

	sizeFlag string // --size, parsed into Width and Height by checkFlags
}

func (c *Common) withDefaults(computeDuration time.Duration) error {
	if c.NewAnalyzer == nil {
		return errors.New("bench: Config.NewAnalyzer is required")
	}
	for _, d := range []struct {
		v   *int
		def int
	}{{&c.Cameras, DefaultCameras}, {&c.FramesPerCamera, DefaultFramesPerCamera}, {&c.Width, source.DefaultWidth},
		{&c.Height, source.DefaultHeight}, {&c.JPEGQuality, source.DefaultJPEGQuality}, {&c.Concurrency, DefaultConcurrency}} {
		if *d.v == 0 {
			*d.v = d.def
		}
	}
	if c.ComputeDuration == 0 {
		c.ComputeDuration = computeDuration
	}
	if c.MaxAge == 0 {
		c.MaxAge = DefaultMaxAge
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	return nil
}

// maxAgeFlag is MaxAge as the flag says it, for reports and logs: 0 for
// never.
func (c *Common) maxAgeFlag() time.Duration { return max(0, c.MaxAge) }

// PipelineConfig configures RunPipeline. A zero field means its default.
type PipelineConfig struct {
	Common
	// FPS per camera (default DefaultFPS) and Duration (default
	// DefaultDuration) of the real-time phase.
	FPS      float64
	Duration time.Duration
	// Backlog is the saturation backlog: this much work at the
	// compute-only rate (default DefaultBacklog).
	Backlog time.Duration
	// MaxInFlight is the processors' (default theirs, 2×Concurrency+2).
	MaxInFlight int
	// CPUProfile, when set, is where a Go CPU profile of the saturation
	// drain is written.
	CPUProfile string
}

func (c *PipelineConfig) withDefaults() error {
	if err := c.Common.withDefaults(DefaultComputeDuration); err != nil {
		return err
	}
	if c.Partitions == 0 {
		c.Partitions = kafka.DefaultPartitions
	}
	if c.FPS == 0 {
		c.FPS = DefaultFPS
	}
	if c.Duration == 0 {
		c.Duration = DefaultDuration
	}
	if c.Backlog == 0 {
		c.Backlog = DefaultBacklog
	}
	return nil
}

// SoakConfig configures RunSoak. A zero field means its default.
type SoakConfig struct {
	Common
	// Duration is how long the cameras publish. Required.
	Duration time.Duration
	// Load is the cameras' total rate as a multiple of the capacity
	// (default DefaultSoakLoad), which is measured for ComputeDuration
	// unless Capacity (frames/s) is given.
	Load     float64
	Capacity float64
	// Warmup is how long after the start the RSS slopes are fitted from
	// (default a third of Duration, at most DefaultMaxWarmup);
	// SampleEvery how often the processes' RSS is read (default
	// DefaultSampleInterval).
	Warmup, SampleEvery time.Duration
	// BacklogFrames are produced before the processor starts, on cameras
	// of their own (0: none).
	BacklogFrames int
	// ProcessorFlags are the processor child's engine flags, as
	// `framecast process` takes them (--home, --provider, …); the soak
	// adds the broker, group, concurrency, threads and --max-age.
	ProcessorFlags []string
}

func (c *SoakConfig) withDefaults() error {
	if err := c.Common.withDefaults(DefaultCapacityTime); err != nil {
		return err
	}
	if c.Duration <= 0 || c.MaxAge < 0 {
		return errors.New("bench: SoakConfig needs a Duration, and a MaxAge (the soak skips stale frames)")
	}
	if c.Partitions == 0 {
		c.Partitions = max(kafka.DefaultPartitions, c.PartitionsNeeded())
	}
	if c.Load == 0 {
		c.Load = DefaultSoakLoad
	}
	if c.Warmup == 0 {
		c.Warmup = min(DefaultMaxWarmup, c.Duration/3)
	}
	if c.SampleEvery == 0 {
		c.SampleEvery = DefaultSampleInterval
	}
	return nil
}

// PartitionsNeeded is the least Partitions the soak takes: each camera,
// and each backlog camera, has a partition of its own, so that its frames
// are the partition's end offset.
func (c *SoakConfig) PartitionsNeeded() int {
	if c.BacklogFrames > 0 {
		return 2 * c.Cameras
	}
	return c.Cameras
}
