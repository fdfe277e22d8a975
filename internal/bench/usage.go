package bench

import (
	"os"
	"time"

	"github.com/framecast/framecast/internal/bench/procstat"
)

// CPUUse is how the machine's cores were used during a phase, in cores
// (1.0 = one core busy throughout).
type CPUUse struct {
	Phase   string  `json:"phase"`
	Seconds float64 `json:"seconds"`
	Bench   float64 `json:"bench_cores"`
	Broker  float64 `json:"broker_cores"`
	Other   float64 `json:"other_cores"` // other processes and the kernel
	Steal   float64 `json:"steal_cores"` // taken by the hypervisor
	Idle    float64 `json:"idle_cores"`
	// Frames analysed in the phase, and the CPU time (bench + broker)
	// per frame: what Kafka adds to each frame, independent of how fast
	// the VM happens to be.
	Frames        int     `json:"frames,omitempty"`
	CPUMsPerFrame float64 `json:"cpu_ms_per_frame,omitempty"`
	ticks         int64   // bench + broker CPU ticks
}

// cpuMark is a reading of the machine's and two processes' CPU times.
type cpuMark struct {
	phase               string
	at                  time.Time
	machine             procstat.Machine
	self, broker        int64 // process ticks
	machineOK, brokerOK bool
}

func takeCPUMark(phase string, brokerPID int) cpuMark {
	m := cpuMark{phase: phase, at: time.Now()}
	var err error
	m.machine, err = procstat.MachineCPU()
	m.machineOK = err == nil
	m.self, _ = procstat.ProcessCPU(os.Getpid())
	if brokerPID > 0 {
		m.broker, err = procstat.ProcessCPU(brokerPID)
		m.brokerOK = err == nil
	}
	return m
}

func cpuBetween(a, b cpuMark) CPUUse {
	secs := b.at.Sub(a.at).Seconds()
	c := CPUUse{Phase: a.phase, Seconds: round1(secs)}
	if secs <= 0 {
		return c
	}
	cores := func(ticks int64) float64 { return round2(float64(ticks) / procstat.TicksPerSecond / secs) }
	c.Bench = cores(b.self - a.self)
	c.ticks = b.self - a.self
	if a.brokerOK && b.brokerOK {
		c.Broker = cores(b.broker - a.broker)
		c.ticks += b.broker - a.broker
	}
	if a.machineOK && b.machineOK {
		c.Other = max(0, round2(cores(b.machine.Busy-a.machine.Busy)-c.Bench-c.Broker))
		c.Steal = cores(b.machine.Steal - a.machine.Steal)
		c.Idle = cores(b.machine.Idle - a.machine.Idle)
	}
	return c
}

// cpuUse is the CPU use of each phase between the marks, with the frames
// each one analysed.
func (b *pipeline) cpuUse() []CPUUse {
	var out []CPUUse
	for i := 0; i+1 < len(b.marks); i++ {
		if b.marks[i].phase == "" {
			continue
		}
		c := cpuBetween(b.marks[i], b.marks[i+1])
		switch c.Phase {
		case "compute":
			c.Frames = b.rep.Compute.Frames
		case "compute-after":
			c.Frames = b.rep.ComputeAfter.Frames
		case "saturation":
			c.Frames = b.rep.Saturation.OK
		case "realtime":
			c.Frames = b.rep.Realtime.OK // skipped frames cost next to nothing
		}
		if c.Frames > 0 {
			c.CPUMsPerFrame = round2(float64(c.ticks) * 1000 / procstat.TicksPerSecond / float64(c.Frames))
		}
		out = append(out, c)
	}
	return out
}

// summarizeMemory fills the report's memory from the samples (broker,
// bench) and the kernel's high-water marks.
func (b *pipeline) summarizeMemory() {
	out := &b.rep.Memory
	if b.broker != nil {
		if _, hwm, err := procstat.Memory(b.broker.PID()); err == nil {
			out.BrokerHWMMB = mb(hwm)
		}
	}
	if _, hwm, err := procstat.Memory(os.Getpid()); err == nil {
		out.SelfHWMMB = mb(hwm)
	}
	samples := b.mem.Samples()
	out.Samples = len(samples)
	var first, last *procstat.Sample
	var brMax, selfMax, brRT, selfRT int64
	for i := range samples {
		s := &samples[i]
		br, self := s.RSS[0], s.RSS[1]
		brMax, selfMax = max(brMax, br), max(selfMax, self)
		if s.Phase == "realtime" {
			brRT, selfRT = max(brRT, br), max(selfRT, self)
			if first == nil {
				first = s
			}
			last = s
		}
	}
	out.BrokerMaxRSSMB, out.SelfMaxRSSMB = mb(brMax), mb(selfMax)
	out.BrokerRealtimeMaxMB, out.SelfRealtimeMaxMB = mb(brRT), mb(selfRT)
	if first != nil {
		out.BrokerRealtimeStart, out.BrokerRealtimeEnd = mb(first.RSS[0]), mb(last.RSS[0])
	}
}
