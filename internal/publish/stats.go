package publish

import (
	"context"
	"sort"
	"strings"
	"time"

	"github.com/framecast/framecast/internal/rungroup"
	"github.com/framecast/framecast/internal/source"
)

// RunWithStats is Run, logging a stats line every interval (0: never) and
// a last one when the publisher ends.
func (p *Publisher) RunWithStats(ctx context.Context, cams []Camera, interval time.Duration) error {
	start := time.Now()
	// The stats loop runs until the publisher ends.
	g, _ := rungroup.New(ctx)
	g.Go(func(ctx context.Context) error { return p.Run(ctx, cams) })
	g.Go(func(ctx context.Context) error {
		if interval <= 0 {
			<-ctx.Done()
			return nil
		}
		t := time.NewTicker(interval)
		defer t.Stop()
		prev, prevAt := p.Stats(), time.Now()
		for {
			select {
			case <-ctx.Done():
				return nil
			case now := <-t.C:
				s := p.Stats()
				secs := now.Sub(prevAt).Seconds()
				p.cfg.Log.Info("publish stats", append(append(statsAttrs(s), sourceAttrs(p.SourceStatus())...),
					"fps", round1(float64(s.Acked-prev.Acked)/secs),
					"mb_per_s", round1(float64(s.AckedBytes-prev.AckedBytes)/secs/1e6))...)
				prev, prevAt = s, now
			}
		}
	})
	err := g.Wait()
	s := p.Stats()
	secs := time.Since(start).Seconds()
	p.cfg.Log.Info("publish finished", append(append(statsAttrs(s), sourceAttrs(p.SourceStatus())...),
		"seconds", round1(secs), "fps", round1(float64(s.Acked)/secs))...)
	return err
}

func statsAttrs(s Stats) []any {
	return []any{
		"captured", s.Captured, "acked", s.Acked, "in_flight", s.InFlight(),
		"dropped_buffer_full", s.Dropped.BufferFull, "dropped_delivery_failed", s.Dropped.DeliveryFailed,
		"dropped_too_large", s.Dropped.TooLarge, "source_errors", s.Dropped.SourceError,
		"buffered_bytes", s.BufferedBytes,
	}
}

// sourceAttrs summarises the supervised sources for the stats lines.
func sourceAttrs(m map[string]source.Status) []any {
	if len(m) == 0 {
		return nil
	}
	var up, reconnects, stalls, dropped int64
	var down, ended []string
	for id, s := range m {
		switch {
		case s.Up:
			up++
		case s.Ended:
			ended = append(ended, id)
		default:
			down = append(down, id)
		}
		reconnects += s.Reconnects
		stalls += s.Stalls
		dropped += s.Dropped
	}
	sort.Strings(down)
	attrs := []any{"sources_up", up, "source_reconnects", reconnects, "source_stalls", stalls, "source_frames_replaced", dropped}
	if len(down) > 0 {
		attrs = append(attrs, "sources_down", strings.Join(down, ","))
	}
	if len(ended) > 0 {
		sort.Strings(ended)
		attrs = append(attrs, "sources_ended", strings.Join(ended, ","))
	}
	return attrs
}

func round1(x float64) float64 { return float64(int64(x*10+0.5)) / 10 }
