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
)

// Env is the prefix of environment variables that stand in for flags:
// --onnxruntime-lib ↔ FRAMECAST_ONNXRUNTIME_LIB.
const envPrefix = "FRAMECAST_"

// command is one subcommand.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, env *environment, args []string) error
}

// environment is what a subcommand may touch: its streams and logger.
type environment struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	log            *slog.Logger
}

func commands() []command {
	return []command{
		{"analyze", "analyse image files offline: faces, boxes, emotions (no Kafka)", runAnalyze},
		{"bench", "measure analysis time per image (compute only), or the whole pipeline through Kafka with --pipeline", runBench},
		{"broker", "run the embedded development Kafka broker (kfake with a data directory)", runBroker},
		{"demo", "run everything in one process: broker, synthetic cameras, processor, dashboard (prints its URL)", runDemo},
		{"models", "fetch, convert and list the models and the ONNX Runtime library", runModels},
		{"publish", "capture frames from sources and produce them to the frames topic", runPublish},
		{"process", "consume frames, detect faces and emotions, produce results (consumer group worker)", runProcess},
		{"results", "print analysis results from the results topic", runResults},
		{"version", "print version, commit, Go and ONNX Runtime versions", runVersion},
		{"view", "serve the live dashboard: every camera with boxes and emotions, charts, MJPEG streams", runView},
	}
}

// errUsage marks errors that are the user's invocation, exit status 2.
var errUsage = errors.New("usage")

// usageError reports a bad invocation.
func usageError(format string, a ...any) error {
	return fmt.Errorf("%w: %s", errUsage, fmt.Sprintf(format, a...))
}

// errBadFlags marks flag errors the flag package already printed, with
// the usage text (exit status 2, no second message).
var errBadFlags = errors.New("bad flags")

// errReported marks failures already explained on stderr (exit 1, no
// second message).
var errReported = errors.New("reported")

// Main runs framecast with args (without the program name) and returns the
// process exit status.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
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
			return Main([]string{rest[1], "--help"}, stdin, stdout, stderr)
		}
		rootUsage(stdout, global)
		return 0
	}
	for _, c := range commands() {
		if c.name != name {
			continue
		}
		err := c.run(ctx, env, rest[1:])
		switch {
		case err == nil:
			return 0
		case errors.Is(err, flag.ErrHelp):
			return 0
		case errors.Is(err, errBadFlags):
			return 2
		case errors.Is(err, errUsage):
			fmt.Fprintf(stderr, "framecast %s: %v\n", name, strings.TrimPrefix(err.Error(), "usage: "))
			return 2
		case errors.Is(err, errReported):
			return 1
		case errors.Is(err, context.Canceled):
			fmt.Fprintf(stderr, "framecast %s: interrupted\n", name)
			return 130
		default:
			fmt.Fprintf(stderr, "framecast %s: %v\n", name, err)
			return 1
		}
	}
	fmt.Fprintf(stderr, "framecast: unknown command %q; run `framecast help`\n", name)
	return 2
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
	fmt.Fprintf(w, "\nEvery flag can also be set by an environment variable: FRAMECAST_ + the flag name in\nupper case with - replaced by _ (e.g. FRAMECAST_ONNXRUNTIME_LIB). Flags win over the environment.\nRun `framecast help <command>` for a command's flags.\n")
}

// parseFlags parses args, then fills every flag not given on the command
// line from its FRAMECAST_* environment variable, so flags win over the
// environment without each flag being wired by hand.
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
		if set[f.Name] {
			return
		}
		key := envName(f.Name)
		v, ok := os.LookupEnv(key)
		if !ok {
			return
		}
		if err := f.Value.Set(v); err != nil {
			errs = append(errs, fmt.Errorf("environment %s=%q: %v", key, v, err))
		}
	})
	if len(errs) > 0 {
		fmt.Fprintf(fs.Output(), "%s: %v\n", fs.Name(), errors.Join(errs...))
		return errBadFlags
	}
	return nil
}

func envName(flagName string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// newFlagSet makes a subcommand's flag set with a usage text that lists
// the environment variables too.
func newFlagSet(env *environment, name, synopsis, about string) *flag.FlagSet {
	fs := flag.NewFlagSet("framecast "+name, flag.ContinueOnError)
	fs.SetOutput(env.stderr)
	fs.Usage = func() {
		w := fs.Output()
		fmt.Fprintf(w, "Usage: framecast %s %s\n\n%s\n\nFlags (each also from FRAMECAST_<FLAG> in the environment):\n", name, synopsis, about)
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
