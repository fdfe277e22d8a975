// Package soak holds the report of `framecast bench --soak` and the checks
// made on it: every frame accounted for (frames = results + dead letters,
// per camera), no partition stalled (committed offsets at the end), and
// memory that stops growing after a warm-up (a least-squares slope).
//
// The measuring lives in internal/bench (soak.go); this package is the
// arithmetic and the text, so that both can be tested without a broker.
package soak

import (
	"fmt"
	"io"
	"math"
	"strings"
	"text/tabwriter"
	"time"
)

// FlatMBPerMin is the slope under which a process's RSS counts as flat.
const FlatMBPerMin = 1.0

// Report is the result of a soak run. Field names are stable: scripts
// read them.
type Report struct {
	Date     time.Time `json:"date"`
	Settings Settings  `json:"settings"`
	// Capacity is the measured compute-only rate the load is based on.
	Capacity Capacity `json:"capacity"`
	// Backlog is the optional phase before the processor starts.
	Backlog *Backlog `json:"backlog,omitempty"`
	// Published is what the publisher did.
	Published  Published   `json:"published"`
	Cameras    []Camera    `json:"cameras"`
	Partitions []Partition `json:"partitions"`
	Results    Results     `json:"results"`
	Latency    Latency     `json:"latency_ms"`     // ok results: capture → result readable
	LatencyAll Latency     `json:"latency_all_ms"` // ok and skipped
	Memory     Memory      `json:"memory"`
	Samples    []Sample    `json:"samples"`
	// Failures are the broken invariants; the command exits 1 when
	// there are any.
	Failures    []string `json:"failures"`
	OK          bool     `json:"ok"`
	Interrupted bool     `json:"interrupted,omitempty"`
}

// Settings are the run's parameters.
type Settings struct {
	DurationS       float64 `json:"duration_s"`
	Load            float64 `json:"load"` // × Capacity.FPS
	Cameras         int     `json:"cameras"`
	FPS             float64 `json:"fps"` // per camera
	Concurrency     int     `json:"concurrency"`
	Threads         int     `json:"threads_per_engine"`
	MaxAgeS         float64 `json:"max_age_s"`
	Partitions      int     `json:"partitions"`
	Width           int     `json:"width"`
	Height          int     `json:"height"`
	FramesPerCamera int     `json:"frames_per_camera"`
	FrameBytesAvg   float64 `json:"frame_bytes_avg"`
	SampleIntervalS float64 `json:"sample_interval_s"`
	WarmupS         float64 `json:"warmup_s"`
	BacklogFrames   int     `json:"backlog_frames"`
	BrokerPID       int     `json:"broker_pid"`
	ProcessorPID    int     `json:"processor_pid"`
	CPUs            int     `json:"cpus"`
	LoadAvgStart    float64 `json:"loadavg_start"`
	LoadAvgEnd      float64 `json:"loadavg_end"`
}

// Capacity is the compute-only measurement.
type Capacity struct {
	AnalyseMS float64 `json:"analyse_ms"` // per frame per engine, all engines busy
	Frames    int     `json:"frames"`
	FPS       float64 `json:"fps"`             // over all engines
	Given     bool    `json:"given,omitempty"` // --capacity: not measured
}

// Backlog is the phase that measures the processor after a backlog: frames
// produced before it starts, on cameras of their own.
type Backlog struct {
	Frames   int     `json:"frames"`
	ProduceS float64 `json:"produce_s"`
	DrainS   float64 `json:"drain_s"` // processor start → last backlog record
	OK       int     `json:"ok"`
	Skipped  int     `json:"skipped_stale"`
	DLQ      int     `json:"dlq"`
	Complete bool    `json:"complete"`
	// The processor's memory when the backlog was drained: RSS then, and
	// its peak so far (the kernel's VmHWM).
	ProcessorRSSMB  float64 `json:"processor_rss_mb"`
	ProcessorPeakMB float64 `json:"processor_peak_rss_mb"`
	BrokerPeakMB    float64 `json:"broker_peak_rss_mb"`
}

// Published is the publisher's count.
type Published struct {
	Captured int64 `json:"captured"`
	Acked    int64 `json:"acked"`
	Dropped  int64 `json:"dropped"`
}

// Camera is one camera's frames in the frames topic (its partition's end
// offset: each camera has a partition of its own) and its records in the
// results and dead-letter topics.
type Camera struct {
	ID         string `json:"id"`
	Partition  int32  `json:"partition"`
	Frames     int64  `json:"frames"`
	Results    int    `json:"results"` // unique (camera, seq) results
	OK         int    `json:"ok"`
	Skipped    int    `json:"skipped"`
	DLQ        int    `json:"dlq"`
	Duplicates int    `json:"duplicates"`
	Balanced   bool   `json:"balanced"` // Frames == Results + DLQ
}

// Partition is one frames partition: its end offset and the processor
// group's committed offset.
type Partition struct {
	Partition int32 `json:"partition"`
	End       int64 `json:"end"`
	Committed int64 `json:"committed"` // -1: nothing committed
	Stalled   bool  `json:"stalled"`
}

// Results are the totals over the soak cameras (not the backlog's).
type Results struct {
	Frames      int64   `json:"frames"`
	Results     int     `json:"results"`
	OK          int     `json:"ok"`
	Skipped     int     `json:"skipped_stale"`
	DLQ         int     `json:"dlq"`
	Duplicates  int     `json:"duplicates"`
	StaleRate   float64 `json:"stale_rate"`   // Skipped / (Results + DLQ)
	AnalysedFPS float64 `json:"analysed_fps"` // OK / duration
}

// Latency are percentiles in milliseconds.
type Latency struct {
	N   int     `json:"n"`
	P50 float64 `json:"p50"`
	P90 float64 `json:"p90"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

// Sample is one reading of the processes' resident memory, at AtS seconds
// after the soak's publishing started (negative: before it).
type Sample struct {
	AtS         float64 `json:"t_s"`
	ProcessorMB float64 `json:"processor_rss_mb"`
	BrokerMB    float64 `json:"broker_rss_mb"`
	BenchMB     float64 `json:"bench_rss_mb"`
}

// Memory summarises the samples per process.
type Memory struct {
	Processor RSS `json:"processor"`
	Broker    RSS `json:"broker"`
}

// RSS is one process's resident memory over the soak.
type RSS struct {
	At1MinMB float64 `json:"at_1min_mb"`
	MidMB    float64 `json:"mid_mb"`
	EndMB    float64 `json:"end_mb"`
	MaxMB    float64 `json:"max_mb"`
	PeakMB   float64 `json:"peak_mb"` // the kernel's VmHWM at the end
	// SlopeMBPerMin is a least-squares fit over the samples after the
	// warm-up; Flat is slope < FlatMBPerMin (shrinking counts as flat:
	// the check is for growth).
	SlopeMBPerMin float64 `json:"slope_mb_per_min"`
	FitSamples    int     `json:"fit_samples"`
	Flat          bool    `json:"flat"`
}

// Slope is the least-squares slope of ys over xs (0 with fewer than two
// distinct xs).
func Slope(xs, ys []float64) float64 {
	n := float64(len(xs))
	if len(xs) < 2 || len(xs) != len(ys) {
		return 0
	}
	var sx, sy float64
	for i := range xs {
		sx += xs[i]
		sy += ys[i]
	}
	mx, my := sx/n, sy/n
	var num, den float64
	for i := range xs {
		num += (xs[i] - mx) * (ys[i] - my)
		den += (xs[i] - mx) * (xs[i] - mx)
	}
	if den == 0 {
		return 0
	}
	return num / den
}

// Summarize reads one process's RSS from samples taken over a soak of
// duration seconds: the sample nearest to 1 minute (or to the warm-up's
// end when the soak is shorter than 2 minutes), to the midpoint and the
// last, the maximum, and the slope in MB/min over the samples from warmup
// seconds on.
func Summarize(samples []Sample, rss func(Sample) float64, duration, warmup float64) RSS {
	var r RSS
	var run []Sample
	for _, s := range samples {
		if s.AtS >= 0 {
			run = append(run, s)
		}
	}
	if len(run) == 0 {
		return r
	}
	at := func(t float64) float64 {
		best := run[0]
		for _, s := range run {
			if math.Abs(s.AtS-t) < math.Abs(best.AtS-t) {
				best = s
			}
		}
		return rss(best)
	}
	first := 60.0
	if duration < 120 {
		first = warmup
	}
	r.At1MinMB, r.MidMB, r.EndMB = at(first), at(duration/2), rss(run[len(run)-1])
	var xs, ys []float64
	for _, s := range run {
		r.MaxMB = max(r.MaxMB, rss(s))
		if s.AtS >= warmup {
			xs, ys = append(xs, s.AtS/60), append(ys, rss(s))
		}
	}
	r.FitSamples = len(xs)
	r.SlopeMBPerMin = math.Round(Slope(xs, ys)*1000) / 1000
	r.Flat = r.FitSamples >= 2 && r.SlopeMBPerMin < FlatMBPerMin
	return r
}

// Check fills Failures and OK from the cameras, partitions and memory: a
// camera whose frames are not all accounted for, a partition whose
// committed offset did not reach its end, or a process whose RSS still
// grew after the warm-up (judged from MinFitSamples samples on).
func (r *Report) Check() {
	r.Failures = nil
	for i := range r.Cameras {
		c := &r.Cameras[i]
		c.Balanced = c.Frames == int64(c.Results+c.DLQ)
		if !c.Balanced {
			r.Failures = append(r.Failures, fmt.Sprintf("camera %s: %d frames but %d results + %d dead letters", c.ID, c.Frames, c.Results, c.DLQ))
		}
	}
	for i := range r.Partitions {
		p := &r.Partitions[i]
		p.Stalled = p.End > 0 && p.Committed < p.End
		if p.Stalled {
			r.Failures = append(r.Failures, fmt.Sprintf("partition %d stalled: committed %d of %d", p.Partition, max(p.Committed, 0), p.End))
		}
	}
	if len(r.Cameras) == 0 {
		r.Failures = append(r.Failures, "no camera was counted")
	}
	// Memory must stop growing after the warm-up; a slope over a few
	// samples says nothing, so short runs are not judged on it.
	for _, p := range []struct {
		name string
		m    RSS
	}{{"processor", r.Memory.Processor}, {"broker", r.Memory.Broker}} {
		if p.m.FitSamples >= MinFitSamples && !p.m.Flat {
			r.Failures = append(r.Failures, fmt.Sprintf("%s RSS growing: %+.2f MB/min over %d samples after the warm-up (flat: < %g)",
				p.name, p.m.SlopeMBPerMin, p.m.FitSamples, FlatMBPerMin))
		}
	}
	r.OK = len(r.Failures) == 0
}

// MinFitSamples is how many RSS samples after the warm-up a run needs
// before Check judges the slope: 5 minutes at the default interval.
const MinFitSamples = 60

// Print writes the report as text.
func (r *Report) Print(w io.Writer) error {
	st := r.Settings
	var b strings.Builder
	fmt.Fprintf(&b, "framecast bench --soak — %s, %s at %.2f × capacity\n", r.Date.Format("2006-01-02 15:04 MST"),
		time.Duration(st.DurationS*float64(time.Second)).Round(time.Second), st.Load)
	fmt.Fprintf(&b, "capacity (compute only, %d engines × %d thread): %.1f frames/s (%.1f ms per frame per engine, %d frames)\n",
		st.Concurrency, st.Threads, r.Capacity.FPS, r.Capacity.AnalyseMS, r.Capacity.Frames)
	fmt.Fprintf(&b, "load: %d cameras × %.2f fps = %.1f frames/s, processor --max-age %s, %d partitions; load average %.2f → %.2f\n",
		st.Cameras, st.FPS, float64(st.Cameras)*st.FPS, time.Duration(st.MaxAgeS*float64(time.Second)), st.Partitions, st.LoadAvgStart, st.LoadAvgEnd)
	if bl := r.Backlog; bl != nil {
		fmt.Fprintf(&b, "\nbacklog: %d frames produced in %.1f s before the processor started; drained %.1f s after its start (ok %d, stale %d, dlq %d)%s\n",
			bl.Frames, bl.ProduceS, bl.DrainS, bl.OK, bl.Skipped, bl.DLQ, map[bool]string{true: "", false: " (INCOMPLETE)"}[bl.Complete])
		fmt.Fprintf(&b, "  processor RSS then %.1f MB, peak %.1f MB; broker peak %.1f MB\n", bl.ProcessorRSSMB, bl.ProcessorPeakMB, bl.BrokerPeakMB)
	}
	res := r.Results
	fmt.Fprintf(&b, "\npublished %d of %d captured (dropped %d); frames in the topic %d\n", r.Published.Acked, r.Published.Captured, r.Published.Dropped, res.Frames)
	fmt.Fprintf(&b, "results %d: ok %d (%.1f frames/s analysed), skipped as stale %d (%.1f %%), dead letters %d, duplicates %d\n",
		res.Results, res.OK, res.AnalysedFPS, res.Skipped, 100*res.StaleRate, res.DLQ, res.Duplicates)
	l := r.Latency
	fmt.Fprintf(&b, "latency capture → result readable, ok results: p50 %.1f, p90 %.1f, p99 %.1f, max %.1f ms (all results p50 %.1f, p99 %.1f)\n",
		l.P50, l.P90, l.P99, l.Max, r.LatencyAll.P50, r.LatencyAll.P99)
	fmt.Fprintf(&b, "\nRSS MB (slope fitted after %s of warm-up; flat: slope < %g MB/min):\n", time.Duration(st.WarmupS*float64(time.Second)).Round(time.Second), FlatMBPerMin)
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "  process\t1 min\tmidpoint\tend\tmax\tpeak (VmHWM)\tMB/min\tsamples\t\t")
	for _, p := range []struct {
		name string
		m    RSS
	}{{"processor", r.Memory.Processor}, {"broker", r.Memory.Broker}} {
		fmt.Fprintf(tw, "  %s\t%.1f\t%.1f\t%.1f\t%.1f\t%.1f\t%+.3f\t%d\t%s\t\n", p.name, p.m.At1MinMB, p.m.MidMB, p.m.EndMB, p.m.MaxMB, p.m.PeakMB,
			p.m.SlopeMBPerMin, p.m.FitSamples, map[bool]string{true: "flat", false: "GROWING"}[p.m.Flat])
	}
	tw.Flush()
	fmt.Fprintln(&b, "\nper camera (frames = end offset of its partition; results and dead letters read from the topics):")
	tw = tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "  camera\tpartition\tframes\tresults\tok\tstale\tdlq\tdup\t\t")
	for _, c := range r.Cameras {
		fmt.Fprintf(tw, "  %s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%s\t\n", c.ID, c.Partition, c.Frames, c.Results, c.OK, c.Skipped, c.DLQ, c.Duplicates,
			map[bool]string{true: "=", false: "MISMATCH"}[c.Balanced])
	}
	tw.Flush()
	stalled := 0
	for _, p := range r.Partitions {
		if p.Stalled {
			stalled++
		}
	}
	fmt.Fprintf(&b, "partitions: %d, stalled %d (committed offset short of the end)\n", len(r.Partitions), stalled)
	if r.OK {
		fmt.Fprintln(&b, "\nOK: every frame has a result or a dead letter, no partition stalled")
	} else {
		fmt.Fprintf(&b, "\nFAILED:\n  %s\n", strings.Join(r.Failures, "\n  "))
	}
	if r.Interrupted {
		fmt.Fprintln(&b, "(interrupted: partial report)")
	}
	_, err := io.WriteString(w, b.String())
	return err
}
