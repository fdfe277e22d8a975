package ratelog

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeClock returns a Logger on a clock the test moves.
func fakeClock(l *Logger) func(time.Duration) {
	now := time.Unix(1000, 0)
	l.now = func() time.Time { return now }
	return func(d time.Duration) { now = now.Add(d) }
}

func TestAllow(t *testing.T) {
	l := New(nil, 10*time.Second, 2)
	advance := fakeClock(l)
	for i, s := range []struct {
		after      time.Duration
		ok         bool
		suppressed int
	}{
		{0, true, 0},
		{time.Second, true, 0},
		{time.Second, false, 0},
		{time.Second, false, 0},
		{7 * time.Second, true, 2}, // a new window: the count of the records it missed
		{time.Second, true, 0},
		{time.Second, false, 0},
	} {
		advance(s.after)
		if ok, n := l.Allow(); ok != s.ok || n != s.suppressed {
			t.Errorf("step %d: Allow = %v, %d; want %v, %d", i, ok, n, s.ok, s.suppressed)
		}
	}
	if n := l.Flush(); n != 1 {
		t.Errorf("Flush = %d, want 1", n)
	}
	if n := l.Flush(); n != 0 {
		t.Errorf("second Flush = %d, want 0", n)
	}
}

func TestBurstAtLeastOne(t *testing.T) {
	l := New(nil, time.Minute, 0)
	fakeClock(l)
	if ok, _ := l.Allow(); !ok {
		t.Error("first record held back")
	}
	if ok, _ := l.Allow(); ok {
		t.Error("second record in the window passed")
	}
}

func TestLogAddsTheCount(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		},
	}))
	l := New(log, time.Second, 1)
	advance := fakeClock(l)
	l.Warn("fetch error", "partition", 3)
	l.Warn("fetch error", "partition", 4)
	l.Error("fetch error", "partition", 5)
	advance(time.Second)
	l.Error("fetch error", "partition", 6)
	want := "level=WARN msg=\"fetch error\" partition=3\n" +
		"level=ERROR msg=\"fetch error\" partition=6 suppressed=2\n"
	if got := buf.String(); got != want {
		t.Errorf("log:\n%s\nwant:\n%s", got, want)
	}
}

// Concurrent callers share one window: exactly burst records pass, and
// every other one is counted.
func TestConcurrent(t *testing.T) {
	var mu sync.Mutex
	var lines []string
	h := recordHandler(func(r slog.Record) { mu.Lock(); lines = append(lines, r.Message); mu.Unlock() })
	l := New(slog.New(h), time.Hour, 3)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				l.Warn("busy")
			}
		})
	}
	wg.Wait()
	if len(lines) != 3 || strings.Join(lines, ",") != "busy,busy,busy" {
		t.Errorf("%d records logged: %q", len(lines), lines)
	}
	if n := l.Flush(); n != 8*100-3 {
		t.Errorf("Flush = %d, want %d", n, 8*100-3)
	}
}

type recordHandler func(slog.Record)

func (recordHandler) Enabled(_ context.Context, _ slog.Level) bool { return true }
func (h recordHandler) Handle(_ context.Context, r slog.Record) error {
	h(r)
	return nil
}
func (h recordHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h recordHandler) WithGroup(string) slog.Handler      { return h }
