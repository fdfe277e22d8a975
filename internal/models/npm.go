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
	cmd := exec.CommandContext(ctx, npm, "pack", spec, "--pack-destination", dir, "--ignore-scripts", "--silent")
	// A scratch working directory keeps npm from reading a package.json of
	// whatever project the user happens to be in.
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if isNetworkError(msg) {
			return "", fmt.Errorf("npm pack %s: %w (check the network or the npm proxy settings; once the cache is filled framecast works offline): %s", spec, ErrRegistryUnreachable, lastLines(msg, 3))
		}
		return "", fmt.Errorf("npm pack %s failed: %w: %s", spec, err, lastLines(msg, 5))
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
