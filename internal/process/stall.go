package process

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// A partition can stall without anyone noticing: franz-go retries
// retriable fetch errors (CORRUPT_MESSAGE, NOT_LEADER…) internally and,
// by default, never reports them, so a partition whose fetches keep
// failing just stops while its lag grows. The processor therefore asks
// for every fetch error (KeepRetryableFetchErrors), remembers the last one
// per partition, pauses that partition's fetches for fetchErrorBackoff so
// a failing partition neither spins nor delays the others, and watches
// every assigned partition: one that lags (its end offset above the offset
// this worker is at) with no frame delivered for StallAlarm is logged as
// an error, again every StallAlarm while it lasts, and counted.

// fetchErrorBackoff is how long a partition whose fetch failed is paused
// before it is fetched again.
const fetchErrorBackoff = 500 * time.Millisecond

// watch is what the stall alarm knows of one assigned frames partition.
type watch struct {
	progressAt time.Time // a frame retired, the partition assigned, or found caught up
	next       int64     // the offset after the last frame retired here; -1: none yet
	fetchErr   error     // the last fetch error, nil if none
	fetchErrAt time.Time
	paused     bool      // paused after a fetch error, until the backoff ends
	alarmedAt  time.Time // the last error logged about it
}

// watches is the stall alarm's state: a leaf lock, taken under ps.mu.
type watches struct {
	mu sync.Mutex
	m  map[tp]*watch
}

func (w *watches) assign(parts map[string][]int32, now time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.m == nil {
		w.m = map[tp]*watch{}
	}
	for t, ps := range parts {
		for _, part := range ps {
			w.m[tp{t, part}] = &watch{progressAt: now, next: -1}
		}
	}
}

func (w *watches) forget(parts map[string][]int32) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for t, ps := range parts {
		for _, part := range ps {
			delete(w.m, tp{t, part})
		}
	}
}

// progress records frames of k retired up to next-1.
func (w *watches) progress(k tp, next int64, now time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if pw := w.m[k]; pw != nil {
		pw.progressAt, pw.next = now, next
	}
}

// fetchError records a fetch error of k. It reports whether the error is
// new for the partition (worth a warning), and whether the partition
// should be paused (it is not already).
func (w *watches) fetchError(k tp, err error, now time.Time) (isNew, pause bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	pw := w.m[k]
	if pw == nil {
		return true, false
	}
	isNew = pw.fetchErr == nil || pw.fetchErr.Error() != err.Error()
	pw.fetchErr, pw.fetchErrAt = err, now
	pause = !pw.paused
	pw.paused = true
	return isNew, pause
}

func (w *watches) resumed(k tp) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if pw := w.m[k]; pw != nil {
		pw.paused = false
	}
}

// pollErrors logs and records the fetch errors of a poll, and pauses each
// failing partition for fetchErrorBackoff.
func (p *Processor) pollErrors(fs kgo.Fetches) {
	now := time.Now()
	fs.EachError(func(t string, part int32, err error) {
		if errors.Is(err, context.Canceled) || errors.Is(err, kgo.ErrClientClosed) {
			return
		}
		k := tp{t, part}
		isNew, pause := p.watch.fetchError(k, err, now)
		if isNew {
			p.log.Warn("fetch error (retried; repeats of it are not logged, the stall alarm reports a partition that stays stuck)",
				"topic", t, "partition", part, "err", err)
		}
		if pause {
			parts := map[string][]int32{t: {part}}
			p.cl.PauseFetchPartitions(parts)
			time.AfterFunc(fetchErrorBackoff, func() {
				p.watch.resumed(k)
				p.cl.ResumeFetchPartitions(parts)
			})
		}
	})
}

// stallLoop checks the assigned partitions every StallAlarm/4.
func (p *Processor) stallLoop(ctx context.Context) {
	t := time.NewTicker(max(p.o.StallAlarm/4, 10*time.Millisecond))
	defer t.Stop()
	adm := kadm.NewClient(p.cl)
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		p.checkStalls(ctx, adm, time.Now())
	}
}

// stallCandidate is a partition without progress for StallAlarm.
type stallCandidate struct {
	k tp
	watch
}

func (p *Processor) checkStalls(ctx context.Context, adm *kadm.Client, now time.Time) {
	var cands []stallCandidate
	p.watch.mu.Lock()
	for k, pw := range p.watch.m {
		if now.Sub(pw.progressAt) >= p.o.StallAlarm {
			cands = append(cands, stallCandidate{k, *pw})
		}
	}
	p.watch.mu.Unlock()
	if len(cands) == 0 {
		p.c.stalled.Store(0)
		return
	}
	ctx, cancel := context.WithTimeout(ctx, max(p.o.StallAlarm, 2*time.Second))
	defer cancel()
	topic := p.o.Topics.Frames
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		p.log.Warn("stall check: cannot list the frames partitions' end offsets", "err", err)
		return
	}
	// The offset a partition is at: past the last frame retired here, or
	// the group's committed offset, or (neither) its start, where a new
	// group begins.
	commits, err := adm.FetchOffsets(ctx, p.o.Group)
	if err != nil {
		p.log.Warn("stall check: cannot fetch the group's committed offsets", "err", err)
		return
	}
	starts, err := adm.ListStartOffsets(ctx, topic)
	if err != nil {
		p.log.Warn("stall check: cannot list the frames partitions' start offsets", "err", err)
		return
	}
	stalled := 0
	for _, c := range cands {
		end, ok := ends.Lookup(topic, c.k.partition)
		if !ok || end.Err != nil {
			continue
		}
		at := c.next
		if o, ok := commits.Lookup(topic, c.k.partition); ok && o.Err == nil && o.At >= 0 {
			at = max(at, o.At)
		}
		if at < 0 {
			if s, ok := starts.Lookup(topic, c.k.partition); ok && s.Err == nil {
				at = s.Offset
			}
		}
		if at < 0 {
			continue
		}
		if end.Offset <= at {
			// Caught up: nothing to wait for, which counts as progress,
			// so a frame that arrives later gets a whole StallAlarm.
			p.watch.mu.Lock()
			if pw := p.watch.m[c.k]; pw != nil && pw.progressAt.Equal(c.progressAt) {
				pw.progressAt = now
			}
			p.watch.mu.Unlock()
			continue
		}
		stalled++
		if now.Sub(c.alarmedAt) < p.o.StallAlarm {
			continue
		}
		p.watch.mu.Lock()
		if pw := p.watch.m[c.k]; pw != nil {
			pw.alarmedAt = now
		}
		p.watch.mu.Unlock()
		p.c.stallAlarms.Add(1)
		lastErr, errAge := "none", ""
		if c.fetchErr != nil {
			lastErr, errAge = c.fetchErr.Error(), now.Sub(c.fetchErrAt).Round(time.Millisecond).String()
		}
		p.log.Error("frames partition stalled: it lags but no frame of it was processed; check the broker's log for this partition",
			"topic", c.k.topic, "partition", c.k.partition, "offset", at, "end_offset", end.Offset, "lag", end.Offset-at,
			"stalled_for", now.Sub(c.progressAt).Round(time.Millisecond).String(),
			"last_fetch_error", lastErr, "last_fetch_error_age", errAge)
	}
	p.c.stalled.Store(int64(stalled))
}
