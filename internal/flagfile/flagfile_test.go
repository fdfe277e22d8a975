package flagfile

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/framecast/framecast/internal/flagvalue"
)

// testFlags is a command's flag set in miniature: a string, a number, a
// duration, a size, a bool, a repeatable list and --config.
type testFlags struct {
	fs      *flag.FlagSet
	brokers string
	workers int
	idle    time.Duration
	size    int64
	json    bool
	sources flagvalue.List
}

func newTestFlags() *testFlags {
	t := &testFlags{fs: flag.NewFlagSet("framecast test", flag.ContinueOnError)}
	t.fs.SetOutput(io.Discard)
	t.fs.String(Flag, "", "")
	t.fs.StringVar(&t.brokers, "brokers", "localhost:9092", "")
	t.fs.IntVar(&t.workers, "workers", 1, "")
	t.fs.DurationVar(&t.idle, "idle", 0, "")
	flagvalue.SizeVar(t.fs, &t.size, "max-bytes", 1<<20, "")
	t.fs.BoolVar(&t.json, "json", false, "")
	t.fs.Var(&t.sources, "source", "")
	return t
}

func TestFill(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string // the command line: wins over the file
		file string
		want string // the flags after Fill, as got() prints them
		err  []string
	}{
		{name: "empty file", file: "", want: "localhost:9092 1 0s 1048576 false []"},
		{name: "only comments", file: "# nothing yet\n", want: "localhost:9092 1 0s 1048576 false []"},
		{name: "scalars in their text form",
			file: "brokers: 127.0.0.1:9092\nworkers: 8\nidle: 30s\nmax-bytes: 64MiB\njson: true\n",
			want: "127.0.0.1:9092 8 30s 67108864 true []"},
		{name: "a list sets a repeatable flag once per item",
			file: "source: [a=synthetic:, b=synthetic:]\n", want: "localhost:9092 1 0s 1048576 false [a=synthetic: b=synthetic:]"},
		{name: "a scalar sets a repeatable flag once",
			file: "source: \"a=synthetic:\"\n", want: "localhost:9092 1 0s 1048576 false [a=synthetic:]"},
		{name: "anchors and aliases", file: "brokers: &b k:9092\nsource: [*b]\n", want: "k:9092 1 0s 1048576 false [k:9092]"},
		{name: "the command line wins, list and all",
			args: []string{"--workers", "3", "--source", "c=synthetic:"},
			file: "workers: 8\nsource: [a=synthetic:]\nidle: 5s\n",
			want: "localhost:9092 3 5s 1048576 false [c=synthetic:]"},
		{name: "unknown key, with the closest flag",
			file: "brokerz: k:9092\n", err: []string{`line 1: unknown key "brokerz"`, "framecast test has no such flag", `did you mean "brokers"?`}},
		{name: "unknown key written as a flag", file: "--workers: 2\n", err: []string{`unknown key "--workers"`, `did you mean "workers"?`}},
		{name: "unknown key, nothing close", file: "frobnicate: 1\n", err: []string{`unknown key "frobnicate"`, "`framecast test --help` lists them"}},
		{name: "key given twice", file: "workers: 2\nidle: 1s\nworkers: 3\n", err: []string{`line 3: "workers" given twice (first on line 1)`}},
		{name: "list for a single-valued flag", file: "workers: [1, 2]\n", err: []string{"line 1: workers: takes one value, not a list"}},
		{name: "mapping for a flag", file: "idle:\n  seconds: 3\n", err: []string{"idle: takes a value, not a mapping"}},
		{name: "no value", file: "brokers:\n", err: []string{"brokers: no value"}},
		{name: "nested list item", file: "source: [[a]]\n", err: []string{"each item of the list must be one value"}},
		{name: "value the flag refuses", file: "max-bytes: 12XB\nworkers: many\n",
			err: []string{`line 1: invalid value "12XB" for max-bytes`, "want a positive size", `line 2: invalid value "many" for workers`}},
		{name: "the file names another", file: "config: other.yaml\n", err: []string{"cannot name another"}},
		{name: "not a mapping", file: "- brokers\n", err: []string{"want a mapping of flag names to values"}},
		{name: "malformed", file: "brokers: [k:9092\n", err: []string{"not valid YAML", "fix the file"}},
		{name: "two documents", file: "workers: 2\n---\nworkers: 3\n", err: []string{"more than one YAML document"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tf := newTestFlags()
			if err := tf.fs.Parse(tc.args); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(t.TempDir(), "f.yaml")
			if err := os.WriteFile(path, []byte(tc.file), 0o600); err != nil {
				t.Fatal(err)
			}
			err := Fill(tf.fs, path)
			if len(tc.err) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				if got := tf.got(); got != tc.want {
					t.Errorf("flags %q, want %q", got, tc.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("no error; want %q", tc.err)
			}
			for _, want := range append(tc.err, "--config "+path) {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not say %q", err, want)
				}
			}
		})
	}
}

func (t *testFlags) got() string {
	return fmt.Sprintf("%s %d %v %d %v %v", t.brokers, t.workers, t.idle, t.size, t.json, []string(t.sources))
}

// TestFillMarksSet: flags from the file count as given (fs.Visit), as
// those from the command line and the environment do, so the commands'
// "was it given" checks see them.
func TestFillMarksSet(t *testing.T) {
	tf := newTestFlags()
	if err := fill(tf.fs, "f.yaml", []byte("idle: 2s\n")); err != nil {
		t.Fatal(err)
	}
	var visited []string
	tf.fs.Visit(func(f *flag.Flag) { visited = append(visited, f.Name) })
	if strings.Join(visited, " ") != "idle" {
		t.Errorf("visited %q, want idle", visited)
	}
}

func TestMissingFile(t *testing.T) {
	err := Fill(newTestFlags().fs, filepath.Join(t.TempDir(), "absent.yaml"))
	if err == nil || !strings.Contains(err.Error(), "--config") || !strings.Contains(err.Error(), "absent.yaml") {
		t.Errorf("error %v: want one naming --config and the file", err)
	}
}

func TestDistance(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{{"", "", 0}, {"brokers", "brokers", 0}, {"brokerz", "brokers", 1}, {"max-inflight", "max-in-flight", 1}, {"", "abc", 3}, {"kitten", "sitting", 3}} {
		if got := distance(tc.a, tc.b); got != tc.want {
			t.Errorf("distance(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}
