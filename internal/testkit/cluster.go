package testkit

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/framecast/framecast/internal/frame"
	"github.com/framecast/framecast/internal/kafka"
)

// Cluster is a one-broker kfake cluster for one test, closed at its end.
// It always has a data directory of its own: without one kfake keeps every
// segment in the Go heap (slow, and gigabytes of RSS with video frames).
// The embedded *kfake.Cluster injects faults and intercepts requests.
type Cluster struct {
	*kfake.Cluster
	// Addr is the broker's 127.0.0.1 address, for kgo.SeedBrokers and
	// --brokers.
	Addr string
}

// ClusterOpt configures NewCluster.
type ClusterOpt func(*clusterConfig)

type clusterConfig struct {
	partitions      int32
	maxMessageBytes int
	topics          []string
}

// Partitions sets every topic's number of partitions. Default 4.
func Partitions(n int32) ClusterOpt { return func(c *clusterConfig) { c.partitions = n } }

// MaxMessageBytes sets the topics' max.message.bytes. Default 16 MiB,
// larger than any frame of the tests.
func MaxMessageBytes(n int) ClusterOpt { return func(c *clusterConfig) { c.maxMessageBytes = n } }

// Topics names the topics to create instead of framecast's three (frames,
// results, dead letters, by their default names). None gives a cluster
// without topics.
func Topics(names ...string) ClusterOpt { return func(c *clusterConfig) { c.topics = names } }

// NewCluster starts the cluster and creates its topics.
func NewCluster(t testing.TB, opts ...ClusterOpt) *Cluster {
	t.Helper()
	cfg := clusterConfig{partitions: 4, maxMessageBytes: 16 << 20,
		topics: []string{kafka.DefaultFramesTopic, kafka.DefaultResultsTopic, kafka.DefaultDLQTopic}}
	for _, o := range opts {
		o(&cfg)
	}
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.DataDir(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	for _, topic := range cfg.topics {
		if err := c.CreateTopic(topic, cfg.partitions, map[string]string{"max.message.bytes": strconv.Itoa(cfg.maxMessageBytes)}); err != nil {
			t.Fatal(err)
		}
	}
	return &Cluster{Cluster: c, Addr: c.ListenAddrs()[0]}
}

// Client returns a client of brokers, closed at the end of the test: a
// producer that writes each record to the partition it names, at once (no
// linger), in batches of up to 16 MiB, and a consumer whose fetches wait at
// most 500 ms. opts come last, so they win.
func Client(t testing.TB, brokers string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{
		kgo.SeedBrokers(brokers), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerLinger(0), kgo.ProducerBatchMaxBytes(16 << 20), kgo.FetchMaxWait(500 * time.Millisecond),
	}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// Client returns a client of the cluster, as the package's Client does.
func (c *Cluster) Client(t testing.TB, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	return Client(t, c.Addr, opts...)
}

// Produce writes recs, each to the partition it names, and fails the test
// unless all are acknowledged within 30 s.
func (c *Cluster) Produce(t testing.TB, recs ...*kgo.Record) {
	t.Helper()
	cl := c.Client(t)
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

// FrameRecord is a frame as the publisher sends it: to the default frames
// topic, keyed by camera, with the sequence number and capture time in its
// headers and the capture time as its timestamp.
func FrameRecord(camera string, partition int32, seq int64, captured time.Time, jpeg []byte) *kgo.Record {
	return &kgo.Record{
		Topic: kafka.DefaultFramesTopic, Partition: partition, Key: []byte(camera), Value: jpeg,
		Headers:   frame.EncodeHeaders(frame.Meta{Seq: seq, CapturedAt: captured}),
		Timestamp: captured,
	}
}

// ProduceFrames produces n frames of a camera to a partition, sequence
// numbers 0 to n-1 captured now, and returns them.
func (c *Cluster) ProduceFrames(t testing.TB, camera string, partition int32, n int, jpeg []byte) []*kgo.Record {
	t.Helper()
	recs := make([]*kgo.Record, n)
	for i := range recs {
		recs[i] = FrameRecord(camera, partition, int64(i), time.Now(), jpeg)
	}
	c.Produce(t, recs...)
	return recs
}

// ReadGrace is how long ReadTopic goes on reading once it has what it
// waited for: records beyond it (duplicates, strays) show up by then.
const ReadGrace = 500 * time.Millisecond

// ReadTopic reads a topic of brokers from its start until want records
// arrived or timeout passed, then ReadGrace longer, and returns every
// record read: it does not check their number, the caller does. opts add
// to Client's: kgo.FetchIsolationLevel(kgo.ReadCommitted()) leaves out
// records of open and aborted transactions.
func ReadTopic(t testing.TB, brokers, topic string, want int, timeout time.Duration, opts ...kgo.Opt) []*kgo.Record {
	t.Helper()
	cl := Client(t, brokers, append([]kgo.Opt{kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart())}, opts...)...)
	defer cl.Close()
	var out []*kgo.Record
	deadline := time.Now().Add(timeout)
	for len(out) < want && time.Now().Before(deadline) {
		out = append(out, pollUntil(cl, deadline)...)
	}
	for grace := time.Now().Add(ReadGrace); time.Now().Before(grace); {
		out = append(out, pollUntil(cl, grace)...)
	}
	return out
}

func pollUntil(cl *kgo.Client, until time.Time) []*kgo.Record {
	ctx, cancel := context.WithDeadline(context.Background(), until)
	defer cancel()
	return cl.PollFetches(ctx).Records()
}

// ReadTopic reads a topic of the cluster as the package's ReadTopic does,
// waiting up to 30 s for want records.
func (c *Cluster) ReadTopic(t testing.TB, topic string, want int, opts ...kgo.Opt) []*kgo.Record {
	t.Helper()
	return ReadTopic(t, c.Addr, topic, want, 30*time.Second, opts...)
}
