package analysis

import (
	"flag"
	"io"
	"strings"
	"testing"
)

// The soak's processor child must analyse as the parent does: Args, parsed
// by a fresh flag set, gives back the same flags.
func TestFlagsArgsRoundTrip(t *testing.T) {
	var a Flags
	fs := flag.NewFlagSet("a", flag.ContinueOnError)
	a.Register(fs)
	if err := fs.Parse([]string{"--home", "/h", "--min-score", "0.25", "--max-faces", "7", "--emotion-model", "/m/e.onnx", "--max-bytes", "3MiB", "--threads", "3", "--precision", "int8"}); err != nil {
		t.Fatal(err)
	}
	var b Flags
	fs2 := flag.NewFlagSet("b", flag.ContinueOnError)
	fs2.SetOutput(io.Discard)
	b.Register(fs2)
	if err := fs2.Parse(a.Args()); err != nil {
		t.Fatalf("child cannot parse %q: %v", a.Args(), err)
	}
	b.Threads = a.Threads // the child gets its own
	if a != b {
		t.Errorf("round trip: %+v, want %+v", b, a)
	}
	if got := strings.Join(a.Args(), " "); strings.Contains(got, "--threads") {
		t.Errorf("Args %q carries --threads", got)
	}
}

func TestFlagsCheck(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, ""},
		{[]string{"--min-score", "1.5"}, "--min-score 1.5"},
		{[]string{"--max-faces", "0", "--threads", "-1"}, "--max-faces 0"},
		{[]string{"--max-pixels", "0"}, "--max-pixels 0"},
		{[]string{"--precision", "int8"}, ""},
		{[]string{"--precision", "fp16"}, `--precision "fp16"`},
	} {
		var f Flags
		fs := flag.NewFlagSet("x", flag.ContinueOnError)
		f.Register(fs)
		if err := fs.Parse(tc.args); err != nil {
			t.Fatal(err)
		}
		err := f.Check()
		if tc.want == "" {
			if err != nil {
				t.Errorf("%q: %v", tc.args, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want it to mention %q", tc.args, err, tc.want)
		}
	}
}

// An int8 request on a cache filled before int8 existed must say how to get
// the models, before ONNX Runtime is even loaded.
func TestFlagsInt8Missing(t *testing.T) {
	f := Flags{Home: t.TempDir(), ORTLib: "/nonexistent/libonnxruntime.so", Precision: "int8"}
	_, err := f.Engine()
	if err == nil {
		t.Fatal("Engine succeeded without models")
	}
	if !strings.Contains(err.Error(), "--precision int8") || !strings.Contains(err.Error(), "framecast models fetch") {
		t.Errorf("error %q does not say to run `framecast models fetch`", err)
	}
}
