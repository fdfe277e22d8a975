package procstat

import (
	"errors"
	"os"
	"runtime"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	status := "Name:\tframecast\nVmHWM:\t  2048 kB\nVmRSS:\t  1024 kB\nThreads:\t9\n"
	if rss, hwm := parseStatus([]byte(status)); rss != 1<<20 || hwm != 2<<20 {
		t.Errorf("status: rss %d, hwm %d", rss, hwm)
	}
	if rss, hwm := parseStatus([]byte("Name:\tzombie\nState:\tZ (zombie)\n")); rss != 0 || hwm != 0 {
		t.Errorf("zombie status: rss %d, hwm %d", rss, hwm)
	}

	// A command name with spaces and a parenthesis does not shift the
	// fields.
	stat := "4242 (a b) c) S 1 2 3 4 5 6 7 8 9 10 250 50 0 0 20 0"
	if ticks, err := parseProcessStat([]byte(stat)); err != nil || ticks != 300 {
		t.Errorf("process stat: %d, %v", ticks, err)
	}
	if _, err := parseProcessStat([]byte("4242 (x) S 1 2")); err == nil {
		t.Error("a short process stat parsed")
	}

	m, err := parseMachineStat([]byte("cpu  100 10 50 1000 20 5 5 7 0 0\ncpu0 1 2 3\n"))
	if err != nil || m != (Machine{Busy: 170, Steal: 7, Idle: 1020}) {
		t.Errorf("machine stat: %+v, %v", m, err)
	}
	if _, err := parseMachineStat([]byte("intr 1 2 3\n")); err == nil {
		t.Error("a stat without a cpu line parsed")
	}

	if la := parseLoadAvg([]byte("0.50 1.25 2.00 3/400 12345\n")); la != [3]float64{0.5, 1.25, 2} {
		t.Errorf("load average %v", la)
	}
	if m := parseCPUModel([]byte("processor\t: 0\nmodel name\t: Example CPU @ 2.0GHz\n")); m != "Example CPU @ 2.0GHz" {
		t.Errorf("cpu model %q", m)
	}
}

// TestReadings reads this process: real numbers on Linux, ErrUnavailable
// elsewhere.
func TestReadings(t *testing.T) {
	if _, _, err := Memory(0); err == nil {
		t.Error("Memory(0) did not fail")
	}
	rss, hwm, err := Memory(os.Getpid())
	cpu, cerr := ProcessCPU(os.Getpid())
	m, merr := MachineCPU()
	if runtime.GOOS != "linux" {
		if !errors.Is(err, ErrUnavailable) || !errors.Is(cerr, ErrUnavailable) || !errors.Is(merr, ErrUnavailable) {
			t.Errorf("errors %v, %v, %v; want ErrUnavailable", err, cerr, merr)
		}
		return
	}
	if err != nil || cerr != nil || merr != nil {
		t.Fatal(err, cerr, merr)
	}
	if rss <= 0 || hwm < rss/2 || cpu < 0 || m.Busy <= 0 || m.Idle <= 0 {
		t.Errorf("rss %d, hwm %d, cpu %d, machine %+v", rss, hwm, cpu, m)
	}
	if CPUModel() == "" && runtime.GOARCH == "amd64" {
		t.Error("no CPU model")
	}
}

func TestSampler(t *testing.T) {
	s := StartSampler(10*time.Millisecond, func() []int { return []int{os.Getpid(), 0} })
	defer s.Stop()
	start := time.Now()
	s.SetPhase("one")
	for len(s.Samples()) < 5 {
		time.Sleep(5 * time.Millisecond)
	}
	s.Stop()
	s.Stop()
	xs := s.Samples()
	if xs[0].Phase != "" || xs[len(xs)-1].Phase != "one" || len(xs[0].RSS) != 2 || xs[0].RSS[1] != 0 {
		t.Errorf("samples %+v", xs)
	}
	if l := s.Latest(); !l.At.Equal(xs[len(xs)-1].At) {
		t.Errorf("latest %+v", l)
	}
	m := s.Max(start, time.Now().Add(time.Second))
	if len(m) != 2 || (runtime.GOOS == "linux" && m[0] <= 0) {
		t.Errorf("max %v", m)
	}
	if m := s.Max(start.Add(-time.Hour), start.Add(-time.Minute)); m != nil {
		t.Errorf("max of an empty span %v", m)
	}
}
