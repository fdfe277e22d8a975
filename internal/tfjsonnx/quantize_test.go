package tfjsonnx

import (
	"bytes"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// The decoder must read back exactly what the encoder wrote, or Quantize
// would silently change the parts of a model it does not touch.
func TestDecodeRoundTrip(t *testing.T) {
	j, w, _ := syntheticModel()
	for _, opset := range []int{13, 18, 21} {
		m, err := Convert(j, w, Config{Opset: opset})
		if err != nil {
			t.Fatal(err)
		}
		d, err := decodeModelProto(m.ONNX)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(d.marshal(), m.ONNX) {
			t.Errorf("opset %d: decode+encode changed the model", opset)
		}
	}
}

func TestDecodeRejectsForeignFields(t *testing.T) {
	// A FLOAT attribute (type 1): the encoder has no such kind.
	n := appendString(nil, fNodeOpType, "LeakyRelu")
	a := appendString(nil, fAttrName, "alpha")
	a = appendVarint(a, fAttrType, 1)
	n = appendBytes(n, fNodeAttribute, a)
	g := appendBytes(nil, fGraphNode, n)
	m := appendBytes(nil, fModelGraph, g)
	if _, err := decodeModelProto(m); err == nil || !strings.Contains(err.Error(), "only INT and INTS") {
		t.Errorf("error %v, want it to reject the FLOAT attribute", err)
	}
}

func TestUint8Params(t *testing.T) {
	for _, tc := range []struct {
		r     Range
		scale float32
		zero  uint8
	}{
		{Range{0, 2.55}, 0.01, 0},      // after a Relu: zero point 0 clamps negatives
		{Range{-1, 1}, 2.0 / 255, 127}, // symmetric data (127.49… in float32)
		{Range{0.5, 2.55}, 0.01, 0},    // widened to hold 0
		{Range{-2.55, -1}, 0.01, 255},  // all negative
		{Range{0, 0}, 1, 0},            // constant zero: any scale works
		{Range{-0.51, 2.04}, 0.01, 51}, // asymmetric
		{Range{-1e-9, 1e-9}, 7.843e-12, 128},
	} {
		q := uint8Params(tc.r)
		if math.Abs(float64(q.scale-tc.scale)) > 1e-6*math.Abs(float64(tc.scale))+1e-12 || q.zero != tc.zero {
			t.Errorf("%v: scale %g zero %d, want %g %d", tc.r, q.scale, q.zero, tc.scale, tc.zero)
		}
	}
}

// calibrate runs a calibration model over inputs with ONNX Runtime and
// returns min/max ranges, as internal/quantize does.
func calibrate(t *testing.T, model []byte, cfg QuantConfig, shape []int64, inputs [][]float32) map[string]Range {
	t.Helper()
	calib, names, err := CalibrationModel(model, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ranges := map[string]Range{}
	for _, in := range inputs {
		for i, r := range runONNX(t, calib, "x", shape, in, names) {
			old, ok := ranges[names[i]]
			if !ok {
				old = Range{float32(math.Inf(1)), float32(math.Inf(-1))}
			}
			for _, v := range r.data {
				old.Min, old.Max = min(old.Min, v), max(old.Max, v)
			}
			ranges[names[i]] = old
		}
	}
	return ranges
}

// TestQuantizeSynthetic quantises the synthetic graph (every converter op,
// odd shapes, a Relu to fold, residual Add, pools) and checks the structure
// and that ONNX Runtime runs it with outputs close to float.
func TestQuantizeSynthetic(t *testing.T) {
	j, w, outs := syntheticModel()
	m, err := Convert(j, w, Config{})
	if err != nil {
		t.Fatal(err)
	}
	convs, err := QuantizableConvs(m.ONNX)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"conv1", "dw1", "conv2", "dw2", "conv3"}; strings.Join(convs, ",") != strings.Join(want, ",") {
		t.Fatalf("convs %v, want %v", convs, want)
	}
	const batch = 2
	shape := []int64{batch, 9, 11, 3}
	r := rand.New(rand.NewPCG(5, 6))
	var calib [][]float32
	for range 8 {
		calib = append(calib, randFloats(r, batch*9*11*3, 1))
	}
	cfg := QuantConfig{Float: []string{"conv3"}}
	ranges := calibrate(t, m.ONNX, cfg, shape, calib)
	q, st, err := Quantize(m.ONNX, ranges, cfg)
	if err != nil {
		t.Fatal(err)
	}
	want := QuantStats{Convs: 4, FloatConvs: 1, Adds: 1, MaxPools: 2, Relus: 2, Tensors: len(ranges)}
	if st != want {
		t.Errorf("stats %+v, want %+v", st, want)
	}
	dm := decodeModel(t, q)
	counts := map[string]int{}
	for _, n := range dm.nodes {
		counts[n]++
	}
	// Relus: conv1's fused one and the one after the Add are folded away.
	if counts["Relu"] != 0 || counts["Conv"] != 5 || counts["QuantizeLinear"] != st.Tensors ||
		counts["DequantizeLinear"] != st.Tensors+4+2 { // + 4 int8 weights, 2 biases (depthwise convs have none)
		t.Errorf("op counts %v", counts)
	}
	for _, name := range dm.inits {
		if name == "w1#oihw" || name == "dw1_w#dw" {
			t.Errorf("float weight %q of an int8 conv is still stored", name)
		}
	}

	x := randFloats(rand.New(rand.NewPCG(7, 8)), batch*9*11*3, 1)
	fo := runONNX(t, m.ONNX, "x", shape, x, outs)
	qo := runONNX(t, q, "x", shape, x, outs)
	for i, name := range outs {
		var rng, diff float64
		for k := range fo[i].data {
			rng = math.Max(rng, math.Abs(float64(fo[i].data[k])))
			diff = math.Max(diff, math.Abs(float64(fo[i].data[k]-qo[i].data[k])))
		}
		t.Logf("%s: max abs diff %.3g of range %.3g", name, diff, rng)
		// A few uint8 steps of each tensor along the chain; a wrong scale,
		// zero point or layout would be off by the whole range.
		if diff > 0.05*rng+1e-3 {
			t.Errorf("%s: int8 differs from float by %.3g (range %.3g)", name, diff, rng)
		}
	}
}

func TestQuantizeErrors(t *testing.T) {
	j, w, _ := syntheticModel()
	m, err := Convert(j, w, Config{})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := Quantize(m.ONNX, map[string]Range{}, QuantConfig{}); err == nil || !strings.Contains(err.Error(), "no calibrated range") {
		t.Errorf("missing ranges: error %v", err)
	}
	if _, _, err := CalibrationModel(m.ONNX, QuantConfig{Float: []string{"nosuch"}}); err == nil || !strings.Contains(err.Error(), `"nosuch"`) {
		t.Errorf("unknown float layer: error %v", err)
	}
	if _, _, err := Quantize([]byte{0xff}, nil, QuantConfig{}); err == nil {
		t.Error("garbage model accepted")
	}
}

// Weights are symmetric per output channel: each channel's largest
// magnitude maps to ±127 and every weight is within half a step.
func TestQuantizeConvWeights(t *testing.T) {
	w := []float32{1, -0.5, 0.25, 0, 0, 0, 0.01, -0.02, 0.03, 0.04}
	inits := map[string]*onnxTensor{ // two output channels of five weights
		"w": {name: "w", dims: []int64{2, 5, 1, 1}, dataType: onnxFloat, raw: float32Raw(w)},
		"b": {name: "b", dims: []int64{2}, dataType: onnxFloat, raw: float32Raw([]float32{0.5, -0.1})},
	}
	var added []onnxTensor
	var nodes []onnxNode
	n := onnxNode{name: "c", opType: "Conv", inputs: []string{"x#dq", "w", "b"}, outputs: []string{"c#nchw"}}
	err := quantizeConvWeights(&n, inits, 0.1, func(t onnxTensor) string { added = append(added, t); return t.name }, &nodes)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]onnxTensor{}
	for _, a := range added {
		got[a.name] = a
	}
	scales := rawFloat32(got["c#w#scale"].raw)
	if math.Abs(float64(scales[0]-1.0/127)) > 1e-9 || math.Abs(float64(scales[1]-0.04/127)) > 1e-9 {
		t.Errorf("scales %v", scales)
	}
	q := got["c#w#q"].raw
	for i, v := range w {
		s := scales[i/5]
		if d := math.Abs(float64(float32(int8(q[i]))*s - v)); d > float64(s)/2+1e-9 {
			t.Errorf("weight %d: %v → %d (scale %g)", i, v, int8(q[i]), s)
		}
	}
	if int8(q[0]) != 127 || int8(q[9]) != 127 {
		t.Errorf("channel maxima map to %d, %d, want 127", int8(q[0]), int8(q[9]))
	}
	bs := rawFloat32(got["c#b#scale"].raw)
	if math.Abs(float64(bs[0]-0.1*scales[0])) > 1e-9 {
		t.Errorf("bias scale %v, want input scale × weight scale", bs)
	}
	if n.inputs[1] != "c#w#dq" || n.inputs[2] != "c#b#dq" || len(nodes) != 2 {
		t.Errorf("conv inputs %v, %d DQ nodes", n.inputs, len(nodes))
	}
}
