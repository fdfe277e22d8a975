package process

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/framecast/framecast/internal/analysis"
)

// The pipeline: fetched records become jobs, workers analyse them, and
// each partition's finished jobs are produced and retired in offset order.

type jobState uint8

const (
	jobQueued    jobState = iota
	jobRunning            // a worker is on it
	jobDone               // its record is ready
	jobDropped            // abandoned unprocessed: its partition was revoked
	jobProduced           // handed to the producer
	jobAcked              // delivered
	jobFailed             // the producer gave up on it
	jobDiscarded          // processed, but its partition stopped producing
)

// job is one frame record on its way through.
type job struct {
	rec     *kgo.Record
	size    int64 // the record's bytes, for MaxInFlightBytes
	fetched time.Time
	ps      *partState
	state   jobState // guarded by ps.mu
	out     *kgo.Record
	oc      outcome
}

// partState is one frames partition's in-flight frames, in offset order.
type partState struct {
	key      tp
	mu       sync.Mutex
	jobs     []*job // not yet retired, oldest first
	emitted  int    // jobs[:emitted] have passed the emitter
	emitting bool   // a goroutine is producing for this partition
	revoked  bool   // queued frames are dropped, not started
	stopped  bool   // nothing more is produced (a frame was dropped)
	closed   bool   // nothing more is marked for commit
	broken   bool   // a frame was not delivered: no marks past it
	// Per-camera analysis state (tracks, the last analysed frame), by
	// camera id. It lives and dies with the partState, which a revoke or
	// a loss removes: a partition's next owner, here or elsewhere, starts
	// afresh and never mixes another owner's state in. Only one goroutine
	// uses it at a time: the worker on the partition (serial) or else its
	// emitter.
	cams map[string]*analysis.Camera
	// seen is when each camera of cams last had a frame; pruned when the
	// idle ones were last dropped (cameraIdle).
	seen   map[string]time.Time
	pruned time.Time
	// With Processor.serial: a worker is analysing the partition's frames
	// (analysing) and owes the analysis of this many more (owed).
	analysing bool
	owed      int
}

// cameraIdle is how long a camera of a partition keeps its state without
// a frame: a partition whose cameras come and go (ids that change) must
// not keep every one's thumbnails and tracks. A camera back after longer
// starts afresh, as after a restart.
const cameraIdle = 10 * time.Minute

// camera is the state of a camera of the partition.
func (ps *partState) camera(tr analysis.Tracking, id string) *analysis.Camera {
	now := time.Now()
	if now.Sub(ps.pruned) >= cameraIdle/10 {
		ps.pruned = now
		for k, at := range ps.seen {
			if now.Sub(at) >= cameraIdle {
				delete(ps.cams, k)
				delete(ps.seen, k)
			}
		}
	}
	c := ps.cams[id]
	if c == nil {
		if ps.cams == nil {
			ps.cams, ps.seen = map[string]*analysis.Camera{}, map[string]time.Time{}
		}
		c = analysis.NewCamera(tr)
		ps.cams[id] = c
	}
	ps.seen[id] = now
	return c
}

// runWorker analyses frames until the queue closes. When the analysis of
// a camera's frame depends on its earlier frames (serial), a partition is
// analysed by one worker at a time, frame after frame in offset order:
// the worker that takes a frame of a partition another worker is on
// leaves it to that one, which takes the partition's frames in order as
// long as there are any. Any worker can still take any partition, so the
// load spreads over the partitions, but one camera no longer uses more
// than one worker. The alternative, routing each partition to a fixed
// worker by hash, idles workers whenever the hash is uneven.
func (p *Processor) runWorker(w *worker) {
	if !p.serial {
		for j := range p.work {
			p.runJob(w, j)
		}
		return
	}
	for j := range p.work {
		ps := j.ps
		ps.mu.Lock()
		ps.owed++
		if ps.analysing {
			ps.mu.Unlock()
			continue
		}
		ps.analysing = true
		for ps.owed > 0 {
			ps.owed--
			var next *job
			for _, q := range ps.jobs {
				if q.state == jobQueued {
					next = q
					break
				}
			}
			ps.mu.Unlock()
			if next != nil {
				w.camera = func(id string) *analysis.Camera { return ps.camera(p.o.Tracking, id) }
				p.runJob(w, next)
				w.camera = nil
			}
			ps.mu.Lock()
		}
		ps.analysing = false
		ps.mu.Unlock()
	}
}

// runJob analyses one frame, or drops it if its partition was revoked.
func (p *Processor) runJob(w *worker, j *job) {
	{
		ps := j.ps
		ps.mu.Lock()
		if ps.revoked || ps.stopped {
			j.state = jobDropped
			ps.mu.Unlock()
			p.c.dropped.Add(1)
			p.emit(ps)
			return
		}
		j.state = jobRunning
		ps.mu.Unlock()
		w.busySince.Store(time.Now().UnixNano())
		out, oc := p.handleSafely(w, j)
		w.busySince.Store(0)
		ps.mu.Lock()
		j.out, j.oc, j.state = out, oc, jobDone
		ps.mu.Unlock()
		p.emit(ps)
	}
}

// handleSafely turns a panic while analysing one frame (a bug that some
// input triggers) into a dead letter, so a poisonous frame cannot crash
// every worker that picks its partition up.
func (p *Processor) handleSafely(w *worker, j *job) (out *kgo.Record, oc outcome) {
	defer func() {
		if v := recover(); v != nil {
			p.log.Error("panic while analysing a frame; it goes to the DLQ", "topic", j.rec.Topic, "partition", j.rec.Partition, "offset", j.rec.Offset, "panic", v)
			out, oc = w.deadLetter(j.rec, ReasonAnalysis, fmt.Errorf("panic: %v", v))
		}
	}()
	return w.handle(j.rec, j.fetched)
}

// dispatch queues fetched records. The caller made room for them.
func (p *Processor) dispatch(recs []*kgo.Record, fetched time.Time) []*job {
	if len(recs) == 0 {
		return nil
	}
	jobs := make([]*job, 0, len(recs))
	var size int64
	sizes := make([]int64, len(recs))
	for i, r := range recs {
		sizes[i] = detach(r)
		size += sizes[i]
	}
	p.mu.Lock()
	for i, r := range recs {
		k := tp{r.Topic, r.Partition}
		ps := p.parts[k]
		if ps == nil {
			ps = &partState{key: k}
			p.parts[k] = ps
		}
		j := &job{rec: r, size: sizes[i], fetched: fetched, ps: ps}
		ps.mu.Lock()
		ps.jobs = append(ps.jobs, j)
		ps.mu.Unlock()
		jobs = append(jobs, j)
	}
	p.inflight += len(jobs)
	p.inBytes += size
	p.mu.Unlock()
	p.c.consumed.Add(uint64(len(jobs)))
	for _, j := range jobs {
		p.work <- j // buffered for MaxInFlight: never blocks
	}
	return jobs
}

// emit produces the partition's finished frames that follow the ones
// already produced, in offset order. One goroutine emits per partition at
// a time; the others leave their finished frames to it.
func (p *Processor) emit(ps *partState) {
	ps.mu.Lock()
	if ps.emitting {
		ps.mu.Unlock()
		return
	}
	ps.emitting = true
	for {
		var batch []*job
		for ps.emitted < len(ps.jobs) {
			j := ps.jobs[ps.emitted]
			if j.state == jobQueued || j.state == jobRunning {
				break
			}
			ps.emitted++
			switch {
			case j.state == jobDropped:
				// Producing later frames would put them ahead of this
				// one, which the partition's next owner will produce.
				ps.stopped = true
			case ps.stopped:
				j.state = jobDiscarded
				p.c.dropped.Add(1)
			default:
				j.state = jobProduced
				batch = append(batch, j)
			}
		}
		if len(batch) == 0 {
			break
		}
		ps.mu.Unlock()
		for _, j := range batch {
			if res := j.oc.res; res != nil {
				// In offset order, one emitter per partition: the
				// frames' track ids follow the camera's frames.
				ps.camera(p.o.Tracking, res.Camera).Assign(res)
				j.oc.res, j.oc.analysis = nil, res.Analysis
				j.out, j.oc = p.workers[0].encode(j.rec, res, res.ProcessedAt, j.oc)
			}
			p.produce(j)
		}
		ps.mu.Lock()
	}
	ps.emitting = false
	n, b := p.advanceLocked(ps)
	ps.mu.Unlock()
	p.retired(n, b)
}

// roundRobin orders records one per partition in turn, keeping each
// partition's order.
func roundRobin(recs []*kgo.Record) []*kgo.Record {
	if len(recs) < 2 {
		return recs
	}
	var order []tp
	by := map[tp][]*kgo.Record{}
	for _, r := range recs {
		k := tp{r.Topic, r.Partition}
		if _, ok := by[k]; !ok {
			order = append(order, k)
		}
		by[k] = append(by[k], r)
	}
	if len(order) == 1 {
		return recs
	}
	out := make([]*kgo.Record, 0, len(recs))
	for i := 0; len(out) < len(recs); i++ {
		for _, k := range order {
			if q := by[k]; i < len(q) {
				out = append(out, q[i])
			}
		}
	}
	return out
}

func sumBytes(recs []*kgo.Record) int64 {
	var n int64
	for _, r := range recs {
		n += recordBytes(r)
	}
	return n
}

// recordBytes counts a record as the client's BufferedFetchBytes does.
func recordBytes(r *kgo.Record) int64 {
	n := len(r.Key) + len(r.Value)
	for _, h := range r.Headers {
		n += len(h.Key) + len(h.Value)
	}
	return int64(n)
}

// detach copies the record's key, value and header values out of the
// fetch response they alias, so a frame in flight does not keep a whole
// response (up to FetchMaxBytes, or a producer batch of up to the topic's
// max.message.bytes) alive once the client has handed all of it out: what
// is held is then the client's current response plus the frames in
// flight, never a chain of old responses. A copy of a frame costs
// microseconds; analysing it, milliseconds. It returns the bytes copied.
func detach(r *kgo.Record) int64 {
	n := len(r.Key) + len(r.Value)
	for _, h := range r.Headers {
		n += len(h.Value)
	}
	buf := make([]byte, 0, n)
	clone := func(b []byte) []byte {
		if b == nil {
			return nil
		}
		start := len(buf)
		buf = append(buf, b...)
		return buf[start:len(buf):len(buf)]
	}
	r.Key, r.Value = clone(r.Key), clone(r.Value)
	for i := range r.Headers {
		r.Headers[i].Value = clone(r.Headers[i].Value)
	}
	return recordBytes(r)
}

func (p *Processor) produce(j *job) {
	p.cl.Produce(p.produceCtx, j.out, func(r *kgo.Record, err error) {
		now := time.Now()
		ps := j.ps
		ps.mu.Lock()
		if err != nil {
			j.state = jobFailed
		} else {
			j.state = jobAcked
		}
		n, b := p.advanceLocked(ps)
		ps.mu.Unlock()
		if err != nil {
			p.c.produceErrors.Add(1)
			p.fail(p.produceError(j, err))
		} else if p.o.Delivery == AtLeastOnce {
			p.c.delivered(j.oc, now)
		}
		p.retired(n, b)
	})
}

func (p *Processor) produceError(j *job, err error) error {
	hint := "; nothing past it is committed, so a restart processes it again"
	switch {
	case errors.Is(err, kerr.MessageTooLarge):
		hint = fmt.Sprintf("; raise max.message.bytes of topic %s", j.out.Topic) + hint
	case errors.Is(err, kerr.UnknownTopicOrPartition):
		hint = fmt.Sprintf("; create topic %s", j.out.Topic) + hint
	case errors.Is(err, context.Canceled):
		hint = " (shutdown)"
	}
	return fmt.Errorf("producing the record of frame %s/%d@%d to %s: %w%s", j.rec.Topic, j.rec.Partition, j.rec.Offset, j.out.Topic, err, hint)
}

// advanceLocked retires the finished frames at the head of the partition
// and, at least once, marks the last of an unbroken run of delivered ones
// for commit. It returns how many it retired and their bytes.
func (p *Processor) advanceLocked(ps *partState) (n int, size int64) {
	var mark *kgo.Record
loop:
	for n < ps.emitted {
		j := ps.jobs[n]
		switch j.state {
		case jobAcked:
			if !ps.broken {
				mark = j.rec
			}
		case jobFailed, jobDropped, jobDiscarded:
			ps.broken = true
		default:
			break loop
		}
		size += j.size
		n++
	}
	if n == 0 {
		return 0, 0
	}
	p.watch.progress(ps.key, ps.jobs[n-1].rec.Offset+1, time.Now())
	clear(ps.jobs[:n])
	ps.jobs = ps.jobs[n:]
	ps.emitted -= n
	if mark != nil && !ps.closed && p.o.Delivery == AtLeastOnce {
		// Under ps.mu, so a revoke that closed the partition cannot be
		// overtaken by a late mark.
		p.cl.MarkCommitRecords(mark)
	}
	return n, size
}

func (p *Processor) retired(n int, size int64) {
	if n == 0 {
		return
	}
	p.mu.Lock()
	p.inflight -= n
	p.inBytes -= size
	close(p.changed)
	p.changed = make(chan struct{})
	p.mu.Unlock()
}

// waitFor waits until cond (called with p.mu held) holds or ctx ends.
func (p *Processor) waitFor(ctx context.Context, cond func() bool) bool {
	for {
		p.mu.Lock()
		ok, ch := cond(), p.changed
		p.mu.Unlock()
		if ok {
			return true
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return false
		}
	}
}

func (p *Processor) idle() bool { return p.inflight == 0 }
