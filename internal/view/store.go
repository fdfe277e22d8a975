package view

import (
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/framecast/framecast/internal/frame"
	"github.com/framecast/framecast/internal/quantile"
)

// frameEntry is one frame the dashboard holds. msg is the WebSocket
// message (protocol.go) and jpeg a sub-slice of it, so a frame is stored
// once whatever the number of viewers.
type frameEntry struct {
	camera   string
	seq      int64
	n        int64 // this camera's frame count when it arrived (1, 2, …)
	captured time.Time
	received time.Time
	w, h     int
	msg      []byte
	jpeg     []byte
}

// resultEntry is one result: parsed, and encoded for the browser.
type resultEntry struct {
	seq      int64
	captured time.Time
	res      *frame.Result
	msg      []byte
}

// bucket is one second of one camera, for rates, percentiles and charts.
type bucket struct {
	sec                   int64
	frames, results, face int
	emo                   [7]int
	lat, vlat             []float64 // latency_ms of ok results; capture → received here
}

// maxLatencySamples bounds a bucket's latency samples: a camera sends
// fewer results a second (beyond it, the first ones of the second count).
// maxReusedSamples bounds the capacity a bucket keeps when it is reused for
// a new second, so that one busy second does not pin its slices for as long
// as the camera lives.
//
// Bound: a camera's buckets hold at most History seconds × 2 slices ×
// maxLatencySamples float64s (300 × 2 × 64 × 8 B = 300 KB at the default
// History, only while it sends 64 results a second or more; 150 KB at up to
// maxReusedSamples a second).
const (
	maxLatencySamples = 64
	maxReusedSamples  = 32
)

// ringMaxAge is how long a frame stays in its camera's ring to be joined
// with its result: results come within a few hundred milliseconds, and
// processors skip frames older than their --max-age (2 s by default).
const ringMaxAge = 3 * time.Second

// camera is the dashboard's state of one camera.
type camera struct {
	id      string
	ring    []*frameEntry // indexed by seq mod len: the recent frames, for joins
	latest  *frameEntry
	lastSeq int64
	frames  int64
	results int64
	gaps    int64
	skipped int64
	last    *resultEntry // newest result
	ownSeq  bool         // the newest frame carried its own sequence header (else seq is its offset)
	first   time.Time
	seen    time.Time // the newest frame or result
	lastRes time.Time // when the newest result arrived (zero: none yet)
	// The partitions the camera's frames and results come from (-1: none
	// yet), to show it stalled when one stalls.
	framePart, resultPart int32
	play                  player // frames waiting for their results (playback.go)
	buckets               []bucket
	watchers              map[chan struct{}]struct{} // MJPEG streams, woken on every frame and result
}

// store holds every camera, guarded by one mutex: the work under it is a
// few map and slice operations per record.
//
// # Memory bounds
//
// Whatever the producers send (a producer inventing camera ids, huge
// frames, results of cameras that never send frames), the store holds at
// most:
//
//   - maxCameras cameras. Only frames create a camera; results of an
//     unknown camera are dropped and counted (orphans). A camera without a
//     frame or result for longer than the history is forgotten, and a new
//     camera at the cap evicts the least recently seen one: the cap is
//     never a lockout.
//   - frameBudget bytes of frames in the rings, all cameras together:
//     beyond it, the oldest frames leave the rings first, whichever camera
//     they belong to (down to 3/4 of the budget, so that this happens
//     rarely). Frames older than ringMaxAge leave the rings too, at the
//     next statistics tick (Config.StatsInterval, 1 s by default).
//   - besides the rings, each camera's newest frame and the newest frame
//     joined with its result (two frames per camera).
//   - each camera's buckets (see maxLatencySamples).
type store struct {
	ringSize    int
	history     int // seconds of buckets kept
	window      time.Duration
	maxCameras  int
	frameBudget int64

	// onEvict is called (with mu held) for a camera the store forgets.
	onEvict func(id string)
	// onPlay is called (with mu held) for every frame played.
	onPlay func(*playedEntry)

	// Playback bounds (playback.go): the wait for a result, and the
	// bytes a camera's queue holds (all queues: frameBudget).
	matchTimeout time.Duration
	matchBytes   int64

	mu      sync.Mutex
	cams    map[string]*camera
	started time.Time
	evicted int64 // cameras forgotten: idle, or least recently seen at the cap
	orphans int64 // results of cameras without frames, dropped
	trimmed int64 // frames taken out of the rings early for frameBudget

	// ringBytes is the size of the frames in every camera's ring: every
	// change of a ring slot goes through setSlot, which keeps it.
	ringBytes int64
	// playBytes is the size of the frames in every playback queue.
	playBytes int64
	plays     playCounters
}

func newStore(ringSize int, history, window time.Duration, maxCameras int, frameBudget int64) *store {
	return &store{
		ringSize: ringSize, history: int(history / time.Second), window: window, maxCameras: maxCameras,
		frameBudget: frameBudget, cams: map[string]*camera{}, started: time.Now(),
		matchTimeout: DefaultMatchTimeout, matchBytes: DefaultMatchBytes,
	}
}

// ringIndex is a sequence number's slot in a ring of n (the sequence is
// never negative: onFrame and onResult refuse those; uint64 keeps a bug
// from indexing out of range all the same).
func ringIndex(seq int64, n int) int { return int(uint64(seq) % uint64(n)) }

// cameraLocked returns the camera, creating it when there is none; at
// maxCameras the least recently seen camera makes room. s.mu is held.
func (s *store) cameraLocked(id string, now time.Time) *camera {
	if c, ok := s.cams[id]; ok {
		return c
	}
	if len(s.cams) >= s.maxCameras {
		var lru *camera
		for _, c := range s.cams {
			if lru == nil || c.seen.Before(lru.seen) {
				lru = c
			}
		}
		s.evictLocked(lru)
	}
	c := &camera{
		id: id, ring: make([]*frameEntry, s.ringSize), lastSeq: -1, first: now, seen: now,
		buckets: make([]bucket, s.history), watchers: map[chan struct{}]struct{}{},
		framePart: -1, resultPart: -1, play: newPlayer(),
	}
	s.cams[id] = c
	return c
}

// evictLocked forgets a camera: its frames leave with it, its MJPEG
// streams are woken to notice that it is gone.
func (s *store) evictLocked(c *camera) {
	delete(s.cams, c.id)
	s.evicted++
	s.clearRingLocked(c)
	s.clearPlayLocked(c)
	c.wake()
	if s.onEvict != nil {
		s.onEvict(c.id)
	}
}

// setSlot puts f (or nil) in a ring slot, keeping ringBytes.
func (s *store) setSlot(c *camera, i int, f *frameEntry) {
	if old := c.ring[i]; old != nil {
		s.ringBytes -= int64(len(old.msg))
	}
	c.ring[i] = f
	if f != nil {
		s.ringBytes += int64(len(f.msg))
	}
}

func (s *store) clearRingLocked(c *camera) {
	for i := range c.ring {
		s.setSlot(c, i, nil)
	}
}

// trimBudgetLocked takes the oldest frames, whichever their camera, out
// of the rings until they hold at most 3/4 of frameBudget. It sorts every
// frame held, but runs at most once per quarter budget of frames received.
func (s *store) trimBudgetLocked() {
	type slot struct {
		c *camera
		i int
		f *frameEntry
	}
	var all []slot
	for _, c := range s.cams {
		for i, f := range c.ring {
			if f != nil {
				all = append(all, slot{c, i, f})
			}
		}
	}
	slices.SortFunc(all, func(a, b slot) int { return a.f.received.Compare(b.f.received) })
	for _, sl := range all {
		if s.ringBytes <= s.frameBudget/4*3 {
			break
		}
		s.setSlot(sl.c, sl.i, nil)
		s.trimmed++
	}
}

// pruneLocked forgets the cameras idle for longer than the history and
// takes the frames older than ringMaxAge out of the rings; the statistics
// call it every second or so.
func (s *store) pruneLocked(now time.Time) {
	idle := time.Duration(s.history) * time.Second
	for _, c := range s.cams {
		if now.Sub(c.seen) > idle {
			s.evictLocked(c)
			continue
		}
		for i, f := range c.ring {
			if f != nil && now.Sub(f.received) >= ringMaxAge {
				s.setSlot(c, i, nil)
			}
		}
		s.playLocked(c, now) // frames whose wait for a result ended
	}
}

func (c *camera) bucket(now time.Time) *bucket {
	sec := now.Unix()
	b := &c.buckets[int(sec%int64(len(c.buckets)))]
	if b.sec != sec {
		lat, vlat := b.lat[:0], b.vlat[:0]
		if cap(lat) > maxReusedSamples {
			lat = nil
		}
		if cap(vlat) > maxReusedSamples {
			vlat = nil
		}
		*b = bucket{sec: sec, lat: lat, vlat: vlat}
	}
	return b
}

func (c *camera) wake() {
	for w := range c.watchers {
		select {
		case w <- struct{}{}:
		default:
		}
	}
}

// addFrame stores a frame of a camera whose sequence header is its own
// (tests); onFrame uses addFrameFrom.
func (s *store) addFrame(m frame.Meta, jpeg []byte, now time.Time) *frameEntry {
	return s.addFrameFrom(m, origin{part: -1, ownSeq: true}, jpeg, now)
}

// origin is where a record came from.
type origin struct {
	part   int32 // its partition (-1: unknown)
	ownSeq bool  // a frame with its own sequence header, not the offset in its place
}

// addFrameFrom stores a frame. It returns nil for a duplicate (the same
// sequence number again) and for a negative sequence number (onFrame
// refuses those first).
//
// Gaps in the sequence count as frames dropped upstream only between two
// frames with their own sequence header: a camera without headers has the
// partition offset as its sequence, and cameras sharing a partition would
// otherwise count each other's frames as their drops.
func (s *store) addFrameFrom(m frame.Meta, o origin, jpeg []byte, now time.Time) *frameEntry {
	if m.Seq < 0 {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.cameraLocked(m.Camera, now)
	c.seen = now
	if o.part >= 0 {
		c.framePart = o.part
	}
	switch {
	case c.lastSeq < 0 || m.Seq == c.lastSeq+1:
	case m.Seq > c.lastSeq:
		if o.ownSeq && c.ownSeq {
			c.gaps += m.Seq - c.lastSeq - 1
		}
	case m.Seq == c.lastSeq:
		return nil
	default:
		// The sequence went back: the publisher restarted. The frames
		// held belong to the old sequence.
		s.clearRingLocked(c)
		s.clearPlayLocked(c)
	}
	c.lastSeq, c.ownSeq = m.Seq, o.ownSeq
	c.frames++
	f := &frameEntry{
		camera: m.Camera, seq: m.Seq, n: c.frames, captured: m.CapturedAt, received: now, w: m.Width, h: m.Height,
		msg: encodeFrame(m.Camera, m.Seq, m.CapturedAt, m.Width, m.Height, jpeg),
	}
	f.jpeg = f.msg[frameHeaderLen(len(m.Camera)):]
	s.setSlot(c, ringIndex(m.Seq, len(c.ring)), f)
	if s.ringBytes > s.frameBudget {
		s.trimBudgetLocked()
	}
	c.latest = f
	c.bucket(now).frames++
	s.queueLocked(c, f, now)
	c.wake()
	return f
}

// addResult stores a result and joins it with its frame when the frame is
// still in the ring. A result of a camera without frames (none yet, or
// forgotten) is dropped, counted in orphans: results never create
// cameras. It returns nil then.
func (s *store) addResult(r *frame.Result, now time.Time) *resultEntry {
	return s.addResultFrom(r, -1, now)
}

// addResultFrom is addResult for a result read from a partition.
func (s *store) addResultFrom(r *frame.Result, part int32, now time.Time) *resultEntry {
	if r.Seq < 0 {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.cams[r.Camera]
	if !ok {
		s.orphans++
		return nil
	}
	c.seen, c.lastRes = now, now
	if part >= 0 {
		c.resultPart = part
	}
	e := &resultEntry{seq: r.Seq, captured: r.CapturedAt, res: r, msg: encodeResult(r)}
	c.last = e
	c.results++
	b := c.bucket(now)
	b.results++
	if r.Status == frame.StatusOK {
		if len(b.lat) < maxLatencySamples {
			b.lat = append(b.lat, r.LatencyMS)
			b.vlat = append(b.vlat, float64(now.Sub(r.CapturedAt))/1e6)
		}
		b.face += len(r.Faces)
		for _, f := range r.Faces {
			if i := emotionIndex(f.Emotion); i >= 0 {
				b.emo[i]++
			}
		}
	} else {
		c.skipped++
	}
	s.matchLocked(c, e, now)
	c.wake()
	return e
}

func emotionIndex(e string) int {
	for i, l := range frame.Labels {
		if l == e {
			return i
		}
	}
	return -1
}

// storeCounters are the store's counters and sizes, for Stats.
type storeCounters struct {
	cameras                   int
	evicted, orphans, trimmed int64
	frameBytes, playBytes     int64
	plays                     playCounters
}

func (s *store) counters() storeCounters {
	s.mu.Lock()
	defer s.mu.Unlock()
	return storeCounters{cameras: len(s.cams), evicted: s.evicted, orphans: s.orphans, trimmed: s.trimmed,
		frameBytes: s.ringBytes, playBytes: s.playBytes, plays: s.plays}
}

// cameraIDs lists the cameras, sorted.
func (s *store) cameraIDs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	ids := make([]string, 0, len(s.cams))
	for id := range s.cams {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// latest returns the newest frame and newest result of every camera, for
// a new connection.
func (s *store) latest() ([]*frameEntry, []*resultEntry) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var fs []*frameEntry
	var rs []*resultEntry
	for _, c := range s.cams {
		if c.latest != nil {
			fs = append(fs, c.latest)
		}
		if c.last != nil {
			rs = append(rs, c.last)
		}
	}
	return fs, rs
}

// overlayMaxAge is how much older than its frame a result may be and still
// be drawn over it in the page's live mode (hello's overlay_max_age_ms).
const overlayMaxAge = time.Second

// pick chooses what a stream of the camera shows next. Raw: the newest
// frame. Annotated: the newest frame played (playback.go), with its own
// result, or none when that never came; the newest frame without boxes
// before any was played.
func (s *store) pick(id string, annotated bool) (f *frameEntry, r *resultEntry, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.cams[id]
	if !ok {
		return nil, nil, false
	}
	if p := c.play.played; annotated && p != nil {
		return p.f, p.r, true
	}
	return c.latest, nil, true
}

// watch registers a channel woken on every frame and result of a camera;
// known is false for a camera the dashboard has not seen.
func (s *store) watch(id string, ch chan struct{}) (known bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.cams[id]
	if ok {
		c.watchers[ch] = struct{}{}
	}
	return ok
}

func (s *store) unwatch(id string, ch chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.cams[id]; ok {
		delete(c.watchers, ch)
	}
}

// Rates and percentiles cover the last few complete seconds.
const (
	rateSeconds    = 3
	latencySeconds = 5
)

// snapshot computes every camera's statistics, the overall ones and the
// chart point of the last complete second.
func (s *store) snapshot(now time.Time) statsMessage { return s.snapshotWith(now, stallView{}) }

// snapshotWith is snapshot with the readers' partitions, to tell the
// cameras stalled behind one. It also plays the frames whose wait ended.
func (s *store) snapshotWith(now time.Time, sv stallView) statsMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pruneLocked(now)
	sec := now.Unix()
	m := statsMessage{T: "s", Now: round3(unixMillis(now)), Cams: make(map[string]*camStats, len(s.cams))}
	var allLat []float64
	winSecs := int64(s.window / time.Second)
	for id, c := range s.cams {
		cs := &camStats{Gaps: c.gaps, Skipped: c.skipped, Frames: c.frames, Results: c.results, Seq: c.lastSeq}
		// A camera seen for less than rateSeconds is rated over the
		// time it has been seen.
		span := min(rateSeconds, max(1, sec-c.first.Unix()))
		var lat []float64
		for k := int64(1); k <= max(winSecs, latencySeconds, rateSeconds); k++ {
			b := c.at(sec - k)
			if b == nil {
				continue
			}
			if k <= span {
				cs.FPS += float64(b.frames)
				cs.RPS += float64(b.results)
			}
			if k <= latencySeconds {
				lat = append(lat, b.lat...)
			}
			if k <= winSecs {
				for i, n := range b.emo {
					cs.Emotions[i] += n
				}
			}
		}
		if b := c.at(sec); b != nil { // the current second counts for the emotions
			for i, n := range b.emo {
				cs.Emotions[i] += n
			}
		}
		cs.FPS = round3(cs.FPS / float64(span))
		cs.RPS = round3(cs.RPS / float64(span))
		cs.P50, cs.P99 = percentile(lat, 0.5), percentile(lat, 0.99)
		allLat = append(allLat, lat...)
		if p := c.play.played; p != nil {
			if p.r != nil {
				cs.Faces = len(p.r.res.Faces) // as on screen: the faces of the frame played
			}
			cs.DelayMS = round3(float64(p.delay) / 1e6)
		}
		var lastFrame time.Time
		if c.latest != nil {
			cs.AgeMS = round3(float64(now.Sub(c.latest.received)) / 1e6)
			lastFrame = c.latest.received
		}
		cs.Stall = sv.camera(c.framePart, lastFrame, c.resultPart, c.lastRes, now)
		m.Cams[id] = cs
		a := &m.All
		a.FPS += cs.FPS
		a.RPS += cs.RPS
		a.Faces += cs.Faces
		a.Gaps += cs.Gaps
		a.Skipped += cs.Skipped
		a.Frames += cs.Frames
		a.Results += cs.Results
		for i, n := range cs.Emotions {
			a.Emotions[i] += n
		}
	}
	m.All.FPS, m.All.RPS = round3(m.All.FPS), round3(m.All.RPS)
	m.All.P50, m.All.P99 = percentile(allLat, 0.5), percentile(allLat, 0.99)
	m.Pt = s.pointLocked(sec - 1)
	m.Stalls = sv.alarms()
	return m
}

// at returns a camera's bucket of a second, nil when it holds nothing.
func (c *camera) at(sec int64) *bucket {
	if sec < 0 {
		return nil
	}
	b := &c.buckets[int(sec%int64(len(c.buckets)))]
	if b.sec != sec {
		return nil
	}
	return b
}

// pointLocked sums one second over every camera.
func (s *store) pointLocked(sec int64) *point {
	p := &point{T: sec}
	var lat, vlat []float64
	for _, c := range s.cams {
		b := c.at(sec)
		if b == nil {
			continue
		}
		p.FPS += float64(b.frames)
		p.RPS += float64(b.results)
		p.Faces += b.face
		for i, n := range b.emo {
			p.EmotionSum[i] += n
		}
		lat = append(lat, b.lat...)
		vlat = append(vlat, b.vlat...)
	}
	p.P50, p.P99, p.ViewP50 = percentile(lat, 0.5), percentile(lat, 0.99), percentile(vlat, 0.5)
	return p
}

// historyPoints are the chart points of the seconds kept, oldest first,
// from when the dashboard started.
func (s *store) historyPoints(now time.Time) []*point {
	s.mu.Lock()
	defer s.mu.Unlock()
	sec := now.Unix()
	from := max(sec-int64(s.history)+1, s.started.Unix())
	pts := make([]*point, 0, sec-from)
	for t := from; t < sec; t++ {
		pts = append(pts, s.pointLocked(t))
	}
	return pts
}

// percentile is the q-quantile of v (package quantile's rule), rounded
// for the wire, 0 without samples. It sorts a copy.
func percentile(v []float64, q float64) float64 {
	return round3(quantile.Of(slices.Clone(v), q))
}

// cameraInfo is /api/cameras' answer for one camera.
type cameraInfo struct {
	ID       string  `json:"id"`
	Seq      int64   `json:"seq"`
	Frames   int64   `json:"frames"`
	Results  int64   `json:"results"`
	Width    int     `json:"width"`
	Height   int     `json:"height"`
	LastSeen float64 `json:"last_frame_unix_ms"`
}

func (s *store) info() []cameraInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]cameraInfo, 0, len(s.cams))
	for id, c := range s.cams {
		ci := cameraInfo{ID: id, Seq: c.lastSeq, Frames: c.frames, Results: c.results}
		if c.latest != nil {
			ci.Width, ci.Height, ci.LastSeen = c.latest.w, c.latest.h, round3(unixMillis(c.latest.received))
		}
		out = append(out, ci)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}
