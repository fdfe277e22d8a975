package testkit

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/framecast/framecast/internal/models"
)

// EnvRequireModels names the environment variable that turns a missing
// model, ONNX Runtime or sample photo from a skip into a failure. `make
// test` sets it to 1: there `make setup` has just run, so something missing
// is a broken machine that a skip would hide.
const EnvRequireModels = "FRAMECAST_TEST_REQUIRE_MODELS"

// RequireModels returns the cache layout after checking that it holds what
// tests of the analysis need: the converted face and emotion models, the
// ONNX Runtime library ($FRAMECAST_ONNXRUNTIME_LIB or the cached copy), the
// sample photos and the test images derived from them. Without them the
// test is skipped with how to get them, or fails under `make test` (see
// EnvRequireModels).
func RequireModels(t testing.TB) models.Paths {
	t.Helper()
	p := models.At("")
	files := []string{p.Detector(), p.Emotion(), filepath.Join(p.Samples(), "sample1.jpg"), p.TestImages()}
	// A bare library name is for the dynamic loader to find, not a file
	// here.
	if lib := p.ResolveORTLib(""); strings.ContainsRune(lib, filepath.Separator) {
		files = append(files, lib)
	}
	require(t, "the models and ONNX Runtime", files...)
	return p
}

// RequireInt8Models is RequireModels plus the int8 models `framecast
// models fetch` quantises on the machine (models.Paths.DetectorInt8,
// EmotionInt8).
func RequireInt8Models(t testing.TB) models.Paths {
	t.Helper()
	p := RequireModels(t)
	require(t, "the int8 models", p.DetectorInt8(), p.EmotionInt8())
	return p
}

// RequireSamples returns the cache layout after checking that it holds
// the sample photos (no models, no ONNX Runtime): for tests of sources and
// test videos. Missing, they skip the test as RequireModels does.
func RequireSamples(t testing.TB) models.Paths {
	t.Helper()
	p := models.At("")
	require(t, "the sample photos", filepath.Join(p.Samples(), "sample1.jpg"))
	return p
}

func require(t testing.TB, what string, paths ...string) {
	t.Helper()
	var missing []string
	for _, f := range paths {
		if _, err := os.Stat(f); err != nil {
			missing = append(missing, f)
		}
	}
	if len(missing) == 0 {
		return
	}
	msg := fmt.Sprintf("this test needs %s (missing: %s): run `make setup`, or `framecast models fetch` (cache %s; $%s moves it)",
		what, strings.Join(missing, ", "), models.At("").Home, models.EnvHome)
	if os.Getenv(EnvRequireModels) == "1" {
		t.Fatalf("%s (%s=1: a failure, not a skip)", msg, EnvRequireModels)
	}
	t.Skip(msg)
}

// FFmpeg returns the path of ffmpeg after checking that ffprobe is there
// too. A missing ffmpeg fails the test rather than skipping it: video
// sources are part of framecast, and a skipped test hides a broken machine.
func FFmpeg(t testing.TB) string {
	t.Helper()
	bin, err := exec.LookPath("ffmpeg")
	if err == nil {
		_, err = exec.LookPath("ffprobe")
	}
	if err != nil {
		t.Fatalf("this test needs ffmpeg and ffprobe: install ffmpeg (Debian/Ubuntu: apt-get install ffmpeg; macOS: brew install ffmpeg): %v", err)
	}
	return bin
}
