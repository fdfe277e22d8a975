package process

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/framecast/framecast/internal/frame"
)

// Observer is told of every delivered result with status ok: its stage
// times and its latency from capture to delivery (telemetry's histograms).
// It is called from the Kafka client's goroutines, once per frame: it must
// be cheap and safe for concurrent use.
type Observer interface {
	Observe(t frame.Timings, latency time.Duration)
}

// SetObserver sets the observer of delivered results. Call it before Run.
func (p *Processor) SetObserver(o Observer) { p.c.obs = o }

// MaxBusy is how long a worker may spend on one frame before Live reports
// it stuck: a large frame's analysis takes a second or so, never minutes.
const MaxBusy = time.Minute

// Live says why the processor is not alive, nil when its workers turn: none
// has been on one frame for MaxBusy or more.
func (p *Processor) Live(context.Context) error {
	now := time.Now().UnixNano()
	for i, busy := range p.busy {
		if at := busy.Load(); at != 0 && time.Duration(now-at) >= MaxBusy {
			return fmt.Errorf("worker %d has been on one frame for %v", i, time.Duration(now-at).Round(time.Second))
		}
	}
	return nil
}

// Ready says why the processor cannot do its job now, nil when it can: its
// analyzers are loaded (New), it has joined its group, and the brokers
// answer with a leader for every partition of the results topic.
func (p *Processor) Ready(ctx context.Context) error {
	cl := p.clp.Load()
	if cl == nil {
		return errors.New("not started")
	}
	if err := p.failure(); err != nil {
		return err
	}
	p.mu.Lock()
	assigned := len(p.assigned)
	p.mu.Unlock()
	if _, gen := cl.GroupMetadata(); gen < 0 && assigned == 0 {
		return fmt.Errorf("not yet a member of group %s", p.o.Group)
	}
	md, err := kadm.NewClient(cl).Metadata(ctx, p.o.Topics.Results)
	if err != nil {
		return fmt.Errorf("the brokers do not answer: %w", err)
	}
	t, ok := md.Topics[p.o.Topics.Results]
	switch {
	case !ok || t.Err != nil:
		return fmt.Errorf("results topic %s: %v", p.o.Topics.Results, t.Err)
	case len(t.Partitions) == 0:
		return fmt.Errorf("results topic %s has no partitions", p.o.Topics.Results)
	}
	for _, pt := range t.Partitions {
		if pt.Err != nil || pt.Leader < 0 {
			return fmt.Errorf("results topic %s partition %d is not writable (leader %d): %v", p.o.Topics.Results, pt.Partition, pt.Leader, pt.Err)
		}
	}
	return nil
}

// PartitionLag is one partition's consumer lag: its end offset minus the
// group's committed offset.
type PartitionLag struct {
	Topic     string
	Partition int32
	Lag       int64
}

// Lag returns the consumer lag of the frames partitions assigned to this
// member. It asks the brokers.
func (p *Processor) Lag(ctx context.Context) ([]PartitionLag, error) {
	cl := p.clp.Load()
	if cl == nil {
		return nil, errors.New("not started")
	}
	lags, err := kadm.NewClient(cl).Lag(ctx, p.o.Group)
	if err != nil {
		return nil, err
	}
	l, ok := lags[p.o.Group]
	if !ok {
		return nil, nil
	}
	if err := l.Error(); err != nil {
		return nil, err
	}
	var out []PartitionLag
	p.mu.Lock()
	defer p.mu.Unlock()
	for part, ml := range l.Lag[p.o.Topics.Frames] {
		if p.assigned[tp{p.o.Topics.Frames, part}] && ml.Err == nil {
			out = append(out, PartitionLag{p.o.Topics.Frames, part, ml.Lag})
		}
	}
	return out, nil
}
