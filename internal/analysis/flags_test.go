package analysis

import (
	"flag"
	"io"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/framecast/framecast/internal/frame"
	"github.com/framecast/framecast/internal/imagex"
	"github.com/framecast/framecast/internal/samples"
	"github.com/framecast/framecast/internal/testkit"
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

// TestPrecisionMixed: mixed runs the float detector, so its faces and boxes
// are fp32's exactly, and the int8 emotion model, so its probabilities are
// not quite; int8 moves the boxes too.
func TestPrecisionMixed(t *testing.T) {
	p := testkit.RequireInt8Models(t)
	data, err := os.ReadFile(filepath.Join(p.TestImages(), samples.Frame640))
	if err != nil {
		t.Fatal(err)
	}
	run := func(precision string) frame.Result {
		t.Helper()
		f := Flags{Home: p.Home, Precision: precision, Threads: 1, MinScore: 0.5, MaxFaces: 20}
		an, err := f.Analyzer()
		if err != nil {
			t.Fatal(err)
		}
		st := NewStage(an, imagex.DefaultLimits())
		defer st.Close()
		res := Begin(Input{Received: time.Now()})
		if err := st.Analyze(data, &res); err != nil {
			t.Fatal(err)
		}
		return res
	}
	fp32, mixed, int8 := run("fp32"), run("mixed"), run("int8")
	if len(fp32.Faces) != 4 || len(mixed.Faces) != 4 || len(int8.Faces) != 4 {
		t.Fatalf("faces: fp32 %d, mixed %d, int8 %d; want 4", len(fp32.Faces), len(mixed.Faces), len(int8.Faces))
	}
	probsDiffer, boxesDiffer := false, false
	for i := range fp32.Faces {
		if mixed.Faces[i].Box != fp32.Faces[i].Box || mixed.Faces[i].Score != fp32.Faces[i].Score {
			t.Errorf("face %d: mixed box %+v score %v, fp32 %+v %v: the detector must be the float one", i, mixed.Faces[i].Box, mixed.Faces[i].Score, fp32.Faces[i].Box, fp32.Faces[i].Score)
		}
		if !maps.Equal(mixed.Faces[i].Emotions, fp32.Faces[i].Emotions) {
			probsDiffer = true
		}
		if int8.Faces[i].Box != fp32.Faces[i].Box {
			boxesDiffer = true
		}
	}
	if !probsDiffer {
		t.Error("mixed gives fp32's probabilities to the 0.0001: is the emotion model the int8 one?")
	}
	if !boxesDiffer {
		t.Error("int8 gives fp32's boxes to the 0.01 px: is the detector the int8 one?")
	}
}

// TestSkipStaticMaxAgeFlag: the flag's 0 is "never" (StaticConfig's
// negative), its default one second, and a negative value a usage error.
func TestSkipStaticMaxAgeFlag(t *testing.T) {
	for _, tc := range []struct {
		arg  string
		want time.Duration
		bad  bool
	}{
		{"", time.Second, false},
		{"0", -1, false},
		{"250ms", 250 * time.Millisecond, false},
		{"-1s", 0, true},
	} {
		var f Flags
		fs := flag.NewFlagSet("x", flag.ContinueOnError)
		f.Register(fs)
		args := []string{"--skip-static"}
		if tc.arg != "" {
			args = append(args, "--skip-static-max-age", tc.arg)
		}
		if err := fs.Parse(args); err != nil {
			t.Fatal(err)
		}
		if err := f.Check(); (err != nil) != tc.bad {
			t.Errorf("%q: Check = %v, want error %v", tc.arg, err, tc.bad)
			continue
		}
		if got := f.Tracking().Static.MaxAge; !tc.bad && got != tc.want {
			t.Errorf("%q: MaxAge %v, want %v", tc.arg, got, tc.want)
		}
	}
}
