package view

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/framecast/framecast/internal/kafka"
	"github.com/framecast/framecast/internal/testkit"
)

// TestViewStallAlarm: a frames partition whose fetches fail (the broker
// answers CORRUPT_MESSAGE for it) while its camera goes on producing logs
// an ERROR naming the topic, the partition, the offset and the error,
// counts it, and the page shows that camera STALLED (tile and banner);
// the cameras of the other partitions go on meanwhile. When the partition
// reads again, the camera is no longer stalled and its frames come again.
func TestViewStallAlarm(t *testing.T) {
	c := testkit.NewCluster(t, testkit.Topics(kafka.DefaultFramesTopic, kafka.DefaultResultsTopic))
	addr := c.Addr
	var logs testkit.LockedBuffer
	tv := startView(t, addr, Config{StallAlarm: 1500 * time.Millisecond,
		Log: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))})
	f := newFeeder(t, addr)
	cameras := []string{camName(0), camName(1), camName(2), camName(3), camName(4), camName(5)}
	ctx, cancel := context.WithCancel(context.Background())
	wg := f.run(ctx, cameras, 10, 64, 48, nil)
	t.Cleanup(func() {
		cancel()
		wg.Wait()
	})

	// Where each camera's frames are.
	parts := map[string]int32{}
	testkit.Eventually(t, 20*time.Second, "frames of every camera", func() bool {
		tv.store.mu.Lock()
		defer tv.store.mu.Unlock()
		for _, id := range cameras {
			if c, ok := tv.store.cams[id]; ok && c.framePart >= 0 {
				parts[id] = c.framePart
			}
		}
		return len(parts) == len(cameras)
	})
	victim := cameras[0]
	p := parts[victim]
	var others []string
	for _, id := range cameras {
		if parts[id] != p {
			others = append(others, id)
		}
	}
	if len(others) == 0 {
		t.Fatalf("every camera hashed to partition %d", p)
	}
	frames := func(id string) int64 {
		tv.store.mu.Lock()
		defer tv.store.mu.Unlock()
		return tv.store.cams[id].frames
	}
	camStall := func(id string) *partHealth {
		return tv.store.snapshotWith(time.Now(), tv.stallView(time.Now())).Cams[id].Stall
	}

	bctx := newBrowser(t)
	navigate(t, bctx, tv.url)
	fault := c.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Fetch}, Topic: kafka.DefaultFramesTopic, Partitions: []int32{p}, Err: kerr.CorruptMessage, Count: -1})
	before := frames(others[0])

	testkit.Eventually(t, 20*time.Second, "the stall alarm", func() bool { return tv.Stats().StallAlarms > 0 })
	st := camStall(victim)
	if st == nil || st.Topic != kafka.DefaultFramesTopic || st.Partition != p || !st.Alarm || st.Lag <= 0 || !strings.Contains(st.Err, "CORRUPT_MESSAGE") {
		t.Errorf("the victim's stall: %+v", st)
	}
	// The others flow on while the victim stays stalled.
	testkit.Eventually(t, 20*time.Second, "other partitions flowing during the stall", func() bool {
		return frames(others[0]) >= before+10 && camStall(victim) != nil
	})
	if st := camStall(others[0]); st != nil {
		t.Errorf("%s shows stalled behind %+v", others[0], st)
	}
	line := ""
	for _, l := range strings.Split(logs.String(), "\n") {
		if strings.Contains(l, "level=ERROR") && strings.Contains(l, "partition stalled") {
			line = l
			break
		}
	}
	for _, want := range []string{"topic=" + kafka.DefaultFramesTopic, fmt.Sprintf("partition=%d", p), "offset=", "CORRUPT_MESSAGE"} {
		if !strings.Contains(line, want) {
			t.Errorf("the ERROR line %q does not name %q", line, want)
		}
	}
	tile := `document.querySelector('.tile[data-camera="` + victim + `"]')`
	testkit.Eventually(t, 10*time.Second, "the tile STALLED and the banner", func() bool {
		s := state(t, bctx)
		txt, err := chromedp.Run(bctx, chromedp.Evaluate[string](tile+`.querySelector('.badge').textContent + '|' + document.getElementById('stalls').textContent`))
		if err != nil {
			t.Fatal(err)
		}
		return s.Cams[victim].Stalled && !s.Cams[others[0]].Stalled && strings.HasPrefix(txt, "STALLED|STALLED: ") &&
			strings.Contains(txt, fmt.Sprintf("partition %d", p)) && evalInt(t, bctx, tile+`.classList.contains('stalled') ? 1 : 0`) == 1
	})
	screenshot(t, bctx, "view-stalled.png")

	fault.Remove()
	n := frames(victim)
	testkit.Eventually(t, 20*time.Second, "the partition read again", func() bool {
		return frames(victim) > n+5 && camStall(victim) == nil && tv.Stats().StalledPartitions == 0
	})
	testkit.Eventually(t, 10*time.Second, "the tile no longer stalled", func() bool { return !state(t, bctx).Cams[victim].Stalled })
}

// TestViewStallAlarmNever: a negative StallAlarm (--stall-alarm 0) logs
// and counts no alarm however long a partition is stuck.
func TestViewStallAlarmNever(t *testing.T) {
	for _, tc := range []struct {
		alarm time.Duration
		want  int64
	}{{time.Second, 1}, {-1, 0}} {
		r := &reader{stallAlarm: tc.alarm, log: slog.New(slog.DiscardHandler), parts: map[int32]*partState{}}
		now := time.Now()
		r.alarmLocked(0, &partState{next: 5, end: 10, moved: now.Add(-time.Minute)}, now)
		if got := r.alarms.Load(); got != tc.want {
			t.Errorf("StallAlarm %v: %d alarms, want %d", tc.alarm, got, tc.want)
		}
	}
}
