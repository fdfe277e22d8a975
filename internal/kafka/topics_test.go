package kafka

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
)

func TestEnsureTopics(t *testing.T) {
	cl := newClient(t, cluster(t))
	adm := kadm.NewClient(cl)
	ctx := ctxTimeout(t, 20*time.Second)

	// Missing: created with the defaults.
	st, err := EnsureTopics(ctx, cl, Topics{}, TopicSettings{})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range st {
		if !s.Created || s.Partitions != DefaultPartitions {
			t.Errorf("new %+v: want created with %d partitions", s, DefaultPartitions)
		}
	}

	// Existing: left alone (other settings notwithstanding), reported.
	st, err = EnsureTopics(ctx, cl, Topics{}, TopicSettings{Partitions: 4})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range st {
		if s.Created || s.Partitions != DefaultPartitions || s.MaxMessageBytes != DefaultMaxMessageBytes {
			t.Errorf("existing %+v: want kept with %d partitions and max.message.bytes %d", s, DefaultPartitions, DefaultMaxMessageBytes)
		}
	}

	// Other names: created with the settings' configs.
	other := Topics{Frames: "x.frames", Results: "x.results", DLQ: "x.dlq"}
	settings := TopicSettings{Partitions: 4, FramesRetention: time.Minute, MaxMessageBytes: 32 << 20}
	st, err = EnsureTopics(ctx, cl, other, settings)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range st {
		if !s.Created || s.Partitions != 4 {
			t.Errorf("new %+v: want created with 4 partitions", s)
		}
	}
	rcs, err := adm.DescribeTopicConfigs(ctx, "x.frames")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, c := range rcs[0].Configs {
		got[c.Key] = c.MaybeValue()
	}
	for k, v := range map[string]string{
		"retention.ms": "60000", "max.message.bytes": "33554432",
		"segment.bytes": "33554432", // raised to hold the largest batch
		"segment.ms":    "12000", "cleanup.policy": "delete",
	} {
		if got[k] != v {
			t.Errorf("x.frames %s = %q, want %q", k, got[k], v)
		}
	}

	// A second call finds them.
	st, err = EnsureTopics(ctx, cl, other, settings)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range st {
		if s.Created || s.Partitions != 4 || s.MaxMessageBytes != 32<<20 {
			t.Errorf("second call %+v: want existing, 4 partitions, 32 MiB", s)
		}
	}
}

func TestTopicSettingsDefaults(t *testing.T) {
	s := DefaultTopicSettings()
	if s.Partitions != 12 || s.FramesRetention != 5*time.Minute || s.ResultsRetention != 24*time.Hour ||
		s.MaxMessageBytes != 16<<20 || s.EffectiveSegmentBytes() != 16<<20 || s.ReplicationFactor != -1 {
		t.Fatalf("defaults %+v", s)
	}
	if got := (TopicSettings{SegmentBytes: 1 << 20, MaxMessageBytes: 4 << 20}).EffectiveSegmentBytes(); got != 4<<20 {
		t.Fatalf("segment bytes %d, want raised to 4 MiB", got)
	}
	if segmentMs(time.Second) != 10000 || segmentMs(5*time.Minute) != 60000 || segmentMs(24*time.Hour) != 3600000 {
		t.Fatal("segmentMs")
	}
}
