package kafka

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
)

func TestLogger(t *testing.T) {
	for lv, want := range map[kgo.LogLevel]slog.Level{
		kgo.LogLevelError: slog.LevelError, kgo.LogLevelWarn: slog.LevelWarn,
		kgo.LogLevelInfo: slog.LevelDebug, kgo.LogLevelDebug: slog.LevelDebug,
	} {
		if got := SlogLevel(lv); got != want {
			t.Errorf("SlogLevel(%v) = %v, want %v", lv, got, want)
		}
	}

	var buf bytes.Buffer
	l := NewLogger(slog.New(slog.NewTextHandler(&buf, nil)))
	if l.Level() != kgo.LogLevelWarn {
		t.Errorf("at info, franz-go is asked for %v, want warnings and errors only", l.Level())
	}
	l.Log(kgo.LogLevelWarn, "unable to connect", "broker", "b:1")
	if s := buf.String(); !strings.Contains(s, "level=WARN") || !strings.Contains(s, `msg="kafka: unable to connect" broker=b:1`) {
		t.Errorf("logged %q", s)
	}
	debug := NewLogger(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if debug.Level() != kgo.LogLevelInfo {
		t.Errorf("at debug, franz-go is asked for %v, want info too", debug.Level())
	}
}
