package cli

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/framecast/framecast/internal/testkit"
)

// startDemo runs the demo until its start-up line, returns that line and
// stops it.
func startDemo(t *testing.T, args ...string) string {
	t.Helper()
	testkit.RequireModels(t)
	pr, pw := io.Pipe()
	var logs testkit.LockedBuffer
	env := &environment{stdout: pw, stderr: &logs, log: slog.New(slog.NewTextHandler(&logs, nil))}
	args = append([]string{"--broker-listen", "127.0.0.1:0", "--listen", "127.0.0.1:0",
		"--data-dir", t.TempDir(), "--size", "320x240", "--concurrency", "1"}, args...)
	demo := testkit.Go(t, func(ctx context.Context) error {
		defer pw.Close()
		return runDemo(ctx, env, args)
	})
	go io.Copy(io.Discard, bufio.NewReader(pr))
	deadline := time.Now().Add(2 * time.Minute)
	var line string
	for line == "" {
		for _, l := range strings.Split(logs.String(), "\n") {
			if strings.Contains(l, "demo running") {
				line = l
			}
		}
		select {
		case <-demo.Done():
			t.Fatalf("the demo ended (%v) before its start-up line:\n%s", demo.Err(), logs.String())
		case <-time.After(50 * time.Millisecond): // polling the log
		}
		if time.Now().After(deadline) {
			t.Fatalf("no start-up line within 2 minutes:\n%s", logs.String())
		}
	}
	if err := demo.Stop(time.Minute); err != nil {
		t.Errorf("demo: %v", err)
	}
	return line
}

// TestDemoCalibratedRate: without --fps the demo measures the machine and
// says in its start-up line what it measured and the rate it chose; --fps
// and FRAMECAST_FPS win without a calibration.
func TestDemoCalibratedRate(t *testing.T) {
	line := startDemo(t, "--cameras", "2")
	t.Log(line)
	m := regexp.MustCompile(` fps=([0-9.]+) fps_from=calibration analyse_ms=([0-9.]+) render_ms=([0-9.]+) capacity_fps=([0-9.]+) utilisation=([0-9.]+)`).FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("no calibration in the start-up line: %s", line)
	}
	fps, _ := strconv.ParseFloat(m[1], 64)
	analyse, _ := strconv.ParseFloat(m[2], 64)
	capFPS, _ := strconv.ParseFloat(m[4], 64)
	if fps < 1 || fps > 10 || analyse <= 0 || capFPS <= 0 {
		t.Errorf("fps %v (want 1–10), analyse %v ms, capacity %v", fps, analyse, capFPS)
	}
	// The line rounds capacity_fps to 0.1: the rate was chosen on the
	// unrounded figure, up to 0.05 more.
	if fps < 10 && 2*fps > 0.65*(capFPS+0.05)+1e-9 {
		t.Errorf("2 cameras × %v fps is above 65 %% of %v frames/s", fps, capFPS)
	}

	line = startDemo(t, "--cameras", "1", "--fps", "3")
	if !strings.Contains(line, " fps=3 fps_from=--fps") || strings.Contains(line, "capacity_fps") {
		t.Errorf("--fps 3 not in the start-up line, or calibrated anyway: %s", line)
	}
	t.Setenv("FRAMECAST_FPS", "2.5")
	line = startDemo(t, "--cameras", "1")
	if !strings.Contains(line, " fps=2.5 fps_from=--fps") {
		t.Errorf("FRAMECAST_FPS=2.5 not in the start-up line: %s", line)
	}
}
