package ratelog

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

func TestAtLeast(t *testing.T) {
	var buf bytes.Buffer
	base := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	l := AtLeast(base, slog.LevelWarn).With("component", "publisher").WithGroup("g")
	l.Info("narration")
	l.Warn("trouble", "n", 1)
	out := buf.String()
	if strings.Contains(out, "narration") || !strings.Contains(out, "trouble") || !strings.Contains(out, "component=publisher") || !strings.Contains(out, "g.n=1") {
		t.Errorf("log:\n%s", out)
	}
	// The floor does not let through what the base handler drops.
	buf.Reset()
	quiet := AtLeast(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelError})), slog.LevelWarn)
	quiet.Warn("dropped by the base")
	if buf.Len() != 0 {
		t.Errorf("log:\n%s", buf.String())
	}
}
