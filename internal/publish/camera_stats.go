package publish

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"
)

// CameraStats are one camera's counters.
type CameraStats struct {
	// Published counts the camera's frames Kafka acknowledged.
	Published int64
	// Dropped counts its frames lost, by reason.
	Dropped Drops
	// Up is true while the camera delivers: its source's Status.Up for
	// sources that report their connection, otherwise until the camera
	// stopped (count reached, end of input, a final error).
	Up bool
	// Reconnects counts its source's connections after the first (0 for
	// sources without a connection).
	Reconnects int64
}

// camCounters are one camera's share of the counters.
type camCounters struct {
	counters
	ended atomic.Bool
	// reading is when a paced camera's Source.Next began (unix ns), 0
	// while it is not in one: Live's view of the camera's loop.
	reading atomic.Int64
}

// noCamera absorbs the counts of a record whose key is no camera of Run's
// (none are produced; it keeps cam total).
var noCamera camCounters

func (p *Publisher) cam(key []byte) *camCounters {
	if c := p.byCam[string(key)]; c != nil {
		return c
	}
	return &noCamera
}

func (c *counters) drops() Drops {
	return Drops{
		BufferFull: c.bufferFull.Load(), DeliveryFailed: c.deliveryFailed.Load(),
		TooLarge: c.tooLarge.Load(), SourceError: c.sourceError.Load(),
	}
}

// CameraStats returns a snapshot of every camera's counters, by camera
// id; empty before Run.
func (p *Publisher) CameraStats() map[string]CameraStats {
	status := p.SourceStatus()
	p.camsMu.Lock()
	defer p.camsMu.Unlock()
	m := make(map[string]CameraStats, len(p.byCam))
	for id, c := range p.byCam {
		cs := CameraStats{Published: c.acked.Load(), Dropped: c.drops(), Up: !c.ended.Load()}
		if st, ok := status[id]; ok {
			cs.Up, cs.Reconnects = st.Up, st.Reconnects
		}
		m[id] = cs
	}
	return m
}

// MaxRead is how long a paced camera (one the publisher's ticker drives:
// synthetic, files, snapshots) may wait in one read before Live reports
// its loop stuck. Those sources answer in well under a second or fail
// (a snapshot's HTTP request has its own timeout); a self-paced source
// (a live stream, a video) waits for its camera and supervises its own
// reconnects, so it is not judged by this.
const MaxRead = time.Minute

// Live says why the publisher is not alive, nil when its camera loops
// turn: no paced camera has been in one read for MaxRead or more. A down
// broker is not a liveness failure (restarting would not bring it back);
// Ready reports it.
func (p *Publisher) Live(context.Context) error {
	now := time.Now().UnixNano()
	p.camsMu.Lock()
	defer p.camsMu.Unlock()
	for id, c := range p.byCam {
		if at := c.reading.Load(); at != 0 && time.Duration(now-at) >= MaxRead {
			return fmt.Errorf("camera %s has been in one read for %v", id, time.Duration(now-at).Round(time.Second))
		}
	}
	return nil
}

// Ready says why the publisher cannot do its job now, nil when it can: the
// brokers answer and at least one camera is up.
func (p *Publisher) Ready(ctx context.Context) error {
	if err := p.client.Ping(ctx); err != nil {
		return fmt.Errorf("the brokers do not answer: %w", err)
	}
	cams := p.CameraStats()
	if len(cams) == 0 {
		return errors.New("no camera started yet")
	}
	for _, c := range cams {
		if c.Up {
			return nil
		}
	}
	return fmt.Errorf("none of the %d cameras is up", len(cams))
}
