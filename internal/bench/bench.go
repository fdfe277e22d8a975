// Package bench holds framecast's three benchmarks and their reports:
//
//   - RunCompute: the compute-only cost of analysing image files (decode,
//     detect, classify), medians over repeated runs on one engine
//     (`framecast bench FILE…`);
//   - RunPipeline: throughput and latency through the embedded broker, run
//     as a child process: compute only, a saturation backlog and a
//     real-time phase, with memory and CPU read from /proc (`framecast
//     bench --pipeline`);
//   - RunSoak: the whole pipeline above capacity for a long time, with the
//     broker and the processor as child processes, checking that every
//     frame is accounted for and memory stays flat (`framecast bench
//     --soak`; its report is internal/soak's).
//
// Every frame is analysed by the one analysis stage (internal/analysis),
// as the processor and offline analysis analyse it. The cli package parses
// and validates the flags into a Config and prints the report this package
// returns (Write): the JSON field names are stable, scripts read them.
package bench

import (
	"encoding/json"
	"io"
	"log/slog"
	"math"
	"time"

	"github.com/framecast/framecast/internal/analysis"
	"github.com/framecast/framecast/internal/frame"
	"github.com/framecast/framecast/internal/ratelog"
)

// Report is a benchmark's report: JSON by its field names, or its own
// text.
type Report interface {
	Print(w io.Writer) error
}

// Write writes rep to w as indented JSON when asJSON, else as its text.
func Write(w io.Writer, rep Report, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	return rep.Print(w)
}

// NewAnalyzer makes one analysis engine (a *vision.Engine in framecast,
// analysis.Fake in tests); each is used by one goroutine at a time.
type NewAnalyzer func() (analysis.Analyzer, error)

// analyse runs one frame's bytes through st, timed from now: the result
// holds the faces, the decode, detect and classify times and, in
// timings_ms.total, the whole of it.
func analyse(st *analysis.Stage, data []byte) (frame.Result, error) {
	received := time.Now()
	res := analysis.Begin(analysis.Input{Received: received})
	if err := st.Analyze(data, &res); err != nil {
		return res, err
	}
	analysis.Finish(&res, received)
	return res, nil
}

// keepOpen lends an engine to a stage or a processor without letting it
// close it: the pipeline bench's engines serve every phase.
type keepOpen struct{ analysis.Analyzer }

func (keepOpen) Close() {}

// lend is keepOpen that still runs the networks apart (analysis.Splitter)
// when an can, so a processor with Tracking follows faces.
func lend(an analysis.Analyzer) analysis.Analyzer {
	if sp, ok := an.(analysis.Splitter); ok {
		return keepOpenSplit{sp}
	}
	return keepOpen{an}
}

type keepOpenSplit struct{ analysis.Splitter }

func (keepOpenSplit) Close() {}

// quietLog passes on only a component's warnings and errors: the bench
// narrates the phases itself.
func quietLog(l *slog.Logger, component string) *slog.Logger {
	return ratelog.AtLeast(l, slog.LevelWarn).With("component", component)
}

func round1(v float64) float64 { return float64(int64(v*10+0.5)) / 10 }
func round2(v float64) float64 { return math.Round(v*100) / 100 }
func round3(v float64) float64 { return math.Round(v*1000) / 1000 }

// mb is bytes in MB (MiB), to 0.1.
func mb(b int64) float64 { return round1(float64(b) / (1 << 20)) }

// ms is d in milliseconds, as the results carry durations.
func ms(d time.Duration) float64 { return analysis.MS(d) }
