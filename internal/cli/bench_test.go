package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/framecast/framecast/internal/bench"
)

// TestBenchJSON runs the compute-only bench on the real engine: the flags
// reach it and the report comes out as JSON on stdout. (The benches
// themselves are tested in internal/bench.)
func TestBenchJSON(t *testing.T) {
	img := frame640(t)
	code, out, errs := runCLI(t, nil, "bench", "--json", "--iterations", "2", "--warmup", "1", "--threads", "1", img)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var rep bench.ComputeReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("report is not JSON: %v\n%s", err, out)
	}
	if rep.Iterations != 2 || rep.Threads != 1 || rep.ONNXRuntime == "" || len(rep.Images) != 1 || rep.Images[0].Faces != 4 || rep.FramesPerSec <= 0 {
		t.Errorf("report %+v", rep)
	}
	code, out, _ = runCLI(t, nil, "bench", "--iterations", "1", "--warmup", "0", "--threads", "1", img)
	if code != 0 || !strings.Contains(out, "TOTAL p50") || !strings.Contains(out, "medians of 1 runs") {
		t.Errorf("text report: exit %d\n%s", code, out)
	}
}

func TestBenchUsage(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"--iterations", "0", "x.jpg"},
		{"--min-score", "2", "x.jpg"},
	} {
		if code, _, errs := runCLI(t, nil, append([]string{"bench"}, args...)...); code != 2 {
			t.Errorf("%v: exit %d, want 2: %s", args, code, errs)
		}
	}
	code, _, errs := runCLI(t, nil, "bench", "--help")
	if code != 0 || !strings.Contains(errs, "-pipeline") || !strings.Contains(errs, "--soak DURATION") || !strings.Contains(errs, "-iterations") {
		t.Errorf("bench --help: exit %d\n%s", code, errs)
	}
}

func TestBenchPipelineUsage(t *testing.T) {
	for _, args := range [][]string{
		{"--cameras", "0"},
		{"--fps", "0"},
		{"--size", "big"},
		{"--duration", "10ms"},
		{"extra"},
	} {
		code, _, errs := runCLI(t, nil, append([]string{"bench", "--pipeline"}, args...)...)
		if code != 2 {
			t.Errorf("%v: exit %d, want 2: %s", args, code, errs)
		}
	}
	// Every error at once, in the order of the flags.
	code, _, errs := runCLI(t, nil, "bench", "--pipeline", "--cameras", "0", "--size", "big", "--jpeg-quality", "0")
	if want := "--cameras 0: want 1 to 256\n--size \"big\": want WIDTHxHEIGHT, e.g. 640x480\n--jpeg-quality 0: want 1 to 100"; code != 2 || !strings.Contains(errs, want) {
		t.Errorf("exit %d, want 2 and\n%s\ngot\n%s", code, want, errs)
	}
	code, _, errs = runCLI(t, nil, "bench", "--pipeline", "--help")
	if code != 0 || !strings.Contains(errs, "--backlog") || !strings.Contains(errs, "compute only") {
		t.Errorf("--pipeline --help: exit %d\n%s", code, errs)
	}
}

func TestIsPipelineBench(t *testing.T) {
	for _, tc := range []struct {
		args []string
		env  string
		want bool
	}{
		{[]string{"x.jpg"}, "", false},
		{[]string{"--pipeline"}, "", true},
		{[]string{"--pipeline=false"}, "1", false},
		{[]string{"--json"}, "true", true},
		{[]string{"--", "--pipeline"}, "", false},
		{nil, "maybe", false},
	} {
		t.Setenv("FRAMECAST_PIPELINE", tc.env)
		if got := isPipelineBench(tc.args); got != tc.want {
			t.Errorf("args %v env %q: %v, want %v", tc.args, tc.env, got, tc.want)
		}
	}
}

func TestBenchSoakUsage(t *testing.T) {
	for _, args := range [][]string{
		{"--soak", "0s"},
		{"--soak", "10s", "--soak-load", "0"},
		{"--soak", "10s", "--cameras", "8", "--backlog-frames", "10", "--partitions", "12"},
		{"--soak", "10s", "--max-age", "0s"},
		{"--soak", "10s", "extra"},
	} {
		if code, _, errs := runCLI(t, nil, append([]string{"bench"}, args...)...); code != 2 {
			t.Errorf("%v: exit %d, want 2: %s", args, code, errs)
		}
	}
	code, _, errs := runCLI(t, nil, "bench", "--pipeline", "--soak", "1m", "--help")
	if code != 0 || !strings.Contains(errs, "--soak-load") || !strings.Contains(errs, "--backlog-frames") {
		t.Errorf("--soak --help: exit %d\n%s", code, errs)
	}
	for _, tc := range []struct {
		args []string
		want bool
	}{
		{[]string{"--soak", "1m"}, true},
		{[]string{"--pipeline", "-soak=30m"}, true},
		{[]string{"--pipeline"}, false},
		{[]string{"--", "--soak"}, false},
		{[]string{"soak.jpg"}, false},
	} {
		if got := isSoakBench(tc.args); got != tc.want {
			t.Errorf("isSoakBench(%v) = %v", tc.args, got)
		}
	}
}

// TestBenchModeFromConfigFile: the mode flags reach bench from the --config
// file (or FRAMECAST_CONFIG's) too, behind the command line and the
// environment, as every flag does.
func TestBenchModeFromConfigFile(t *testing.T) {
	dir := t.TempDir()
	pipeline, soak := filepath.Join(dir, "pipeline.yaml"), filepath.Join(dir, "soak.yaml")
	if err := os.WriteFile(pipeline, []byte("pipeline: true\ncameras: 2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(soak, []byte("soak: 10m\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("FRAMECAST_PIPELINE", "")
	os.Unsetenv("FRAMECAST_PIPELINE")
	for _, tc := range []struct {
		args           []string
		env            string // FRAMECAST_CONFIG
		pipe, soakMode bool
	}{
		{[]string{"--config", pipeline}, "", true, false},
		{[]string{"--config=" + pipeline}, "", true, false},
		{[]string{"--config", pipeline, "--pipeline=false"}, "", false, false},
		{nil, pipeline, true, false},
		{[]string{"--config", soak}, "", false, true},
		{[]string{"--config", filepath.Join(dir, "missing.yaml")}, "", false, false},
		{[]string{"--", "--config", pipeline}, "", false, false},
	} {
		t.Setenv("FRAMECAST_CONFIG", tc.env)
		if tc.env == "" {
			os.Unsetenv("FRAMECAST_CONFIG")
		}
		if got := isPipelineBench(tc.args); got != tc.pipe {
			t.Errorf("isPipelineBench(%q) with FRAMECAST_CONFIG=%q = %v, want %v", tc.args, tc.env, got, tc.pipe)
		}
		if got := isSoakBench(tc.args); got != tc.soakMode {
			t.Errorf("isSoakBench(%q) with FRAMECAST_CONFIG=%q = %v, want %v", tc.args, tc.env, got, tc.soakMode)
		}
	}
	// The whole command: --help of the mode the file chose.
	if code, _, errs := runCLI(t, nil, "bench", "--config", pipeline, "--help"); code != 0 || !strings.Contains(errs, "--compute-duration") {
		t.Errorf("bench --config (pipeline: true) --help: exit %d, not the pipeline bench's help:\n%s", code, errs)
	}
}

// TestBenchImagesRefuseTracking: the image benchmark analyses single
// images, which have no earlier frames to follow: the tracking flags are a
// usage error there, not silently ignored.
func TestBenchImagesRefuseTracking(t *testing.T) {
	for _, f := range []string{"--detect-every=3", "--reclassify-every=2", "--skip-static"} {
		if code, _, errs := runCLI(t, nil, "bench", f, "x.jpg"); code != 2 || !strings.Contains(errs, "bench --compare") {
			t.Errorf("bench %s x.jpg: exit %d, want 2 pointing to bench --compare:\n%s", f, code, errs)
		}
	}
}
