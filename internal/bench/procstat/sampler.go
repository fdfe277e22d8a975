package procstat

import (
	"sync"
	"time"
)

// Sample is one reading of the resident memory of a Sampler's processes.
type Sample struct {
	At time.Time
	// Phase is the label set last with SetPhase ("" before).
	Phase string
	// RSS holds VmRSS in bytes, one per process in the order the
	// Sampler's pids function returned them; 0 where it was unreadable
	// (no such process yet, or no /proc).
	RSS []int64
}

// Sampler reads the resident memory of a few processes at an interval,
// from when it starts until Stop. It is safe for concurrent use.
type Sampler struct {
	pids func() []int

	mu      sync.Mutex
	phase   string
	samples []Sample

	stop chan struct{}
	done chan struct{}
	once sync.Once
}

// StartSampler takes a sample at once and then one every interval. pids
// is called for each sample: a process started later (pid 0 until then)
// joins the readings when it appears.
func StartSampler(every time.Duration, pids func() []int) *Sampler {
	s := &Sampler{pids: pids, stop: make(chan struct{}), done: make(chan struct{})}
	s.sample()
	go s.loop(every)
	return s
}

func (s *Sampler) loop(every time.Duration) {
	defer close(s.done)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			s.sample()
		}
	}
}

func (s *Sampler) sample() {
	pids := s.pids()
	x := Sample{At: time.Now(), RSS: make([]int64, len(pids))}
	for i, pid := range pids {
		x.RSS[i], _, _ = Memory(pid)
	}
	s.mu.Lock()
	x.Phase = s.phase
	s.samples = append(s.samples, x)
	s.mu.Unlock()
}

// SetPhase labels the samples from now on. It samples both sides of the
// change: the last reading of the previous phase and the first of this
// one.
func (s *Sampler) SetPhase(phase string) {
	s.sample()
	s.mu.Lock()
	s.phase = phase
	s.mu.Unlock()
	s.sample()
}

// Stop ends the sampling; later calls do nothing.
func (s *Sampler) Stop() {
	s.once.Do(func() { close(s.stop); <-s.done })
}

// Samples returns the samples so far, oldest first.
func (s *Sampler) Samples() []Sample {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Sample(nil), s.samples...)
}

// Latest returns the last sample (the zero Sample before the first).
func (s *Sampler) Latest() Sample {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.samples) == 0 {
		return Sample{}
	}
	return s.samples[len(s.samples)-1]
}

// Max returns, per process, the largest RSS sampled in [from, to).
func (s *Sampler) Max(from, to time.Time) []int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []int64
	for _, x := range s.samples {
		if x.At.Before(from) || !x.At.Before(to) {
			continue
		}
		for len(out) < len(x.RSS) {
			out = append(out, 0)
		}
		for i, v := range x.RSS {
			out[i] = max(out[i], v)
		}
	}
	return out
}
