package kafka

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Defaults of TopicSettings, chosen for video.
const (
	// DefaultPartitions is many more partitions than a development fleet
	// has cameras, so that an explicit camera → partition mapping spreads
	// them evenly (murmur2 over few partitions does not, see KAFKA.md),
	// and up to 12 workers of one group all get work.
	DefaultPartitions = 12

	// DefaultFramesRetention keeps frames for replay and debugging; the
	// pipeline itself never analyses a frame older than --max-age (2 s).
	DefaultFramesRetention = 5 * time.Minute

	// DefaultFramesRetentionBytes bounds each frames partition, so the
	// whole topic stays under 3 GiB with 12 partitions whatever the
	// cameras send. It holds the full 5 minutes of a 640×480 camera at
	// 10 fps (≈0.6 MB/s) and about 2½ minutes at 30 fps (≈1.8 MB/s):
	// only replay depth is lost when it cuts first, never a live frame.
	DefaultFramesRetentionBytes int64 = 256 << 20

	// DefaultResultsRetention keeps a day of results: they are small
	// JSON and worth reading back.
	DefaultResultsRetention = 24 * time.Hour

	// DefaultResultsRetentionBytes bounds each results partition (≈1 KB
	// per result: a quarter of a million results per partition).
	DefaultResultsRetentionBytes int64 = 256 << 20

	// DefaultMaxMessageBytes is the largest record batch the topics
	// accept, far above any camera frame (Kafka's own default is 1 MB,
	// which a 4K JPEG can exceed).
	DefaultMaxMessageBytes = 16 << 20

	// DefaultSegmentBytes is the segment size. Retention deletes whole
	// segments (Kafka's default of 1 GiB, kfake's 100 MiB would keep
	// minutes of frames past their retention), and Kafka rejects a batch
	// larger than a segment (RecordBatchTooLargeException), so it is the
	// smallest size that still holds DefaultMaxMessageBytes.
	DefaultSegmentBytes int64 = 16 << 20
)

// TopicSettings are what framecast creates its three topics with. The zero
// value of each field means its default.
type TopicSettings struct {
	// Partitions of each topic created. Default DefaultPartitions.
	Partitions int
	// FramesRetention is the frames topic's retention.ms. Default 5m.
	FramesRetention time.Duration
	// FramesRetentionBytes is the frames and DLQ topics' retention.bytes,
	// per partition. Default 256 MiB.
	FramesRetentionBytes int64
	// ResultsRetention is the results and DLQ topics' retention.ms: the
	// DLQ keeps its frames as long as results so failures can be
	// inspected. Default 24h.
	ResultsRetention time.Duration
	// ResultsRetentionBytes is the results topic's retention.bytes, per
	// partition. Default 256 MiB.
	ResultsRetentionBytes int64
	// SegmentBytes is segment.bytes; raised to MaxMessageBytes when
	// smaller, since Kafka rejects a batch larger than a segment.
	// Default 16 MiB.
	SegmentBytes int64
	// MaxMessageBytes is max.message.bytes. Default 16 MiB.
	MaxMessageBytes int
	// ReplicationFactor of created topics; 0 or -1 means the broker's
	// default.replication.factor.
	ReplicationFactor int16
}

// DefaultTopicSettings returns the settings with every default filled in.
func DefaultTopicSettings() TopicSettings { return TopicSettings{}.WithDefaults() }

// WithDefaults returns s with every zero field set to its default.
func (s TopicSettings) WithDefaults() TopicSettings {
	if s.Partitions == 0 {
		s.Partitions = DefaultPartitions
	}
	if s.FramesRetention == 0 {
		s.FramesRetention = DefaultFramesRetention
	}
	if s.FramesRetentionBytes == 0 {
		s.FramesRetentionBytes = DefaultFramesRetentionBytes
	}
	if s.ResultsRetention == 0 {
		s.ResultsRetention = DefaultResultsRetention
	}
	if s.ResultsRetentionBytes == 0 {
		s.ResultsRetentionBytes = DefaultResultsRetentionBytes
	}
	if s.MaxMessageBytes == 0 {
		s.MaxMessageBytes = DefaultMaxMessageBytes
	}
	if s.SegmentBytes == 0 {
		s.SegmentBytes = DefaultSegmentBytes
	}
	if s.ReplicationFactor == 0 {
		s.ReplicationFactor = -1
	}
	return s
}

// Validate reports every invalid setting at once (after defaults).
func (s TopicSettings) Validate() error {
	s = s.WithDefaults()
	var errs []error
	if s.Partitions < 1 {
		errs = append(errs, fmt.Errorf("partitions %d: must be at least 1", s.Partitions))
	}
	if s.FramesRetention < time.Millisecond || s.ResultsRetention < time.Millisecond {
		errs = append(errs, errors.New("retention times must be at least 1ms"))
	}
	if s.FramesRetentionBytes < 1 || s.ResultsRetentionBytes < 1 {
		errs = append(errs, errors.New("retention sizes must be positive"))
	}
	if s.MaxMessageBytes < 1<<10 {
		errs = append(errs, fmt.Errorf("max message bytes %d: must be at least 1 KiB", s.MaxMessageBytes))
	}
	if s.SegmentBytes < 1<<10 {
		errs = append(errs, fmt.Errorf("segment bytes %d: must be at least 1 KiB", s.SegmentBytes))
	}
	return errors.Join(errs...)
}

// EffectiveSegmentBytes is the segment.bytes the topics get: SegmentBytes,
// raised to MaxMessageBytes when smaller.
func (s TopicSettings) EffectiveSegmentBytes() int64 {
	s = s.WithDefaults()
	return max(s.SegmentBytes, int64(s.MaxMessageBytes))
}

// TopicSpec is one topic to create: its name, partitions and configs.
type TopicSpec struct {
	Name       string
	Partitions int32
	Configs    map[string]string
}

// WithDefaults fills empty topic names with the defaults.
func (t Topics) WithDefaults() Topics {
	if t.Frames == "" {
		t.Frames = DefaultFramesTopic
	}
	if t.Results == "" {
		t.Results = DefaultResultsTopic
	}
	if t.DLQ == "" {
		t.DLQ = DefaultDLQTopic
	}
	return t
}

// Validate rejects topic names that collide.
func (t Topics) Validate() error {
	if t.Frames == t.Results || t.Frames == t.DLQ || t.Results == t.DLQ {
		return fmt.Errorf("topic names must differ: frames %q, results %q, dlq %q", t.Frames, t.Results, t.DLQ)
	}
	return nil
}

// Specs returns the three topics with their configs: cleanup.policy
// delete, retention by time and size, segment size and max.message.bytes.
// Empty names in t mean the defaults.
func (s TopicSettings) Specs(t Topics) []TopicSpec {
	s = s.WithDefaults()
	t = t.WithDefaults()
	seg := s.EffectiveSegmentBytes()
	mk := func(name string, retention time.Duration, retentionBytes int64) TopicSpec {
		return TopicSpec{
			Name:       name,
			Partitions: int32(s.Partitions), //nolint:gosec // validated, small
			Configs: map[string]string{
				"cleanup.policy":    "delete",
				"retention.ms":      strconv.FormatInt(retention.Milliseconds(), 10),
				"retention.bytes":   strconv.FormatInt(retentionBytes, 10),
				"segment.bytes":     strconv.FormatInt(seg, 10),
				"segment.ms":        strconv.FormatInt(segmentMs(retention), 10),
				"max.message.bytes": strconv.Itoa(s.MaxMessageBytes),
			},
		}
	}
	return []TopicSpec{
		mk(t.Frames, s.FramesRetention, s.FramesRetentionBytes),
		mk(t.Results, s.ResultsRetention, s.ResultsRetentionBytes),
		mk(t.DLQ, s.ResultsRetention, s.FramesRetentionBytes),
	}
}

// segmentMs rolls a segment after a fifth of the retention (between 10 s
// and 1 h): Kafka deletes only closed segments whose newest record is past
// retention, so on a quiet topic with its 7-day default roll, old frames
// would otherwise stay for days. kfake accepts the setting and trims by
// batch anyway.
func segmentMs(retention time.Duration) int64 {
	return min(max(retention/5, 10*time.Second), time.Hour).Milliseconds()
}

// TopicStatus reports one topic after EnsureTopics.
type TopicStatus struct {
	Name string
	// Created is true when EnsureTopics created the topic, false when it
	// existed and was left alone.
	Created bool
	// Partitions is the topic's partition count.
	Partitions int
	// MaxMessageBytes is the topic's max.message.bytes as the broker
	// reports it, 0 if it could not be read. An existing topic made with
	// Kafka's 1 MB default rejects large frames.
	MaxMessageBytes int
}

// EnsureTopics creates the missing ones of the three topics with the
// settings' configs and leaves existing ones alone (their partitions,
// configs and data), reporting what it found. It works against any Kafka:
// a real Apache Kafka cluster or the embedded broker. A topic created
// concurrently by another process counts as existing.
//
// It takes the kgo client rather than a kadm one because it must read
// topics uncached: kadm's ListTopics answers from the client's metadata
// cache (MetadataMinAge, 5 s), which still says "unknown topic" right
// after a create.
func EnsureTopics(ctx context.Context, cl *kgo.Client, t Topics, s TopicSettings) ([]TopicStatus, error) {
	t = t.WithDefaults()
	if err := errors.Join(t.Validate(), s.Validate()); err != nil {
		return nil, err
	}
	s = s.WithDefaults()
	adm := kadm.NewClient(cl)
	specs := s.Specs(t)
	names := []string{t.Frames, t.Results, t.DLQ}

	existing, err := partitionCounts(ctx, cl, names)
	if err != nil {
		return nil, fmt.Errorf("listing topics %s: %w", strings.Join(names, ", "), err)
	}
	out := make([]TopicStatus, 0, len(specs))
	var errs []error
	raced := false
	for _, spec := range specs {
		if n, ok := existing[spec.Name]; ok {
			out = append(out, TopicStatus{Name: spec.Name, Partitions: n})
			continue
		}
		configs := make(map[string]*string, len(spec.Configs))
		for k, v := range spec.Configs {
			configs[k] = kadm.StringPtr(v)
		}
		_, err := adm.CreateTopic(ctx, spec.Partitions, s.ReplicationFactor, configs, spec.Name)
		switch {
		case err == nil:
			out = append(out, TopicStatus{Name: spec.Name, Created: true, Partitions: int(spec.Partitions), MaxMessageBytes: s.MaxMessageBytes})
		case errors.Is(err, kerr.TopicAlreadyExists):
			out = append(out, TopicStatus{Name: spec.Name})
			raced = true
		default:
			errs = append(errs, fmt.Errorf("creating topic %s: %w; create it yourself, e.g. kafka-topics.sh --create --topic %s --partitions %d %s",
				spec.Name, err, spec.Name, spec.Partitions, configFlags(spec.Configs)))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return out, err
	}
	if raced {
		if existing, err = partitionCounts(ctx, cl, names); err == nil {
			for i := range out {
				if !out[i].Created {
					out[i].Partitions = existing[out[i].Name]
				}
			}
		}
	}
	fillMaxMessageBytes(ctx, cl, out)
	return out, nil
}

// partitionCounts asks the cluster (not the client's cache) which of the
// topics exist and with how many partitions.
func partitionCounts(ctx context.Context, cl *kgo.Client, topics []string) (map[string]int, error) {
	req := kmsg.NewPtrMetadataRequest()
	for _, t := range topics {
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(t)
		req.Topics = append(req.Topics, rt)
	}
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return nil, err
	}
	out := make(map[string]int, len(topics))
	for _, t := range resp.Topics {
		err := kerr.ErrorForCode(t.ErrorCode)
		switch {
		case t.Topic == nil, errors.Is(err, kerr.UnknownTopicOrPartition):
		case err != nil && !kerr.IsRetriable(err):
			return nil, &topicErr{*t.Topic, err}
		default: // a leader election in progress still means it exists
			out[*t.Topic] = len(t.Partitions)
		}
	}
	return out, nil
}

// topicErr is an error the cluster answered for one topic (not
// authorised, say): it did answer.
type topicErr struct {
	topic string
	err   error
}

func (e *topicErr) Error() string { return "topic " + e.topic + ": " + e.err.Error() }
func (e *topicErr) Unwrap() error { return e.err }

// fillMaxMessageBytes reads max.message.bytes of the topics that existed,
// best effort: the caller only warns with it.
func fillMaxMessageBytes(ctx context.Context, cl *kgo.Client, st []TopicStatus) {
	var names []string
	for _, s := range st {
		if !s.Created {
			names = append(names, s.Name)
		}
	}
	if len(names) == 0 {
		return
	}
	mm, err := MaxMessageBytes(ctx, cl, names...)
	if err != nil {
		return
	}
	for i := range st {
		if !st[i].Created {
			st[i].MaxMessageBytes = mm[st[i].Name]
		}
	}
}

// configFlags renders configs as kafka-topics.sh --config flags, sorted.
func configFlags(cfg map[string]string) string {
	keys := make([]string, 0, len(cfg))
	for k := range cfg {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "--config %s=%s", k, cfg[k])
	}
	return b.String()
}
