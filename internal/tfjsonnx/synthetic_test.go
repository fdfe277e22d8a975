package tfjsonnx

import (
	"math/rand/v2"
	"reflect"
	"strconv"
	"testing"
)

func randFloats(r *rand.Rand, n int64, scale float32) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = (r.Float32()*2 - 1) * scale
	}
	return v
}

// syntheticModel builds a small graph exercising every supported op with
// odd spatial sizes (so SAME padding is asymmetric), strides 2 and 3,
// a depthwise multiplier of 2, spatial+channel Pad, Mean with keep_dims,
// a Reshape of a dynamic batch, control inputs and ":0" references. Nodes
// are listed consumers-first to check that conversion does not rely on
// model.json being topologically sorted.
func syntheticModel() (modelJSON, weights []byte, outputs []string) {
	r := rand.New(rand.NewPCG(1, 2))
	b := &graphBuilder{}
	// Outputs first (sinks, in this order).
	b.node("probs", "Identity", []string{"softmax"}, floatT)
	b.node("flat", "Identity", []string{"reshape:0"}, floatT)
	b.node("pooled", "Identity", []string{"pool2"}, floatT)
	b.node("chansoft", "Identity", []string{"softmax4d"}, floatT)
	b.node("softmax4d", "Softmax", []string{"pool2"}, floatT) // 4-D: runs in NCHW over axis 1
	b.node("valid", "Identity", []string{"conv3"}, floatT)
	b.node("chanmean", "Identity", []string{"mean_c"}, floatT)

	b.node("softmax", "Softmax", []string{"mean_hw"}, floatT)
	b.node("mean_hw", "Mean", []string{"pad", "axes_hw"}, map[string]any{"T": aType("DT_FLOAT"), "Tidx": aType("DT_INT32"), "keep_dims": aBool(false)})
	b.node("reshape", "Reshape", []string{"dw2", "flat_shape"}, map[string]any{"T": aType("DT_FLOAT"), "Tshape": aType("DT_INT32"), "_cloned": aBool(true)})
	b.node("dw2", "DepthwiseConv2dNative", []string{"pad", "dw2_w"}, depthwiseAttr("SAME", 2, 2))
	b.node("pad", "Pad", []string{"pool1", "paddings"}, map[string]any{"T": aType("DT_FLOAT"), "Tpaddings": aType("DT_INT32")})
	b.node("pool1", "MaxPool", []string{"relu"}, maxPoolAttr("SAME", 3, 2))
	b.node("mean_c", "Mean", []string{"relu", "axes_c"}, map[string]any{"T": aType("DT_FLOAT"), "Tidx": aType("DT_INT32"), "keep_dims": aBool(true)})
	b.node("relu", "Relu", []string{"add"}, floatT)
	b.node("add", "AddV2", []string{"dw1", "conv2", "^conv1"}, floatT)
	b.node("conv2", "_FusedConv2D", []string{"dw1", "w2", "b2"}, fusedConvAttr("VALID", 1, 1, "BiasAdd"))
	b.node("dw1", "DepthwiseConv2dNative", []string{"conv1", "dw1_w"}, depthwiseAttr("SAME", 1, 1))
	b.node("pool2", "MaxPool", []string{"conv1"}, maxPoolAttr("SAME", 2, 2))
	b.node("conv1", "_FusedConv2D", []string{"x", "w1", "b1"}, fusedConvAttr("SAME", 2, 2, "BiasAdd", "Relu"))
	b.node("conv3", "_FusedConv2D", []string{"x:0", "w3", "b3"}, fusedConvAttr("VALID", 2, 3, "BiasAdd"))
	b.placeholder("x", -1, 9, 11, 3)

	b.constF("w1", []int64{3, 3, 3, 4}, randFloats(r, 3*3*3*4, 0.5))
	b.constF("b1", []int64{4}, randFloats(r, 4, 0.5))
	b.constF("dw1_w", []int64{3, 3, 4, 2}, randFloats(r, 3*3*4*2, 0.5))
	b.constF("w2", []int64{1, 1, 8, 8}, randFloats(r, 8*8, 0.5))
	b.constF("b2", []int64{8}, randFloats(r, 8, 0.5))
	b.constI("paddings", []int64{4, 2}, 0, 0, 1, 0, 0, 2, 0, 3)
	b.constI("axes_hw", []int64{2}, 1, 2)
	b.constI("axes_c", []int64{1}, -1)
	b.constF("dw2_w", []int64{3, 3, 11, 1}, randFloats(r, 3*3*11, 0.5))
	b.constI("flat_shape", []int64{2}, -1, 66)
	b.constF("w3", []int64{2, 3, 3, 5}, randFloats(r, 2*3*3*5, 0.5))
	b.constF("b3", []int64{5}, randFloats(r, 5, 0.5))
	b.constF("unused", []int64{2}, []float32{1, 2}) // not reachable: must not be emitted
	return b.json(), b.bin, []string{"probs", "flat", "pooled", "chansoft", "valid", "chanmean"}
}

func TestSyntheticGraphMatchesReference(t *testing.T) {
	j, w, outs := syntheticModel()
	wantOutputs := []Tensor{
		{"probs", []int64{-1, 11}},
		{"flat", []int64{-1, 66}},
		{"pooled", []int64{-1, 3, 3, 4}},
		{"chansoft", []int64{-1, 3, 3, 4}},
		{"valid", []int64{-1, 4, 3, 5}},
		{"chanmean", []int64{-1, 5, 6, 1}},
	}
	const batch = 2
	r := rand.New(rand.NewPCG(3, 4))
	x := randFloats(r, batch*9*11*3, 1)
	in := newRef(batch, 9, 11, 3)
	for i, v := range x {
		in.data[i] = float64(v)
	}
	refs := refEval(t, j, w, in, outs)

	for _, opset := range []int{13, 18, 21} {
		t.Run("opset"+strconv.Itoa(opset), func(t *testing.T) {
			m, err := Convert(j, w, Config{Opset: opset})
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(m.Inputs, []Tensor{{"x", []int64{-1, 9, 11, 3}}}) {
				t.Errorf("inputs = %v", m.Inputs)
			}
			if !reflect.DeepEqual(m.Outputs, wantOutputs) {
				t.Errorf("outputs = %v, want %v", m.Outputs, wantOutputs)
			}
			res := runONNX(t, m.ONNX, "x", []int64{batch, 9, 11, 3}, x, outs)
			for i, name := range outs {
				maxAbs, err := compareRef(res[i], refs[i], 1e-5, 0)
				if err != nil {
					t.Errorf("%s: %v", name, err)
				}
				t.Logf("%s: max abs diff %.2g", name, maxAbs)
			}
		})
	}
}

// The converter must transpose the input to NCHW once and only go back to
// NHWC where needed (Reshape input and 4-D outputs), not around every op.
func TestSyntheticGraphTransposeCount(t *testing.T) {
	j, w, _ := syntheticModel()
	m, err := Convert(j, w, Config{})
	if err != nil {
		t.Fatal(err)
	}
	dm := decodeModel(t, m.ONNX)
	counts := map[string]int{}
	for _, n := range dm.nodes {
		counts[n]++
	}
	// x->NCHW (shared by conv1 and conv3), back to NHWC for: reshape input,
	// pooled, chansoft, valid, chanmean.
	if counts["Transpose"] != 6 {
		t.Errorf("Transpose count = %d, want 6 (ops: %v)", counts["Transpose"], counts)
	}
	if counts["Conv"] != 5 || counts["MaxPool"] != 2 || counts["ReduceMean"] != 2 {
		t.Errorf("unexpected op counts %v", counts)
	}
	for _, name := range dm.inits {
		if name == "unused" {
			t.Errorf("unreachable constant %q was emitted", name)
		}
	}
}
