package kafka

import (
	"context"
	"log/slog"

	"github.com/twmb/franz-go/pkg/kgo"
)

// NewLogger routes franz-go's own log lines to l, as every role's client
// does (ClientOpts adds it): its warnings and errors at their level, its
// info and debug chatter (every request, every connection) at debug, and
// only when l shows debug. Messages start with "kafka: ".
func NewLogger(l *slog.Logger) kgo.Logger { return kgoLogger{l} }

type kgoLogger struct{ l *slog.Logger }

func (k kgoLogger) Level() kgo.LogLevel {
	if k.l.Enabled(context.Background(), slog.LevelDebug) {
		return kgo.LogLevelInfo
	}
	return kgo.LogLevelWarn
}

func (k kgoLogger) Log(level kgo.LogLevel, msg string, keyvals ...any) {
	k.l.Log(context.Background(), SlogLevel(level), "kafka: "+msg, keyvals...)
}

// SlogLevel is the slog level of a franz-go log level: errors and warnings
// keep theirs, everything else is debug. The embedded broker maps kfake's
// levels (the same five, in the same order) through it too.
func SlogLevel(l kgo.LogLevel) slog.Level {
	switch l {
	case kgo.LogLevelError:
		return slog.LevelError
	case kgo.LogLevelWarn:
		return slog.LevelWarn
	}
	return slog.LevelDebug
}
