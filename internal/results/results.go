// Package results reads framecast.result.v1 records back from the results
// topic, for `framecast results` and for anything else that follows them
// (a new output starts here): like tail -f, directly (no consumer group, so
// it never takes partitions from anyone), read_committed (results of
// aborted exactly-once transactions never show).
package results

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/framecast/framecast/internal/frame"
	"github.com/framecast/framecast/internal/kafka"
)

// Config is what Tail reads. The zero value of each field but ClientOpts
// and Topic means: from the end, every camera, no limit, no idle timeout.
type Config struct {
	// ClientOpts connect to the cluster (kafka.Config.ClientOpts).
	ClientOpts []kgo.Opt
	Topic      string
	// FromStart reads everything the topic retains, else only new results;
	// From says so in words for the log line.
	FromStart bool
	From      string
	// Cameras, when set, are the only cameras whose results are handed on.
	Cameras []string
	// Count ends the reading after this many results; Idle after this long
	// without one.
	Count int
	Idle  time.Duration
	// Flush is called after each batch of records handed on; its error
	// (a closed stdout) ends the reading.
	Flush func() error
	Log   *slog.Logger
}

// Tail hands every result record to out until ctx ends, Count results were
// handed on or none came for Idle. A record out refuses (not a result) is
// logged and skipped. It returns nil when the reading ends for one of
// those reasons, and the error of the topic check or of Flush otherwise.
func Tail(ctx context.Context, cfg Config, out func(*kgo.Record) error) error {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Flush == nil {
		cfg.Flush = func() error { return nil }
	}
	rd, err := kafka.NewDirectReader(cfg.ClientOpts, kafka.ReaderConfig{
		Topics: []string{cfg.Topic}, FromStart: cfg.FromStart, ReadCommitted: true, Log: cfg.Log,
	})
	if err != nil {
		return err
	}
	defer rd.Close()
	// A direct reader would wait for a missing topic in silence.
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	_, err = rd.CheckTopics(cctx)
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	want := map[string]bool{}
	for _, c := range cfg.Cameras {
		want[c] = true
	}
	sorted := slices.Sorted(func(yield func(string) bool) {
		for c := range want {
			if !yield(c) {
				return
			}
		}
	})
	cfg.Log.Info("reading results", "topic", cfg.Topic, "from", cfg.From, "cameras", sorted)
	// Idle ends the reading through its context: errIdle is its cause.
	rctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	var idleTimer *time.Timer
	if cfg.Idle > 0 {
		idleTimer = time.AfterFunc(cfg.Idle, func() { stop(errIdle) })
		defer idleTimer.Stop()
	}
	printed := 0
	err = rd.Run(rctx, func(fetches kgo.Fetches) error {
		for _, r := range fetches.Records() {
			if len(want) > 0 && !want[string(r.Key)] {
				continue
			}
			if err := out(r); err != nil {
				cfg.Log.Warn("not a framecast.result.v1 record", "partition", r.Partition, "offset", r.Offset, "err", err)
				continue
			}
			printed++
			if idleTimer != nil {
				idleTimer.Reset(cfg.Idle)
			}
			if cfg.Count > 0 && printed >= cfg.Count {
				return errCountReached
			}
		}
		return cfg.Flush() // an error: stdout closed (e.g. piped into head)
	})
	switch {
	case errors.Is(err, errCountReached):
		return cfg.Flush()
	case err != nil:
		return err
	case context.Cause(rctx) == errIdle && ctx.Err() == nil:
		cfg.Log.Info("no result for the idle time; exiting", "idle", cfg.Idle.String(), "printed", printed)
	}
	return nil // interrupted: a tail -f ends quietly
}

// Why Tail stops reading, other than ctx.
var (
	errIdle         = errors.New("no result for the idle time")
	errCountReached = errors.New("count results handed on")
)

// WriteJSON writes the record's value as it is, one JSON object a line.
func WriteJSON(w io.Writer, rec *kgo.Record) error {
	if _, err := w.Write(rec.Value); err != nil {
		return err
	}
	if len(rec.Value) == 0 || rec.Value[len(rec.Value)-1] != '\n' {
		_, err := io.WriteString(w, "\n")
		return err
	}
	return nil
}

// WriteLine writes one result compactly:
//
//	12:04:05.123  lobby  #42  2 faces  happy 0.91, neutral 0.66  12.3 ms
func WriteLine(w io.Writer, rec *kgo.Record) error {
	var r frame.Result
	if err := json.Unmarshal(rec.Value, &r); err != nil {
		return err
	}
	if r.Schema != frame.Schema {
		return fmt.Errorf("schema %q", r.Schema)
	}
	var what string
	switch {
	case r.Status != frame.StatusOK:
		what = r.Status
		if r.Reason != "" {
			what += " (" + r.Reason + ")"
		}
	case len(r.Faces) == 0:
		what = "no faces"
	default:
		what = fmt.Sprintf("%d face", len(r.Faces))
		if len(r.Faces) > 1 {
			what += "s"
		}
		labels := make([]string, 0, len(r.Faces))
		for _, f := range r.Faces {
			labels = append(labels, fmt.Sprintf("%s %.2f", f.Emotion, f.Emotions[f.Emotion]))
		}
		what += "  " + strings.Join(labels, ", ")
	}
	_, err := fmt.Fprintf(w, "%s  %s  #%d  %s  %.1f ms\n",
		r.CapturedAt.Local().Format("15:04:05.000"), r.Camera, r.Seq, what, r.LatencyMS)
	return err
}
