package bench

import (
	"context"
	"fmt"
	"time"

	"github.com/framecast/framecast/internal/publish"
	"github.com/framecast/framecast/internal/quantile"
	"github.com/framecast/framecast/internal/rungroup"
	"github.com/framecast/framecast/internal/source"
)

// ---- phase 3: real time ----

func (b *pipeline) realtime(ctx context.Context) error {
	cfg := &b.cfg
	r := &b.rep.Realtime
	proc, err := b.newProcessor(ctx, cfg.MaxAge)
	if err != nil {
		return err
	}
	rp := startProcessor(ctx, proc)
	defer rp.stop()
	// Publish only once the processor owns its partitions: the group
	// join is not part of the latency being measured.
	if _, err := b.waitResults(ctx, rp, 60*time.Second, 10*time.Second, func() (bool, []any) {
		s := proc.Stats()
		return s.Assigned >= cfg.Partitions, []any{"partitions", s.Assigned}
	}); err != nil {
		return err
	}

	pub, cams, err := b.publisher(ctx, "framecast-bench-publish")
	if err != nil {
		return err
	}
	defer pub.Close()
	b.log.Info("real time: publishing", "cameras", cfg.Cameras, "fps", cfg.FPS, "duration", cfg.Duration.String(), "max_age", cfg.maxAgeFlag().String())
	start := time.Now()
	b.reader.setRealtimeStart(start)
	pubErr := publishFor(ctx, pub, cams, cfg.Duration, func(ctx context.Context) { b.progress(ctx, pub, start) })
	r.Seconds = round3(time.Since(start).Seconds())
	ps := pub.Stats()
	r.Captured, r.Acked, r.Dropped = ps.Captured, ps.Acked, ps.Dropped
	if pubErr != nil {
		return fmt.Errorf("publisher: %w", pubErr)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	b.log.Info("real time: publishing done; waiting for the last results", "published", ps.Acked, "dropped", ps.Dropped.Total())
	done, err := b.waitResults(ctx, rp, max(60*time.Second, 3*cfg.maxAgeFlag()+30*time.Second), 10*time.Second, func() (bool, []any) {
		c := b.reader.counts(rtPrefix)
		return int64(c.unique) >= ps.Acked, []any{"results", c.unique, "of", ps.Acked}
	})
	if err != nil {
		return err
	}
	if err := rp.stop(); err != nil {
		return fmt.Errorf("real-time processor: %w", err)
	}
	st := proc.Stats()
	r.Processor = map[string]any{
		"consumed": st.Consumed, "ok": st.OK, "skipped": st.Skipped, "dlq": st.DLQ, "dropped": st.Dropped,
		"produce_errors": st.ProduceErrors, "commits": st.Commits, "commit_errors": st.CommitErrors,
	}
	c := b.reader.counts(rtPrefix)
	r.Results, r.OK, r.Skipped, r.DLQ, r.Duplicates = c.unique, c.ok, c.skipped, c.dlq, c.dups
	r.Missing = ps.Acked - int64(c.unique)
	r.Complete = done && r.Missing == 0
	r.FrameMSP50 = round2(quantile.Of(c.totalMS, 0.5))
	r.QueueMSP50 = round2(quantile.Of(c.queueMS, 0.5))
	r.QueueMSP99 = round2(quantile.Of(c.queueMS, 0.99))
	r.InLatency, r.ProcLatency, r.OutLatency = latencyStats(c.inMS), latencyStats(c.procMS), latencyStats(c.outMS)
	return nil
}

// publisher makes a publisher on the broker and the real-time cameras,
// which read the rendered files at the configured rate.
func (b *pipeline) publisher(ctx context.Context, clientID string) (*publish.Publisher, []publish.Camera, error) {
	log := quietLog(b.log, "publisher")
	opts, err := b.broker.ClientOpts(clientID, log)
	if err != nil {
		return nil, nil, err
	}
	cams := make([]publish.Camera, 0, b.cfg.Cameras)
	for i := range b.cfg.Cameras {
		src, err := source.Open(b.cameraDir(i), source.Config{})
		if err != nil {
			for _, c := range cams {
				c.Source.Close()
			}
			return nil, nil, err
		}
		cams = append(cams, publish.Camera{ID: cameraID(rtPrefix, i), Source: src, FPS: b.cfg.FPS})
	}
	pub, err := publish.New(ctx, publish.Config{Log: log}, opts...)
	if err != nil {
		for _, c := range cams {
			c.Source.Close()
		}
		return nil, nil, err
	}
	return pub, cams, nil
}

// publishFor runs the cameras for d, with narrate beside them until the
// publisher ends, and returns the publisher's error.
func publishFor(ctx context.Context, pub *publish.Publisher, cams []publish.Camera, d time.Duration, narrate func(ctx context.Context)) error {
	ctx, stop := context.WithTimeout(ctx, d)
	defer stop()
	g, _ := rungroup.New(ctx)
	g.Go(func(ctx context.Context) error { return pub.Run(ctx, cams) })
	g.Go(func(ctx context.Context) error { narrate(ctx); return nil })
	return g.Wait()
}

// progress narrates the real-time phase.
func (b *pipeline) progress(ctx context.Context, pub *publish.Publisher, start time.Time) {
	every := min(30*time.Second, max(2*time.Second, b.cfg.Duration/20))
	b.reader.eachWindow(ctx, start, every, func(w Window) {
		ps := pub.Stats()
		rss := b.mem.Latest().RSS
		b.log.Info("real time",
			"elapsed", time.Since(start).Round(time.Second).String(),
			"published", ps.Acked, "dropped", ps.Dropped.Total(),
			"results", b.reader.counts(rtPrefix).unique,
			"ok", w.OK, "skipped", w.Skipped, "p50_ms", w.P50, "p99_ms", w.P99,
			"broker_rss_mb", mb(rss[0]), "bench_rss_mb", mb(rss[1]))
	})
}
