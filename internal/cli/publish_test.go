package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"image"
	"image/jpeg"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/framecast/framecast/internal/frame"
	"github.com/framecast/framecast/internal/kafka"
	"github.com/framecast/framecast/internal/testkit"
)

// pubLog is a goroutine-safe log sink that can be read back as JSON lines.
type pubLog struct{ testkit.LockedBuffer }

// lines returns the log records with the given message.
func (l *pubLog) lines(t *testing.T, msg string) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(l.String()))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("log line %q: %v", sc.Text(), err)
		}
		if m["msg"] == msg {
			out = append(out, m)
		}
	}
	return out
}

func pubEnv() (*environment, *pubLog) {
	var out, errb bytes.Buffer
	l := &pubLog{}
	return &environment{stdout: &out, stderr: &errb, log: slog.New(slog.NewJSONHandler(l, nil))}, l
}

// pubCluster is a cluster with only the frames topic, of 12 partitions.
func pubCluster(t *testing.T) *testkit.Cluster {
	t.Helper()
	return testkit.NewCluster(t, testkit.Partitions(12), testkit.Topics(kafka.DefaultFramesTopic))
}

// pubConsume reads the frames topic and fails the test unless it holds
// exactly want records.
func pubConsume(t *testing.T, c *testkit.Cluster, want int) []*kgo.Record {
	t.Helper()
	recs := c.ReadTopic(t, kafka.DefaultFramesTopic, want)
	if len(recs) != want {
		t.Fatalf("consumed %d frame records, want %d", len(recs), want)
	}
	return recs
}

// pubImages writes a directory of two JPEGs and one PNG.
func pubImages(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for i, name := range []string{"1.jpg", "2.jpg"} {
		var buf bytes.Buffer
		if err := jpeg.Encode(&buf, image.NewGray(image.Rect(0, 0, 64+i*16, 48)), nil); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestPublishCount(t *testing.T) {
	c := pubCluster(t)
	dir := pubImages(t)
	synthetic := "door=synthetic:?size=320x240&seed=2"
	if _, err := os.Stat(filepath.Join(paths.Samples(), "sample1.jpg")); err != nil {
		synthetic = "door=" + dir // no sample photos: a second directory camera
	}
	const n = 12
	env, logs := pubEnv()
	err := runPublish(context.Background(), env, []string{
		"--brokers", c.Addr, "--count", strconv.Itoa(n), "--fps", "100", "--stats-interval", "20ms",
		"--source", synthetic, "--camera", "lobby", "--source", dir, filepath.Join(dir, "2.jpg"),
	})
	if err != nil {
		t.Fatal(err)
	}
	recs := pubConsume(t, c, 3*n)
	seqs := map[string][]int64{}
	parts := map[string]int32{}
	for _, r := range recs {
		m, err := frame.DecodeMeta(r)
		if err != nil || m.Fallback {
			t.Fatalf("record %s@%d: meta %+v, %v", r.Key, r.Offset, m, err)
		}
		if p, ok := parts[m.Camera]; ok && p != r.Partition {
			t.Errorf("camera %s on partitions %d and %d", m.Camera, p, r.Partition)
		}
		parts[m.Camera] = r.Partition
		seqs[m.Camera] = append(seqs[m.Camera], m.Seq)
		if !r.Timestamp.Equal(m.CapturedAt.Truncate(time.Millisecond)) {
			t.Errorf("%s seq %d: record timestamp %v, captured %v", m.Camera, m.Seq, r.Timestamp, m.CapturedAt)
		}
		cfg, err := jpeg.DecodeConfig(bytes.NewReader(r.Value))
		if err != nil || cfg.Width != m.Width || cfg.Height != m.Height || m.ContentType != frame.ContentTypeJPEG {
			t.Errorf("%s seq %d: JPEG %dx%d (%v), headers %dx%d %s", m.Camera, m.Seq, cfg.Width, cfg.Height, err, m.Width, m.Height, m.ContentType)
		}
	}
	if len(seqs) != 3 || seqs["door"] == nil || seqs["lobby"] == nil || seqs["cam-3"] == nil {
		t.Fatalf("cameras %v, want door, lobby, cam-3", reflect.ValueOf(seqs).MapKeys())
	}
	for id, s := range seqs {
		for i, q := range s {
			if q != int64(i) || len(s) != n {
				t.Fatalf("camera %s: sequence %v, want 0…%d in order", id, s, n-1)
			}
		}
	}
	// Sorted ids cam-3, door, lobby → partitions 0, 1, 2.
	if want := map[string]int32{"cam-3": 0, "door": 1, "lobby": 2}; !reflect.DeepEqual(parts, want) {
		t.Errorf("partitions %v, want %v", parts, want)
	}
	fin := logs.lines(t, "publish finished")
	if len(fin) != 1 || fin[0]["acked"] != float64(3*n) || fin[0]["dropped_buffer_full"] != float64(0) {
		t.Errorf("final stats line %v", fin)
	}
	if len(logs.lines(t, "publish stats")) == 0 {
		t.Error("no periodic stats line")
	}
}

// TestPublishInterrupt cancels the context as SIGTERM does: the command
// flushes, logs final stats and returns nil, and every acknowledged frame
// is in the topic.
func TestPublishInterrupt(t *testing.T) {
	c := pubCluster(t)
	dir := pubImages(t)
	env, logs := pubEnv()
	pub := testkit.Go(t, func(ctx context.Context) error {
		return runPublish(ctx, env, []string{"--brokers", c.Addr, "--fps", "50", "--stats-interval", "10ms",
			"--source", "a=" + dir, "--source", "b=" + dir})
	})
	testkit.Eventually(t, 10*time.Second, "10 frames acknowledged", func() bool {
		st := logs.lines(t, "publish stats")
		return len(st) > 0 && st[len(st)-1]["acked"].(float64) >= 10
	})
	if err := pub.Stop(15 * time.Second); err != nil {
		t.Fatalf("interrupted publish: %v, want nil after the flush", err)
	}
	fin := logs.lines(t, "publish finished")
	if len(fin) != 1 || fin[0]["in_flight"] != float64(0) {
		t.Fatalf("final stats %v", fin)
	}
	pubConsume(t, c, int(fin[0]["acked"].(float64)))
}

func TestPublishUnreachable(t *testing.T) {
	addr := testkit.FreeAddr(t) // nothing listens there
	env, _ := pubEnv()
	start := time.Now()
	err := runPublish(context.Background(), env, []string{"--brokers", addr, "--source", pubImages(t)})
	if err == nil || !strings.Contains(err.Error(), addr) || !strings.Contains(err.Error(), "framecast broker") {
		t.Errorf("unreachable broker: %v", err)
	}
	if d := time.Since(start); d > 12*time.Second {
		t.Errorf("took %v to fail", d)
	}
}

func TestPublishUsage(t *testing.T) {
	dir := pubImages(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "no --source"},
		{[]string{"--source", dir, "--size", "big"}, "--size"},
		{[]string{"--source", dir, "--fps", "0"}, "--fps"},
		{[]string{"--source", dir, "--jpeg-quality", "0"}, "--jpeg-quality"},
		{[]string{"--source", dir, "--camera", "a", "--camera", "b"}, "--camera"},
		{[]string{"--source", "x=" + dir, "--source", "x=" + dir}, "twice"},
	} {
		env, _ := pubEnv()
		err := runPublish(context.Background(), env, tc.args)
		if !errors.Is(err, errUsage) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want a usage error about %s", tc.args, err, tc.want)
		}
	}
	env, _ := pubEnv()
	err := runPublish(context.Background(), env, []string{"--source", "gopher://cam/1"})
	if err == nil || !strings.Contains(err.Error(), "synthetic:") {
		t.Errorf("unknown scheme: %v", err)
	}
	err = runPublish(context.Background(), env, []string{"--source", filepath.Join(dir, "missing")})
	if err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("missing path: %v", err)
	}
}
