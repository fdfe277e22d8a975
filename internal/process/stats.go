package process

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/framecast/framecast/internal/analysis"
	"github.com/framecast/framecast/internal/quantile"
	"github.com/framecast/framecast/internal/vision"
)

// Stats is a snapshot of a processor's counters. Counters only grow; rates
// are for whoever reads two snapshots (the stats line, Prometheus).
type Stats struct {
	// Consumed counts frame records taken from the frames topic, including
	// ones consumed again after a rebalance or an aborted transaction.
	Consumed uint64
	// OK counts results with status ok that were delivered (acknowledged,
	// or committed in exactly-once mode).
	OK uint64
	// Faces counts the faces in those results; FacesByEmotion by their
	// most likely emotion (every vision.Labels label, zeros included).
	Faces          uint64
	FacesByEmotion map[string]uint64
	// Analysis counts those results by how fresh their faces are: "full",
	// "tracked" (followed, no detector) and "reused" (a static frame), so
	// --detect-every and --skip-static show what they leave out.
	Analysis map[string]uint64
	// Skipped counts delivered results with status skipped, by reason
	// ("stale").
	Skipped map[string]uint64
	// DLQ counts frames delivered to the dead-letter topic, by reason
	// ("bad_header", "empty", "not_image", "truncated", "too_large", …).
	DLQ map[string]uint64
	// BadCaptureTime counts delivered frames whose framecast-captured-ns
	// header was implausible: more than 5 minutes before, or more than 1 s
	// after, the record timestamp, which was used as the capture time
	// instead (a camera clock at 1970 or in 2262).
	BadCaptureTime uint64
	// ProduceErrors counts result or dead-letter records the brokers did
	// not accept. Each stops the processor: nothing past them is committed.
	ProduceErrors uint64
	// Commits counts successful offset commits (at-least-once) or
	// committed transactions (exactly-once); CommitErrors the failures.
	Commits, CommitErrors uint64
	// Aborted counts aborted transactions (exactly-once), whose frames are
	// processed again.
	Aborted uint64
	// Dropped counts frames whose in-flight work was abandoned because
	// their partition was revoked; the partition's next owner processes
	// them, since their offsets were not committed.
	Dropped uint64
	// InFlight is the number of frames fetched whose record is not
	// delivered yet; Assigned the frames partitions this member owns
	// (approximate in exactly-once mode, where the transaction session
	// passes on only the first revoke during a transaction).
	InFlight, Assigned int
	// Lag is the group's consumer lag on the frames topic (all members),
	// or -1 when unknown.
	Lag int64
	// InFlightBytes is the bytes (keys, values, headers) of the frames in
	// flight; ClientBufferedBytes what the Kafka client has fetched but
	// not handed out yet (at most one fetch response per broker);
	// BufferedBytes their sum, everything this worker holds ahead of its
	// analysis. PeakBufferedBytes is the largest BufferedBytes seen, checked
	// after every poll: with one broker it stays below MaxInFlightBytes +
	// 2 × max(FetchMaxBytes, largest producer batch), whatever the backlog.
	InFlightBytes, ClientBufferedBytes, BufferedBytes, PeakBufferedBytes int64
	// StalledPartitions is the number of assigned frames partitions that
	// lag without progress for Config.StallAlarm or longer, as of the
	// last check; StallAlarms counts the errors logged about them.
	StalledPartitions int
	StallAlarms       uint64
	// LatencyP50 and LatencyP99 are capture → delivered-result latencies
	// over the last latencyWindow ok results; zero before the first.
	LatencyP50, LatencyP99 time.Duration
}

// Out is the number of records delivered: results and dead letters.
func (s Stats) Out() uint64 {
	n := s.OK
	for _, v := range s.Skipped {
		n += v
	}
	for _, v := range s.DLQ {
		n += v
	}
	return n
}

// counters are the processor's metrics, updated from many goroutines.
type counters struct {
	consumed, ok, faces, produceErrors atomic.Uint64
	commits, commitErrors, aborted     atomic.Uint64
	badCaptureTime                     atomic.Uint64
	dropped, stallAlarms               atomic.Uint64
	stalled                            atomic.Int64
	assigned                           atomic.Int64
	lag                                atomic.Int64

	mu       sync.Mutex
	skipped  map[string]uint64
	dlq      map[string]uint64
	emotions map[string]uint64
	analysis map[string]uint64
	lat      latencyRing

	obs Observer // set before Run, nil: none
}

func newCounters() *counters {
	c := &counters{skipped: map[string]uint64{ReasonStale: 0}, dlq: map[string]uint64{}, emotions: map[string]uint64{},
		analysis: map[string]uint64{analysis.AnalysisFull: 0, analysis.AnalysisTracked: 0, analysis.AnalysisReused: 0}}
	for _, l := range vision.Labels {
		c.emotions[l] = 0
	}
	c.lag.Store(-1)
	return c
}

// delivered accounts one record that reached its topic.
func (c *counters) delivered(o outcome, at time.Time) {
	if o.badCaptureTime {
		c.badCaptureTime.Add(1)
	}
	switch o.kind {
	case kindOK:
		c.ok.Add(1)
		c.faces.Add(uint64(o.faces))
		lat := max(at.Sub(o.captured), 0)
		c.mu.Lock()
		c.lat.add(lat)
		for _, e := range o.emotions {
			c.emotions[e]++
		}
		if o.analysis != "" {
			c.analysis[o.analysis]++
		}
		c.mu.Unlock()
		if c.obs != nil {
			c.obs.Observe(o.timings, lat)
		}
	case kindSkipped:
		c.mu.Lock()
		c.skipped[o.reason]++
		c.mu.Unlock()
	case kindDLQ:
		c.mu.Lock()
		c.dlq[o.reason]++
		c.mu.Unlock()
	}
}

func (c *counters) snapshot(inFlight int) Stats {
	s := Stats{
		Consumed: c.consumed.Load(), OK: c.ok.Load(), Faces: c.faces.Load(),
		ProduceErrors: c.produceErrors.Load(),
		Commits:       c.commits.Load(), CommitErrors: c.commitErrors.Load(),
		Aborted: c.aborted.Load(), Dropped: c.dropped.Load(),
		InFlight: inFlight, Assigned: int(c.assigned.Load()), Lag: c.lag.Load(),
		StalledPartitions: int(c.stalled.Load()), StallAlarms: c.stallAlarms.Load(),
	}
	s.BadCaptureTime = c.badCaptureTime.Load()
	c.mu.Lock()
	s.Skipped = maps.Clone(c.skipped)
	s.DLQ = maps.Clone(c.dlq)
	s.FacesByEmotion = maps.Clone(c.emotions)
	s.Analysis = maps.Clone(c.analysis)
	s.LatencyP50, s.LatencyP99 = c.lat.percentiles()
	c.mu.Unlock()
	return s
}

// latencyWindow is how many recent latencies the percentiles cover: about
// ten seconds of a busy worker, so the stats line shows the present.
const latencyWindow = 1024

// latencyRing keeps the last latencyWindow samples. Sorting 1024 values
// every few seconds costs microseconds; a histogram would be cheaper per
// read but coarser.
type latencyRing struct {
	buf  [latencyWindow]time.Duration
	n    int // samples stored, ≤ latencyWindow
	next int
}

func (r *latencyRing) add(d time.Duration) {
	r.buf[r.next] = d
	r.next = (r.next + 1) % latencyWindow
	r.n = min(r.n+1, latencyWindow)
}

func (r *latencyRing) percentiles() (p50, p99 time.Duration) {
	if r.n == 0 {
		return 0, 0
	}
	s := slices.Clone(r.buf[:r.n])
	return quantile.Of(s, 0.5), quantile.Of(s, 0.99)
}

// formatReasons renders {"stale":3,"truncated":1} as "stale=3 truncated=1"
// (sorted, zeros left out), or "0".
func formatReasons(m map[string]uint64) string {
	keys := make([]string, 0, len(m))
	for k, v := range m {
		if v > 0 {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return "0"
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%s=%d", k, m[k])
	}
	return b.String()
}
