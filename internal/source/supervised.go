package source

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
)

// Supervised is a source read through connections that can fail: ffmpeg
// children (video files, RTSP, webcams) and HTTP cameras. It keeps the
// camera going the way an operator would:
//
//   - it connects in the background, so a camera that is down at start-up
//     does not stop the others (or the process) and is picked up when it
//     comes back;
//   - a failed or closed connection is retried after a pause that starts
//     at BackoffMin and doubles up to BackoffMax, with jitter so that
//     cameras behind one failed switch do not reconnect in lockstep; the
//     pause resets once a connection delivers frames again;
//   - a stall watchdog drops a connection that has delivered no frame for
//     StallTimeout (a frozen RTSP session often keeps its TCP connection
//     open) and reconnects;
//   - live cameras are read as fast as they deliver, and Next returns the
//     newest frame: when the reader of the source is slower, older frames
//     are replaced and counted (Status.Dropped) instead of queueing, so
//     latency never grows. Video files are read losslessly instead, each
//     frame in order, paced by ffmpeg at the native frame rate unless
//     Config.Unpaced.
//
// Status reports the connection state and counters, for logs and metrics
// (framecast_source_up, framecast_source_reconnects_total).
type Supervised struct {
	name     string // for logs: the URI without credentials
	dial     dialer
	cfg      supervisorConfig
	lossless bool

	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{} // closed when the runner has returned
	endErr error         // why the runner returned; read after done

	// lossless delivery: the runner blocks on out until Next takes it.
	out chan Frame
	// latest-only delivery: one slot, replaced by newer frames.
	mu     sync.Mutex
	slot   *Frame
	notify chan struct{} // capacity 1: a frame was put in slot

	up                                       atomic.Bool
	connects, failures, stalls, frames, lost atomic.Int64
	lastFrame                                atomic.Int64 // unix ns
	statusMu                                 sync.Mutex
	lastErr                                  string
	closeOnce                                sync.Once
}

// supervisorConfig are the supervisor's settings.
type supervisorConfig struct {
	StallTimeout           time.Duration
	BackoffMin, BackoffMax time.Duration
	// FPS is the source's frame rate when known (FrameRater), 0 if not.
	FPS float64
	// FailFast ends the source at the first failure of a connection
	// that had started, instead of reconnecting: a video file that
	// ffmpeg cannot finish would otherwise be replayed from its start,
	// repeating frames, or retried forever.
	FailFast bool
	Log      *slog.Logger
}

// Status is a snapshot of a supervised source.
type Status struct {
	// Up is true while a connection is open and delivering.
	Up bool
	// Connects counts successful connections; Reconnects those after the
	// first.
	Connects, Reconnects int64
	// Failures counts failed connection attempts and connections that
	// ended with an error; Stalls those ended by the stall watchdog.
	Failures, Stalls int64
	// Frames counts frames read from the camera; Dropped those replaced
	// by a newer frame before the reader took them (live sources only).
	Frames, Dropped int64
	// LastError is the latest failure, "" if none.
	LastError string
	// LastFrame is when the latest frame arrived (zero: none yet).
	LastFrame time.Time
	// Ended is true once the source is finished for good: a video file
	// played to its end, a permanent error, or Close.
	Ended bool
}

// StatusReporter is implemented by sources that report their connection
// state: Supervised and the sources that wrap it.
type StatusReporter interface {
	Status() Status
}

// SelfPaced is implemented by sources whose Next blocks until the camera
// delivers the next frame (live cameras, video files played at their native
// rate). The publisher reads them as they come instead of pacing them with
// its own ticker.
type SelfPaced interface {
	SelfPaced() bool
}

// stableAfter is how long a connection must have lasted for the next
// failure to start the backoff from BackoffMin again.
const stableAfter = 10 * time.Second

// errStalled ends a connection the watchdog gave up on.
var errStalled = errors.New("stalled")

// newSupervised starts reading in the background. lossless selects in-order
// delivery of every frame (files) over newest-frame delivery (live).
func newSupervised(name string, dial dialer, cfg supervisorConfig, lossless bool) *Supervised {
	ctx, cancel := context.WithCancel(context.Background())
	s := &Supervised{
		name: name, dial: dial, cfg: cfg, lossless: lossless,
		ctx: ctx, cancel: cancel, done: make(chan struct{}),
		out: make(chan Frame), notify: make(chan struct{}, 1),
	}
	go s.run()
	return s
}

// FPS is the source's frame rate when it is known (0: unknown).
func (s *Supervised) FPS() float64 { return s.cfg.FPS }

// SelfPaced reports true: Next waits for the camera.
func (s *Supervised) SelfPaced() bool { return true }

// Next returns the next frame (lossless) or the newest frame not returned
// yet (live). It blocks until there is one, the source ends (an error
// wrapping ErrEndOfInput, or the permanent error that stopped it), or ctx
// ends.
func (s *Supervised) Next(ctx context.Context) (Frame, error) {
	if s.lossless {
		select {
		case f := <-s.out:
			return f, nil
		case <-s.done:
			return Frame{}, s.endErr
		case <-ctx.Done():
			return Frame{}, ctx.Err()
		}
	}
	for {
		s.mu.Lock()
		f := s.slot
		s.slot = nil
		s.mu.Unlock()
		if f != nil {
			return *f, nil
		}
		select {
		case <-s.notify:
		case <-s.done:
			s.mu.Lock()
			f := s.slot
			s.slot = nil
			s.mu.Unlock()
			if f != nil {
				return *f, nil
			}
			return Frame{}, s.endErr
		case <-ctx.Done():
			return Frame{}, ctx.Err()
		}
	}
}

// Close stops the source: the current connection is closed (its ffmpeg
// killed) and Close waits for that.
func (s *Supervised) Close() error {
	s.closeOnce.Do(func() {
		s.cancel()
		<-s.done
	})
	return nil
}

// Status returns a snapshot of the counters.
func (s *Supervised) Status() Status {
	st := Status{
		Up:       s.up.Load(),
		Connects: s.connects.Load(),
		Failures: s.failures.Load(),
		Stalls:   s.stalls.Load(),
		Frames:   s.frames.Load(),
		Dropped:  s.lost.Load(),
	}
	st.Reconnects = max(st.Connects-1, 0)
	select {
	case <-s.done:
		st.Ended = true
	default:
	}
	if ns := s.lastFrame.Load(); ns != 0 {
		st.LastFrame = time.Unix(0, ns)
	}
	s.statusMu.Lock()
	st.LastError = s.lastErr
	s.statusMu.Unlock()
	return st
}

func (s *Supervised) run() {
	defer close(s.done)
	log := s.cfg.Log.With("source", s.name)
	attempt := 0
	var downSince time.Time
	for {
		if s.ctx.Err() != nil {
			s.endErr = fmt.Errorf("source %s: closed: %w", s.name, ErrEndOfInput)
			return
		}
		st, err := s.dial(s.ctx)
		if err != nil {
			if s.ctx.Err() != nil {
				continue
			}
			if errors.Is(err, errPermanent) {
				s.setErr(err)
				log.Error("source cannot start; not retrying", "err", err)
				s.endErr = fmt.Errorf("source %s: %w", s.name, err)
				return
			}
			if downSince.IsZero() {
				downSince = time.Now()
			}
			s.failed(log, err, attempt)
			s.pause(attempt)
			attempt++
			continue
		}
		// Up and connected count from the first frame: an ffmpeg that
		// started is not yet a camera that answers.
		connected := func() {
			n := s.connects.Add(1)
			s.up.Store(true)
			if n == 1 {
				log.Info("source connected")
			} else {
				log.Info("source reconnected", "attempts", attempt, "down_seconds", round2(time.Since(downSince).Seconds()))
			}
		}
		connStart := time.Now()
		delivered, err := s.pump(st, connected)
		s.up.Store(false)
		st.Close()
		if s.ctx.Err() != nil {
			continue
		}
		if errors.Is(err, ErrEndOfInput) {
			log.Info("source ended", "frames", s.frames.Load())
			s.endErr = fmt.Errorf("source %s: %w", s.name, err)
			return
		}
		if s.cfg.FailFast {
			s.failures.Add(1)
			s.setErr(err)
			log.Error("source failed; not retrying a video file", "err", err, "frames", s.frames.Load())
			s.endErr = fmt.Errorf("source %s: %w", s.name, err)
			return
		}
		// The outage starts when a connection that delivered is lost,
		// not at each failed retry (an ffmpeg that starts and fails).
		if delivered > 0 || downSince.IsZero() {
			downSince = time.Now()
		}
		// Only a connection that stayed up resets the backoff: a camera
		// that gives one frame and drops, or a finished stream served
		// again, is not restarted at full speed forever.
		if delivered > 0 && time.Since(connStart) >= stableAfter {
			attempt = 0
		}
		s.failed(log, err, attempt)
		s.pause(attempt)
		attempt++
	}
}

func (s *Supervised) failed(log *slog.Logger, err error, attempt int) {
	s.failures.Add(1)
	s.setErr(err)
	log.Warn("source failed; reconnecting", "err", err, "retry_in", s.backoff(attempt).Round(time.Millisecond))
}

func (s *Supervised) setErr(err error) {
	s.statusMu.Lock()
	s.lastErr = err.Error()
	s.statusMu.Unlock()
}

// pump reads one connection until it fails, ends or stalls, and returns
// how many frames it delivered. It calls connected at the first frame.
func (s *Supervised) pump(st stream, connected func()) (int64, error) {
	ctx, cancel := context.WithCancel(s.ctx)
	defer cancel()
	// progress is the last time the connection was known to be alive: a
	// frame arrived, or the runner was waiting for the reader of the
	// source (a paced file waits for its reader, which is not a stall).
	var progress atomic.Int64
	var waiting atomic.Bool
	var stalled atomic.Bool
	var first atomic.Bool // a frame arrived on this connection
	progress.Store(time.Now().UnixNano())
	watchdog := make(chan struct{})
	go func() {
		defer close(watchdog)
		tick := time.NewTicker(max(s.cfg.StallTimeout/4, 10*time.Millisecond))
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				// Close unblocks a Next that ignores ctx (a pipe read).
				st.Close()
				return
			case now := <-tick.C:
				if waiting.Load() {
					progress.Store(now.UnixNano())
					continue
				}
				// Opening a stream (ffmpeg probing MPEG-TS for its
				// analyzeduration, an RTSP handshake) may take longer
				// than a gap between frames: the first frame gets twice
				// the stall timeout.
				limit := s.cfg.StallTimeout
				if !first.Load() {
					limit *= 2
				}
				if now.Sub(time.Unix(0, progress.Load())) > limit {
					stalled.Store(true)
					st.Close()
					return
				}
			}
		}
	}()
	defer func() { cancel(); <-watchdog }()

	var n int64
	for {
		f, err := st.Next(ctx)
		if stalled.Load() {
			s.stalls.Add(1)
			if n == 0 {
				return n, fmt.Errorf("%w: no first frame within %v", errStalled, 2*s.cfg.StallTimeout)
			}
			return n, fmt.Errorf("%w: no frame for %v", errStalled, s.cfg.StallTimeout)
		}
		if err != nil {
			return n, err
		}
		if n == 0 {
			first.Store(true)
			connected()
		}
		now := time.Now()
		progress.Store(now.UnixNano())
		s.lastFrame.Store(now.UnixNano())
		s.frames.Add(1)
		n++
		if s.lossless {
			waiting.Store(true)
			select {
			case s.out <- f:
			case <-ctx.Done():
				waiting.Store(false)
				return n, ctx.Err()
			}
			waiting.Store(false)
			progress.Store(time.Now().UnixNano())
			continue
		}
		s.mu.Lock()
		if s.slot != nil {
			s.lost.Add(1)
		}
		s.slot = &f
		s.mu.Unlock()
		select {
		case s.notify <- struct{}{}:
		default:
		}
	}
}

// backoff is the pause before reconnect attempt n (0-based): BackoffMin
// doubled n times, capped at BackoffMax, then "equal jitter": half of it
// fixed, half random, so a fleet of cameras spreads its reconnects.
func (s *Supervised) backoff(n int) time.Duration {
	d := s.cfg.BackoffMin
	for i := 0; i < n && d < s.cfg.BackoffMax; i++ {
		d *= 2
	}
	return min(d, s.cfg.BackoffMax)
}

func (s *Supervised) pause(n int) {
	d := s.backoff(n)
	d = d/2 + rand.N(d/2+1)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-s.ctx.Done():
	case <-t.C:
	}
}

func round2(x float64) float64 { return float64(int64(x*100+0.5)) / 100 }
