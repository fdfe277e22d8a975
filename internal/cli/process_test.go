package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/framecast/framecast/internal/frame"
	"github.com/framecast/framecast/internal/kafka"
	"github.com/framecast/framecast/internal/samples"
)

// procBuffer is a goroutine-safe log sink.
type procBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (p *procBuffer) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.b.Write(b)
}

func (p *procBuffer) String() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.b.String()
}

// procCluster is an in-process kfake broker with a data directory and the
// three topics.
func procCluster(t *testing.T) string {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.DataDir(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	addr := c.ListenAddrs()[0]
	cl := procClient(t, addr)
	maxBytes := "16777216"
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := kadm.NewClient(cl).CreateTopics(ctx, 4, 1, map[string]*string{"max.message.bytes": &maxBytes},
		kafka.DefaultFramesTopic, kafka.DefaultResultsTopic, kafka.DefaultDLQTopic)
	if err == nil {
		err = resp.Error()
	}
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

func procClient(t *testing.T, addr string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerBatchMaxBytes(16 << 20), kgo.FetchMaxWait(500 * time.Millisecond)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// TestProcessAndResults runs `framecast process` on frames of two cameras,
// stops it as SIGTERM would, and reads the results with `framecast results`.
func TestProcessAndResults(t *testing.T) {
	addr := procCluster(t)
	face, err := os.ReadFile(filepath.Join(paths.TestImages(), samples.Frame640))
	if err != nil {
		t.Fatal(err)
	}
	var logs procBuffer
	env := &environment{stdout: io.Discard, stderr: &logs, log: slog.New(slog.NewTextHandler(&logs, nil))}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- runProcess(ctx, env, []string{"--brokers", addr, "--concurrency", "2", "--max-age", "1m", "--stats-interval", "200ms", "--group", "cli-test"})
	}()

	cl := procClient(t, addr)
	var recs []*kgo.Record
	for seq := range int64(3) {
		for i, cam := range []string{"c1", "c2"} {
			now := time.Now()
			recs = append(recs, &kgo.Record{Topic: kafka.DefaultFramesTopic, Partition: int32(i), Key: []byte(cam), Value: face,
				Headers: frame.EncodeHeaders(frame.Meta{Seq: seq, CapturedAt: now}), Timestamp: now})
		}
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	reader := procClient(t, addr, kgo.ConsumeTopics(kafka.DefaultResultsTopic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	got := 0
	deadline := time.Now().Add(90 * time.Second)
	for got < len(recs) && time.Now().Before(deadline) {
		pctx, pcancel := context.WithTimeout(ctx, time.Second)
		got += len(reader.PollFetches(pctx).Records())
		pcancel()
	}
	if got != len(recs) {
		t.Fatalf("%d results for %d frames; log:\n%s", got, len(recs), logs.String())
	}
	for !strings.Contains(logs.String(), "msg=stats") && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond) // polls for the periodic stats line
	}
	cancel() // what SIGINT/SIGTERM do
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("process returned %v after cancellation; want a clean drain", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("process did not stop")
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
	groups, err := kadm.NewClient(cl).ListGroups(lctx)
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
