package source

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/framecast/framecast/internal/testkit"
)

// scriptStream is a connection whose behaviour the test scripts: it
// delivers n frames (numbered by Width), then ends with err, or blocks
// until closed when block is set. The real connections (ffmpeg, HTTP) are
// tested in ffmpeg_test.go and mjpeg_test.go; this isolates the
// supervisor's own logic: backoff, watchdog, delivery modes.
type scriptStream struct {
	n, sent int
	first   int
	every   time.Duration
	err     error
	block   bool
	closed  chan struct{}
	once    sync.Once
}

func (s *scriptStream) Next(ctx context.Context) (Frame, error) {
	if s.sent < s.n {
		if s.every > 0 {
			select {
			case <-time.After(s.every):
			case <-s.closed:
				return Frame{}, errors.New("closed")
			}
		}
		s.sent++
		return Frame{JPEG: []byte{0xff, 0xd8, 0xff, 0xd9}, Width: s.first + s.sent, Height: 1, CapturedAt: time.Now()}, nil
	}
	if s.block {
		select {
		case <-s.closed:
			return Frame{}, errors.New("closed")
		case <-time.After(time.Minute):
			return Frame{}, errors.New("test stream was never closed")
		}
	}
	return Frame{}, s.err
}

func (s *scriptStream) Close() error {
	s.once.Do(func() { close(s.closed) })
	return nil
}

// script dials the streams in order; dials beyond the list fail.
type script struct {
	mu      sync.Mutex
	dials   int
	streams []func() (stream, error)
	opened  []*scriptStream
}

func (sc *script) dial(ctx context.Context) (stream, error) {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	i := sc.dials
	sc.dials++
	if i >= len(sc.streams) {
		return nil, fmt.Errorf("dial %d: connection scriptRefused", i)
	}
	st, err := sc.streams[i]()
	if s, ok := st.(*scriptStream); ok {
		sc.opened = append(sc.opened, s)
	}
	return st, err
}

func scriptFrames(n, first int, end error) func() (stream, error) {
	return func() (stream, error) {
		return &scriptStream{n: n, first: first, err: end, closed: make(chan struct{})}, nil
	}
}

func scriptRefused() (stream, error) { return nil, errors.New("connection refused") }

func supFastCfg() supervisorConfig {
	return supervisorConfig{StallTimeout: 5 * time.Second, BackoffMin: time.Millisecond, BackoffMax: 4 * time.Millisecond,
		Log: slog.New(slog.DiscardHandler)}
}

// readAll reads until the source ends and returns the frame numbers.
func supReadAll(t *testing.T, s Source) ([]int, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var got []int
	for {
		f, err := s.Next(ctx)
		if err != nil {
			return got, err
		}
		got = append(got, f.Width)
	}
}

func TestSupervisedLosslessReconnectsAndEnds(t *testing.T) {
	// Two scriptRefused dials (the camera is down at start), a connection that
	// fails after 3 frames, then one that plays 4 frames to the end.
	sc := &script{streams: []func() (stream, error){
		scriptRefused, scriptRefused,
		scriptFrames(3, 0, errors.New("connection reset")),
		scriptFrames(4, 100, fmt.Errorf("eof: %w", ErrEndOfInput)),
	}}
	s := newSupervised("test", sc.dial, supFastCfg(), true)
	defer s.Close()
	got, err := supReadAll(t, s)
	if !errors.Is(err, ErrEndOfInput) {
		t.Fatalf("ended with %v, want ErrEndOfInput", err)
	}
	if want := []int{1, 2, 3, 101, 102, 103, 104}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("frames %v, want %v", got, want)
	}
	st := s.Status()
	if st.Up || st.Connects != 2 || st.Reconnects != 1 || st.Failures != 3 || st.Frames != 7 || st.Dropped != 0 ||
		st.LastError != "connection reset" || st.LastFrame.IsZero() {
		t.Errorf("status %+v", st)
	}
}

func TestSupervisedPermanentErrorStops(t *testing.T) {
	sc := &script{streams: []func() (stream, error){
		func() (stream, error) { return nil, fmt.Errorf("%w: %w", ErrNoFFmpeg, errPermanent) },
	}}
	s := newSupervised("test", sc.dial, supFastCfg(), false)
	defer s.Close()
	_, err := supReadAll(t, s)
	if !errors.Is(err, ErrNoFFmpeg) || errors.Is(err, ErrEndOfInput) {
		t.Fatalf("got %v, want ErrNoFFmpeg", err)
	}
	if sc.dials != 1 {
		t.Errorf("%d dials, want 1 (no retry of a permanent error)", sc.dials)
	}
}

func TestSupervisedStallWatchdog(t *testing.T) {
	// The first connection sends 2 frames and then nothing, keeping the
	// connection open: the watchdog must drop it and reconnect.
	sc := &script{streams: []func() (stream, error){
		func() (stream, error) {
			return &scriptStream{n: 2, block: true, closed: make(chan struct{})}, nil
		},
		scriptFrames(2, 10, fmt.Errorf("eof: %w", ErrEndOfInput)),
	}}
	cfg := supFastCfg()
	cfg.StallTimeout = 100 * time.Millisecond
	s := newSupervised("test", sc.dial, cfg, true)
	defer s.Close()
	got, err := supReadAll(t, s)
	if !errors.Is(err, ErrEndOfInput) || fmt.Sprint(got) != "[1 2 11 12]" {
		t.Fatalf("frames %v, err %v", got, err)
	}
	if st := s.Status(); st.Stalls != 1 || st.Connects != 2 || st.Failures != 1 {
		t.Errorf("status %+v, want 1 stall and a reconnect", st)
	}
	select {
	case <-sc.opened[0].closed:
	default:
		t.Error("the stalled connection was not closed")
	}
}

func TestSupervisedSlowReaderIsNotAStall(t *testing.T) {
	// A file waits for its reader: a reader slower than the stall timeout
	// must not count as a stall, nor lose frames.
	sc := &script{streams: []func() (stream, error){scriptFrames(3, 0, ErrEndOfInput)}}
	cfg := supFastCfg()
	cfg.StallTimeout = 30 * time.Millisecond
	s := newSupervised("test", sc.dial, cfg, true)
	defer s.Close()
	var got []int
	for {
		f, err := s.Next(context.Background())
		if err != nil {
			break
		}
		got = append(got, f.Width)
		time.Sleep(100 * time.Millisecond) // the slow reader under test, not a wait for a condition
	}
	if fmt.Sprint(got) != "[1 2 3]" {
		t.Errorf("frames %v", got)
	}
	if st := s.Status(); st.Stalls != 0 || st.Connects != 1 {
		t.Errorf("status %+v, want no stall", st)
	}
}

func TestSupervisedLiveKeepsNewest(t *testing.T) {
	// A live camera delivering 200 frames every 2 ms to a reader taking
	// one every 20 ms: the reader sees increasing frame numbers, ends on
	// the newest, and everything it did not see is counted as dropped.
	sc := &script{streams: []func() (stream, error){
		func() (stream, error) {
			return &scriptStream{n: 200, every: 2 * time.Millisecond, err: ErrEndOfInput, closed: make(chan struct{})}, nil
		},
	}}
	s := newSupervised("test", sc.dial, supFastCfg(), false)
	defer s.Close()
	var got []int
	for {
		f, err := s.Next(context.Background())
		if err != nil {
			if !errors.Is(err, ErrEndOfInput) {
				t.Fatal(err)
			}
			break
		}
		got = append(got, f.Width)
		time.Sleep(20 * time.Millisecond) // the slow reader under test
	}
	for i := 1; i < len(got); i++ {
		if got[i] <= got[i-1] {
			t.Fatalf("frames out of order: %v", got)
		}
	}
	st := s.Status()
	if len(got) == 0 || got[len(got)-1] != 200 || len(got) >= 200 {
		t.Errorf("read %d frames ending with %v; want fewer than 200 ending with the newest (200)", len(got), got[len(got)-1:])
	}
	if st.Frames != 200 || st.Dropped != int64(200-len(got)) {
		t.Errorf("status %+v after reading %d: want 200 frames, %d dropped", st, len(got), 200-len(got))
	}
}

func TestSupervisedCloseUnblocksNext(t *testing.T) {
	sc := &script{streams: []func() (stream, error){
		func() (stream, error) { return &scriptStream{n: 1, block: true, closed: make(chan struct{})}, nil },
	}}
	s := newSupervised("test", sc.dial, supFastCfg(), false)
	if _, err := s.Next(context.Background()); err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() {
		_, err := s.Next(context.Background())
		errc <- err
	}()
	testkit.Eventually(t, 20*time.Second, "the stream to be up", func() bool { return s.Status().Up })
	s.Close()
	select {
	case err := <-errc:
		if !errors.Is(err, ErrEndOfInput) {
			t.Errorf("Next after Close: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not unblock Next")
	}
	select {
	case <-sc.opened[0].closed:
	default:
		t.Error("Close did not close the connection")
	}
	if s.Status().Up {
		t.Error("still up after Close")
	}
}

func TestSupervisedBackoff(t *testing.T) {
	s := &Supervised{cfg: supervisorConfig{BackoffMin: 500 * time.Millisecond, BackoffMax: 30 * time.Second}}
	for i, want := range []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second,
		16 * time.Second, 30 * time.Second, 30 * time.Second} {
		if got := s.backoff(i); got != want {
			t.Errorf("backoff(%d) = %v, want %v", i, got, want)
		}
	}
	if got := s.backoff(1000); got != 30*time.Second {
		t.Errorf("backoff(1000) = %v", got)
	}
}

func TestSupervisedReconnectForever(t *testing.T) {
	// A camera that stays down is retried until it comes back, with the
	// failures counted; the source is not given up.
	var up atomic.Bool
	dial := func(ctx context.Context) (stream, error) {
		if !up.Load() {
			return nil, errors.New("connection refused")
		}
		return &scriptStream{n: 1, err: ErrEndOfInput, closed: make(chan struct{})}, nil
	}
	s := newSupervised("test", dial, supFastCfg(), true)
	defer s.Close()
	testkit.Eventually(t, 20*time.Second, "20 failures", func() bool { return s.Status().Failures >= 20 })
	up.Store(true)
	got, err := supReadAll(t, s)
	if !errors.Is(err, ErrEndOfInput) || len(got) != 1 {
		t.Fatalf("frames %v, err %v", got, err)
	}
}

func TestSupervisedNoFirstFrame(t *testing.T) {
	// A connection that opens but never delivers (a camera that accepts
	// and then says nothing) is given twice the stall timeout, then
	// dropped; it never counts as connected.
	var dials atomic.Int64
	dial := func(ctx context.Context) (stream, error) {
		dials.Add(1)
		return &scriptStream{block: true, closed: make(chan struct{})}, nil
	}
	cfg := supFastCfg()
	cfg.StallTimeout = 50 * time.Millisecond
	s := newSupervised("test", dial, cfg, false)
	defer s.Close()
	start := time.Now()
	testkit.Eventually(t, 20*time.Second, "two stalls", func() bool { return s.Status().Stalls >= 2 })
	if d := time.Since(start); d < 2*100*time.Millisecond {
		t.Errorf("two stalls after %v: the first frame must get twice the stall timeout", d)
	}
	st := s.Status()
	if st.Up || st.Connects != 0 || !strings.Contains(st.LastError, "no first frame within 100ms") {
		t.Errorf("status %+v", st)
	}
}

func TestSupervisedFailFast(t *testing.T) {
	// A video file whose ffmpeg fails half-way ends with that error; it
	// is not replayed from the start.
	sc := &script{streams: []func() (stream, error){
		scriptFrames(3, 0, errors.New("ffmpeg exited with status 1: invalid data")),
		scriptFrames(3, 0, ErrEndOfInput),
	}}
	cfg := supFastCfg()
	cfg.FailFast = true
	s := newSupervised("test", sc.dial, cfg, true)
	defer s.Close()
	got, err := supReadAll(t, s)
	if err == nil || errors.Is(err, ErrEndOfInput) || !strings.Contains(err.Error(), "invalid data") || fmt.Sprint(got) != "[1 2 3]" {
		t.Fatalf("frames %v, err %v", got, err)
	}
	if sc.dials != 1 || s.Status().Failures != 1 {
		t.Errorf("%d dials, status %+v", sc.dials, s.Status())
	}
}
