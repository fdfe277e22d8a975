// Package cli wires framecast's subcommands: one file per subcommand, flags
// with FRAMECAST_* environment fallbacks, slog narration on stderr and data
// on stdout.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"

	"github.com/framecast/framecast/internal/flagfile"
)

// Env is the prefix of environment variables that stand in for flags:
// --onnxruntime-lib ↔ FRAMECAST_ONNXRUNTIME_LIB.
const envPrefix = "FRAMECAST_"

// command is one subcommand.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, env *environment, args []string) error
	// service: the command runs until it is told to stop (a role), so
	// stopping on a signal is its job done; see exitStatus.
	service bool
}

// environment is what a subcommand may touch: its streams and logger.
type environment struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	log            *slog.Logger
}

func commands() []command {
	return []command{
		{"analyze", "analyse image files offline: faces, boxes, emotions (no Kafka)", runAnalyze, false},
		{"bench", "measure analysis time per image (compute only), or the whole pipeline through Kafka with --pipeline", runBench, false},
		{"broker", "run the embedded development Kafka broker (kfake with a data directory)", runBroker, true},
		{"demo", "run everything in one process: broker, synthetic cameras, processor, dashboard (prints its URL)", runDemo, true},
		{"models", "fetch, convert and list the models and the ONNX Runtime library", runModels, false},
		{"publish", "capture frames from sources and produce them to the frames topic", runPublish, true},
		{"process", "consume frames, detect faces and emotions, produce results (consumer group worker)", runProcess, true},
		{"results", "print analysis results from the results topic", runResults, true},
		{"version", "print version, commit, Go and ONNX Runtime versions", runVersion, false},
		{"view", "serve the live dashboard: every camera with boxes and emotions, charts, MJPEG streams", runView, true},
	}
}

// errUsage marks errors that are the user's invocation, exit status 2:
// errors.Is(err, errUsage) holds for every *usageErr.
var errUsage = errors.New("usage")

// usageErr is a bad invocation. Its message is what the user reads, with
// no prefix to strip, so several can be joined into one.
type usageErr struct{ msg string }

func (e *usageErr) Error() string        { return e.msg }
func (e *usageErr) Is(target error) bool { return target == errUsage }

// usageError reports a bad invocation.
func usageError(format string, a ...any) error {
	return &usageErr{fmt.Sprintf(format, a...)}
}

// errBadFlags marks flag errors the flag package already printed, with
// the usage text (exit status 2, no second message).
var errBadFlags = errors.New("bad flags")

// errReported marks failures already explained on stderr (exit 1, no
// second message).
var errReported = errors.New("reported")

// Main runs framecast with args (without the program name) and returns the
// process exit status. SIGINT and SIGTERM cancel the command's context.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return run(ctx, args, stdin, stdout, stderr)
}

// run is Main with the context that stands for the signals.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	env := &environment{stdin: stdin, stdout: stdout, stderr: stderr}
	global := flag.NewFlagSet("framecast", flag.ContinueOnError)
	global.SetOutput(stderr)
	logLevel := global.String("log-level", "info", "log level: debug, info, warn, error")
	logFormat := global.String("log-format", "auto", "log format: auto (text on a terminal, JSON otherwise), text, json")
	global.Usage = func() { rootUsage(stderr, global) }
	if err := parseFlags(global, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	log, err := newLogger(stderr, *logLevel, *logFormat)
	if err != nil {
		fmt.Fprintf(stderr, "framecast: %v\n", err)
		return 2
	}
	env.log = log
	rest := global.Args()
	if len(rest) == 0 {
		rootUsage(stderr, global)
		return 2
	}
	name := rest[0]
	if name == "help" || name == "-h" || name == "--help" {
		if len(rest) > 1 {
			return run(ctx, []string{rest[1], "--help"}, stdin, stdout, stderr)
		}
		rootUsage(stdout, global)
		return 0
	}
	for _, c := range commands() {
		if c.name != name {
			continue
		}
		return exitStatus(ctx, c, c.run(ctx, env, rest[1:]), stderr)
	}
	fmt.Fprintf(stderr, "framecast: unknown command %q; run `framecast help`\n", name)
	return 2
}

// exitStatus is the exit status of command c that returned err:
//
//	0    success, --help, or a service stopped by a signal
//	1    failure (explained on stderr)
//	2    bad invocation: flags, arguments, environment
//	130  a command with a finite job (analyze, bench, models) cut short
//	     by a signal: its output is incomplete
//
// A service (broker, publish, process, view, results, demo) runs until it
// is told to stop, so a signal is the ordinary end of its job, whether it
// came while the service was connecting or after hours of work: it drains
// and exits 0, as systemd and Kubernetes expect of a clean stop.
func exitStatus(ctx context.Context, c command, err error, stderr io.Writer) int {
	interrupted := ctx.Err() != nil && (err == nil || errors.Is(err, context.Canceled))
	switch {
	case interrupted && c.service:
		return 0
	case interrupted && err != nil:
		fmt.Fprintf(stderr, "framecast %s: interrupted\n", c.name)
		return 130
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errBadFlags):
		return 2
	case errors.Is(err, errUsage):
		fmt.Fprintf(stderr, "framecast %s: %v\n", c.name, err)
		return 2
	case errors.Is(err, errReported):
		return 1
	default:
		fmt.Fprintf(stderr, "framecast %s: %v\n", c.name, err)
		return 1
	}
}

func rootUsage(w io.Writer, global *flag.FlagSet) {
	fmt.Fprintf(w, "framecast — real-time face and emotion analytics for camera fleets\n\nUsage: framecast [global flags] <command> [flags] [args]\n\nCommands:\n")
	cmds := commands()
	sort.Slice(cmds, func(i, j int) bool { return cmds[i].name < cmds[j].name })
	for _, c := range cmds {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(w, "\nGlobal flags:\n")
	global.SetOutput(w)
	global.PrintDefaults()
	fmt.Fprintf(w, "\nEvery flag can also be set by an environment variable: FRAMECAST_ + the flag name in\nupper case with - replaced by _ (e.g. FRAMECAST_ONNXRUNTIME_LIB), and a command's flags by its\n--config FILE (YAML, flag names as keys: brokers: 127.0.0.1:9092; not the global flags).\nPrecedence: flags > FRAMECAST_* environment > --config file.\nRun `framecast help <command>` for a command's flags.\n")
}

// parseFlags parses args, then fills every flag not given from its FRAMECAST_*
// environment variable, then from the --config file (flagfile): flags >
// environment > file, none wired by hand; fs.Visit sees all three.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errBadFlags
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		key := envName(f.Name)
		if v, ok := os.LookupEnv(key); ok && !set[f.Name] {
			if err := fs.Set(f.Name, v); err != nil {
				errs = append(errs, fmt.Errorf("environment %s=%q: %v", key, v, err))
			}
		}
	})
	if c := fs.Lookup(flagfile.Flag); c != nil && c.Value.String() != "" {
		errs = append(errs, flagfile.Fill(fs, c.Value.String()))
	}
	if err := errors.Join(errs...); err != nil {
		fmt.Fprintf(fs.Output(), "%s: %v\n", fs.Name(), err)
		return errBadFlags
	}
	return nil
}

func envName(flagName string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// newFlagSet makes a subcommand's flag set, with --config, and a usage
// text that names the environment variables and the file too.
func newFlagSet(env *environment, name, synopsis, about string) *flag.FlagSet {
	fs := flag.NewFlagSet("framecast "+name, flag.ContinueOnError)
	fs.SetOutput(env.stderr)
	fs.String(flagfile.Flag, "", "YAML `file` of flag values, flag names as keys (brokers: 127.0.0.1:9092, source: [a=synthetic:]); flags and FRAMECAST_* win over it; not the global --log-level, --log-format")
	fs.Usage = func() {
		w := fs.Output()
		fmt.Fprintf(w, "Usage: framecast %s %s\n\n%s\n\nFlags (each also from FRAMECAST_<FLAG> in the environment, then from the key <flag> in the --config file):\n", name, synopsis, about)
		fs.PrintDefaults()
	}
	return fs
}

// newLogger builds the slog logger: text on a terminal, JSON otherwise.
func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: use debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "auto":
		if isTerminal(w) {
			return slog.New(slog.NewTextHandler(w, opts)), nil
		}
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: use auto, text or json", format)
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
