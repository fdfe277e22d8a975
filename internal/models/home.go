// Package models fetches, verifies and converts what framecast needs at run
// time but does not ship: the default face and emotion models, the ONNX
// Runtime shared library and the sample photos. Everything lands in one cache
// directory so that a machine is set up by one idempotent command and works
// offline afterwards.
package models

import (
	"os"
	"path/filepath"
	"runtime"
)

// EnvHome names the environment variable that overrides the cache directory.
const EnvHome = "FRAMECAST_HOME"

// EnvORTLib names the environment variable that points to another ONNX
// Runtime shared library (a distribution package, a release archive, a GPU
// build); the --onnxruntime-lib flag wins over it.
const EnvORTLib = "FRAMECAST_ONNXRUNTIME_LIB"

// Home returns the cache directory: $FRAMECAST_HOME if set, else
// ~/.cache/framecast (XDG cache dir), else ./.framecast as a last resort on
// machines without a home directory.
func Home() string {
	if h := os.Getenv(EnvHome); h != "" {
		return h
	}
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "framecast")
	}
	return ".framecast"
}

// Paths lays out the cache directory. Keeping every location in one place
// means the Makefile, the tests and the CLI cannot disagree on them.
type Paths struct{ Home string }

// At returns the layout rooted at home ("" means Home()).
func At(home string) Paths {
	if home == "" {
		home = Home()
	}
	return Paths{Home: home}
}

// Tarballs is where verified npm tarballs are kept, so that a second fetch
// works offline.
func (p Paths) Tarballs() string { return filepath.Join(p.Home, "npm") }

// ModelsDir holds the TensorFlow.js sources and the converted ONNX models.
func (p Paths) ModelsDir() string { return filepath.Join(p.Home, "models") }

// Detector is the converted BlazeFace model.
func (p Paths) Detector() string { return filepath.Join(p.ModelsDir(), "blazeface.onnx") }

// Emotion is the converted emotion model.
func (p Paths) Emotion() string { return filepath.Join(p.ModelsDir(), "emotion.onnx") }

// DetectorInt8 is BlazeFace quantised to int8 by `models fetch`
// (internal/quantize).
func (p Paths) DetectorInt8() string { return filepath.Join(p.ModelsDir(), "blazeface.int8.onnx") }

// EmotionInt8 is the emotion model quantised to int8.
func (p Paths) EmotionInt8() string { return filepath.Join(p.ModelsDir(), "emotion.int8.onnx") }

// ORTLib is the ONNX Runtime shared library taken from onnxruntime-node.
func (p Paths) ORTLib() string { return filepath.Join(p.Home, "lib", "libonnxruntime.so.1") }

// Samples holds the face-api sample photos (sample1.jpg … sample6.jpg).
func (p Paths) Samples() string { return filepath.Join(p.Home, "images", "face-api") }

// TestImages holds the variants derived from the samples for tests.
func (p Paths) TestImages() string { return filepath.Join(p.Home, "testimages") }

// Manifest records what is installed, with versions and hashes.
func (p Paths) Manifest() string { return filepath.Join(p.Home, "manifest.json") }

// ResolveORTLib picks the ONNX Runtime library: the flag value, then
// $FRAMECAST_ONNXRUNTIME_LIB, then the cached copy.
func (p Paths) ResolveORTLib(flag string) string {
	if flag != "" {
		return flag
	}
	if e := os.Getenv(EnvORTLib); e != "" {
		return e
	}
	return p.ORTLib()
}

// ortArch maps GOARCH to the directory name onnxruntime-node uses.
func ortArch() string {
	if runtime.GOARCH == "arm64" {
		return "arm64"
	}
	return "x64"
}
