package cli

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"hash/crc32"
	"image/jpeg"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/framecast/framecast/internal/frame"
	"github.com/framecast/framecast/internal/models"
	"github.com/framecast/framecast/internal/samples"
	"github.com/framecast/framecast/internal/testkit"
)

// paths is the cache `make setup` fills. Tests that need what it holds
// call testkit.RequireModels first: the others run without it.
var paths = models.At("")

// runCLI calls framecast in-process, as a user would from a shell.
func runCLI(t *testing.T, stdin []byte, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = Main(args, bytes.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

// frame640 is the 640×480 test image with four faces; the test is
// skipped without the models (see testkit.RequireModels), which it is
// analysed with.
func frame640(t *testing.T) string {
	t.Helper()
	return filepath.Join(testkit.RequireModels(t).TestImages(), samples.Frame640)
}

func TestAnalyzeJSON(t *testing.T) {
	code, out, errs := runCLI(t, nil, "analyze", "--json", frame640(t), filepath.Join(paths.TestImages(), "noface.png"))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	sc := bufio.NewScanner(strings.NewReader(out))
	var results []frame.Result
	for sc.Scan() {
		if err := frame.Validate(sc.Bytes()); err != nil {
			t.Errorf("output does not match the schema: %v\n%s", err, sc.Text())
		}
		var r frame.Result
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatal(err)
		}
		results = append(results, r)
	}
	if len(results) != 2 {
		t.Fatalf("%d results, want 2:\n%s", len(results), out)
	}
	if r := results[0]; r.Camera != samples.Frame640 || r.Seq != 0 || len(r.Faces) != 4 || r.Frame.Width != 640 || r.Status != "ok" {
		t.Errorf("first result: %+v", r)
	}
	if r := results[1]; r.Seq != 1 || len(r.Faces) != 0 || r.Faces == nil {
		t.Errorf("second result: %+v", r)
	}
}

func TestAnalyzeTableAndStdin(t *testing.T) {
	data, err := os.ReadFile(frame640(t))
	if err != nil {
		t.Fatal(err)
	}
	code, out, errs := runCLI(t, data, "analyze", "-")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, want := range []string{"640×480", "4 faces", "EMOTION", "BOX x,y,w,h"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
}

func TestAnalyzeAnnotate(t *testing.T) {
	dir := t.TempDir()
	code, _, errs := runCLI(t, nil, "analyze", "--annotate", dir, frame640(t), frame640(t))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, name := range []string{"frame-640x480.jpg", "frame-640x480-2.jpg"} {
		f, err := os.Open(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		img, err := jpeg.Decode(f)
		f.Close()
		if err != nil || img.Bounds().Dx() != 640 {
			t.Fatalf("%s: %v", name, err)
		}
	}
}

// pngHeader forges a PNG whose IHDR declares w×h: the guard must refuse it
// from the header alone.
func pngHeader(w, h uint32) []byte {
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], w)
	binary.BigEndian.PutUint32(ihdr[4:], h)
	ihdr[8], ihdr[9] = 8, 2
	binary.Write(&b, binary.BigEndian, uint32(13))
	chunk := append([]byte("IHDR"), ihdr...)
	b.Write(chunk)
	binary.Write(&b, binary.BigEndian, crc32.ChecksumIEEE(chunk))
	return b.Bytes()
}

func TestAnalyzeBadInputs(t *testing.T) {
	dir := t.TempDir()
	good, err := os.ReadFile(frame640(t))
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{
		"empty.jpg":     {},
		"random.jpg":    bytes.Repeat([]byte{0x13, 0x37, 0xfe}, 1000),
		"truncated.jpg": good[:len(good)/2],
		"text.png":      []byte("this is not an image\n"),
		"huge.png":      pngHeader(100000, 100000),
	}
	var args []string
	for name, b := range files {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		args = append(args, p)
	}
	args = append(args, filepath.Join(dir, "missing.jpg"), frame640(t))
	code, out, errs := runCLI(t, nil, append([]string{"analyze", "--json"}, args...)...)
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	if n := strings.Count(out, "\n"); n != 1 || !strings.Contains(out, `"faces":[{`) {
		t.Errorf("the good file must still be analysed, stdout:\n%s", out)
	}
	for name, want := range map[string]string{
		"empty.jpg": "empty", "random.jpg": "not", "truncated.jpg": "truncated",
		"text.png": "not", "huge.png": "100000", "missing.jpg": "no such file",
	} {
		line := ""
		for _, l := range strings.Split(errs, "\n") {
			if strings.Contains(l, name) {
				line = l
			}
		}
		if line == "" || !strings.Contains(strings.ToLower(line), want) {
			t.Errorf("%s: stderr line %q should mention %q\nstderr:\n%s", name, line, want, errs)
		}
	}
	if !strings.Contains(errs, "6 of 7 files could not be analysed") {
		t.Errorf("no summary line:\n%s", errs)
	}
}

func TestAnalyzeMaxPixelsFlag(t *testing.T) {
	code, _, errs := runCLI(t, nil, "analyze", "--max-pixels", "1000", frame640(t))
	if code != 1 || !strings.Contains(errs, "--max-pixels") {
		t.Errorf("exit %d, stderr %s", code, errs)
	}
}

func TestUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"analyze"}, "no files given"},
		{[]string{"analyze", "--min-score", "7", "x.jpg"}, "--min-score"},
		{[]string{"analyze", "--max-faces", "0", "x.jpg"}, "--max-faces"},
		{[]string{"analyze", "--no-such-flag"}, "flag provided but not defined"},
		{[]string{"frobnicate"}, "unknown command"},
		{[]string{"models"}, "missing subcommand"},
		{[]string{"--log-level", "loud", "version"}, "--log-level"},
	} {
		code, _, errs := runCLI(t, nil, tc.args...)
		if code != 2 || !strings.Contains(errs, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 mentioning %q", tc.args, code, errs, tc.want)
		}
	}
}

func TestEnvFallback(t *testing.T) {
	t.Setenv("FRAMECAST_MIN_SCORE", "7")
	code, _, errs := runCLI(t, nil, "analyze", frame640(t))
	if code != 2 || !strings.Contains(errs, "--min-score 7") {
		t.Errorf("env not applied: exit %d %s", code, errs)
	}
	// The flag wins over the environment.
	code, _, errs = runCLI(t, nil, "analyze", "--min-score", "0.5", frame640(t))
	if code != 0 {
		t.Errorf("flag did not win: exit %d %s", code, errs)
	}
	t.Setenv("FRAMECAST_MIN_SCORE", "abc")
	if code, _, errs = runCLI(t, nil, "analyze", frame640(t)); code != 2 || !strings.Contains(errs, "FRAMECAST_MIN_SCORE") {
		t.Errorf("bad env value: exit %d %s", code, errs)
	}
}

func TestVersionAndModelsList(t *testing.T) {
	testkit.RequireModels(t)
	code, out, errs := runCLI(t, nil, "version")
	if code != 0 || !strings.Contains(out, "onnxruntime: 1.24") || !strings.Contains(out, "go:") {
		t.Errorf("version: exit %d\n%s%s", code, out, errs)
	}
	code, out, errs = runCLI(t, nil, "models", "list")
	if code != 0 || !strings.Contains(out, "models/blazeface.onnx") || !strings.Contains(out, "onnxruntime-node") {
		t.Errorf("models list: exit %d\n%s%s", code, out, errs)
	}
	code, _, errs = runCLI(t, nil, "models", "list", "--home", t.TempDir())
	if code != 1 || !strings.Contains(errs, "models fetch") {
		t.Errorf("empty cache: exit %d %s", code, errs)
	}
}
