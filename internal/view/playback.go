package view

import (
	"time"
)

// Playback: the page shows each camera slightly behind live, every frame
// with the result that belongs to it. A result comes a processing latency
// after its frame (1–2 s on a slow machine); drawing the newest frame with
// the newest result would put boxes of a face that moved on, or none at
// all. So each camera's frames wait in a queue, oldest first, and leave it
// ("are played") in order when:
//
//   - their own result arrived (matched by camera and sequence number):
//     played with it;
//   - a result of a later frame of the camera arrived: a processor produces
//     a camera's results in sequence order, so this frame's result is not
//     coming (the frame went to the dead-letter topic): played without;
//   - they waited Config.MatchTimeout: played without (the give-up bound:
//     a lost result never holds the playback up for longer);
//   - the camera had no result for MatchTimeout (no processor, or its
//     results stall): nothing worth waiting for, played at once.
//
// The queue of a camera holds at most Config.MatchBytes of frames, and all
// queues together at most Config.MaxFrameBytes: beyond them the oldest
// frames leave unplayed (counted). Results wait for their frame in a map
// bounded to maxEarlyResults a camera (the results reader may be ahead of
// the frames reader).

// Defaults of the playback bounds (Config.MatchTimeout, Config.MatchBytes).
const (
	DefaultMatchTimeout = 5 * time.Second
	DefaultMatchBytes   = 16 << 20
)

// maxEarlyResults bounds the results a camera keeps to match frames with.
const maxEarlyResults = 128

// player is one camera's frames waiting for their results.
type player struct {
	queue   []*frameEntry          // oldest first
	bytes   int64                  // of the frames in queue
	results map[int64]*resultEntry // recent results by sequence number
	order   []int64                // their sequence numbers, oldest first
	maxRes  int64                  // the highest sequence number with a result (-1: none)
	played  *playedEntry           // the newest frame played
}

func newPlayer() player { return player{results: map[int64]*resultEntry{}, maxRes: -1} }

// playedEntry is a frame played: with its own result, or without (r nil)
// when that did not come; delay is how long it waited for it.
type playedEntry struct {
	f     *frameEntry
	r     *resultEntry
	delay time.Duration
	msg   []byte // the binary message's header (protocol.go); f.jpeg follows
}

// playCounters count what became of the frames queued for playback.
type playCounters struct {
	matched   int64 // played with their own result
	unmatched int64 // played without: a later frame's result came first, or the camera had none
	gaveUp    int64 // played without after waiting MatchTimeout
	dropped   int64 // left unplayed to stay within MatchBytes or MaxFrameBytes
	late      int64 // results that came after their frame was played or dropped
}

// queueLocked puts a new frame in its camera's playback queue, keeps the
// byte bounds and plays what can be played. s.mu is held.
func (s *store) queueLocked(c *camera, f *frameEntry, now time.Time) {
	p := &c.play
	p.queue = append(p.queue, f)
	n := int64(len(f.msg))
	p.bytes += n
	s.playBytes += n
	for p.bytes > s.matchBytes && len(p.queue) > 1 {
		s.dropHeadLocked(c)
	}
	for s.playBytes > s.frameBudget {
		var oldest *camera
		for _, o := range s.cams {
			if len(o.play.queue) > 0 && (oldest == nil || o.play.queue[0].received.Before(oldest.play.queue[0].received)) {
				oldest = o
			}
		}
		if oldest == nil {
			break
		}
		s.dropHeadLocked(oldest)
	}
	s.playLocked(c, now)
}

// dropHeadLocked takes a camera's oldest waiting frame out unplayed.
func (s *store) dropHeadLocked(c *camera) {
	p := &c.play
	f := p.queue[0]
	p.queue[0] = nil
	p.queue = p.queue[1:]
	p.bytes -= int64(len(f.msg))
	s.playBytes -= int64(len(f.msg))
	s.plays.dropped++
}

// matchLocked keeps a result for its frame and plays what can be played.
func (s *store) matchLocked(c *camera, e *resultEntry, now time.Time) {
	p := &c.play
	if p.played != nil && e.seq <= p.played.f.seq {
		s.plays.late++ // its frame was played already (the queue holds newer ones only)
		return
	}
	if _, dup := p.results[e.seq]; !dup {
		p.order = append(p.order, e.seq)
		if len(p.order) > maxEarlyResults {
			delete(p.results, p.order[0])
			p.order = p.order[1:]
		}
	}
	p.results[e.seq] = e
	p.maxRes = max(p.maxRes, e.seq)
	s.playLocked(c, now)
}

// playLocked plays the camera's frames whose wait is over, oldest first.
func (s *store) playLocked(c *camera, now time.Time) {
	p := &c.play
	// Nothing to wait for: no result for MatchTimeout (or none yet).
	noResults := c.lastRes.IsZero() || now.Sub(c.lastRes) > s.matchTimeout
	for len(p.queue) > 0 {
		f := p.queue[0]
		r := p.results[f.seq]
		switch {
		case r != nil:
			s.plays.matched++
		case p.maxRes > f.seq || noResults:
			s.plays.unmatched++
		case now.Sub(f.received) >= s.matchTimeout:
			s.plays.gaveUp++
		default:
			return
		}
		p.queue[0] = nil
		p.queue = p.queue[1:]
		p.bytes -= int64(len(f.msg))
		s.playBytes -= int64(len(f.msg))
		delay := now.Sub(f.received)
		p.played = &playedEntry{f: f, r: r, delay: delay, msg: encodePlayed(f, r, delay)}
		if s.onPlay != nil {
			s.onPlay(p.played)
		}
	}
}

// clearPlayLocked forgets a camera's playback state (its sequence started
// over, or the camera is forgotten).
func (s *store) clearPlayLocked(c *camera) {
	s.playBytes -= c.play.bytes
	c.play = newPlayer()
}

// latestPlayed returns every camera's newest frame played, for a client
// that switches to the matched mode.
func (s *store) latestPlayed() []*playedEntry {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*playedEntry
	for _, c := range s.cams {
		if c.play.played != nil {
			out = append(out, c.play.played)
		}
	}
	return out
}
