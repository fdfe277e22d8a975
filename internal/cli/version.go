package cli

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/framecast/framecast/internal/models"
	"github.com/framecast/framecast/internal/vision"
)

// Set at link time by the Makefile (-X); `go build` without it falls back to
// the VCS stamp Go records in the binary.
var (
	version = "dev"
	commit  = ""
)

func buildCommit() string {
	if commit != "" {
		return commit
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		rev, dirty := "", false
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
		if rev != "" {
			if len(rev) > 12 {
				rev = rev[:12]
			}
			if dirty {
				rev += "-dirty"
			}
			return rev
		}
	}
	return "unknown"
}

func runVersion(ctx context.Context, env *environment, args []string) error {
	fs := newFlagSet(env, "version", "", "Print framecast's version, commit, Go version and the ONNX Runtime it loads.")
	home := fs.String("home", models.Home(), "cache directory")
	lib := fs.String("onnxruntime-lib", "", "ONNX Runtime shared library (default: the one in the cache directory)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError("unexpected arguments %q", fs.Args())
	}
	ortVersion := "not loaded"
	path := models.At(*home).ResolveORTLib(*lib)
	if err := vision.InitRuntime(path); err != nil {
		ortVersion = "not loaded (" + err.Error() + ")"
	} else {
		ortVersion = vision.RuntimeVersion() + " (" + path + ")"
	}
	fmt.Fprintf(env.stdout, "framecast %s\ncommit:      %s\ngo:          %s %s/%s\nonnxruntime: %s\n",
		version, buildCommit(), runtime.Version(), runtime.GOOS, runtime.GOARCH, ortVersion)
	return nil
}
