package bench

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/framecast/framecast/internal/bench/procstat"
	"github.com/framecast/framecast/internal/kafka"
	"github.com/framecast/framecast/internal/publish"
	"github.com/framecast/framecast/internal/soak"
)

// cameraPartitions maps every camera, the backlog's too, to its
// partition, as the publisher and the backlog producer assign them.
func (s *soakRun) cameraPartitions() map[string]int32 {
	var ids, sat []string
	for i := range s.cfg.Cameras {
		ids = append(ids, cameraID(rtPrefix, i))
		sat = append(sat, cameraID(satPrefix, i))
	}
	n := int32(s.cfg.Partitions)
	parts := publish.Assign(ids, n)
	if s.rep.Backlog != nil {
		for id, p := range publish.Assign(sat, n) {
			parts[id] = (p + s.backlogBase) % n
		}
	}
	return parts
}

// drain waits until every frame in the topic has a result or a dead
// letter, or wait passed.
func (s *soakRun) drain(ctx context.Context, wait time.Duration) {
	cl := s.admClient()
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ends, err := adm.ListEndOffsets(ctx, kafka.DefaultFramesTopic)
	if err != nil {
		s.log.Warn("listing the frames topic's end offsets", "err", err)
		return
	}
	parts := s.cameraPartitions()
	deadline := time.Now().Add(wait)
	s.log.Info("soak: publishing done; waiting for the last results")
	for {
		missing := int64(0)
		for id, p := range parts {
			if o, ok := ends.Lookup(kafka.DefaultFramesTopic, p); ok {
				c := s.reader.camera(id)
				missing += max(0, o.Offset-int64(c.ok+c.skipped+c.dlq))
			}
		}
		if missing == 0 {
			return
		}
		if time.Now().After(deadline) {
			s.log.Warn("gave up waiting for results", "missing", missing, "waited", wait.String())
			return
		}
		select {
		case <-s.proc.Done():
			s.log.Warn("the processor exited before every frame had a result", "err", s.proc.Err(), "stderr", s.proc.Stderr())
			return
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// account fills the report from the topics and the samples, once the
// processor stopped.
func (s *soakRun) account(ctx context.Context) error {
	cl := s.admClient()
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	ends, err := adm.ListEndOffsets(ctx, kafka.DefaultFramesTopic)
	if err != nil {
		return fmt.Errorf("listing the frames topic's end offsets: %w", err)
	}
	committed, err := adm.FetchOffsets(ctx, soakGroup)
	if err != nil {
		return fmt.Errorf("fetching the processor's committed offsets: %w", err)
	}
	// The reader gets a moment for records produced at the very end.
	time.Sleep(time.Second)
	parts := s.cameraPartitions()
	res := &s.rep.Results
	for i := range s.cfg.Cameras {
		id := cameraID(rtPrefix, i)
		c := s.camera(id, parts[id], ends)
		s.rep.Cameras = append(s.rep.Cameras, c)
		res.Frames += c.Frames
		res.Results += c.Results
		res.OK += c.OK
		res.Skipped += c.Skipped
		res.DLQ += c.DLQ
		res.Duplicates += c.Duplicates
	}
	if s.rep.Backlog != nil {
		for i := range s.cfg.Cameras {
			id := cameraID(satPrefix, i)
			s.rep.Cameras = append(s.rep.Cameras, s.camera(id, parts[id], ends))
		}
	}
	if n := res.Results + res.DLQ; n > 0 {
		res.StaleRate = round3(float64(res.Skipped) / float64(n))
	}
	if d := s.rep.Settings.DurationS; d > 0 {
		res.AnalysedFPS = round1(float64(res.OK) / d)
	}
	for p := range int32(s.cfg.Partitions) {
		e, _ := ends.Lookup(kafka.DefaultFramesTopic, p)
		c := int64(-1)
		if o, ok := committed.Lookup(kafka.DefaultFramesTopic, p); ok && o.Err == nil {
			c = o.At
		}
		s.rep.Partitions = append(s.rep.Partitions, soak.Partition{Partition: p, End: e.Offset, Committed: c})
	}
	ok, all := s.reader.latencies()
	s.rep.Latency, s.rep.LatencyAll = latencyStats(ok).Latency, latencyStats(all).Latency

	s.rep.Samples = s.samples()
	d, w := s.rep.Settings.DurationS, s.sc.Warmup.Seconds()
	m := &s.rep.Memory
	m.Processor = soak.Summarize(s.rep.Samples, func(x soak.Sample) float64 { return x.ProcessorMB }, d, w)
	m.Broker = soak.Summarize(s.rep.Samples, func(x soak.Sample) float64 { return x.BrokerMB }, d, w)
	// The processor has exited: its peak is the maximum sampled. The
	// broker still runs: the kernel's high-water mark.
	m.Processor.PeakMB = m.Processor.MaxMB
	if b := s.rep.Backlog; b != nil {
		m.Processor.PeakMB = max(m.Processor.PeakMB, b.ProcessorPeakMB)
	}
	if _, hwm, err := procstat.Memory(s.broker.PID()); err == nil {
		m.Broker.PeakMB = mb(hwm)
	}
	return nil
}

// samples are the RSS samples in the report's form: seconds after the
// publishing started (-1 before), MB per process.
func (s *soakRun) samples() []soak.Sample {
	s.mu.Lock()
	start := s.start
	s.mu.Unlock()
	var out []soak.Sample
	for _, x := range s.sampler.Samples() {
		at := -1.0
		if !start.IsZero() && !x.At.Before(start) {
			at = round1(x.At.Sub(start).Seconds())
		}
		out = append(out, soak.Sample{AtS: at, ProcessorMB: mb(x.RSS[0]), BrokerMB: mb(x.RSS[1]), BenchMB: mb(x.RSS[2])})
	}
	return out
}

func (s *soakRun) camera(id string, p int32, ends kadm.ListedOffsets) soak.Camera {
	c := s.reader.camera(id)
	e, _ := ends.Lookup(kafka.DefaultFramesTopic, p)
	return soak.Camera{ID: id, Partition: p, Frames: e.Offset, Results: c.ok + c.skipped, OK: c.ok, Skipped: c.skipped, DLQ: c.dlq, Duplicates: c.dups}
}
