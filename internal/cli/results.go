package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/framecast/framecast/internal/frame"
	"github.com/framecast/framecast/internal/kafka"
)

const resultsAbout = `Print analysis results from the results topic as they arrive, like tail -f: one compact
line per frame (time, camera, sequence, faces, emotions, latency), or with --json each
record's value as it is, one framecast.result.v1 JSON object per line.

Reads with read_committed isolation, so results of aborted exactly-once transactions never
show, and consumes the partitions directly: it never joins (or disturbs) a consumer group.

Examples:
  framecast results                                 follow new results
  framecast results --from beginning --count 10 --json
  framecast results --camera lobby --idle 5s        exit after 5 s without a result`

func runResults(ctx context.Context, env *environment, args []string) error {
	fs := newFlagSet(env, "results", "[flags]", resultsAbout)
	var kc kafka.Config
	kc.RegisterFlags(fs)
	jsonOut := fs.Bool("json", false, "print each record's value (framecast.result.v1 JSON), one per line")
	var cameras stringList
	fs.Var(&cameras, "camera", "only results of this camera; repeat or separate with commas for several")
	from := fs.String("from", "end", "where to start: end (new results only) or beginning (everything the topic retains)")
	count := fs.Int("count", 0, "exit after printing this many results (0: no limit)")
	idle := fs.Duration("idle", 0, "exit when no result arrives for this long (0: wait forever)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	var errs []error
	if fs.NArg() > 0 {
		errs = append(errs, fmt.Errorf("unexpected arguments %q: results takes only flags", fs.Args()))
	}
	fromStart := false
	switch *from {
	case "end":
	case "beginning", "start":
		fromStart = true
	default:
		errs = append(errs, fmt.Errorf("--from %q: use beginning or end", *from))
	}
	if *count < 0 || *idle < 0 {
		errs = append(errs, errors.New("--count and --idle must not be negative"))
	}
	if err := kc.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return usageError("%v", err)
	}
	want := map[string]bool{}
	for _, c := range cameras {
		for _, id := range strings.Split(c, ",") {
			if id = strings.TrimSpace(id); id != "" {
				want[id] = true
			}
		}
	}

	opts, err := kafkaClient(ctx, env.log, &kc, "framecast-results")
	if err != nil {
		if ctx.Err() != nil {
			return nil // interrupted before it started: a normal stop
		}
		return err
	}
	rd, err := kafka.NewDirectReader(opts, kafka.ReaderConfig{
		Topics: []string{kc.Topics.Results}, FromStart: fromStart, ReadCommitted: true, Log: env.log,
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

	env.log.Info("reading results", "topic", kc.Topics.Results, "from", *from, "cameras", sortedKeys(want))
	out := bufio.NewWriter(env.stdout)
	defer out.Flush()
	// --idle ends the reading through its context: errIdle is its cause.
	rctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	var idleTimer *time.Timer
	if *idle > 0 {
		idleTimer = time.AfterFunc(*idle, func() { stop(errIdle) })
		defer idleTimer.Stop()
	}
	printed := 0
	err = rd.Run(rctx, func(fetches kgo.Fetches) error {
		for _, r := range fetches.Records() {
			if len(want) > 0 && !want[string(r.Key)] {
				continue
			}
			if *jsonOut {
				out.Write(r.Value)
				if len(r.Value) == 0 || r.Value[len(r.Value)-1] != '\n' {
					out.WriteByte('\n')
				}
			} else if err := printResultLine(out, r); err != nil {
				env.log.Warn("not a framecast.result.v1 record", "partition", r.Partition, "offset", r.Offset, "err", err)
				continue
			}
			printed++
			if idleTimer != nil {
				idleTimer.Reset(*idle)
			}
			if *count > 0 && printed >= *count {
				return errCountReached
			}
		}
		return out.Flush() // an error: stdout closed (e.g. piped into head)
	})
	switch {
	case errors.Is(err, errCountReached):
		return out.Flush()
	case err != nil:
		return err
	case context.Cause(rctx) == errIdle && ctx.Err() == nil:
		env.log.Info("no result for the idle time; exiting", "idle", idle.String(), "printed", printed)
	}
	return nil // interrupted: a tail -f ends quietly
}

// Why `framecast results` stops reading, other than an interrupt.
var (
	errIdle         = errors.New("no result for the idle time")
	errCountReached = errors.New("--count results printed")
)

// printResultLine prints one result compactly:
//
//	12:04:05.123  lobby  #42  2 faces  happy 0.91, neutral 0.66  12.3 ms
func printResultLine(w io.Writer, rec *kgo.Record) error {
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

// sortedKeys is for stable messages about camera sets.
func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
