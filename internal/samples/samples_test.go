package samples

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/framecast/framecast/internal/imagex"
	"github.com/framecast/framecast/internal/testkit"
)

func TestDeriveIsDeterministic(t *testing.T) {
	paths := testkit.RequireSamples(t)
	src := paths.Samples()
	// One fresh derivation compared with the one `make setup` made in
	// another process: deterministic across runs, not just within one.
	a, b := t.TempDir(), paths.TestImages()
	if err := Derive(src, a); err != nil {
		t.Fatal(err)
	}
	want := map[string][2]int{
		"sample1-half.png": {960, 640}, "sample2-mirror.png": {1920, 1367}, "sample3-letterbox.png": {1920, 1080},
		"sample4-q40.jpg": {1920, 1448}, "sample5-1280.jpg": {1280, 932}, Frame640: {640, 480}, "noface.png": {800, 600},
	}
	for _, v := range Variants {
		x, err := os.ReadFile(filepath.Join(a, v.Name))
		if err != nil {
			t.Fatal(err)
		}
		y, _ := os.ReadFile(filepath.Join(b, v.Name))
		if !bytes.Equal(x, y) {
			t.Errorf("%s differs between two derivations", v.Name)
		}
		_, w, h, err := imagex.Info(x)
		if err != nil || [2]int{w, h} != want[v.Name] {
			t.Errorf("%s: %d×%d %v, want %v", v.Name, w, h, err, want[v.Name])
		}
	}
	// The mirror really is a mirror of the decoded original.
	orig, _ := imagex.DecodeFile(filepath.Join(src, "sample2.jpg"), imagex.DefaultLimits())
	mir, _ := imagex.DecodeFile(filepath.Join(a, "sample2-mirror.png"), imagex.DefaultLimits())
	for _, p := range [][2]int{{0, 0}, {100, 700}, {1919, 1366}} {
		x, y := p[0], p[1]
		o := orig.Pix[(y*orig.W+x)*3 : (y*orig.W+x)*3+3]
		m := mir.Pix[(y*mir.W+mir.W-1-x)*3 : (y*mir.W+mir.W-1-x)*3+3]
		if !bytes.Equal(o, m) {
			t.Errorf("pixel %v: %v vs mirrored %v", p, o, m)
		}
	}
	// Re-deriving into a full directory rewrites nothing.
	st, _ := os.Stat(filepath.Join(a, Frame640))
	if err := Derive(src, a); err != nil {
		t.Fatal(err)
	}
	st2, _ := os.Stat(filepath.Join(a, Frame640))
	if !st2.ModTime().Equal(st.ModTime()) {
		t.Error("unchanged file rewritten")
	}
}

func TestDeriveMissingSource(t *testing.T) {
	if err := Derive(t.TempDir(), t.TempDir()); err == nil {
		t.Error("no error without the sample photos")
	}
}
