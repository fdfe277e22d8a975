package ratelog

import (
	"context"
	"log/slog"
)

// AtLeast returns a logger that passes on only l's records at level min or
// above: for a component run inside another whose narration the caller
// gives itself (the benchmarks' processor and publisher, the sources of
// offline video analysis), while its warnings still reach the user.
func AtLeast(l *slog.Logger, min slog.Level) *slog.Logger {
	return slog.New(MinLevel{l.Handler(), min})
}

// MinLevel is a handler that drops the records below Min and hands the
// others to Handler.
type MinLevel struct {
	slog.Handler
	Min slog.Level
}

// Enabled implements slog.Handler.
func (h MinLevel) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.Min && h.Handler.Enabled(ctx, l)
}

// WithAttrs implements slog.Handler.
func (h MinLevel) WithAttrs(a []slog.Attr) slog.Handler {
	return MinLevel{h.Handler.WithAttrs(a), h.Min}
}

// WithGroup implements slog.Handler.
func (h MinLevel) WithGroup(name string) slog.Handler {
	return MinLevel{h.Handler.WithGroup(name), h.Min}
}
