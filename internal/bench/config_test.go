package bench

import (
	"testing"
	"time"

	"github.com/framecast/framecast/internal/analysis"
	"github.com/framecast/framecast/internal/kafka"
)

func fake() (analysis.Analyzer, error) { return &analysis.Fake{}, nil }

func TestConfigDefaults(t *testing.T) {
	p := PipelineConfig{Common: Common{NewAnalyzer: fake}}
	if err := p.withDefaults(); err != nil {
		t.Fatal(err)
	}
	if p.Cameras != DefaultCameras || p.FramesPerCamera != DefaultFramesPerCamera || p.Width != 640 || p.Height != 480 || p.JPEGQuality == 0 ||
		p.Concurrency != DefaultConcurrency || p.ComputeDuration != DefaultComputeDuration || p.MaxAge != DefaultMaxAge ||
		p.Partitions != kafka.DefaultPartitions || p.FPS != DefaultFPS || p.Duration != DefaultDuration || p.Backlog != DefaultBacklog || p.Log == nil {
		t.Errorf("pipeline defaults %+v", p)
	}
	// Negative is never: the report and the log say 0, as the flag does.
	never := PipelineConfig{Common: Common{NewAnalyzer: fake, MaxAge: -1}}
	if err := never.withDefaults(); err != nil || never.MaxAge != -1 || never.maxAgeFlag() != 0 {
		t.Errorf("max age %v (%v), flag %v", never.MaxAge, err, never.maxAgeFlag())
	}

	for _, tc := range []struct {
		cfg        SoakConfig
		partitions int
		warmup     time.Duration
	}{
		{SoakConfig{Duration: 30 * time.Minute}, kafka.DefaultPartitions, DefaultMaxWarmup},
		{SoakConfig{Duration: 3 * time.Minute, BacklogFrames: 10, Common: Common{Cameras: 8}}, 16, time.Minute},
		{SoakConfig{Duration: time.Minute, Warmup: time.Second, Common: Common{Partitions: 3, Cameras: 2}}, 3, time.Second},
	} {
		c := tc.cfg
		c.NewAnalyzer = fake
		if err := c.withDefaults(); err != nil {
			t.Fatal(err)
		}
		if c.Partitions != tc.partitions || c.Warmup != tc.warmup || c.ComputeDuration != DefaultCapacityTime || c.Load != DefaultSoakLoad || c.SampleEvery != DefaultSampleInterval {
			t.Errorf("soak %+v: partitions %d, warmup %v", tc.cfg, c.Partitions, c.Warmup)
		}
	}

	c := ComputeConfig{Files: []string{"x.jpg"}, NewAnalyzer: fake}
	if err := c.withDefaults(); err != nil || c.Iterations != DefaultIterations || c.Warmup != 0 {
		t.Errorf("compute %+v, %v", c, err)
	}
	for name, err := range map[string]error{
		"pipeline without engines": (&PipelineConfig{}).withDefaults(),
		"soak without a duration":  (&SoakConfig{Common: Common{NewAnalyzer: fake}}).withDefaults(),
		"soak that never skips":    (&SoakConfig{Duration: time.Minute, Common: Common{NewAnalyzer: fake, MaxAge: -1}}).withDefaults(),
		"compute without files":    (&ComputeConfig{NewAnalyzer: fake}).withDefaults(),
	} {
		if err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}
