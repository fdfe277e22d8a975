package broker

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/framecast/framecast/internal/kafka"
)

// TestBrokerMemorySoak is a measurement, not a check that runs in
// `make test`: FRAMECAST_BROKER_SOAK=15m runs the embedded broker with its
// default settings (a child process, as `framecast broker` runs) under
// results at FRAMECAST_BROKER_SOAK_RATE records/s (default 1200, 15× the
// 8 cameras × 10 fps of a day-long run, so that the per-partition bound is
// reached in minutes instead of hours) and logs its RSS every 30 s.
// docs/BENCHMARKS.md records a run.
func TestBrokerMemorySoak(t *testing.T) {
	d, err := time.ParseDuration(os.Getenv("FRAMECAST_BROKER_SOAK"))
	if err != nil {
		t.Skip("a measurement: set FRAMECAST_BROKER_SOAK=15m to run it")
	}
	rate := 1200
	if r, err := strconv.Atoi(os.Getenv("FRAMECAST_BROKER_SOAK_RATE")); err == nil && r > 0 {
		rate = r
	}
	dir := t.TempDir()
	cmd, addr, _ := startChild(t, dir)
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic(kafka.DefaultResultsTopic),
		kgo.ProducerLinger(0), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	// A result of four faces is about 700 bytes of JSON.
	value := bytes.Repeat([]byte(`{"face":1}`), 70)
	var wg sync.WaitGroup
	var mu sync.Mutex
	sent := 0
	for p := range int32(kafka.DefaultPartitions) {
		wg.Go(func() {
			tick := time.NewTicker(time.Second * time.Duration(kafka.DefaultPartitions) / time.Duration(rate))
			defer tick.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
				}
				// One record per batch, as the processor produces
				// results.
				if cl.ProduceSync(ctx, &kgo.Record{Partition: p, Value: value}).FirstErr() == nil {
					mu.Lock()
					sent++
					mu.Unlock()
				}
			}
		})
	}
	start := time.Now()
	sample := time.NewTicker(30 * time.Second)
	defer sample.Stop()
	t.Logf("%8s %12s %10s", "elapsed", "results", "rss_mb")
	for done := false; !done; {
		select {
		case <-ctx.Done():
			done = true
		case <-sample.C:
		}
		mu.Lock()
		n := sent
		mu.Unlock()
		t.Logf("%8s %12d %10.1f", time.Since(start).Round(time.Second), n, rssMB(cmd.Process.Pid))
	}
	wg.Wait()
}

// rssMB is a process's resident set in MB (VmRSS).
func rssMB(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			return kb / 1024
		}
	}
	return -1
}
