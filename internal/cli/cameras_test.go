package cli

import (
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/framecast/framecast/internal/publish"
	"github.com/framecast/framecast/internal/source"
)

// TestSourceFlagsSpecsAndOptions: the flags' own checks, and the source
// options of each camera (publish.TestCameras has the camera list).
func TestSourceFlagsSpecsAndOptions(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "cams.yaml")
	if err := os.WriteFile(file, []byte("cameras:\n  - uri: \"synthetic:\"\n    fps: 4\n    size: 320x240\n  - id: door\n    uri: rtsp://127.0.0.1:1/x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	parse := func(args ...string) (*sourceFlags, []publish.CameraSpec, error) {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		var sf sourceFlags
		sf.register(fs, 10)
		if err := fs.Parse(args); err != nil {
			t.Fatal(err)
		}
		specs, err := sf.specs(fs.Args())
		return &sf, specs, err
	}
	sf, specs, err := parse("--source", "lobby=synthetic:", "--camera-file", file, "lavfi:testsrc2")
	if err != nil {
		t.Fatal(err)
	}
	if len(specs) != 4 || specs[1].URI != "lavfi:testsrc2" {
		t.Errorf("cameras %+v: want the --source, the argument, then the file's two", specs)
	}
	// No --fps/--size given: video sources keep their own rate and size;
	// synthetic ones get the defaults; a camera's own fps and size win.
	o, fps := sf.options(specs[0])
	if o.VideoFPS != 0 || o.VideoWidth != 0 || fps != 10 || o.Width != source.DefaultWidth || !(!o.Unpaced) || o.Loop {
		t.Errorf("defaults: %+v fps %v", o, fps)
	}
	o, fps = sf.options(specs[2])
	if o.VideoFPS != 4 || fps != 4 || o.VideoWidth != 320 || o.Height != 240 {
		t.Errorf("per-camera: %+v fps %v", o, fps)
	}
	sf, specs, err = parse("--source", "synthetic:", "--fps", "5", "--size", "160x120", "--realtime=false", "--loop", "--stall-timeout", "3s", "--ffmpeg", "/opt/ff")
	if err != nil {
		t.Fatal(err)
	}
	o, _ = sf.options(specs[0])
	if o.VideoFPS != 5 || o.VideoWidth != 160 || o.VideoHeight != 120 || !o.Unpaced || !o.Loop || o.StallTimeout.Seconds() != 3 || o.FFmpeg != "/opt/ff" {
		t.Errorf("flags: %+v", o)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "no --source"},
		{[]string{"--source", "synthetic:", "--stall-timeout", "0s"}, "--stall-timeout"},
		{[]string{"--source", "synthetic:", "--fps", "0"}, "--fps 0"},
		{[]string{"--source", "synthetic:", "--jpeg-quality", "101"}, "--jpeg-quality 101"},
		{[]string{"--source", "synthetic:", "--size", "big"}, "--size"},
	} {
		if _, _, err := parse(tc.args...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want an error about %s", tc.args, err, tc.want)
		}
	}
}
