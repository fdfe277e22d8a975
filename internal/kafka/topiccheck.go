package kafka

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// ErrNoTopic is matched (errors.Is) by CheckTopics' error when a topic does
// not exist.
var ErrNoTopic = errors.New("kafka topic does not exist")

// TopicError is CheckTopics' error: the brokers asked, the topics
// concerned, the kind of failure and its cause. errors.Is matches the kind
// (ErrUnreachable when the cluster gave no answer, ErrNoTopic when topics
// are missing, nil otherwise) and the cause. Its message says what to do.
type TopicError struct {
	// Brokers are the seed brokers the client was given, comma-separated.
	Brokers string
	// Topics are the missing topics (ErrNoTopic), or those asked for.
	Topics []string
	Kind   error
	Err    error
}

func (e *TopicError) Error() string {
	names := strings.Join(e.Topics, ", ")
	switch e.Kind {
	case ErrUnreachable:
		return fmt.Sprintf("kafka at %s: no answer about topic(s) %s (%v): is the broker running? "+
			"`framecast broker` starts one for development; otherwise fix --brokers (FRAMECAST_BROKERS)", e.Brokers, names, e.Err)
	case ErrNoTopic:
		return fmt.Sprintf("kafka at %s: topic(s) %s do not exist: start `framecast broker` (it creates them), "+
			"create them on your cluster (e.g. %d partitions, max.message.bytes=%d), "+
			"or name existing ones with --frames-topic, --results-topic, --dlq-topic",
			e.Brokers, names, DefaultPartitions, DefaultMaxMessageBytes)
	}
	return fmt.Sprintf("kafka at %s: topic(s) %s: %v", e.Brokers, names, e.Err)
}

// Unwrap returns the kind and the cause.
func (e *TopicError) Unwrap() []error { return []error{e.Kind, e.Err} }

// CheckTopics asks the cluster, not the client's metadata cache, whether
// the topics exist, and returns their partition counts. It is how every
// role checks its topics before it relies on them: a consumer would
// otherwise wait for a missing topic in silence, and a producer would
// buffer frames for it. A topic with no partitions counts as missing. On
// failure it returns a *TopicError; it never creates a topic (kafka's own
// auto-creation included: the metadata request does not allow it).
func CheckTopics(ctx context.Context, cl *kgo.Client, topics ...string) (map[string]int, error) {
	counts, err := partitionCounts(ctx, cl, topics)
	te := &TopicError{Brokers: seedBrokers(cl), Topics: topics, Err: err}
	var one *topicErr
	switch {
	case errors.As(err, &one): // the cluster answered with an error for the topic
		te.Topics, te.Err = []string{one.topic}, one.err
		return nil, te
	case err != nil:
		te.Kind = ErrUnreachable
		return nil, te
	}
	var missing []string
	for _, t := range topics {
		if counts[t] == 0 {
			missing = append(missing, t)
		}
	}
	if len(missing) > 0 {
		te.Topics, te.Kind = missing, ErrNoTopic
		return nil, te
	}
	return counts, nil
}

// seedBrokers are the client's seed brokers, for messages.
func seedBrokers(cl *kgo.Client) string {
	seeds, _ := cl.OptValue(kgo.SeedBrokers).([]string)
	return strings.Join(seeds, ",")
}

// MaxMessageBytes reads the topics' max.message.bytes, the largest record
// batch each accepts. A topic whose value the cluster does not give (no
// DescribeConfigs rights on it, say) is left out; the error is the
// request's. It is advisory: a producer learns the limit from the
// broker's answer to an oversized batch anyway.
func MaxMessageBytes(ctx context.Context, cl *kgo.Client, topics ...string) (map[string]int, error) {
	rcs, err := kadm.NewClient(cl).DescribeTopicConfigs(ctx, topics...)
	if err != nil {
		return nil, err
	}
	out := make(map[string]int, len(topics))
	for _, rc := range rcs {
		if rc.Err != nil {
			continue
		}
		for _, c := range rc.Configs {
			if c.Key != "max.message.bytes" {
				continue
			}
			if v, err := strconv.ParseInt(c.MaybeValue(), 10, 32); err == nil && v > 0 {
				out[rc.Name] = int(v)
			}
		}
	}
	return out, nil
}
