package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/framecast/framecast/internal/flagvalue"
	"github.com/framecast/framecast/internal/kafka"
	"github.com/framecast/framecast/internal/results"
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
	var cameras flagvalue.List
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
	var want []string
	for _, c := range cameras {
		for _, id := range strings.Split(c, ",") {
			if id = strings.TrimSpace(id); id != "" {
				want = append(want, id)
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
	out := bufio.NewWriter(env.stdout)
	defer out.Flush()
	write := func(r *kgo.Record) error { return results.WriteLine(out, r) }
	if *jsonOut {
		write = func(r *kgo.Record) error { _ = results.WriteJSON(out, r); return nil } // a write error shows at the flush
	}
	return results.Tail(ctx, results.Config{
		ClientOpts: opts, Topic: kc.Topics.Results, FromStart: fromStart, From: *from,
		Cameras: want, Count: *count, Idle: *idle, Flush: out.Flush, Log: env.log,
	}, write)
}
