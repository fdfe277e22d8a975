package bench

import (
	"bufio"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/framecast/framecast/internal/bench/procstat"
	"github.com/framecast/framecast/internal/publish"
	"github.com/framecast/framecast/internal/quantile"
	"github.com/framecast/framecast/internal/soak"
)

// PipelineReport is the result of `framecast bench --pipeline`. Field
// names are stable: scripts read them.
type PipelineReport struct {
	Date         time.Time        `json:"date"`
	Host         Host             `json:"host"`
	Settings     PipelineSettings `json:"settings"`
	Compute      ComputeOnly      `json:"compute_only"`       // before the Kafka measurement
	ComputeAfter ComputeOnly      `json:"compute_only_after"` // after it
	Saturation   Saturation       `json:"saturation"`
	Realtime     Realtime         `json:"realtime"`
	Memory       Memory           `json:"memory"`
	CPU          []CPUUse         `json:"cpu"`
	Targets      []Target         `json:"targets"`
	Interrupted  bool             `json:"interrupted,omitempty"`
}

// Host is the machine the bench ran on.
type Host struct {
	CPUs         int        `json:"cpus"`
	GOMAXPROCS   int        `json:"gomaxprocs"`
	CPUModel     string     `json:"cpu_model,omitempty"`
	ONNXRuntime  string     `json:"onnxruntime"`
	GoVersion    string     `json:"go"`
	LoadAvgStart [3]float64 `json:"loadavg_start"`
	LoadAvgEnd   [3]float64 `json:"loadavg_end"`
}

// PipelineSettings are the bench's settings and its broker.
type PipelineSettings struct {
	Cameras         int     `json:"cameras"`
	FPS             float64 `json:"fps"`
	DurationS       float64 `json:"duration_s"`
	Concurrency     int     `json:"concurrency"`
	Threads         int     `json:"threads_per_engine"`
	Width           int     `json:"width"`
	Height          int     `json:"height"`
	FramesPerCamera int     `json:"frames_per_camera"`
	FrameBytesAvg   float64 `json:"frame_bytes_avg"`
	Partitions      int     `json:"partitions"`
	MaxAgeS         float64 `json:"max_age_s"`
	MaxInFlight     int     `json:"max_in_flight"`
	ComputeS        float64 `json:"compute_duration_s"`
	BacklogS        float64 `json:"backlog_s"`
	BrokerPID       int     `json:"broker_pid"`
	BrokerAddr      string  `json:"broker_addr"`
	// The processor's --detect-every, --reclassify-every, --skip-static.
	DetectEvery     int  `json:"detect_every"`
	ReclassifyEvery int  `json:"reclassify_every"`
	SkipStatic      bool `json:"skip_static"`
}

// ComputeOnly is a compute-only measurement: decode + analyse on every
// engine at once, no Kafka.
type ComputeOnly struct {
	Seconds       float64 `json:"seconds"`
	Frames        int     `json:"frames"`
	FPS           float64 `json:"fps"`
	FrameMSP50    float64 `json:"frame_ms_p50"`
	FrameMSP90    float64 `json:"frame_ms_p90"`
	FacesPerFrame float64 `json:"faces_per_frame"`
}

// Saturation is the drain of a backlog through Kafka.
type Saturation struct {
	// ComputeFPS is the compute-only rate the ratios use: the mean of
	// the measurements before and after this one, which brackets it
	// against the VM's drifting speed.
	ComputeFPS  float64 `json:"compute_fps"`
	Frames      int     `json:"frames"`
	ProduceS    float64 `json:"produce_s"`
	Results     int     `json:"results"`
	OK          int     `json:"ok"`
	Skipped     int     `json:"skipped"`
	DLQ         int     `json:"dlq"`
	Duplicates  int     `json:"duplicates"`
	FirstAfterS float64 `json:"first_result_after_s"` // processor start → first result
	DrainS      float64 `json:"drain_s"`              // first → last result
	FPS         float64 `json:"fps"`                  // sustained: (results−1)/(last−first)
	WallFPS     float64 `json:"wall_fps"`             // results / (processor start → last result)
	Ratio       float64 `json:"ratio"`                // FPS / ComputeFPS
	RatioMin    float64 `json:"ratio_min"`            // FPS / the faster compute-only measurement
	RatioMax    float64 `json:"ratio_max"`            // FPS / the slower one
	WallRatio   float64 `json:"wall_ratio"`
	FrameMSP50  float64 `json:"frame_ms_p50"` // the results' decode + detect + classify
	Complete    bool    `json:"complete"`
}

// Realtime is the real-time phase: cameras at their rate through publish
// → process → results.
type Realtime struct {
	Seconds    float64       `json:"seconds"`
	Captured   int64         `json:"captured"`
	Acked      int64         `json:"published"`
	Dropped    publish.Drops `json:"dropped"`
	Results    int           `json:"results"`
	OK         int           `json:"ok"`
	Skipped    int           `json:"skipped_stale"`
	DLQ        int           `json:"dlq"`
	Missing    int64         `json:"missing"`
	Duplicates int           `json:"duplicates"`
	Latency    Latency       `json:"latency_ms"`     // ok results
	LatencyAll Latency       `json:"latency_all_ms"` // ok and skipped
	FrameMSP50 float64       `json:"frame_ms_p50"`   // decode + detect + classify of ok results
	QueueMSP50 float64       `json:"queue_ms_p50"`   // timings_ms.queue of ok results
	QueueMSP99 float64       `json:"queue_ms_p99"`
	// Where the latency of ok results goes: capture → fetched by the
	// processor (publish, broker, fetch), fetched → result produced
	// (queue + analysis), produced → readable by the reader (produce,
	// broker, fetch).
	InLatency   Latency        `json:"in_ms"`
	ProcLatency Latency        `json:"processing_ms"`
	OutLatency  Latency        `json:"out_ms"`
	Windows     []Window       `json:"windows"`
	Processor   map[string]any `json:"processor"`
	Complete    bool           `json:"complete"`
}

// Latency summarizes latencies in milliseconds: the soak's summary and
// the mean.
type Latency struct {
	soak.Latency
	Mean float64 `json:"mean"`
}

// Window is a slice of the real-time phase.
type Window struct {
	FromS       float64 `json:"from_s"`
	ToS         float64 `json:"to_s"`
	OK          int     `json:"ok"`
	Skipped     int     `json:"skipped"`
	P50         float64 `json:"p50_ms"`
	P99         float64 `json:"p99_ms"`
	Max         float64 `json:"max_ms"`
	BrokerRSSMB float64 `json:"broker_rss_mb"`
	SelfRSSMB   float64 `json:"bench_rss_mb"`
}

// Memory is the broker's and the bench's resident memory.
type Memory struct {
	BrokerMaxRSSMB      float64 `json:"broker_max_rss_mb"` // over the whole run
	BrokerHWMMB         float64 `json:"broker_hwm_mb"`     // the kernel's peak, read at the end
	BrokerRealtimeMaxMB float64 `json:"broker_realtime_max_rss_mb"`
	BrokerRealtimeStart float64 `json:"broker_realtime_start_rss_mb"`
	BrokerRealtimeEnd   float64 `json:"broker_realtime_end_rss_mb"`
	SelfMaxRSSMB        float64 `json:"bench_max_rss_mb"`
	SelfHWMMB           float64 `json:"bench_hwm_mb"`
	SelfRealtimeMaxMB   float64 `json:"bench_realtime_max_rss_mb"`
	Samples             int     `json:"samples"`
}

// Target is one of issue 3's targets and whether it was met.
type Target struct {
	Name     string  `json:"name"`
	Target   string  `json:"target"`
	Measured float64 `json:"measured"`
	Unit     string  `json:"unit"`
	Met      bool    `json:"met"`
}

// finish completes the report from the reader, the samplers and the CPU
// marks.
func (b *pipeline) finish() {
	b.rep.Host.LoadAvgEnd = procstat.LoadAvg()
	r := &b.rep.Realtime
	if b.reader != nil {
		ok, all := b.reader.latencies()
		r.Latency, r.LatencyAll = latencyStats(ok), latencyStats(all)
		if start := b.reader.realtimeStart(); !start.IsZero() && r.Seconds > 0 {
			r.Windows = b.windows(start, min(b.cfg.Duration, time.Duration(r.Seconds*float64(time.Second))))
		}
	}
	if b.mem != nil {
		b.summarizeMemory()
	}
	b.rep.CPU = b.cpuUse()
	b.rep.Targets = b.rep.targets()
}

// windows splits the publishing time into ten windows (one a second for
// shorter runs); the last one also holds the results that arrived after
// it.
func (b *pipeline) windows(start time.Time, span time.Duration) []Window {
	n := int(min(10, max(1, span/time.Second)))
	step := span / time.Duration(n)
	var out []Window
	for i := range n {
		from, to := start.Add(time.Duration(i)*step), start.Add(time.Duration(i+1)*step)
		end := to
		if i == n-1 {
			end = to.Add(24 * time.Hour)
		}
		w := b.reader.window(from, end)
		w.FromS, w.ToS = round1(from.Sub(start).Seconds()), round1(to.Sub(start).Seconds())
		if b.mem != nil {
			if m := b.mem.Max(from, end); len(m) == 2 {
				w.BrokerRSSMB, w.SelfRSSMB = mb(m[0]), mb(m[1])
			}
		}
		out = append(out, w)
	}
	return out
}

func (rep *PipelineReport) targets() []Target {
	var ts []Target
	if rep.Saturation.Results > 0 {
		ts = append(ts, Target{"sustained / compute-only", "≥ 0.90", rep.Saturation.Ratio, "ratio", rep.Saturation.Ratio >= targetRatio})
	}
	if l := rep.Realtime.Latency; l.N > 0 {
		ts = append(ts,
			Target{"latency p50", "≤ 30 ms", l.P50, "ms", l.P50 <= targetP50MS},
			Target{"latency p99", "≤ 100 ms", l.P99, "ms", l.P99 <= targetP99MS})
	}
	if rep.Memory.BrokerMaxRSSMB > 0 {
		peak := max(rep.Memory.BrokerMaxRSSMB, rep.Memory.BrokerHWMMB)
		ts = append(ts, Target{"broker memory (peak)", "< 300 MB", peak, "MB", peak < mb(targetBrokerRSSB)})
	}
	return ts
}

// Print writes the report as text.
func (rep *PipelineReport) Print(out io.Writer) error {
	w := bufio.NewWriter(out)
	st := rep.Settings
	fmt.Fprintf(w, "framecast bench --pipeline — %s\n", rep.Date.Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(w, "machine: %d CPUs (%s), ONNX Runtime %s, %s; load average %.2f at start, %.2f at end\n",
		rep.Host.CPUs, orDash(rep.Host.CPUModel), orDash(rep.Host.ONNXRuntime), rep.Host.GoVersion, rep.Host.LoadAvgStart[0], rep.Host.LoadAvgEnd[0])
	fmt.Fprintf(w, "frames: %d cameras × %d synthetic %d×%d frames (%.1f KB on average, %.2f faces per frame), %d partitions\n",
		st.Cameras, st.FramesPerCamera, st.Width, st.Height, st.FrameBytesAvg/1000, rep.Compute.FacesPerFrame, st.Partitions)
	inFlight := st.MaxInFlight
	if inFlight == 0 {
		inFlight = 2*st.Concurrency + 2
	}
	fmt.Fprintf(w, "engines: %d × %d intra-op thread(s), in the compute-only phase and in the processor (max %d frames in flight)\n\n",
		st.Concurrency, st.Threads, inFlight)

	c, ca, s := rep.Compute, rep.ComputeAfter, rep.Saturation
	fmt.Fprintf(w, "compute only     %8.1f frames/s   decode + analyse, %d frames in %.1f s; per frame p50 %.1f ms, p90 %.1f ms\n",
		c.FPS, c.Frames, c.Seconds, c.FrameMSP50, c.FrameMSP90)
	if ca.Frames > 0 {
		fmt.Fprintf(w, "  again after    %8.1f frames/s   %d frames in %.1f s; per frame p50 %.1f ms, p90 %.1f ms; mean of both %.1f frames/s\n",
			ca.FPS, ca.Frames, ca.Seconds, ca.FrameMSP50, ca.FrameMSP90, s.ComputeFPS)
	}
	if s.Frames > 0 {
		fmt.Fprintf(w, "through Kafka    %8.1f frames/s   = %.3f of compute only [%.3f–%.3f against either measurement] (target ≥ 0.90: %s)\n",
			s.FPS, s.Ratio, s.RatioMin, s.RatioMax, metWord(s.Ratio >= targetRatio && s.Results > 0))
		fmt.Fprintf(w, "                 backlog of %d frames produced in %.1f s; first result %.2f s after the processor started,\n",
			s.Frames, s.ProduceS, s.FirstAfterS)
		fmt.Fprintf(w, "                 then %d results in %.1f s (%.1f frames/s counting the start: %.3f); per frame p50 %.1f ms%s\n",
			s.Results, s.DrainS, s.WallFPS, s.WallRatio, s.FrameMSP50, incomplete(s.Complete))
	}
	if rep.Realtime.Seconds > 0 {
		rep.printRealtime(w)
	}
	m := rep.Memory
	fmt.Fprintf(w, "\nmemory: broker max RSS %.1f MB (kernel peak VmHWM %.1f MB; real time %.1f → %.1f MB, max %.1f) (target < 300 MB: %s)\n",
		m.BrokerMaxRSSMB, m.BrokerHWMMB, m.BrokerRealtimeStart, m.BrokerRealtimeEnd, m.BrokerRealtimeMaxMB,
		metWord(m.BrokerMaxRSSMB > 0 && max(m.BrokerMaxRSSMB, m.BrokerHWMMB) < mb(targetBrokerRSSB)))
	fmt.Fprintf(w, "        bench process (processor + publisher + reader + frames in memory) max RSS %.1f MB (real time %.1f MB, VmHWM %.1f MB)\n",
		m.SelfMaxRSSMB, m.SelfRealtimeMaxMB, m.SelfHWMMB)
	if len(rep.CPU) > 0 {
		fmt.Fprintln(w, "\ncores used (bench = this process: engines, processor, publisher, reader; other = other processes and the kernel;\nsteal = taken by the hypervisor), and bench + broker CPU per analysed frame:")
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "  phase\tseconds\tbench\tbroker\tother\tsteal\tidle\tframes\tCPU ms/frame\t")
		for _, x := range rep.CPU {
			perFrame := "-"
			if x.Frames > 0 {
				perFrame = fmt.Sprintf("%.1f", x.CPUMsPerFrame)
			}
			fmt.Fprintf(tw, "  %s\t%.1f\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\t%d\t%s\t\n", x.Phase, x.Seconds, x.Bench, x.Broker, x.Other, x.Steal, x.Idle, x.Frames, perFrame)
		}
		tw.Flush()
	}
	if len(rep.Targets) > 0 {
		var met, missed []string
		for _, t := range rep.Targets {
			d := fmt.Sprintf("%s %g %s (%s)", t.Name, t.Measured, t.Unit, t.Target)
			if t.Met {
				met = append(met, d)
			} else {
				missed = append(missed, d)
			}
		}
		fmt.Fprintln(w)
		if len(met) > 0 {
			fmt.Fprintf(w, "targets met: %s\n", strings.Join(met, "; "))
		}
		if len(missed) > 0 {
			fmt.Fprintf(w, "targets MISSED: %s\n", strings.Join(missed, "; "))
		}
	}
	if rep.Interrupted {
		fmt.Fprintln(w, "\n(interrupted: partial report)")
	}
	return w.Flush()
}

func (rep *PipelineReport) printRealtime(w io.Writer) {
	st, r := rep.Settings, rep.Realtime
	fmt.Fprintf(w, "\nreal time: %d cameras × %g fps for %s (%d frames/s offered), processor --max-age %s\n",
		st.Cameras, st.FPS, time.Duration(r.Seconds*float64(time.Second)).Round(time.Second), int(float64(st.Cameras)*st.FPS+0.5), time.Duration(st.MaxAgeS*float64(time.Second)))
	fmt.Fprintf(w, "  published %d of %d captured; dropped by the publisher %d (buffer full %d, delivery failed %d, too large %d)\n",
		r.Acked, r.Captured, r.Dropped.Total(), r.Dropped.BufferFull, r.Dropped.DeliveryFailed, r.Dropped.TooLarge)
	fmt.Fprintf(w, "  results %d: ok %d, skipped as stale %d (%.1f %%), dead letters %d; missing %d, duplicates %d%s\n",
		r.Results, r.OK, r.Skipped, pct(r.Skipped, r.Results), r.DLQ, r.Missing, r.Duplicates, incomplete(r.Complete))
	l := r.Latency
	fmt.Fprintf(w, "  latency capture → result readable (ok results): p50 %.1f ms (≤ 30: %s), p90 %.1f, p99 %.1f ms (≤ 100: %s), max %.1f, mean %.1f\n",
		l.P50, metWord(l.N > 0 && l.P50 <= targetP50MS), l.P90, l.P99, metWord(l.N > 0 && l.P99 <= targetP99MS), l.Max, l.Mean)
	fmt.Fprintf(w, "  parts, p50 / p99 ms: capture → fetched by the processor %.1f / %.1f; fetched → result produced %.1f / %.1f\n"+
		"    (of which queue %.1f / %.1f, analysis p50 %.1f); produced → readable %.1f / %.1f\n",
		r.InLatency.P50, r.InLatency.P99, r.ProcLatency.P50, r.ProcLatency.P99, r.QueueMSP50, r.QueueMSP99, r.FrameMSP50, r.OutLatency.P50, r.OutLatency.P99)
	if len(r.Windows) > 0 {
		fmt.Fprintln(w)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "  seconds\tok\tskipped\tp50 ms\tp99 ms\tmax ms\tbroker RSS MB\tbench RSS MB\t")
		for _, x := range r.Windows {
			fmt.Fprintf(tw, "  %.0f–%.0f\t%d\t%d\t%.1f\t%.1f\t%.1f\t%.1f\t%.1f\t\n", x.FromS, x.ToS, x.OK, x.Skipped, x.P50, x.P99, x.Max, x.BrokerRSSMB, x.SelfRSSMB)
		}
		tw.Flush()
	}
}

func metWord(ok bool) string {
	if ok {
		return "met"
	}
	return "MISSED"
}

func incomplete(ok bool) string {
	if ok {
		return ""
	}
	return " (INCOMPLETE)"
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func pct(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return 100 * float64(a) / float64(b)
}

// latencyStats summarizes xs (milliseconds); it sorts xs.
func latencyStats(xs []float64) Latency {
	if len(xs) == 0 {
		return Latency{}
	}
	sum := 0.0
	for _, x := range xs {
		sum += x
	}
	l := Latency{Latency: soak.Latency{N: len(xs)}, Mean: round2(sum / float64(len(xs)))}
	l.P50 = round2(quantile.Of(xs, 0.5))
	l.P90 = round2(quantile.Of(xs, 0.9))
	l.P99 = round2(quantile.Of(xs, 0.99))
	l.Max = round2(xs[len(xs)-1]) // quantile.Of sorted xs
	return l
}
