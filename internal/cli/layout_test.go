package cli

import (
	"bufio"
	"go/build"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The layout the redesign settled on (docs/ARCHITECTURE.md), kept by a
// test so it does not drift back: small files, a thin CLI, and an engine
// that knows nothing of the wire format.
const (
	maxFileLines = 700  // any production .go file
	maxCLILines  = 1800 // internal/cli, production files together: under this
)

func TestLayout(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	cli := 0
	err = filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") || d.Name() == "node_modules" || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		n := countLines(t, path)
		rel, _ := filepath.Rel(root, path)
		if n > maxFileLines {
			t.Errorf("%s has %d lines; split it (at most %d)", rel, n, maxFileLines)
		}
		if filepath.Dir(rel) == filepath.Join("internal", "cli") {
			cli += n
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("internal/cli: %d production lines", cli)
	if cli >= maxCLILines {
		t.Errorf("internal/cli has %d production lines (at most %d): it keeps flags, usage, exit status and output formatting; move the rest to a package named for it", cli, maxCLILines)
	}
	// The engine knows nothing of the result schema: the analysis stage
	// maps its faces to it.
	pkg, err := build.Import("github.com/framecast/framecast/internal/vision", root, 0)
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(pkg.Imports, "github.com/framecast/framecast/internal/frame") {
		t.Error("internal/vision imports internal/frame")
	}
}

func countLines(t *testing.T, path string) int {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	n := 0
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		n++
	}
	return n
}
