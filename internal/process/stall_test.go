package process

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/framecast/framecast/internal/analysis"
	"github.com/framecast/framecast/internal/testkit"
)

// TestStallAlarm reproduces issue 8: the fetches of one frames partition
// fail, its lag grows, and nothing used to say so (franz-go retries a
// retriable error such as CORRUPT_MESSAGE silently, forever). Now an
// error names the partition, the offset it is stuck at and the fetch
// error, again every --stall-alarm, the stats count it, and the other
// partitions are processed all the while. Once the fault goes, the
// partition catches up and the alarm ends.
func TestStallAlarm(t *testing.T) {
	const partitions, frames, stuck = 4, 40, int32(2)
	for _, tt := range []struct {
		name string
		err  *kerr.Error
	}{
		{"retriable error (silent before)", kerr.CorruptMessage},
		{"non-retriable error", kerr.UnknownServerError},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tc := newCluster(t, partitions)
			fault := tc.Fault(kfake.Fault{
				Keys: []kmsg.Key{kmsg.Fetch}, Topic: topics.Frames, Partitions: []int32{stuck}, Err: tt.err, Count: -1,
			})
			backlog(t, tc, frames, partitions, 1<<20, 60<<10)
			var logs testkit.LockedBuffer
			o := tc.options(t)
			o.Group = "stall"
			o.MaxAge = -1
			// Long enough that a healthy partition of a CPU-starved test
			// machine (load 5 on 2 cores) is not taken for stalled.
			o.StallAlarm = time.Second
			o.StatsInterval = 100 * time.Millisecond
			var w io.Writer = &logs
			if testing.Verbose() {
				w = io.MultiWriter(&logs, os.Stderr)
			}
			o.Log = slog.New(slog.NewTextHandler(w, nil))
			o.NewAnalyzer = func() (analysis.Analyzer, error) { return &analysis.Fake{}, nil }
			p := start(t, o)

			perPartition := uint64(frames / partitions)
			testkit.Eventually(t, 60*time.Second, "the other partitions' frames to be delivered", func() bool {
				return p.Stats().Out() == (partitions-1)*perPartition
			})
			want := []string{"level=ERROR", "frames partition stalled", "topic=" + topics.Frames, fmt.Sprintf("partition=%d", stuck),
				"offset=0", fmt.Sprintf("lag=%d", perPartition), tt.err.Message}
			testkit.Eventually(t, 30*time.Second, "two stall errors naming the partition, offset and fetch error", func() bool {
				n := 0
				for _, l := range strings.Split(logs.String(), "\n") {
					if containsAll(l, want) {
						n++
					}
				}
				return n >= 2
			})
			testkit.Eventually(t, 10*time.Second, "the stats line to count the stall", func() bool {
				return strings.Contains(logs.String(), "stalled_partitions=1")
			})
			if s := p.Stats(); s.StalledPartitions != 1 || s.StallAlarms < 2 {
				t.Errorf("stalled %d, alarms %d; want 1 and at least 2", s.StalledPartitions, s.StallAlarms)
			}
			if s := p.Stats(); s.Out() != (partitions-1)*perPartition {
				t.Errorf("%d frames delivered with the partition failing, want %d", s.Out(), (partitions-1)*perPartition)
			}

			fault.Remove()
			testkit.Eventually(t, 60*time.Second, "the stuck partition to catch up", func() bool { return p.Stats().Out() == frames })
			testkit.Eventually(t, 10*time.Second, "the alarm to end", func() bool { return p.Stats().StalledPartitions == 0 })
			if err := p.stop(); err != nil {
				t.Fatal(err)
			}
			for _, l := range strings.Split(logs.String(), "\n") {
				if strings.Contains(l, "level=ERROR") && !strings.Contains(l, fmt.Sprintf("partition=%d", stuck)) {
					t.Errorf("a stall error about a healthy partition: %s", l)
				}
			}
		})
	}
}

func containsAll(s string, subs []string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}
