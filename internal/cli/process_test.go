package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/framecast/framecast/internal/frame"
	"github.com/framecast/framecast/internal/kafka"
	"github.com/framecast/framecast/internal/testkit"
)

// TestProcessAndResults runs `framecast process` on frames of two cameras,
// stops it as SIGTERM would, and reads the results with `framecast results`.
func TestProcessAndResults(t *testing.T) {
	face, err := os.ReadFile(frame640(t))
	if err != nil {
		t.Fatal(err)
	}
	c := testkit.NewCluster(t)
	addr := c.Addr
	var logs testkit.LockedBuffer
	env := &environment{stdout: io.Discard, stderr: &logs, log: slog.New(slog.NewTextHandler(&logs, nil))}
	proc := testkit.Go(t, func(ctx context.Context) error {
		return runProcess(ctx, env, []string{"--brokers", addr, "--concurrency", "2", "--max-age", "1m", "--stats-interval", "200ms", "--group", "cli-test"})
	})

	var recs []*kgo.Record
	for i, cam := range []string{"c1", "c2"} {
		recs = append(recs, c.ProduceFrames(t, cam, int32(i), 3, face)...)
	}
	if got := testkit.ReadTopic(t, addr, kafka.DefaultResultsTopic, len(recs), 90*time.Second); len(got) != len(recs) {
		t.Fatalf("%d results for %d frames; log:\n%s", len(got), len(recs), logs.String())
	}
	testkit.Eventually(t, 30*time.Second, "the periodic stats line", func() bool { return strings.Contains(logs.String(), "msg=stats") })
	// What SIGINT/SIGTERM do.
	if err := proc.Stop(time.Minute); err != nil {
		t.Fatalf("process returned %v after cancellation; want a clean drain", err)
	}
	for _, want := range []string{"processor started", "msg=stats", "partitions revoked", "processor stopped"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, logs.String())
		}
	}

	t.Run("json", func(t *testing.T) {
		code, out, errs := runCLI(t, nil, "results", "--brokers", addr, "--from", "beginning", "--count", "6", "--json")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errs)
		}
		lines := nonEmptyLines(out)
		if len(lines) != 6 {
			t.Fatalf("%d lines, want 6:\n%s", len(lines), out)
		}
		for _, l := range lines {
			if err := frame.Validate([]byte(l)); err != nil {
				t.Errorf("line does not match the schema: %v\n%s", err, l)
			}
		}
	})
	t.Run("camera filter and idle exit", func(t *testing.T) {
		start := time.Now()
		code, out, errs := runCLI(t, nil, "results", "--brokers", addr, "--from", "beginning", "--camera", "c2", "--idle", "1500ms", "--json")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errs)
		}
		lines := nonEmptyLines(out)
		if len(lines) != 3 {
			t.Fatalf("%d lines for c2, want 3:\n%s", len(lines), out)
		}
		var prev int64 = -1
		for _, l := range lines {
			var r frame.Result
			if err := json.Unmarshal([]byte(l), &r); err != nil || r.Camera != "c2" || r.Seq <= prev {
				t.Errorf("line %s (err %v)", l, err)
			}
			prev = r.Seq
		}
		if d := time.Since(start); d > 30*time.Second {
			t.Errorf("--idle 1.5s took %v to exit", d)
		}
	})
	t.Run("human", func(t *testing.T) {
		code, out, errs := runCLI(t, nil, "results", "--brokers", addr, "--from", "beginning", "--camera", "c1", "--count", "2")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errs)
		}
		lines := nonEmptyLines(out)
		if len(lines) != 2 || !strings.Contains(lines[0], "  c1  #0  4 faces  ") || !strings.HasSuffix(lines[0], " ms") || !strings.Contains(lines[1], "#1") {
			t.Errorf("human output:\n%s", out)
		}
	})
	t.Run("end sees only new results", func(t *testing.T) {
		code, out, errs := runCLI(t, nil, "results", "--brokers", addr, "--idle", "1s", "--json")
		if code != 0 || strings.TrimSpace(out) != "" {
			t.Errorf("exit %d, output %q: %s", code, out, errs)
		}
	})
	// results read the partitions directly: the only group is the
	// processors'.
	lctx, lcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer lcancel()
	groups, err := kadm.NewClient(c.Client(t)).ListGroups(lctx)
	if err != nil {
		t.Fatal(err)
	}
	if names := groups.Groups(); len(names) != 1 || names[0] != "cli-test" {
		t.Errorf("groups %v, want only the processors' cli-test", names)
	}
}

func TestProcessResultsUsage(t *testing.T) {
	for _, args := range [][]string{
		{"process", "--delivery", "at-most-once"},
		{"process", "--concurrency", "0"},
		{"process", "extra-arg"},
		{"process", "--stall-alarm", "-1s"},
		{"process", "--fetch-max-bytes", "65MiB"},
		{"process", "--max-in-flight-bytes", "0"},
		{"demo", "--stall-alarm", "-1s"},
		{"results", "--from", "middle"},
		{"results", "--count", "-1"},
	} {
		code, _, errs := runCLI(t, nil, args...)
		if code != 2 {
			t.Errorf("%v: exit %d, want 2 (%s)", args, code, errs)
		}
	}
	t.Setenv("FRAMECAST_STALL_ALARM", "soon")
	if code, _, errs := runCLI(t, nil, "process"); code != 2 || !strings.Contains(errs, "FRAMECAST_STALL_ALARM") {
		t.Errorf("FRAMECAST_STALL_ALARM=soon: exit %d, want 2 naming the variable (%s)", code, errs)
	}
}

func nonEmptyLines(s string) []string {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(s))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			out = append(out, l)
		}
	}
	return out
}
