package models

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// ErrNoNPM is returned when npm is not on PATH.
var ErrNoNPM = errors.New("npm not found on PATH: install Node.js and npm (Debian/Ubuntu: apt-get install npm), or copy a filled cache directory to this machine and point FRAMECAST_HOME at it")

// ErrRegistryUnreachable is returned when npm cannot reach its registry.
var ErrRegistryUnreachable = errors.New("the npm registry is unreachable")

// npmPack downloads one package tarball into dir with `npm pack`, which only
// fetches the tarball: no dependencies are resolved and no install scripts
// run (onnxruntime-node's postinstall would try to download CUDA libraries).
func npmPack(ctx context.Context, spec, dir string) (string, error) {
	npm, err := exec.LookPath("npm")
	if err != nil {
		return "", ErrNoNPM
	}
	cmd := exec.CommandContext(ctx, npm, "pack", spec, "--pack-destination", dir, "--ignore-scripts", "--loglevel", "error")
	// A scratch working directory keeps npm from reading a package.json of
	// whatever project the user happens to be in.
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if isNetworkError(msg) {
			return "", fmt.Errorf("npm pack %s: %w (check the network, or npm's registry and proxy settings; once the cache is filled framecast works offline): %s", spec, ErrRegistryUnreachable, npmSummary(msg))
		}
		return "", fmt.Errorf("npm pack %s failed: %w: %s", spec, err, npmSummary(msg))
	}
	name := strings.TrimSpace(lastLines(stdout.String(), 1))
	if name == "" {
		return "", fmt.Errorf("npm pack %s printed no file name", spec)
	}
	return filepath.Join(dir, name), nil
}

func isNetworkError(msg string) bool {
	for _, s := range []string{"ENOTFOUND", "ECONNREFUSED", "ETIMEDOUT", "EAI_AGAIN", "ECONNRESET", "network", "ENETUNREACH", "EHOSTUNREACH", "certificate"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// npmSummary keeps the informative lines of npm's error output: the error
// code and the failed request, not the JavaScript stack.
func npmSummary(msg string) string {
	var keep []string
	for _, l := range strings.Split(msg, "\n") {
		l = strings.TrimSpace(strings.TrimPrefix(l, "npm error"))
		if l == "" || strings.HasPrefix(l, "at ") || strings.HasPrefix(l, "npm warn") || strings.ContainsAny(l[:1], "{}") ||
			strings.HasPrefix(l, "A complete log") || strings.Contains(l, ": '") ||
			strings.HasPrefix(l, "syscall ") || strings.HasPrefix(l, "errno ") {
			continue
		}
		keep = append(keep, l)
		if len(keep) == 3 {
			break
		}
	}
	if len(keep) == 0 {
		return lastLines(msg, 3)
	}
	return strings.Join(keep, "; ")
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	var keep []string
	for _, l := range lines {
		// npm prints warnings about the user's own config; they are noise here.
		if strings.HasPrefix(l, "npm warn") {
			continue
		}
		keep = append(keep, l)
	}
	if len(keep) > n {
		keep = keep[len(keep)-n:]
	}
	return strings.Join(keep, " | ")
}

// tempDirIn makes a scratch directory beside the final destination so the
// final rename stays on one file system.
func tempDirIn(dir string) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	return os.MkdirTemp(dir, ".pack-")
}
