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

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/framecast/framecast/internal/frame"
	"github.com/framecast/framecast/internal/kafka"
	"github.com/framecast/framecast/internal/ratelog"
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
	var start kgo.Offset
	switch *from {
	case "end":
		start = kgo.NewOffset().AtEnd()
	case "beginning", "start":
		start = kgo.NewOffset().AtStart()
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

	opts, err := kafkaClient(ctx, &kc, "framecast-results")
	if err != nil {
		if ctx.Err() != nil {
			return nil // interrupted before it started: a normal stop
		}
		return err
	}
	cl, err := kgo.NewClient(append(opts,
		kgo.ConsumeTopics(kc.Topics.Results),
		kgo.ConsumeResetOffset(start),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		// Short long-polls: partitions found after the first fetch went
		// out are not stuck behind it for the default 5 s.
		kgo.FetchMaxWait(500*time.Millisecond),
	)...)
	if err != nil {
		return err
	}
	defer cl.Close()
	if err := topicExists(ctx, cl, &kc, kc.Topics.Results); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}

	env.log.Info("reading results", "topic", kc.Topics.Results, "from", *from, "cameras", sortedKeys(want))
	out := bufio.NewWriter(env.stdout)
	defer out.Flush()
	printed := 0
	last := time.Now()
	fetchWarn := ratelog.New(env.log, 10*time.Second, 1)
	for {
		pctx, cancel := ctx, context.CancelFunc(func() {})
		if *idle > 0 {
			pctx, cancel = context.WithDeadline(ctx, last.Add(*idle))
		}
		fetches := cl.PollFetches(pctx)
		cancel()
		fetches.EachError(func(t string, p int32, err error) {
			if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, kgo.ErrClientClosed) {
				return
			}
			fetchWarn.Warn("fetch error (retried)", "topic", t, "partition", p, "err", err)
		})
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
			last = time.Now()
			if *count > 0 && printed >= *count {
				return out.Flush()
			}
		}
		if err := out.Flush(); err != nil {
			return err // stdout closed (e.g. piped into head)
		}
		if ctx.Err() != nil || fetches.IsClientClosed() {
			return nil // interrupted: a tail -f ends quietly
		}
		if *idle > 0 && time.Since(last) >= *idle {
			env.log.Info("no result for the idle time; exiting", "idle", idle.String(), "printed", printed)
			return nil
		}
	}
}

// topicExists fails with advice when the topic is missing: a direct
// consumer would otherwise wait for it silently.
func topicExists(ctx context.Context, cl *kgo.Client, kc *kafka.Config, topic string) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	td, err := kadm.NewClient(cl).ListTopics(ctx, topic)
	if err != nil {
		return fmt.Errorf("Kafka at %s: listing topics: %w", kc.Brokers, err)
	}
	if d, ok := td[topic]; !ok || d.Err != nil {
		return fmt.Errorf("topic %s does not exist on %s: start `framecast broker` (it creates the topics) or name another with --results-topic", topic, kc.Brokers)
	}
	return nil
}

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
