package publish

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/framecast/framecast/internal/frame"
	"github.com/framecast/framecast/internal/source"
	"github.com/framecast/framecast/internal/testkit"
)

const topic = DefaultTopic

// newCluster is a cluster with only the frames topic.
func newCluster(t *testing.T, partitions int32, maxMessageBytes int) *testkit.Cluster {
	t.Helper()
	return testkit.NewCluster(t, testkit.Partitions(partitions), testkit.MaxMessageBytes(maxMessageBytes), testkit.Topics(topic))
}

func newPublisher(t *testing.T, c *testkit.Cluster, cfg Config) *Publisher {
	t.Helper()
	p, err := New(context.Background(), cfg, kgo.SeedBrokers(c.Addr))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

// fakeSource returns the same small JPEG, padded to size bytes, and
// fails the reads listed in failAt (1-based call numbers).
type fakeSource struct {
	jpeg   []byte
	calls  atomic.Int64
	failAt map[int64]bool
	closed atomic.Bool
}

func newFake(t *testing.T, size int, failAt ...int64) *fakeSource {
	t.Helper()
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, image.NewGray(image.Rect(0, 0, 32, 24)), nil); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	if size > len(b) {
		b = append(b, make([]byte, size-len(b))...) // after EOI: still a JPEG
	}
	f := &fakeSource{jpeg: b, failAt: map[int64]bool{}}
	for _, n := range failAt {
		f.failAt[n] = true
	}
	return f
}

func (f *fakeSource) Next(ctx context.Context) (source.Frame, error) {
	if err := ctx.Err(); err != nil {
		return source.Frame{}, err
	}
	if n := f.calls.Add(1); f.failAt[n] {
		return source.Frame{}, fmt.Errorf("read %d failed", n)
	}
	return source.Frame{JPEG: bytes.Clone(f.jpeg), Width: 32, Height: 24, CapturedAt: time.Now()}, nil
}

func (f *fakeSource) Close() error { f.closed.Store(true); return nil }

// consume reads the topic and fails the test unless it holds exactly want
// records.
func consume(t *testing.T, c *testkit.Cluster, want int) []*kgo.Record {
	t.Helper()
	recs := c.ReadTopic(t, topic, want)
	if len(recs) != want {
		t.Fatalf("consumed %d records, want %d", len(recs), want)
	}
	return recs
}

func TestAssign(t *testing.T) {
	ids := []string{"cam-8", "cam-3", "cam-1", "cam-5", "cam-2", "cam-7", "cam-4", "cam-6"}
	m := Assign(ids, 12)
	used := map[int32]string{}
	for _, id := range ids {
		p := m[id]
		if p < 0 || p >= 12 {
			t.Fatalf("%s → %d", id, p)
		}
		if other, ok := used[p]; ok {
			t.Errorf("%s and %s share partition %d", id, other, p)
		}
		used[p] = id
	}
	if m["cam-1"] != 0 || m["cam-8"] != 7 {
		t.Errorf("mapping %v: want sorted ids on partitions 0…7", m)
	}
	// The same set in any order gives the same mapping.
	m2 := Assign([]string{"cam-1", "cam-2", "cam-3", "cam-4", "cam-5", "cam-6", "cam-7", "cam-8"}, 12)
	for id, p := range m {
		if m2[id] != p {
			t.Errorf("%s: %d vs %d depending on order", id, p, m2[id])
		}
	}
	// More cameras than partitions: round robin, no partition has two
	// more than another.
	var many []string
	for i := 0; i < 13; i++ {
		many = append(many, fmt.Sprintf("c%02d", i))
	}
	per := map[int32]int{}
	for _, p := range Assign(many, 6) {
		per[p]++
	}
	for p := int32(0); p < 6; p++ {
		if per[p] < 2 || per[p] > 3 {
			t.Errorf("partition %d has %d cameras: %v", p, per[p], per)
		}
	}
}

func TestPublishCountAndSourceErrors(t *testing.T) {
	c := newCluster(t, 12, 16<<20)
	p := newPublisher(t, c, Config{})
	const n = 15
	srcs := []*fakeSource{newFake(t, 2000), newFake(t, 3000, 3, 4), newFake(t, 4000)}
	var cams []Camera
	for i, s := range srcs {
		cams = append(cams, Camera{ID: fmt.Sprintf("cam-%d", i+1), Source: s, FPS: 200, Count: n})
	}
	if err := p.Run(context.Background(), cams); err != nil {
		t.Fatal(err)
	}
	st := p.Stats()
	if st.Captured != 3*n || st.Produced != 3*n || st.Acked != 3*n || st.Dropped.Total() != 0 || st.Dropped.SourceError != 2 || st.InFlight() != 0 {
		t.Errorf("stats %+v", st)
	}
	if st.AckedBytes != n*(2000+3000+4000) {
		t.Errorf("acked bytes %d", st.AckedBytes)
	}
	// Per camera: cam-2's two failed reads are its own; every camera
	// has stopped (its count reached).
	for id, cs := range p.CameraStats() {
		want := CameraStats{Published: n}
		if id == "cam-2" {
			want.Dropped.SourceError = 2
		}
		if cs != want {
			t.Errorf("CameraStats[%s] = %+v, want %+v", id, cs, want)
		}
	}
	if err := p.Ready(context.Background()); err == nil || !strings.Contains(err.Error(), "none of the 3 cameras is up") {
		t.Errorf("Ready after every camera stopped = %v", err)
	}
	for i, s := range srcs {
		if !s.closed.Load() {
			t.Errorf("source %d not closed", i)
		}
	}
	recs := consume(t, c, 3*n)
	seqs := map[string][]int64{}
	parts := map[string]int32{}
	for _, r := range recs {
		m, err := frame.DecodeMeta(r)
		if err != nil || m.Fallback {
			t.Fatalf("record %s/%d: %+v %v", r.Key, r.Offset, m, err)
		}
		if prev, ok := parts[m.Camera]; ok && prev != r.Partition {
			t.Errorf("%s on partitions %d and %d", m.Camera, prev, r.Partition)
		}
		parts[m.Camera] = r.Partition
		seqs[m.Camera] = append(seqs[m.Camera], m.Seq)
	}
	for id, s := range seqs {
		for i, q := range s {
			if q != int64(i) {
				t.Fatalf("%s: sequence %v", id, s)
			}
		}
	}
	if parts["cam-1"] != 0 || parts["cam-2"] != 1 || parts["cam-3"] != 2 {
		t.Errorf("partitions %v", parts)
	}
}

// TestPaced: a camera at 20 fps takes about (n-1)/20 s for n frames.
func TestPaced(t *testing.T) {
	c := newCluster(t, 2, 16<<20)
	p := newPublisher(t, c, Config{})
	start := time.Now()
	if err := p.Run(context.Background(), []Camera{{ID: "a", Source: newFake(t, 100), FPS: 20, Count: 6}}); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 240*time.Millisecond {
		t.Errorf("6 frames at 20 fps took %v, want ≥ 250 ms", d)
	}
}

// TestBufferFullDrops pauses every produce request in the broker: the
// cameras keep capturing at full rate, frames that do not fit in the
// small buffer are dropped and counted, and nothing blocks.
func TestBufferFullDrops(t *testing.T) {
	c := newCluster(t, 4, 16<<20)
	release := make(chan struct{})
	var once sync.Once
	releaseAll := func() { once.Do(func() { close(release) }) }
	t.Cleanup(releaseAll)
	c.ControlKey(kmsg.Produce.Int16(), func(kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		c.SleepControl(func() { <-release })
		return nil, nil, false
	})
	const frameSize, n = 10_000, 100
	p := newPublisher(t, c, Config{MaxBufferedBytes: 3 * frameSize, DeliveryTimeout: 5 * time.Second, FlushTimeout: 10 * time.Second})
	cams := []Camera{
		{ID: "a", Source: newFake(t, frameSize), FPS: 500, Count: n},
		{ID: "b", Source: newFake(t, frameSize), FPS: 500, Count: n},
	}
	start := time.Now()
	run := testkit.Go(t, func(ctx context.Context) error { return p.Run(ctx, cams) })
	// With Kafka stalled, both cameras still capture every frame at
	// their pace: 100 frames at 500 fps is 0.2 s.
	testkit.Eventually(t, 3*time.Second, "all frames captured while the broker is stalled", func() bool { return p.Stats().Captured == 2*n })
	captureTime := time.Since(start)
	st := p.Stats()
	if st.Dropped.BufferFull == 0 {
		t.Fatalf("no frame dropped with a full buffer: %+v", st)
	}
	if st.BufferedBytes > 3*frameSize+4096 {
		t.Errorf("buffered %d bytes, bound %d", st.BufferedBytes, 3*frameSize)
	}
	t.Logf("captured %d frames in %v with the broker stalled; dropped %d (buffer_full)", st.Captured, captureTime, st.Dropped.BufferFull)
	releaseAll()
	select {
	case <-run.Done():
		if err := run.Err(); err != nil {
			t.Fatal(err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Run did not return after the broker recovered")
	}
	st = p.Stats()
	if st.Acked+st.Dropped.Total() != 2*n || st.Acked == 0 || st.InFlight() != 0 {
		t.Errorf("final stats %+v", st)
	}
	recs := consume(t, c, int(st.Acked))
	_ = recs
}

// TestCancelFlushes stops a running publisher like SIGTERM does: every
// frame acknowledged was written, nothing is left in flight.
func TestCancelFlushes(t *testing.T) {
	c := newCluster(t, 12, 16<<20)
	p := newPublisher(t, c, Config{})
	var cams []Camera
	for i := 0; i < 3; i++ {
		cams = append(cams, Camera{ID: fmt.Sprintf("cam-%d", i), Source: newFake(t, 20_000), FPS: 100})
	}
	run := testkit.Go(t, func(ctx context.Context) error { return p.Run(ctx, cams) })
	testkit.Eventually(t, 10*time.Second, "30 frames acknowledged", func() bool { return p.Stats().Acked >= 30 })
	if err := run.Stop(15 * time.Second); err != nil {
		t.Fatal(err)
	}
	st := p.Stats()
	if st.InFlight() != 0 || st.Dropped.Total() != 0 || st.Acked != st.Captured {
		t.Errorf("after the flush: %+v", st)
	}
	recs := consume(t, c, int(st.Acked))
	next := map[string]int64{}
	for _, r := range recs {
		m, err := frame.DecodeMeta(r)
		if err != nil {
			t.Fatal(err)
		}
		if m.Seq != next[m.Camera] {
			t.Fatalf("%s: seq %d, want %d", m.Camera, m.Seq, next[m.Camera])
		}
		next[m.Camera]++
	}
}

func TestTooLarge(t *testing.T) {
	c := newCluster(t, 1, 5000)
	p := newPublisher(t, c, Config{})
	cams := []Camera{{ID: "big", Source: newFake(t, 8000), FPS: 200, Count: 3}, {ID: "small", Source: newFake(t, 1000), FPS: 200, Count: 3}}
	if err := p.Run(context.Background(), cams); err != nil {
		t.Fatal(err)
	}
	st := p.Stats()
	if st.Dropped.TooLarge != 3 || st.Acked != 3 || st.Produced != 3 {
		t.Errorf("stats %+v", st)
	}
	if cs := p.CameraStats(); cs["big"].Dropped.TooLarge != 3 || cs["big"].Published != 0 || cs["small"].Published != 3 || cs["small"].Dropped.Total() != 0 {
		t.Errorf("CameraStats %+v", cs)
	}
}

func TestNewErrors(t *testing.T) {
	// A port nobody listens on.
	addr := testkit.FreeAddr(t)
	start := time.Now()
	_, err := New(context.Background(), Config{ConnectTimeout: time.Second}, kgo.SeedBrokers(addr))
	if !errors.Is(err, ErrNoBroker) {
		t.Errorf("unreachable broker: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v to give up", d)
	}

	c := testkit.NewCluster(t, testkit.Topics())
	if _, err := New(context.Background(), Config{}, kgo.SeedBrokers(c.Addr)); !errors.Is(err, ErrNoTopic) {
		t.Errorf("missing topic: %v", err)
	}
}

func TestRunValidates(t *testing.T) {
	c := newCluster(t, 2, 16<<20)
	p := newPublisher(t, c, Config{})
	s1, s2 := newFake(t, 10), newFake(t, 10)
	err := p.Run(context.Background(), []Camera{{ID: "x", Source: s1}, {ID: "x", Source: s2}})
	if err == nil || !s1.closed.Load() || !s2.closed.Load() {
		t.Errorf("duplicate ids: %v (sources must be closed)", err)
	}
	if err := p.Run(context.Background(), nil); err == nil {
		t.Error("no cameras: no error")
	}
}

// TestEveryCameraFailed: a camera whose source cannot go on (here: no
// ffmpeg) stops while the others run; when it is the only one, Run
// reports it, so the exit status is not 0.
func TestEveryCameraFailed(t *testing.T) {
	c := newCluster(t, 4, 1<<20)
	open := func() source.Source {
		s, err := source.Open("lavfi:testsrc2", source.Config{FFmpeg: "/nonexistent/ffmpeg"})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	p := newPublisher(t, c, Config{})
	err := p.Run(context.Background(), []Camera{{ID: "a", Source: open()}})
	if err == nil || !errors.Is(err, source.ErrNoFFmpeg) || p.Stats().Dropped.SourceError != 1 {
		t.Fatalf("Run: %v, stats %+v; want the camera's error", err, p.Stats())
	}

	p = newPublisher(t, c, Config{})
	err = p.Run(context.Background(), []Camera{{ID: "a", Source: open()}, {ID: "b", Source: newFake(t, 100), Count: 5}})
	if err != nil || p.Stats().Acked != 5 {
		t.Fatalf("one camera of two failing: %v, stats %+v", err, p.Stats())
	}
}

// TestConfigValidate: zero fields are the defaults; the errors name the
// flags of `framecast publish`, and New refuses what Validate does.
func TestConfigValidate(t *testing.T) {
	if err := (Config{}).Validate(); err != nil {
		t.Errorf("zero Config: %v", err)
	}
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{MaxBufferedBytes: 1<<40 + 1}, "--max-buffered-bytes"},
		{Config{BatchMaxBytes: 64<<20 + 1}, "--batch-max-bytes 67108865: want 1 to 64MiB"},
		{Config{FlushTimeout: -time.Second}, "--flush-timeout must be positive"},
	} {
		if err := tc.cfg.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want an error about %s", tc.cfg, err, tc.want)
		}
		if _, err := New(context.Background(), tc.cfg, kgo.SeedBrokers("127.0.0.1:1")); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New(%+v): %v, want an error about %s", tc.cfg, err, tc.want)
		}
	}
}

// TestOpenCameras: each camera gets its options, pace and count; a source
// that cannot be opened names its camera.
func TestOpenCameras(t *testing.T) {
	img := filepath.Join(t.TempDir(), "frame.jpg")
	if err := os.WriteFile(img, newFake(t, 0).jpeg, 0o644); err != nil {
		t.Fatal(err)
	}
	options := func(spec CameraSpec) (source.Config, float64) {
		return source.Config{Once: true}, cmp.Or(spec.FPS, 10)
	}
	cams, err := OpenCameras([]CameraSpec{{ID: "a", URI: img}, {ID: "b", URI: img, FPS: 4}}, options, 7, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		for _, c := range cams {
			c.Source.Close()
		}
	}()
	if len(cams) != 2 || cams[0].ID != "a" || cams[0].FPS != 10 || cams[1].FPS != 4 || cams[1].Count != 7 {
		t.Errorf("cameras %+v", cams)
	}
	_, err = OpenCameras([]CameraSpec{{ID: "a", URI: img}, {ID: "gone", URI: filepath.Join(t.TempDir(), "none.jpg")}}, options, 0, nil)
	if err == nil || !strings.HasPrefix(err.Error(), "camera gone: ") {
		t.Errorf("missing file: %v", err)
	}
}

// blockedSource never delivers: its Next waits until the run ends, as a
// wedged read would.
type blockedSource struct{ in atomic.Bool }

func (b *blockedSource) Next(ctx context.Context) (source.Frame, error) {
	b.in.Store(true)
	<-ctx.Done()
	return source.Frame{}, ctx.Err()
}

func (*blockedSource) Close() error { return nil }

// TestLive: a paced camera in one read for MaxRead is reported by Live
// (the read's start is moved back rather than waited for); one that
// turns is not, and neither is a camera after its run.
func TestLive(t *testing.T) {
	c := newCluster(t, 2, 16<<20)
	p := newPublisher(t, c, Config{})
	src := &blockedSource{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- p.Run(ctx, []Camera{{ID: "stuck", Source: src, FPS: 10}, {ID: "fine", Source: newFake(t, 100), FPS: 10}})
	}()
	testkit.Eventually(t, 10*time.Second, "the camera to be in its read", src.in.Load)
	if err := p.Live(ctx); err != nil {
		t.Errorf("Live during a fresh read: %v", err)
	}
	p.byCam["stuck"].reading.Store(time.Now().Add(-MaxRead - time.Second).UnixNano())
	if err := p.Live(ctx); err == nil || !strings.Contains(err.Error(), "camera stuck has been in one read for 1m") {
		t.Errorf("Live with a read of %v: %v, want the stuck camera named", MaxRead, err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := p.Live(context.Background()); err != nil {
		t.Errorf("Live after the run: %v", err)
	}
}
