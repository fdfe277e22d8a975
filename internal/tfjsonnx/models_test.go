package tfjsonnx

import (
	"math"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/framecast/framecast/internal/testkit"
)

// raceEnabled is set by race_test.go when built with -race.
var raceEnabled bool

// loadCachedModel reads a tfjs model that `make setup` downloads into the
// cache; without the cache the test is skipped (see testkit.RequireModels).
func loadCachedModel(t *testing.T, name string) (modelJSON, weights []byte) {
	t.Helper()
	dir := testkit.RequireModels(t).ModelsDir()
	j, err1 := os.ReadFile(filepath.Join(dir, name+".json"))
	b, err2 := os.ReadFile(filepath.Join(dir, name+".bin"))
	if err1 != nil || err2 != nil {
		t.Fatalf("read %s: %v %v", name, err1, err2)
	}
	return j, b
}

// sinInput is the deterministic input x[i] = sin(i*0.001) used for the
// real-model checks (and for comparing against TensorFlow.js by hand).
func sinInput(n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(math.Sin(float64(i) * 0.001))
	}
	return x
}

func TestRealModels(t *testing.T) {
	cases := []struct {
		model    string
		input    Tensor
		outputs  []Tensor
		runShape []int64 // batch resolved
	}{
		{
			model: "blazeface",
			input: Tensor{"input", []int64{1, 256, 256, 3}},
			// Signature order, as TensorFlow.js reports model.outputs.
			outputs: []Tensor{
				{"Identity_3", []int64{1, 384, 16}},
				{"Identity", []int64{1, 512, 1}},
				{"Identity_1", []int64{1, 384, 1}},
				{"Identity_2", []int64{1, 512, 16}},
			},
			runShape: []int64{1, 256, 256, 3},
		},
		{
			model:    "emotion",
			input:    Tensor{"input_1", []int64{-1, 64, 64, 1}},
			outputs:  []Tensor{{"Identity", []int64{-1, 7}}},
			runShape: []int64{3, 64, 64, 1},
		},
	}
	for _, tc := range cases {
		t.Run(tc.model, func(t *testing.T) {
			j, b := loadCachedModel(t, tc.model)
			m, err := Convert(j, b, Config{})
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(m.Inputs, []Tensor{tc.input}) {
				t.Errorf("inputs = %v, want %v", m.Inputs, tc.input)
			}
			if !reflect.DeepEqual(m.Outputs, tc.outputs) {
				t.Errorf("outputs = %v, want %v", m.Outputs, tc.outputs)
			}
			names, err := Outputs(j)
			if err != nil {
				t.Fatal(err)
			}
			var outNames []string
			for _, o := range tc.outputs {
				outNames = append(outNames, o.Name)
			}
			if !reflect.DeepEqual(names, outNames) {
				t.Errorf("Outputs() = %v, want %v", names, outNames)
			}

			requireORT(t)
			ins, outs, err := ort.GetInputOutputInfoWithONNXData(m.ONNX)
			if err != nil {
				t.Fatalf("ONNX Runtime rejects the model: %v", err)
			}
			if len(ins) != 1 || ins[0].Name != tc.input.Name || !reflect.DeepEqual([]int64(ins[0].Dimensions), tc.input.Shape) {
				t.Errorf("ORT inputs = %v", ins)
			}
			for i, o := range outs {
				if o.Name != tc.outputs[i].Name || !reflect.DeepEqual([]int64(o.Dimensions), tc.outputs[i].Shape) {
					t.Errorf("ORT output %d = %v, want %v", i, o, tc.outputs[i])
				}
			}

			batch := tc.runShape[0]
			res := runONNX(t, m.ONNX, tc.input.Name, tc.runShape, sinInput(int(numElements(tc.runShape))), outNames)
			for i, r := range res {
				want := append([]int64(nil), tc.outputs[i].Shape...)
				if want[0] < 0 {
					want[0] = batch
				}
				if !reflect.DeepEqual(r.shape, want) {
					t.Errorf("%s: shape %v, want %v", outNames[i], r.shape, want)
				}
				for k, v := range r.data {
					if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
						t.Fatalf("%s[%d] = %v", outNames[i], k, v)
					}
				}
			}
			// Independent numerical check against the float64 NHWC reference
			// interpreter (reference_test.go). Differences are float32
			// rounding only: ~1e-4 on BlazeFace logits of magnitude ~70.
			if (testing.Short() || raceEnabled) && tc.model == "blazeface" {
				// ~100M multiply-adds: seconds normally, a minute under -race,
				// which has nothing to find in this single-threaded loop.
				t.Log("-short or -race: skipping the float64 reference run for blazeface")
			} else {
				in := newRef(int(tc.runShape[0]), int(tc.runShape[1]), int(tc.runShape[2]), int(tc.runShape[3]))
				for i, v := range sinInput(len(in.data)) {
					in.data[i] = float64(v)
				}
				refs := refEval(t, j, b, in, outNames)
				for i := range res {
					maxAbs, err := compareRef(res[i], refs[i], 5e-4, 1e-5)
					if err != nil {
						t.Errorf("%s vs float64 reference: %v", outNames[i], err)
					}
					t.Logf("%s: max abs diff vs float64 reference %.2g", outNames[i], maxAbs)
				}
			}
			if tc.model == "emotion" {
				// Softmax rows must be distributions.
				for row := 0; row < int(batch); row++ {
					sum := 0.0
					for _, v := range res[0].data[row*7 : row*7+7] {
						sum += float64(v)
					}
					if math.Abs(sum-1) > 1e-5 {
						t.Errorf("row %d sums to %v", row, sum)
					}
				}
			}
		})
	}
}
