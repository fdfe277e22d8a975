package view

import (
	"sync"
	"sync/atomic"
)

// hub fans frames, results and statistics out to the WebSocket clients.
//
// A client never has a queue that grows: each camera has a latest-only
// slot (a newer frame replaces an unsent one, which is counted as dropped),
// results wait in a FIFO of bounded length (the oldest goes when it is
// full) and statistics in a latest-only slot. The client's writer takes
// whatever is pending whenever it can write.
type hub struct {
	maxResults int

	mu      sync.Mutex
	clients map[*client]struct{}

	accepted atomic.Int64 // WebSocket connections ever accepted
	dropped  atomic.Int64 // frames replaced before they were sent, all clients
}

func newHub(maxResults int) *hub {
	return &hub{maxResults: maxResults, clients: map[*client]struct{}{}}
}

// binMsg is a binary message waiting for clients, shared by all of them:
// a live frame (head is the frame's message), or a played one (head is its
// header and result, body the frame's JPEG).
type binMsg struct {
	camera     string
	head, body []byte
}

func (m *binMsg) size() int64 { return int64(len(m.head) + len(m.body)) }

func liveMsg(f *frameEntry) *binMsg { return &binMsg{camera: f.camera, head: f.msg} }

func playedMsg(p *playedEntry) *binMsg {
	return &binMsg{camera: p.f.camera, head: p.msg, body: p.f.jpeg}
}

// client is one WebSocket connection's pending messages.
type client struct {
	h *hub

	mu          sync.Mutex
	mode        string             // modeLive (the default) or modeMatched
	frames      map[string]*binMsg // newest unsent frame per camera, of the mode
	results     [][]byte           // unsent results, oldest first
	stats       []byte             // newest unsent statistics (shared part)
	dropped     map[string]int64   // per camera: frames replaced before they were sent
	resultDrops int64
	queued      int64 // bytes pending here or being written

	wake chan struct{} // capacity 1: "something is pending"
}

func (h *hub) add() *client {
	c := &client{
		h: h, mode: modeLive, frames: map[string]*binMsg{}, dropped: map[string]int64{},
		wake: make(chan struct{}, 1),
	}
	h.mu.Lock()
	h.clients[c] = struct{}{}
	h.mu.Unlock()
	h.accepted.Add(1)
	return c
}

func (h *hub) remove(c *client) {
	h.mu.Lock()
	delete(h.clients, c)
	h.mu.Unlock()
}

func (h *hub) each(f func(*client)) {
	h.mu.Lock()
	cs := make([]*client, 0, len(h.clients))
	for c := range h.clients {
		cs = append(cs, c)
	}
	h.mu.Unlock()
	for _, c := range cs {
		f(c)
	}
}

// frame sends a new frame to the clients in the live mode.
func (h *hub) frame(f *frameEntry) {
	m := liveMsg(f)
	h.each(func(c *client) { c.pushFrame(m, modeLive, true) })
}

// played sends a frame played to the clients in the matched mode.
func (h *hub) played(p *playedEntry) {
	m := playedMsg(p)
	h.each(func(c *client) { c.pushFrame(m, modeMatched, true) })
}

func (h *hub) result(r []byte) { h.each(func(c *client) { c.pushResult(r) }) }

func (h *hub) stats(common []byte) { h.each(func(c *client) { c.pushStats(common) }) }

// forget drops a camera the store forgot from every client: its pending
// frame and its count of dropped frames, so that what a connection keeps
// per camera stays bounded by the cameras tracked, however many ids come
// and go.
func (h *hub) forget(id string) {
	h.each(func(c *client) {
		c.mu.Lock()
		if m, ok := c.frames[id]; ok {
			c.queued -= m.size()
			delete(c.frames, id)
		}
		delete(c.dropped, id)
		c.mu.Unlock()
	})
}

// count returns the connected clients.
func (h *hub) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.clients)
}

// queuedBytes sums what every client has pending or in a write.
func (h *hub) queuedBytes() int64 {
	var n int64
	h.each(func(c *client) {
		c.mu.Lock()
		n += c.queued
		c.mu.Unlock()
	})
	return n
}

func (c *client) signal() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// pushFrame puts m in its camera's slot if the client is in mode. With
// replace false (the frames a client starts a mode with) it only fills an
// empty slot.
func (c *client) pushFrame(m *binMsg, mode string, replace bool) {
	c.mu.Lock()
	old, ok := c.frames[m.camera]
	if c.mode != mode || ok && !replace {
		c.mu.Unlock()
		return
	}
	if ok {
		c.queued -= old.size()
		c.dropped[m.camera]++
		c.h.dropped.Add(1)
	}
	c.frames[m.camera] = m
	c.queued += m.size()
	c.mu.Unlock()
	c.signal()
}

// setMode switches the client to a mode: the frames pending of the other
// go (they are not drops: the page asked for the others).
func (c *client) setMode(mode string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.mode == mode {
		return
	}
	c.mode = mode
	for id, m := range c.frames {
		c.queued -= m.size()
		delete(c.frames, id)
	}
}

func (c *client) pushResult(r []byte) {
	c.mu.Lock()
	if len(c.results) >= c.h.maxResults {
		c.queued -= int64(len(c.results[0]))
		c.results[0] = nil
		c.results = c.results[1:]
		c.resultDrops++
	}
	c.results = append(c.results, r)
	c.queued += int64(len(r))
	c.mu.Unlock()
	c.signal()
}

func (c *client) pushStats(common []byte) {
	c.mu.Lock()
	c.queued += int64(len(common) - len(c.stats))
	c.stats = common
	c.mu.Unlock()
	c.signal()
}

// pending is what a client's writer sends in one round.
type pending struct {
	frames  []*binMsg
	results [][]byte
	stats   []byte // the connection's own stats message, ready to send
	bytes   int64
}

// take empties the client's slots. The bytes stay counted in queued until
// the writer calls done with them, so queued covers writes in progress.
func (c *client) take() pending {
	c.mu.Lock()
	defer c.mu.Unlock()
	var p pending
	for _, m := range c.frames {
		p.frames = append(p.frames, m)
		p.bytes += m.size()
	}
	clear(c.frames)
	if len(c.results) > 0 {
		p.results = c.results
		for _, r := range c.results {
			p.bytes += int64(len(r))
		}
		c.results = nil
	}
	if c.stats != nil {
		p.bytes += int64(len(c.stats))
		dropped := make(map[string]int64, len(c.dropped))
		for k, v := range c.dropped {
			dropped[k] = v
		}
		p.stats = withDropped(c.stats, dropped)
		c.stats = nil
	}
	return p
}

func (c *client) done(n int64) {
	c.mu.Lock()
	c.queued -= n
	c.mu.Unlock()
}
