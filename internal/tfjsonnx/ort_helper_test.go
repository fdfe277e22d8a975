package tfjsonnx

import (
	"os"
	"path/filepath"
	"sync"
	"testing"

	ort "github.com/yalue/onnxruntime_go"
)

// cacheDir is where `make setup` puts models and the ONNX Runtime library.
func cacheDir() string {
	if d := os.Getenv("FRAMECAST_HOME"); d != "" {
		return d
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return filepath.Join(".cache", "framecast")
	}
	return filepath.Join(home, ".cache", "framecast")
}

func ortLibPath() string {
	if p := os.Getenv("FRAMECAST_ONNXRUNTIME_LIB"); p != "" {
		return p
	}
	return filepath.Join(cacheDir(), "lib", "libonnxruntime.so.1")
}

// ONNX Runtime's environment is process-global: initialize it once per test
// binary and never tear it down while other tests may still use it.
var (
	ortOnce sync.Once
	ortErr  error
)

// requireORT skips the test when the runtime library is absent and fails it
// when the library exists but cannot be initialized.
func requireORT(t testing.TB) {
	t.Helper()
	lib := ortLibPath()
	if _, err := os.Stat(lib); err != nil {
		t.Skipf("ONNX Runtime library not found at %s (run `make setup` to fill the cache, or set FRAMECAST_ONNXRUNTIME_LIB)", lib)
	}
	ortOnce.Do(func() {
		ort.SetSharedLibraryPath(lib)
		ortErr = ort.InitializeEnvironment()
	})
	if ortErr != nil {
		t.Fatalf("initialize ONNX Runtime from %s: %v", lib, ortErr)
	}
}

// ortResult is one output tensor copied out of ONNX Runtime.
type ortResult struct {
	shape []int64
	data  []float32
}

// runONNX runs a single-input float model and returns the named outputs.
func runONNX(t testing.TB, model []byte, inName string, inShape []int64, in []float32, outNames []string) []ortResult {
	t.Helper()
	requireORT(t)
	opts, err := ort.NewSessionOptions()
	if err != nil {
		t.Fatal(err)
	}
	defer opts.Destroy()
	if err := opts.SetIntraOpNumThreads(1); err != nil {
		t.Fatal(err)
	}
	sess, err := ort.NewDynamicAdvancedSessionWithONNXData(model, []string{inName}, outNames, opts)
	if err != nil {
		t.Fatalf("load converted model in ONNX Runtime: %v", err)
	}
	defer sess.Destroy()
	x, err := ort.NewTensor(ort.NewShape(inShape...), in)
	if err != nil {
		t.Fatal(err)
	}
	defer x.Destroy()
	outs := make([]ort.Value, len(outNames))
	if err := sess.Run([]ort.Value{x}, outs); err != nil {
		t.Fatalf("run converted model: %v", err)
	}
	res := make([]ortResult, len(outs))
	for i, o := range outs {
		tt, ok := o.(*ort.Tensor[float32])
		if !ok {
			t.Fatalf("output %s: unexpected value type %T", outNames[i], o)
		}
		res[i] = ortResult{
			shape: append([]int64(nil), tt.GetShape()...),
			data:  append([]float32(nil), tt.GetData()...),
		}
		o.Destroy()
	}
	return res
}
