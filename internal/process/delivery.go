package process

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// The two delivery modes' consume loops and group callbacks: at least
// once (results, then commits) and exactly once (a transaction per batch).

// ---- at least once ----

func (p *Processor) runALO(ctx context.Context) error {
	// A poll takes the client's whole buffered response, and its frames
	// go to the workers round robin across partitions. Taken in the
	// order the client holds them (partition by partition), the same
	// partitions came last in every response under overload, their
	// frames went stale and they fell minutes behind, until retention
	// took frames no worker had seen (the soak's starved camera).
	// Rebalances wait until the response is dispatched, so no frame of
	// a revoked partition is left in pending.
	var (
		pending []*kgo.Record
		fetched time.Time
		closed  bool
	)
	for {
		var free int
		room := func() bool {
			free = p.o.MaxInFlight - p.inflight
			return free > 0 && p.inBytes < p.o.MaxInFlightBytes
		}
		if !p.waitFor(ctx, room) {
			break
		}
		if len(pending) == 0 {
			fs := p.cl.PollRecords(ctx, -1)
			fetched = time.Now()
			p.pollErrors(fs)
			pending = roundRobin(fs.Records())
			closed = fs.IsClientClosed()
		}
		n := min(free, len(pending))
		p.dispatch(pending[:n], fetched)
		pending = pending[n:]
		p.pendingBytes.Store(sumBytes(pending))
		p.notePeak()
		if len(pending) == 0 {
			p.cl.AllowRebalance()
		}
		if closed || ctx.Err() != nil {
			break
		}
	}
	// Frames still pending were never dispatched: uncommitted, they go
	// to whoever reads the partition next.
	p.pendingBytes.Store(0)
	// Drain: everything fetched is processed and delivered, then the
	// marks are committed and the group left (whose revoke commits too).
	if !p.waitFor(p.produceCtx, p.idle) {
		p.log.Warn("frames still in flight at shutdown are left uncommitted", "in_flight", p.Stats().InFlight)
	}
	cctx, cancel := context.WithTimeout(p.produceCtx, 10*time.Second)
	p.commit(cctx, "shutdown")
	cancel()
	p.cl.CloseAllowingRebalance()
	return nil
}

func (p *Processor) commit(ctx context.Context, why string) {
	if len(p.cl.MarkedOffsets()) == 0 {
		return
	}
	if err := p.cl.CommitMarkedOffsets(ctx); err != nil {
		p.c.commitErrors.Add(1)
		p.log.Warn("offset commit failed; the frames after the last commit will be processed again", "when", why, "err", err)
		return
	}
	p.c.commits.Add(1)
}

func (p *Processor) onAutoCommit(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
	if err == nil {
		for _, t := range resp.Topics {
			for _, pt := range t.Partitions {
				if e := kerr.ErrorForCode(pt.ErrorCode); e != nil && err == nil {
					err = fmt.Errorf("%s/%d: %w", t.Topic, pt.Partition, e)
				}
			}
		}
	}
	if err != nil {
		p.c.commitErrors.Add(1)
		if !errors.Is(err, context.Canceled) {
			p.log.Warn("offset commit failed; it is retried with the next one", "err", err)
		}
		return
	}
	p.c.commits.Add(1)
}

func (p *Processor) onAssigned(_ context.Context, _ *kgo.Client, assigned map[string][]int32) {
	p.mu.Lock()
	for t, ps := range assigned {
		for _, part := range ps {
			p.assigned[tp{t, part}] = true
		}
	}
	n := len(p.assigned)
	p.mu.Unlock()
	p.watch.assign(assigned, time.Now())
	p.c.assigned.Store(int64(n))
	p.log.Info("partitions assigned", "partitions", fmtParts(assigned), "owned", n)
}

// forget drops revoked or lost partitions from the assignment count.
func (p *Processor) forget(parts map[string][]int32) {
	p.mu.Lock()
	for t, ps := range parts {
		for _, part := range ps {
			delete(p.assigned, tp{t, part})
		}
	}
	n := len(p.assigned)
	p.mu.Unlock()
	p.watch.forget(parts)
	p.c.assigned.Store(int64(n))
}

// onRevoked runs when the group takes partitions away (rebalance or
// leaving): frames of them not started are dropped, the ones being
// analysed finish and are delivered, and the delivered prefix is
// committed before the partitions move, so their next owner starts right
// after the last result produced here, in order.
func (p *Processor) onRevoked(ctx context.Context, cl *kgo.Client, revoked map[string][]int32) {
	if len(revoked) == 0 {
		return
	}
	var list []*partState
	p.mu.Lock()
	for t, parts := range revoked {
		for _, part := range parts {
			if ps := p.parts[tp{t, part}]; ps != nil {
				ps.mu.Lock()
				ps.revoked = true
				ps.mu.Unlock()
				list = append(list, ps)
			}
		}
	}
	p.mu.Unlock()
	wctx, cancel := context.WithTimeout(p.produceCtx, 10*time.Second)
	done := p.waitFor(wctx, func() bool {
		for _, ps := range list {
			ps.mu.Lock()
			n := len(ps.jobs)
			ps.mu.Unlock()
			if n > 0 {
				return false
			}
		}
		return true
	})
	cancel()
	for _, ps := range list {
		ps.mu.Lock()
		ps.stopped, ps.closed = true, true
		ps.mu.Unlock()
	}
	if !done {
		p.log.Warn("revoked partitions still had frames in flight; they are left to the next owner")
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	p.commit(cctx, "revoke")
	cancel()
	p.mu.Lock()
	for _, ps := range list {
		if p.parts[ps.key] == ps {
			delete(p.parts, ps.key)
		}
	}
	p.mu.Unlock()
	p.forget(revoked)
	p.log.Info("partitions revoked", "partitions", fmtParts(revoked), "owned", p.c.assigned.Load())
}

// onLost runs when the membership was lost (session expired): another
// member may own the partitions already, so nothing more of them is
// produced or committed.
func (p *Processor) onLost(_ context.Context, _ *kgo.Client, lost map[string][]int32) {
	p.mu.Lock()
	for t, parts := range lost {
		for _, part := range parts {
			if ps := p.parts[tp{t, part}]; ps != nil {
				ps.mu.Lock()
				ps.revoked, ps.stopped, ps.closed = true, true, true
				ps.mu.Unlock()
				delete(p.parts, ps.key)
			}
		}
	}
	p.mu.Unlock()
	p.forget(lost)
	if len(lost) > 0 {
		p.log.Warn("partitions lost (group session expired); their uncommitted frames go to the next owner", "partitions", fmtParts(lost))
	}
}

// ---- exactly once ----

func (p *Processor) runEOS(ctx context.Context) error {
	defer p.sess.Close()
	for ctx.Err() == nil {
		fs := p.sess.PollRecords(ctx, p.o.MaxInFlight)
		fetched := time.Now()
		if fs.IsClientClosed() {
			break
		}
		p.pollErrors(fs)
		recs := fs.Records()
		if len(recs) == 0 {
			continue
		}
		if err := p.sess.Begin(); err != nil {
			return fmt.Errorf("beginning a transaction: %w", err)
		}
		jobs := p.dispatch(recs, fetched)
		p.notePeak()
		// The batch finishes even when ctx is canceled: that is the drain.
		delivered := p.waitFor(p.produceCtx, p.idle)
		commit := delivered && p.failure() == nil
		committed, err := p.sess.End(p.produceCtx, kgo.TransactionEndTry(commit))
		if err != nil {
			return p.txnError(err)
		}
		if !committed {
			// The aborted frames come again: the cameras' state (tracks,
			// the last analysed frame) must not have seen them. The
			// workers are idle, so the partStates can go.
			p.mu.Lock()
			clear(p.parts)
			p.mu.Unlock()
			p.c.aborted.Add(1)
			if commit {
				p.log.Info("transaction aborted (the group rebalanced during it); its frames are processed again", "frames", len(jobs))
			}
			continue
		}
		p.c.commits.Add(1)
		now := time.Now()
		for _, j := range jobs {
			p.c.delivered(j.oc, now)
		}
	}
	return nil
}

func (p *Processor) txnError(err error) error {
	if errors.Is(err, kerr.ProducerFenced) || errors.Is(err, kerr.InvalidProducerEpoch) {
		return fmt.Errorf("ending the transaction: %w; transactional id %q was taken over by another worker (same --instance-id?) or the transaction outlived --txn-timeout %v; give every worker its own --instance-id", err, p.o.Group+"/"+p.o.InstanceID, p.o.TxnTimeout)
	}
	return fmt.Errorf("ending the transaction: %w", err)
}

func (p *Processor) onRevokedEOS(_ context.Context, _ *kgo.Client, revoked map[string][]int32) {
	// The cameras' state goes with the partitions. A revoke may come
	// while a batch is analysed: its frames keep the partState they were
	// dispatched with (and the transaction is aborted), and the next
	// batch, dispatched only once this one is done, gets a fresh one.
	p.mu.Lock()
	for t, parts := range revoked {
		for _, part := range parts {
			delete(p.parts, tp{t, part})
		}
	}
	p.mu.Unlock()
	p.forget(revoked)
	if len(revoked) > 0 {
		// A transaction still open now is aborted by End; its frames go
		// to the partitions' next owner.
		p.log.Info("partitions revoked", "partitions", fmtParts(revoked), "owned", p.c.assigned.Load())
	}
}
