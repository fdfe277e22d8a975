package view

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/coder/websocket"

	"github.com/framecast/framecast/internal/frame"
)

// handleWS upgrades to the dashboard's WebSocket (protocol.go): one per
// page, carrying every camera. Accept checks the Origin: the page's own
// host, or one of Config.AllowOrigins (any port when they name none).
func (s *Server) handleWS(w http.ResponseWriter, r *http.Request) {
	conn, err := websocket.Accept(w, r, &websocket.AcceptOptions{
		OriginPatterns:  s.originPatterns,
		CompressionMode: websocket.CompressionDisabled, // JPEG does not compress
	})
	if err != nil {
		s.log.Info("WebSocket refused", "remote", r.RemoteAddr, "origin", r.Header.Get("Origin"), "err", err)
		return
	}
	defer conn.CloseNow()
	conn.SetReadLimit(4 << 10)
	c := s.hub.add()
	defer s.hub.remove(c)
	s.log.Debug("WebSocket connected", "remote", r.RemoteAddr, "clients", s.hub.count())

	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	// The browser sends only its mode (protocol.go); reading also keeps
	// the pings, pongs and the close handshake going, and notices a
	// vanished peer.
	go func() {
		defer cancel()
		for {
			typ, msg, err := conn.Read(ctx)
			if err != nil {
				return
			}
			if typ == websocket.MessageText {
				s.clientMessage(c, msg)
			}
		}
	}()

	// write sends one message made of parts (a played frame: its header,
	// then the JPEG shared with every client, without a copy).
	write := func(typ websocket.MessageType, parts ...[]byte) error {
		wctx, wcancel := context.WithTimeout(ctx, s.cfg.WriteTimeout)
		defer wcancel()
		if len(parts) == 1 {
			return conn.Write(wctx, typ, parts[0])
		}
		w, err := conn.Writer(wctx, typ)
		if err != nil {
			return err
		}
		for _, p := range parts {
			if _, err := w.Write(p); err != nil {
				w.Close()
				return err
			}
		}
		return w.Close()
	}
	hello, _ := json.Marshal(helloMessage{
		T: "hello", V: protocolVersion, Cameras: s.store.cameraIDs(), Emotions: frame.Labels[:],
		WindowS: s.cfg.EmotionWindow.Seconds(), HistoryS: s.cfg.History.Seconds(), OverlayMaxAgeMS: float64(overlayMaxAge / time.Millisecond),
		Modes: []string{modeLive, modeMatched}, MatchTimeoutMS: float64(s.cfg.MatchTimeout / time.Millisecond),
	})
	hist, _ := json.Marshal(struct {
		T   string   `json:"t"`
		Pts []*point `json:"pts"`
	}{"h", s.store.historyPoints(time.Now())})
	if write(websocket.MessageText, hello) != nil || write(websocket.MessageText, hist) != nil {
		return
	}
	// Start with every camera's newest frame and result, so the page
	// fills at once; frames that arrived meanwhile are newer and win.
	fs, rs := s.store.latest()
	for _, f := range fs {
		c.pushFrame(liveMsg(f), modeLive, false)
	}
	for _, r := range rs {
		c.pushResult(r.msg)
	}
	if st := s.lastStats.Load(); st != nil {
		c.pushStats(*st)
	}

	for {
		select {
		case <-ctx.Done():
			// Server stopping, or the peer went away: the deferred
			// CloseNow ends the connection without waiting for a close
			// handshake a silent peer would hold up for seconds.
			return
		case <-c.wake:
		}
		p := c.take()
		err := s.send(write, p)
		c.done(p.bytes)
		if err != nil {
			if !errors.Is(err, context.Canceled) {
				s.log.Info("WebSocket closed: a write failed or timed out", "remote", r.RemoteAddr, "timeout", s.cfg.WriteTimeout.String(), "err", err)
			}
			return
		}
	}
}

// clientMessage handles what a page sends: {"t":"mode","mode":...}
// switches the connection's mode and starts it with every camera's newest
// frame of that mode. Anything else is ignored.
func (s *Server) clientMessage(c *client, msg []byte) {
	var m struct {
		T    string `json:"t"`
		Mode string `json:"mode"`
	}
	if json.Unmarshal(msg, &m) != nil || m.T != "mode" {
		return
	}
	switch m.Mode {
	case modeLive:
		c.setMode(modeLive)
		fs, _ := s.store.latest()
		for _, f := range fs {
			c.pushFrame(liveMsg(f), modeLive, false)
		}
	case modeMatched:
		c.setMode(modeMatched)
		for _, p := range s.store.latestPlayed() {
			c.pushFrame(playedMsg(p), modeMatched, false)
		}
	}
}

// send writes one round: frames, then the results, then the statistics.
func (s *Server) send(write func(websocket.MessageType, ...[]byte) error, p pending) error {
	for _, m := range p.frames {
		parts := [][]byte{m.head}
		if m.body != nil {
			parts = append(parts, m.body)
		}
		if err := write(websocket.MessageBinary, parts...); err != nil {
			return err
		}
	}
	if len(p.results) > 0 {
		if err := write(websocket.MessageText, resultsMessage(p.results)); err != nil {
			return err
		}
	}
	if p.stats != nil {
		return write(websocket.MessageText, p.stats)
	}
	return nil
}
