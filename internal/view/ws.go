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
	// The browser sends nothing; reading keeps the pings, pongs and the
	// close handshake going, and notices a vanished peer.
	go func() {
		defer cancel()
		for {
			if _, _, err := conn.Read(ctx); err != nil {
				return
			}
		}
	}()

	write := func(typ websocket.MessageType, msg []byte) error {
		wctx, wcancel := context.WithTimeout(ctx, s.cfg.WriteTimeout)
		defer wcancel()
		return conn.Write(wctx, typ, msg)
	}
	hello, _ := json.Marshal(helloMessage{
		T: "hello", V: protocolVersion, Cameras: s.store.cameraIDs(), Emotions: frame.Labels[:],
		WindowS: s.cfg.EmotionWindow.Seconds(), HistoryS: s.cfg.History.Seconds(), OverlayMaxAgeMS: float64(overlayMaxAge / time.Millisecond),
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
		c.pushFrame(f, false)
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

// send writes one round: frames, then the results, then the statistics.
func (s *Server) send(write func(websocket.MessageType, []byte) error, p pending) error {
	for _, f := range p.frames {
		if err := write(websocket.MessageBinary, f.msg); err != nil {
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
