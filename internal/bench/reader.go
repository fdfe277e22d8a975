package bench

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/framecast/framecast/internal/bench/childproc"
	"github.com/framecast/framecast/internal/frame"
	"github.com/framecast/framecast/internal/kafka"
	"github.com/framecast/framecast/internal/quantile"
)

type camSeq struct {
	cam string
	seq int64
}

// phaseCounts are the records of one phase's cameras, by key prefix.
type phaseCounts struct {
	unique, ok, skipped, dlq, dups int
	first, last                    time.Time // receipt of the first and last unique record
	totalMS, queueMS               []float64 // ok results: decode+detect+classify, and queue (ms)
	inMS, procMS, outMS            []float64 // ok results: the latency's parts (see Realtime)
}

type rtRow struct {
	at    time.Time
	latMS float64
	ok    bool
}

// resultsReader reads the results and dead-letter topics (read_committed)
// for the whole run and keeps what the reports need.
type resultsReader struct {
	rd *kafka.DirectReader

	mu      sync.Mutex
	seen    map[camSeq]bool
	phases  map[string]*phaseCounts
	rtStart time.Time
	rows    []rtRow // real-time results in order of receipt
	cams    map[string]*camCounts
	bad     int
}

// camCounts are one camera's records: unique (camera, seq) results by
// status and dead letters, and the duplicates.
type camCounts struct{ ok, skipped, dlq, dups int }

func newResultsReader(b *childproc.Broker, log *slog.Logger) (*resultsReader, error) {
	opts, err := b.ClientOpts("framecast-bench-results", log)
	if err != nil {
		return nil, err
	}
	rd, err := kafka.NewDirectReader(opts, kafka.ReaderConfig{
		Topics:    []string{kafka.DefaultResultsTopic, kafka.DefaultDLQTopic},
		FromStart: true, ReadCommitted: true, Log: log.With("reader", "results"),
	})
	if err != nil {
		return nil, err
	}
	return &resultsReader{rd: rd, seen: map[camSeq]bool{}, cams: map[string]*camCounts{},
		phases: map[string]*phaseCounts{satPrefix: {}, rtPrefix: {}}}, nil
}

func (r *resultsReader) close() { r.rd.Close() }

func (r *resultsReader) run(ctx context.Context) {
	_ = r.rd.Run(ctx, func(fs kgo.Fetches) error {
		now := time.Now()
		r.mu.Lock()
		defer r.mu.Unlock()
		fs.EachRecord(func(rec *kgo.Record) { r.add(rec, now) })
		return nil
	})
}

// add accounts one record; r.mu is held.
func (r *resultsReader) add(rec *kgo.Record, now time.Time) {
	var cs camSeq
	var res frame.Result
	dlq := rec.Topic == kafka.DefaultDLQTopic
	if dlq {
		m, err := frame.DecodeMeta(rec)
		if err != nil {
			r.bad++
			return
		}
		cs = camSeq{m.Camera, m.Seq}
	} else {
		if err := json.Unmarshal(rec.Value, &res); err != nil {
			r.bad++
			return
		}
		cs = camSeq{res.Camera, res.Seq}
	}
	prefix := satPrefix
	if strings.HasPrefix(cs.cam, rtPrefix) {
		prefix = rtPrefix
	} else if !strings.HasPrefix(cs.cam, satPrefix) {
		r.bad++
		return
	}
	pc := r.phases[prefix]
	cc := r.cams[cs.cam]
	if cc == nil {
		cc = &camCounts{}
		r.cams[cs.cam] = cc
	}
	if r.seen[cs] {
		pc.dups++
		cc.dups++
		return
	}
	r.seen[cs] = true
	pc.unique++
	if pc.first.IsZero() {
		pc.first = now
	}
	pc.last = now
	switch {
	case dlq:
		pc.dlq++
		cc.dlq++
	case res.Status == frame.StatusOK:
		pc.ok++
		cc.ok++
		t := res.TimingsMS
		pc.totalMS = append(pc.totalMS, t.Decode+t.Detect+t.Classify)
		pc.queueMS = append(pc.queueMS, t.Queue)
		pc.inMS = append(pc.inMS, ms(res.ProcessedAt.Sub(res.CapturedAt))-t.Total)
		pc.procMS = append(pc.procMS, t.Total)
		pc.outMS = append(pc.outMS, ms(now.Sub(res.ProcessedAt)))
	default:
		pc.skipped++
		cc.skipped++
	}
	if prefix == rtPrefix && !dlq {
		r.rows = append(r.rows, rtRow{at: now, latMS: ms(now.Sub(res.CapturedAt)), ok: res.Status == frame.StatusOK})
	}
}

// counts returns a copy of a phase's counts.
func (r *resultsReader) counts(prefix string) phaseCounts {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := *r.phases[prefix]
	c.totalMS = append([]float64(nil), c.totalMS...)
	c.queueMS = append([]float64(nil), c.queueMS...)
	c.inMS = append([]float64(nil), c.inMS...)
	c.procMS = append([]float64(nil), c.procMS...)
	c.outMS = append([]float64(nil), c.outMS...)
	return c
}

// camera returns a copy of one camera's counts.
func (r *resultsReader) camera(id string) camCounts {
	r.mu.Lock()
	defer r.mu.Unlock()
	if c := r.cams[id]; c != nil {
		return *c
	}
	return camCounts{}
}

func (r *resultsReader) setRealtimeStart(t time.Time) {
	r.mu.Lock()
	r.rtStart = t
	r.mu.Unlock()
}

func (r *resultsReader) realtimeStart() time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.rtStart
}

// latencies returns the real-time latencies of ok results and of all
// results, in milliseconds.
func (r *resultsReader) latencies() (ok, all []float64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, x := range r.rows {
		all = append(all, x.latMS)
		if x.ok {
			ok = append(ok, x.latMS)
		}
	}
	return ok, all
}

// window summarizes the real-time results received in [from, to).
func (r *resultsReader) window(from, to time.Time) Window {
	r.mu.Lock()
	var lat []float64
	w := Window{}
	for _, x := range r.rows {
		if x.at.Before(from) || !x.at.Before(to) {
			continue
		}
		if x.ok {
			w.OK++
			lat = append(lat, x.latMS)
		} else {
			w.Skipped++
		}
	}
	r.mu.Unlock()
	if len(lat) > 0 {
		w.P50 = round1(quantile.Of(lat, 0.5))
		w.P99 = round1(quantile.Of(lat, 0.99))
		w.Max = round1(lat[len(lat)-1])
	}
	return w
}

// eachWindow calls fn with the real-time results received in each period
// of length every from start on, until ctx ends: the narration of a long
// phase.
func (r *resultsReader) eachWindow(ctx context.Context, start time.Time, every time.Duration, fn func(w Window)) {
	t := time.NewTicker(every)
	defer t.Stop()
	from := start
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			w := r.window(from, now)
			from = now
			fn(w)
		}
	}
}
