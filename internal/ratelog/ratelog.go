// Package ratelog collapses repeated log records. A camera with a broken
// stream, a producer whose buffer is full or a broker that went away can
// each make the same warning hundreds of times a second; a Logger passes a
// few of them on and counts the rest, and the count goes out with the next
// record it passes, as "suppressed=N", so nothing is hidden without a
// trace. AtLeast quiets a component run inside another to its warnings.
package ratelog

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// SuppressedKey is the attribute that carries the count of records held
// back since the previous one that was logged.
const SuppressedKey = "suppressed"

// Logger passes at most burst records per window to an slog.Logger. A
// window opens with the first record after the previous one closed, so a
// Logger that is quiet costs nothing and the first record of a new burst
// always goes out at once. A Logger is safe for concurrent use.
type Logger struct {
	log   *slog.Logger
	every time.Duration
	burst int
	now   func() time.Time

	mu         sync.Mutex
	start      time.Time // the current window's start; zero: none yet
	n          int       // records passed in the current window
	suppressed int       // records held back since the last one passed
}

// New returns a Logger that writes to log at most burst records (at least
// 1) in every window of length every. A nil log discards.
func New(log *slog.Logger, every time.Duration, burst int) *Logger {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Logger{log: log, every: every, burst: max(burst, 1), now: time.Now}
}

// Allow takes a place in the current window. It reports whether the
// caller may log, and then how many records were held back since the
// last one allowed (the caller's to report, or to ignore when its record
// carries its own totals). When it returns false the record is counted as
// held back.
func (l *Logger) Allow() (ok bool, suppressed int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if l.start.IsZero() || now.Sub(l.start) >= l.every {
		l.start, l.n = now, 0
	}
	if l.n >= l.burst {
		l.suppressed++
		return false, 0
	}
	l.n++
	suppressed, l.suppressed = l.suppressed, 0
	return true, suppressed
}

// Log logs the record if Allow lets it, with the count of held-back
// records appended as SuppressedKey when there were any.
func (l *Logger) Log(ctx context.Context, level slog.Level, msg string, args ...any) {
	ok, n := l.Allow()
	if !ok {
		return
	}
	if n > 0 {
		args = append(args, SuppressedKey, n)
	}
	l.log.Log(ctx, level, msg, args...)
}

// Warn is Log at slog.LevelWarn.
func (l *Logger) Warn(msg string, args ...any) {
	l.Log(context.Background(), slog.LevelWarn, msg, args...)
}

// Error is Log at slog.LevelError.
func (l *Logger) Error(msg string, args ...any) {
	l.Log(context.Background(), slog.LevelError, msg, args...)
}

// Flush returns the count of records held back since the last one logged,
// and forgets it: at the end of a run the caller reports what a window
// swallowed and no later record will.
func (l *Logger) Flush() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := l.suppressed
	l.suppressed = 0
	return n
}
