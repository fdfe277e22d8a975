package cli

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/framecast/framecast/internal/testkit"
)

// TestExitStatus: the one rule for exit statuses, interrupts included.
func TestExitStatus(t *testing.T) {
	live := context.Background()
	stopped, cancel := context.WithCancel(context.Background())
	cancel()
	service := command{name: "process", service: true}
	oneShot := command{name: "analyze"}
	cases := []struct {
		name   string
		ctx    context.Context
		c      command
		err    error
		want   int
		stderr string
	}{
		{"success", live, oneShot, nil, 0, ""},
		{"help", live, oneShot, flag.ErrHelp, 0, ""},
		{"failure", live, oneShot, errors.New("boom"), 1, "framecast analyze: boom"},
		{"reported", live, oneShot, fmt.Errorf("x: %w", errReported), 1, ""},
		{"bad flags", live, oneShot, errBadFlags, 2, ""},
		{"usage", live, service, usageError("--fps 0: want more"), 2, "framecast process: --fps 0: want more\n"},
		{"joined usage", live, service, errors.Join(usageError("a"), errors.New("b")), 2, "framecast process: a\nb\n"},
		{"service stopped by a signal while connecting", stopped, service, fmt.Errorf("connecting: %w", context.Canceled), 0, ""},
		{"service drained after a signal", stopped, service, nil, 0, ""},
		{"one-shot cut short", stopped, oneShot, context.Canceled, 130, "framecast analyze: interrupted\n"},
		{"one-shot that finished despite the signal", stopped, oneShot, nil, 0, ""},
		{"failure during the stop", stopped, service, errors.New("flush: broker gone"), 1, "flush: broker gone"},
		// A cancellation that is not a signal (a dependency gave up) is a failure.
		{"canceled without a signal", live, service, context.Canceled, 1, "context canceled"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var b bytes.Buffer
			if got := exitStatus(c.ctx, c.c, c.err, &b); got != c.want || (c.stderr == "" && b.Len() > 0) || !strings.Contains(b.String(), c.stderr) {
				t.Errorf("exit %d, stderr %q; want %d, %q", got, b.String(), c.want, c.stderr)
			}
		})
	}
}

// TestServicesStopCleanlyWhileConnecting: a signal while a service waits
// for an unresponsive broker ends it with status 0, every service alike.
func TestServicesStopCleanlyWhileConnecting(t *testing.T) {
	// A listener that accepts and never answers: the client waits.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	addr := ln.Addr().String()
	// A directory of one frame: a source that needs no sample photos.
	frames := t.TempDir()
	if err := os.WriteFile(filepath.Join(frames, "frame.jpg"), testkit.FlatJPEG(64, 48), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, args := range [][]string{
		{"results", "--brokers", addr},
		{"view", "--brokers", addr, "--listen", "127.0.0.1:0"},
		{"publish", "--brokers", addr, "--source", "lobby=" + frames},
	} {
		var out, errb bytes.Buffer
		if code := run(ctx, args, nil, &out, &errb); code != 0 {
			t.Errorf("%s: exit %d, want 0; stderr:\n%s", args[0], code, errb.String())
		}
	}
}
