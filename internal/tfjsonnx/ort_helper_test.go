package tfjsonnx

import (
	"sync"
	"testing"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/framecast/framecast/internal/testkit"
)

// ONNX Runtime's environment is process-global: initialize it once per test
// binary and never tear it down while other tests may still use it.
var (
	ortOnce sync.Once
	ortErr  error
)

// requireORT skips the test without the cache `make setup` fills (see
// testkit.RequireModels) and fails it when the library is there but
// cannot be initialized.
func requireORT(t testing.TB) {
	t.Helper()
	lib := testkit.RequireModels(t).ResolveORTLib("")
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
