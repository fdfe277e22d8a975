package broker

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/framecast/framecast/internal/kafka"
	"github.com/framecast/framecast/internal/testkit"
)

func TestBrokerCreatesTopicsAndCarriesLargeRecords(t *testing.T) {
	b := startBroker(t, Config{})
	adm := newAdmin(t, b.Addr())
	ctx := ctxTimeout(t, 20*time.Second)

	topics := []string{kafka.DefaultFramesTopic, kafka.DefaultResultsTopic, kafka.DefaultDLQTopic}
	details, err := adm.ListTopics(ctx, topics...)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range topics {
		if d := details[name]; d.Err != nil || len(d.Partitions) != kafka.DefaultPartitions {
			t.Errorf("%s: err %v, %d partitions, want %d", name, d.Err, len(d.Partitions), kafka.DefaultPartitions)
		}
	}

	rcs, err := adm.DescribeTopicConfigs(ctx, topics...)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]map[string]string{
		kafka.DefaultFramesTopic:  {"retention.ms": "300000", "retention.bytes": strconv.Itoa(256 << 20)},
		kafka.DefaultResultsTopic: {"retention.ms": "86400000", "retention.bytes": strconv.Itoa(256 << 20)},
		kafka.DefaultDLQTopic:     {"retention.ms": "86400000", "retention.bytes": strconv.Itoa(256 << 20)},
	}
	for _, name := range topics {
		rc, err := rcs.On(name, nil)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		got := map[string]string{}
		for _, c := range rc.Configs {
			got[c.Key] = c.MaybeValue()
		}
		w := want[name]
		w["cleanup.policy"] = "delete"
		w["max.message.bytes"] = strconv.Itoa(16 << 20)
		w["segment.bytes"] = strconv.Itoa(16 << 20)
		for k, v := range w {
			if got[k] != v {
				t.Errorf("%s %s = %q, want %q", name, k, got[k], v)
			}
		}
	}

	// 1 MiB is above Kafka's 1 MB default for max.message.bytes and
	// kgo's default batch size: both must be raised for frames.
	value := bytes.Repeat([]byte{0xff, 0xd8, 0x42}, 1<<20/3+1)[:1<<20]
	pr := newClient(t, kafka.Config{Brokers: b.Addr()}, kgo.ProducerBatchMaxBytes(2<<20), kgo.ProducerBatchCompression(kgo.NoCompression()))
	if err := pr.ProduceSync(ctx, &kgo.Record{Topic: kafka.DefaultFramesTopic, Key: []byte("cam-1"), Value: value}).FirstErr(); err != nil {
		t.Fatalf("producing 1 MiB: %v", err)
	}
	co := newClient(t, kafka.Config{Brokers: b.Addr()}, kgo.ConsumeTopics(kafka.DefaultFramesTopic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	var got []*kgo.Record
	for len(got) == 0 {
		fs := co.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatal(err)
		}
		got = append(got, fs.Records()...)
	}
	if !bytes.Equal(got[0].Value, value) || string(got[0].Key) != "cam-1" {
		t.Fatalf("consumed %d bytes with key %q, want the 1 MiB record", len(got[0].Value), got[0].Key)
	}
}

func TestBrokerRestartKeepsRecordsAndCommittedOffsets(t *testing.T) {
	dir := t.TempDir()
	addr := testkit.FreeAddr(t)
	cfg := Config{Listen: addr, DataDir: dir, Logger: testLogger(t)}
	b, err := Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctxTimeout(t, 30*time.Second)

	const n = 50
	opts, _ := (&kafka.Config{Brokers: b.Addr(), Topics: kafka.Topics{}.WithDefaults()}).ClientOpts(nil)
	pr, _ := kgo.NewClient(opts...)
	for i := range n {
		pr.Produce(ctx, &kgo.Record{Topic: kafka.DefaultResultsTopic, Key: []byte("cam-" + strconv.Itoa(i%3)), Value: []byte(strconv.Itoa(i))}, nil)
	}
	if err := pr.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	pr.Close()

	// A group consumes 30 records and commits exactly those.
	co, _ := kgo.NewClient(append(opts, kgo.ConsumerGroup("g"), kgo.ConsumeTopics(kafka.DefaultResultsTopic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit())...)
	consumed := 0
	for consumed < 30 {
		fs := co.PollRecords(ctx, 1)
		if err := fs.Err0(); err != nil {
			t.Fatal(err)
		}
		for _, r := range fs.Records() {
			consumed++
			if err := co.CommitRecords(ctx, r); err != nil {
				t.Fatal(err)
			}
		}
	}
	co.Close() // leaves the group
	before := committed(t, ctx, b.Addr(), "g")
	if before != 30 {
		t.Fatalf("committed %d before restart, want 30", before)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}

	start := time.Now()
	b2, err := Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer b2.Close()
	t.Logf("restart on the same data dir took %s", time.Since(start))

	if after := committed(t, ctx, b2.Addr(), "g"); after != before {
		t.Fatalf("committed %d after restart, want %d", after, before)
	}
	ends, err := newAdmin(t, b2.Addr()).ListEndOffsets(ctx, kafka.DefaultResultsTopic)
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	ends.Each(func(o kadm.ListedOffset) { total += o.Offset })
	if total != n {
		t.Fatalf("%d records after restart, want %d", total, n)
	}
	// The group resumes where it left off: exactly the other 20.
	co2 := newClient(t, kafka.Config{Brokers: b2.Addr()}, kgo.ConsumerGroup("g"), kgo.ConsumeTopics(kafka.DefaultResultsTopic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit())
	rest := 0
	for rest < n-30 {
		fs := co2.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatal(err)
		}
		rest += fs.NumRecords()
	}
	if rest != n-30 {
		t.Fatalf("group resumed with %d records, want %d", rest, n-30)
	}
}

func committed(t *testing.T, ctx context.Context, addr, group string) int64 {
	t.Helper()
	offs, err := newAdmin(t, addr).FetchOffsets(ctx, group)
	if err != nil {
		t.Fatal(err)
	}
	var sum int64
	offs.Each(func(o kadm.OffsetResponse) { sum += o.At })
	return sum
}

func TestBrokerEnforcesRetention(t *testing.T) {
	b := startBroker(t, Config{
		TopicSettings: kafka.TopicSettings{
			Partitions:      1,
			FramesRetention: time.Second,
			SegmentBytes:    16 << 10,
			MaxMessageBytes: 16 << 10,
		},
		RetentionInterval: 100 * time.Millisecond,
	})
	ctx := ctxTimeout(t, 30*time.Second)
	pr := newClient(t, kafka.Config{Brokers: b.Addr()}, kgo.ProducerLinger(0))
	value := make([]byte, 8<<10)
	for range 10 {
		for _, topic := range []string{kafka.DefaultFramesTopic, kafka.DefaultResultsTopic} {
			if err := pr.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: value}).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
	}
	adm := newAdmin(t, b.Addr())
	start := time.Now()
	eventually(t, 15*time.Second, func() bool {
		so, err := adm.ListStartOffsets(ctx, kafka.DefaultFramesTopic)
		if err != nil {
			return false
		}
		o, _ := so.Lookup(kafka.DefaultFramesTopic, 0)
		return o.Offset == 10
	})
	t.Logf("frames gone %s after the last produce (retention 1s, check every 100ms)", time.Since(start))
	so, err := adm.ListStartOffsets(ctx, kafka.DefaultResultsTopic)
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := so.Lookup(kafka.DefaultResultsTopic, 0); o.Offset != 0 {
		t.Fatalf("results start offset %d: the 24h results were dropped too", o.Offset)
	}
	// The expired segments are gone from disk, not just hidden.
	segs, _ := filepath.Glob(filepath.Join(b.DataDir(), "partitions", "*frames*", "*"))
	var size int64
	for _, s := range segs {
		if st, err := os.Stat(s); err == nil && !st.IsDir() {
			size += st.Size()
		}
	}
	if size > 16<<10 {
		t.Errorf("%d bytes of frames segments left on disk after retention", size)
	}
}

func TestBrokerKeepsExistingTopics(t *testing.T) {
	dir := t.TempDir()
	b := startBroker(t, Config{DataDir: dir, TopicSettings: kafka.TopicSettings{Partitions: 3}})
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	// A restart with other settings keeps the topics as they were.
	b2 := startBroker(t, Config{DataDir: dir, TopicSettings: kafka.TopicSettings{Partitions: 5, FramesRetention: time.Hour}})
	ctx := ctxTimeout(t, 10*time.Second)
	adm := newAdmin(t, b2.Addr())
	d, err := adm.ListTopics(ctx, kafka.DefaultFramesTopic)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(d[kafka.DefaultFramesTopic].Partitions); n != 3 {
		t.Fatalf("%d partitions after restart, want the original 3", n)
	}
	rc, err := adm.DescribeTopicConfigs(ctx, kafka.DefaultFramesTopic)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range rc[0].Configs {
		if c.Key == "retention.ms" && c.MaybeValue() != "300000" {
			t.Fatalf("retention.ms %s after restart, want the original 300000", c.MaybeValue())
		}
	}
}

func TestBrokerConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"no data dir", Config{}, "data directory is required"},
		{"wildcard", Config{DataDir: "d", Listen: "0.0.0.0:9092"}, "clients cannot connect to 0.0.0.0"},
		{"no host", Config{DataDir: "d", Listen: ":9092"}, "give a host"},
		{"bad port", Config{DataDir: "d", Listen: "127.0.0.1:99999"}, "bad port"},
		{"no port", Config{DataDir: "d", Listen: "127.0.0.1"}, "want host:port"},
		{"same topics", Config{DataDir: "d", Topics: kafka.Topics{Frames: "x", Results: "x"}}, "topic names must differ"},
		{"mechanism", Config{DataDir: "d", SASL: []SASLUser{{Mechanism: "GSSAPI", User: "u", Password: "p"}}}, "SASL mechanism"},
		{"tls without cert", Config{DataDir: "d", TLS: &tls.Config{}}, "certificate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
	// Two errors are reported together.
	err := Config{Listen: "0.0.0.0:1", TopicSettings: kafka.TopicSettings{Partitions: -1}}.Validate()
	if err == nil || !strings.Contains(err.Error(), "data directory") || !strings.Contains(err.Error(), "0.0.0.0") || !strings.Contains(err.Error(), "partitions") {
		t.Fatalf("want all errors at once, got %v", err)
	}
}

func TestBrokerPortInUse(t *testing.T) {
	b := startBroker(t, Config{})
	_, err := Start(context.Background(), Config{Listen: b.Addr(), DataDir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "already running") {
		t.Fatalf("got %v, want an address-in-use explanation", err)
	}
}

func TestStartBrokerCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Start(ctx, Config{DataDir: t.TempDir()}); !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v", err)
	}
}

// TestBrokerBoundsRecordsPerPartition: kfake keeps an index entry in the
// heap for every batch it holds. With RetentionRecords the records a
// partition keeps stop growing, and so does the heap, however long the
// broker runs: 16 more rounds of records cost no more heap than the first.
func TestBrokerBoundsRecordsPerPartition(t *testing.T) {
	const keep, rounds = 2000, 20
	b := startBroker(t, Config{
		DataDir: t.TempDir(), RetentionRecords: keep, RetentionInterval: time.Hour, Logger: slog.New(slog.DiscardHandler),
		// Small segments, so that trimmed ones are deleted (with their
		// index) while the test runs.
		TopicSettings: kafka.TopicSettings{Partitions: 1, SegmentBytes: 64 << 10, MaxMessageBytes: 64 << 10},
	})
	cl := newClient(t, kafka.Config{Brokers: b.Addr()}, kgo.DefaultProduceTopic(kafka.DefaultResultsTopic), kgo.ProducerLinger(0))
	ctx := ctxTimeout(t, 2*time.Minute)
	value := bytes.Repeat([]byte("r"), 300)
	heap := func() int64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return int64(m.HeapAlloc) //nolint:gosec // far below 2^63
	}
	var early int64
	for round := range rounds {
		// One record per batch, as results are produced, then the
		// retention pass the broker makes every RetentionInterval.
		for range keep {
			if err := cl.ProduceSync(ctx, &kgo.Record{Value: value}).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
		b.ApplyRetention()
		if round == 3 {
			early = heap()
		}
	}
	late := heap()
	if st := b.Stats(); st[1].Records > keep {
		t.Errorf("results topic keeps %d records, want at most %d", st[1].Records, keep)
	}
	// Unbounded, every batch adds a 72-byte entry: 16 rounds ≥ 2.3 MB.
	unbounded := int64((rounds - 4) * keep * 72)
	t.Logf("heap after round 4: %d bytes, after round %d: %d (%+d; unbounded it would grow by ≥ %d)",
		early, rounds, late, late-early, unbounded)
	if late-early > unbounded/4 {
		t.Errorf("heap grew by %d bytes between rounds 4 and %d: the index is not bounded", late-early, rounds)
	}
}

// slogKfake maps kfake's levels through kafka.SlogLevel, which takes
// kgo's: the two must stay value for value the same.
func TestKfakeLevelsAreKgos(t *testing.T) {
	for _, p := range []struct {
		kfake kfake.LogLevel
		kgo   kgo.LogLevel
	}{
		{kfake.LogLevelNone, kgo.LogLevelNone},
		{kfake.LogLevelError, kgo.LogLevelError},
		{kfake.LogLevelWarn, kgo.LogLevelWarn},
		{kfake.LogLevelInfo, kgo.LogLevelInfo},
		{kfake.LogLevelDebug, kgo.LogLevelDebug},
	} {
		if int(p.kfake) != int(p.kgo) {
			t.Errorf("kfake level %v is %d, kgo's %v is %d", p.kfake, p.kfake, p.kgo, p.kgo)
		}
	}
}

// TestLive: Live answers while the broker turns, and fails (naming the
// request loop) while it is held; one probe waits at a time.
func TestLive(t *testing.T) {
	b, err := Start(context.Background(), Config{Listen: "127.0.0.1:0", DataDir: t.TempDir(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := b.Live(context.Background()); err != nil {
		t.Fatalf("Live of a running broker: %v", err)
	}
	// kfake keeps answering its admin calls while a control function
	// runs, so a wedged loop is stood in for by the lock every call into
	// the cluster passes (Stats, like any, takes it).
	b.mu.Lock()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := b.Live(ctx); err == nil || !strings.Contains(err.Error(), "did not answer in time") {
		t.Errorf("Live with the loop held: %v", err)
	}
	if err := b.Live(context.Background()); err == nil || !strings.Contains(err.Error(), "has not answered the last health check") {
		t.Errorf("a second Live while the first waits: %v", err)
	}
	b.mu.Unlock()
	testkit.Eventually(t, 10*time.Second, "Live to answer again", func() bool { return b.Live(context.Background()) == nil })
}
