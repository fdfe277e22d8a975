package view

import (
	"context"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Stalls: a partition whose records the dashboard cannot read (a fetch
// error that repeats, a broker that returns nothing past an offset) used
// to freeze its cameras' tiles with no error anywhere. Each reader now
// knows, per partition, the offset it reads next (from the records it
// handled, control records included) and the partition's end (listed every
// checkEvery, and from fetches). A partition with records to read (lag)
// that makes no progress for Config.StallAlarm logs an ERROR naming it,
// its offset and the last fetch error, once per StallAlarm while it lasts,
// and is counted; its cameras show STALLED on the page. A camera whose
// frames (results) stopped for stallShowAfter while their partition has
// lag and made no progress as long shows STALLED at once.
//
// The end offset listed first is where the reader starts (it reads from
// the newest records): records produced between that listing and the
// client's own count as lag until the next record of the partition.

// DefaultStallAlarm is Config.StallAlarm's default.
const DefaultStallAlarm = 30 * time.Second

// stallShowAfter is how long a camera's frames may stop, while its
// partition has lag and makes no progress, before its tile says STALLED
// (the page's "no signal" comes after as long).
const stallShowAfter = 3 * time.Second

// partState is what a reader knows of one partition.
type partState struct {
	next    int64     // the offset after the newest record handled (-1: unknown)
	end     int64     // the partition's end offset (-1: unknown)
	moved   time.Time // when next last advanced, or the partition was caught up
	err     error     // the newest fetch error, nil once records come again
	alarmAt time.Time // the last alarm (zero: not stalled)
	backoff time.Duration
}

// partHealth is a partition the dashboard has records to read from, as
// the stats message carries it.
type partHealth struct {
	Topic     string  `json:"topic"`
	Partition int32   `json:"partition"`
	Offset    int64   `json:"offset"`     // the next offset to read
	Lag       int64   `json:"lag"`        // records after it
	StalledMS float64 `json:"stalled_ms"` // since the reader last made progress
	Err       string  `json:"err,omitempty"`
	Alarm     bool    `json:"alarm"` // stalled for the stall alarm interval
}

// checkEvery is how often a reader lists its partitions' end offsets.
func (r *reader) checkEvery() time.Duration {
	return min(max(r.stallAlarm/4, 100*time.Millisecond), time.Second)
}

func (r *reader) partLocked(p int32) *partState {
	ps, ok := r.parts[p]
	if !ok {
		ps = &partState{next: -1, end: -1, moved: time.Now()}
		r.parts[p] = ps
	}
	return ps
}

// notePartition records what a fetch brought of a partition: records move
// it on; an error is kept for the alarm, and pauses the partition for a
// backoff (250 ms doubling to 5 s) so that a partition that fails at once
// every time does not spin the fetch loop: the other partitions are
// fetched as usual meanwhile.
func (r *reader) notePartition(p kgo.FetchTopicPartition, now time.Time) {
	if p.Partition < 0 {
		if p.Err != nil && !r.closing(p.Err) {
			r.warn("fetch error (retried)", "err", p.Err)
		}
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	ps := r.partLocked(p.Partition)
	if n := len(p.Records); n > 0 {
		ps.next, ps.moved, ps.err, ps.backoff = p.Records[n-1].Offset+1, now, nil, 0
		if !ps.alarmAt.IsZero() {
			ps.alarmAt = time.Time{}
			r.log.Info("partition reading again", "partition", p.Partition, "offset", ps.next)
		}
	}
	if p.Err == nil {
		end := p.HighWatermark
		if r.committed {
			end = p.LastStableOffset
		}
		ps.end = max(ps.end, end)
		return
	}
	if r.closing(p.Err) {
		return
	}
	ps.err = p.Err
	ps.backoff = min(max(2*ps.backoff, 250*time.Millisecond), 5*time.Second)
	r.warn("fetch error (retried)", "partition", p.Partition, "offset", ps.next, "retry_in", ps.backoff, "err", p.Err)
	tp := map[string][]int32{r.topic: {p.Partition}}
	r.cl.PauseFetchPartitions(tp)
	time.AfterFunc(ps.backoff, func() { r.cl.ResumeFetchPartitions(tp) })
}

func (r *reader) closing(err error) bool {
	return err == context.Canceled || err == kgo.ErrClientClosed
}

// watchLag lists the partitions' end offsets every checkEvery and raises
// the alarms, until ctx ends.
func (r *reader) watchLag(ctx context.Context) {
	adm := kadm.NewClient(r.cl)
	t := time.NewTicker(r.checkEvery())
	defer t.Stop()
	for {
		r.checkLag(ctx, adm, time.Now())
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (r *reader) checkLag(ctx context.Context, adm *kadm.Client, now time.Time) {
	lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	list := adm.ListEndOffsets
	if r.committed {
		list = adm.ListCommittedOffsets // the last stable offset: open transactions are no lag
	}
	offs, err := list(lctx, r.topic)
	cancel()
	r.mu.Lock()
	defer r.mu.Unlock()
	if err == nil {
		offs.Each(func(o kadm.ListedOffset) {
			if o.Err != nil || o.Partition < 0 || o.Offset < 0 {
				return
			}
			ps := r.partLocked(o.Partition)
			ps.end = o.Offset
			if ps.next < 0 {
				ps.next, ps.moved = o.Offset, now // the reader starts at the end
			}
		})
	}
	for p, ps := range r.parts {
		r.alarmLocked(p, ps, now)
	}
}

// alarmLocked logs an ERROR for a partition with lag that made no progress
// for StallAlarm, again every StallAlarm while that lasts.
func (r *reader) alarmLocked(p int32, ps *partState, now time.Time) {
	lag := ps.end - ps.next
	if ps.next < 0 || ps.end < 0 || lag <= 0 {
		ps.moved = now // caught up: nothing to wait for is no stall
		if !ps.alarmAt.IsZero() {
			ps.alarmAt = time.Time{}
			r.log.Info("partition caught up", "partition", p, "offset", ps.next)
		}
		return
	}
	stuck := now.Sub(ps.moved)
	if r.stallAlarm < 0 || stuck < r.stallAlarm || now.Sub(ps.alarmAt) < r.stallAlarm {
		return
	}
	ps.alarmAt = now
	r.alarms.Add(1)
	r.log.Error("partition stalled: it has records but the dashboard reads none; its cameras show STALLED (logged every stall alarm interval while it lasts)",
		"partition", p, "offset", ps.next, "lag", lag, "stalled_for", stuck.Round(time.Second).String(), "fetch_error", errText(ps.err))
}

func errText(err error) string {
	if err == nil {
		return "none reported: the broker answers without records past this offset"
	}
	return err.Error()
}

// health returns the partitions with records to read.
func (r *reader) health(now time.Time) map[int32]partHealth {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[int32]partHealth{}
	for p, ps := range r.parts {
		lag := ps.end - ps.next
		if ps.next < 0 || ps.end < 0 || lag <= 0 {
			continue
		}
		h := partHealth{
			Topic: r.topic, Partition: p, Offset: ps.next, Lag: lag,
			StalledMS: round3(float64(now.Sub(ps.moved)) / 1e6), Alarm: !ps.alarmAt.IsZero(),
		}
		if ps.err != nil {
			h.Err = ps.err.Error()
		}
		out[p] = h
	}
	return out
}

// stallView is both readers' partitions with lag, for the statistics.
type stallView struct {
	frames, results map[int32]partHealth
}

// camera returns the partition a camera is stalled behind, nil when none:
// its frames' (results') partition is in alarm, or has lag, made no
// progress for stallShowAfter and the camera's frames (results) stopped as
// long.
func (sv stallView) camera(framePart int32, lastFrame time.Time, resultPart int32, lastRes time.Time, now time.Time) *partHealth {
	for _, c := range []struct {
		parts map[int32]partHealth
		p     int32
		last  time.Time
	}{{sv.frames, framePart, lastFrame}, {sv.results, resultPart, lastRes}} {
		h, ok := c.parts[c.p]
		if !ok {
			continue
		}
		if h.Alarm || (h.StalledMS >= float64(stallShowAfter/time.Millisecond) && now.Sub(c.last) >= stallShowAfter) {
			return &h
		}
	}
	return nil
}

// alarms lists the partitions in alarm, frames first.
func (sv stallView) alarms() []partHealth {
	var out []partHealth
	for _, m := range []map[int32]partHealth{sv.frames, sv.results} {
		var ps []partHealth
		for _, h := range m {
			if h.Alarm {
				ps = append(ps, h)
			}
		}
		slices.SortFunc(ps, func(a, b partHealth) int { return int(a.Partition - b.Partition) })
		out = append(out, ps...)
	}
	return out
}
