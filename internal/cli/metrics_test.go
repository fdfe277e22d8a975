package cli

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/framecast/framecast/internal/testkit"
)

// TestMetricsListen: the five service commands take --metrics-listen, and
// FRAMECAST_METRICS_LISTEN sets it (the broker's endpoints, scraped).
func TestMetricsListen(t *testing.T) {
	for _, cmd := range []string{"broker", "publish", "process", "view", "demo"} {
		_, stdout, stderr := runCLI(t, nil, cmd, "-h")
		if !strings.Contains(stdout+stderr, "-metrics-listen") {
			t.Errorf("framecast %s -h does not list --metrics-listen", cmd)
		}
	}

	metrics := testkit.FreeAddr(t)
	t.Setenv("FRAMECAST_METRICS_LISTEN", metrics)
	env := &environment{stdout: &bytes.Buffer{}, stderr: io.Discard, log: slog.New(slog.DiscardHandler)}
	addr, dir := testkit.FreeAddr(t), t.TempDir()
	b := testkit.Go(t, func(ctx context.Context) error {
		return runBroker(ctx, env, []string{"--listen", addr, "--data-dir", dir})
	})
	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + metrics + path)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	testkit.Eventually(t, 10*time.Second, "the broker is ready", func() bool { c, _ := get("/readyz"); return c == http.StatusOK })
	if c, body := get("/metrics"); c != http.StatusOK || !strings.Contains(body, `framecast_broker_topic_bytes{topic="framecast.frames"}`) {
		t.Errorf("/metrics: %d, without framecast_broker_topic_bytes:\n%s", c, body)
	}
	if err := b.Stop(10 * time.Second); err != nil {
		t.Errorf("runBroker = %v after a signal, want nil", err)
	}
}

// TestMetricsListenMalformed: a --metrics-listen that is no host:port is a
// usage error (exit 2, naming the flag) for every service, given as a
// flag or through FRAMECAST_METRICS_LISTEN, before anything starts.
func TestMetricsListenMalformed(t *testing.T) {
	for _, cmd := range []string{"broker", "publish", "process", "view", "demo"} {
		for _, bad := range []string{"9464", "localhost:http", "127.0.0.1:70000"} {
			code, _, stderr := runCLI(t, nil, cmd, "--metrics-listen", bad)
			if code != 2 || !strings.Contains(stderr, "-metrics-listen") {
				t.Errorf("framecast %s --metrics-listen %s: exit %d, stderr %q; want 2 naming the flag", cmd, bad, code, stderr)
			}
		}
	}
	t.Setenv("FRAMECAST_METRICS_LISTEN", "9464")
	if code, _, stderr := runCLI(t, nil, "broker"); code != 2 || !strings.Contains(stderr, "METRICS_LISTEN") {
		t.Errorf("FRAMECAST_METRICS_LISTEN=9464 framecast broker: exit %d, stderr %q; want 2 naming the variable", code, stderr)
	}
}
