package source

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// snapshotStream polls a URL that answers one JPEG per request.
type snapshotStream struct {
	c        *httpCamera
	base     context.Context // ends with Close
	cancel   context.CancelFunc
	interval time.Duration
	last     time.Time // when the last request was sent

	mu            sync.Mutex
	pending       *http.Response // the dial's response, not read yet
	pendingCancel context.CancelFunc

	closed atomic.Bool
	once   sync.Once
	counts mjpegCounters
}

func (c *httpCamera) newSnapshotStream(base context.Context, cancel context.CancelFunc, resp *http.Response, cancelReq context.CancelFunc) *snapshotStream {
	fps := c.cfg.FPS
	if fps <= 0 {
		fps = 1 // a snapshot costs the camera a request: poll gently unless asked
	}
	return &snapshotStream{c: c, base: base, cancel: cancel, interval: time.Duration(float64(time.Second) / fps),
		last: time.Now(), pending: resp, pendingCancel: cancelReq}
}

// Next returns the next snapshot, requested one interval after the
// previous request. A snapshot that is not a valid JPEG is counted corrupt
// and the next one requested; a failed request or a status other than 200
// ends the stream.
func (s *snapshotStream) Next(ctx context.Context) (Frame, error) {
	for {
		if s.closed.Load() {
			return Frame{}, fmt.Errorf("camera %s: stream closed", s.c.redacted)
		}
		s.mu.Lock()
		resp, cancel := s.pending, s.pendingCancel
		s.pending, s.pendingCancel = nil, nil
		s.mu.Unlock()
		if resp == nil {
			if wait := time.Until(s.last.Add(s.interval)); wait > 0 {
				t := time.NewTimer(wait)
				select {
				case <-ctx.Done():
					t.Stop()
					return Frame{}, ctx.Err()
				case <-s.base.Done():
					t.Stop()
					continue // closed
				case <-t.C:
				}
			}
			var reqCtx context.Context
			reqCtx, cancel = context.WithCancel(s.base)
			s.last = time.Now()
			stop := context.AfterFunc(ctx, cancel)
			var err error
			resp, err = s.c.get(reqCtx, cancel)
			stop()
			if err != nil {
				cancel()
				return Frame{}, s.failed(ctx, err)
			}
			if resp.StatusCode != http.StatusOK {
				err := s.c.statusErr(resp)
				discardBody(resp)
				cancel()
				return Frame{}, err
			}
		}
		frame, ok, err := s.read(ctx, resp, cancel)
		if err != nil {
			return Frame{}, s.failed(ctx, err)
		}
		if ok {
			s.counts.frames.Add(1)
			return frame, nil
		}
		s.counts.corrupt.Add(1)
	}
}

// read reads one snapshot body, at most MaxFrameSize of it.
func (s *snapshotStream) read(ctx context.Context, resp *http.Response, cancel context.CancelFunc) (Frame, bool, error) {
	stop := context.AfterFunc(ctx, cancel)
	defer func() {
		stop()
		resp.Body.Close()
		cancel()
	}()
	if resp.ContentLength > int64(s.c.maxFrame) {
		return Frame{}, false, nil
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, int64(s.c.maxFrame)+1))
	if err != nil {
		return Frame{}, false, err
	}
	jpg, w, h, ok := mjpegCheck(data, s.c.maxFrame)
	if !ok {
		return Frame{}, false, nil
	}
	return Frame{JPEG: jpg, Width: w, Height: h, CapturedAt: time.Now()}, true, nil
}

func (s *snapshotStream) failed(ctx context.Context, err error) error {
	switch {
	case ctx.Err() != nil:
		return ctx.Err()
	case s.closed.Load():
		return fmt.Errorf("camera %s: stream closed", s.c.redacted)
	}
	return err
}

// Close stops polling; a Next waiting or reading returns an error.
func (s *snapshotStream) Close() error {
	s.once.Do(func() {
		s.closed.Store(true)
		s.cancel()
		s.mu.Lock()
		if s.pending != nil {
			s.pending.Body.Close()
			s.pending = nil
		}
		s.mu.Unlock()
	})
	return nil
}

// Stats returns the stream's counters.
func (s *snapshotStream) Stats() mjpegStats { return s.counts.stats() }
