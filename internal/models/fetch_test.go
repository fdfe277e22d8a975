package models

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// These tests run the real npm against the real registry with a tiny
// package (is-number@7.0.0, 2.4 kB): the code under test is the npm
// invocation, the checksum and the extraction, so a fake npm would test
// nothing.

const tinySHA = "7b75c1057198cf97696909a9bee176c9c5e9bcb5b03bf3ecef2f484defadd51e"

func tiny(sha string) []Package {
	return []Package{{
		Name: "is-number", Version: "7.0.0", SHA256: sha,
		Files: map[string]string{"package/index.js": "tiny/index.js", "package/LICENSE": "tiny/LICENSE"},
	}}
}

func needNPM(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("npm"); err != nil {
		t.Fatal("npm is required (apt-get install npm)")
	}
}

func TestFetchInstallsVerifiesAndIsIdempotent(t *testing.T) {
	needNPM(t)
	p := At(t.TempDir())
	ctx := context.Background()
	m, err := Fetch(ctx, FetchConfig{Paths: p, Packages: tiny(tinySHA)})
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Files) != 2 || len(m.Packages) != 1 {
		t.Fatalf("manifest: %+v", m)
	}
	b, err := os.ReadFile(filepath.Join(p.Home, "tiny/index.js"))
	if err != nil || !strings.Contains(string(b), "module.exports") {
		t.Fatalf("extracted file: %v %q", err, b)
	}
	// Second run: no npm on PATH at all, must still succeed from the cache.
	t.Setenv("PATH", "")
	if _, err := Fetch(ctx, FetchConfig{Paths: p, Packages: tiny(tinySHA)}); err != nil {
		t.Fatalf("offline re-fetch: %v", err)
	}
	// A modified file is detected and restored from the cached tarball,
	// still without the network.
	if err := os.WriteFile(filepath.Join(p.Home, "tiny/index.js"), []byte("tampered"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Fetch(ctx, FetchConfig{Paths: p, Packages: tiny(tinySHA)}); err != nil {
		t.Fatalf("repair: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(p.Home, "tiny/index.js")); string(b) == "tampered" {
		t.Error("tampered file was not restored")
	}
	m2, err := ReadManifest(p)
	if err != nil || len(m2.Files) != 2 {
		t.Fatalf("manifest after repair: %v %+v", err, m2)
	}
}

func TestFetchChecksumMismatch(t *testing.T) {
	needNPM(t)
	p := At(t.TempDir())
	_, err := Fetch(context.Background(), FetchConfig{Paths: p, Packages: tiny(strings.Repeat("0", 64))})
	if err == nil || !strings.Contains(err.Error(), "checksum mismatch") {
		t.Fatalf("err = %v, want checksum mismatch", err)
	}
	if _, err := os.Stat(filepath.Join(p.Home, "tiny/index.js")); !os.IsNotExist(err) {
		t.Error("files extracted from an unverified tarball")
	}
}

func TestFetchWithoutNPM(t *testing.T) {
	t.Setenv("PATH", "")
	_, err := Fetch(context.Background(), FetchConfig{Paths: At(t.TempDir()), Packages: tiny(tinySHA)})
	if !errors.Is(err, ErrNoNPM) {
		t.Fatalf("err = %v, want ErrNoNPM", err)
	}
	if !strings.Contains(err.Error(), "apt-get install npm") {
		t.Errorf("message does not say how to install npm: %v", err)
	}
}

func TestFetchRegistryUnreachable(t *testing.T) {
	needNPM(t)
	// Port 9 on loopback: nothing listens, the connection is refused at once.
	t.Setenv("npm_config_registry", "http://127.0.0.1:9/")
	t.Setenv("npm_config_fetch_retries", "0")
	t.Setenv("npm_config_cache", t.TempDir())
	_, err := Fetch(context.Background(), FetchConfig{Paths: At(t.TempDir()), Packages: tiny(tinySHA)})
	if !errors.Is(err, ErrRegistryUnreachable) {
		t.Fatalf("err = %v, want ErrRegistryUnreachable", err)
	}
}

func TestFetchMissingFileInPackage(t *testing.T) {
	needNPM(t)
	pk := tiny(tinySHA)
	pk[0].Files["package/does-not-exist.js"] = "tiny/x.js"
	_, err := Fetch(context.Background(), FetchConfig{Paths: At(t.TempDir()), Packages: pk})
	if err == nil || !strings.Contains(err.Error(), "does not contain package/does-not-exist.js") {
		t.Fatalf("err = %v", err)
	}
}

func TestTarballName(t *testing.T) {
	for _, tc := range []struct {
		p    Package
		want string
	}{
		{Package{Name: "@vladmandic/human", Version: "3.3.6"}, "vladmandic-human-3.3.6.tgz"},
		{Package{Name: "onnxruntime-node", Version: "1.24.3"}, "onnxruntime-node-1.24.3.tgz"},
	} {
		if got := tc.p.Tarball(); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.p.Spec(), got, tc.want)
		}
	}
}

func TestHomeAndORTLib(t *testing.T) {
	t.Setenv(EnvHome, "/x/fc")
	t.Setenv(EnvORTLib, "")
	p := At("")
	if p.Home != "/x/fc" || p.Detector() != "/x/fc/models/blazeface.onnx" {
		t.Errorf("paths: %+v %s", p, p.Detector())
	}
	if got := p.ResolveORTLib(""); got != "/x/fc/lib/libonnxruntime.so.1" {
		t.Errorf("default lib %s", got)
	}
	t.Setenv(EnvORTLib, "/env/lib.so")
	if got := p.ResolveORTLib(""); got != "/env/lib.so" {
		t.Errorf("env lib %s", got)
	}
	if got := p.ResolveORTLib("/flag/lib.so"); got != "/flag/lib.so" {
		t.Errorf("flag lib %s", got)
	}
}
