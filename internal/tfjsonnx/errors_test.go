package tfjsonnx

import (
	"strings"
	"testing"
)

// tinyConv builds x[1,4,4,2] -> _FusedConv2D -> out, letting each case
// tweak the conv attributes, weights or graph before serializing.
func tinyConv(mod func(b *graphBuilder, attr map[string]any)) ([]byte, []byte) {
	b := &graphBuilder{}
	b.placeholder("x", 1, 4, 4, 2)
	b.constF("w", []int64{3, 3, 2, 3}, make([]float32, 3*3*2*3))
	b.constF("bias", []int64{3}, make([]float32, 3))
	attr := fusedConvAttr("SAME", 1, 1, "BiasAdd")
	if mod != nil {
		mod(b, attr)
	}
	b.node("conv", "_FusedConv2D", []string{"x", "w", "bias"}, attr)
	b.node("out", "Identity", []string{"conv"}, floatT)
	return b.json(), b.bin
}

func TestTinyConvConverts(t *testing.T) {
	j, w := tinyConv(nil)
	m, err := Convert(j, w, Config{})
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Outputs) != 1 || m.Outputs[0].Name != "out" {
		t.Errorf("outputs %v", m.Outputs)
	}
}

func TestConvertErrors(t *testing.T) {
	cases := []struct {
		name  string
		model func() ([]byte, []byte)
		opts  Config
		want  []string // all must appear in the error
	}{
		{"bad json", func() ([]byte, []byte) { return []byte(`{"format": "graph-model", "modelTopology": {`), nil }, Config{},
			[]string{"parse model.json"}},
		{"not json object", func() ([]byte, []byte) { return []byte(`[1,2]`), nil }, Config{},
			[]string{"parse model.json"}},
		{"layers model", func() ([]byte, []byte) {
			return []byte(`{"format": "layers-model", "modelTopology": {"node": [{"name": "a", "op": "Placeholder"}]}}`), nil
		}, Config{}, []string{`format "layers-model"`}},
		{"no nodes", func() ([]byte, []byte) { return []byte(`{"format": "graph-model", "modelTopology": {}}`), nil }, Config{},
			[]string{"no modelTopology.node"}},
		{"unknown op", func() ([]byte, []byte) {
			return tinyConv(func(b *graphBuilder, _ map[string]any) {
				b.node("weird", "Erf", []string{"x"}, floatT)
				b.node("out2", "Identity", []string{"weird"}, floatT)
			})
		}, Config{}, []string{`node "weird" (op Erf)`, "unsupported op"}},
		{"short weights", func() ([]byte, []byte) { j, w := tinyConv(nil); return j, w[:len(w)-4] }, Config{},
			[]string{"weights data is 224 bytes", "describes 228 bytes"}},
		{"long weights", func() ([]byte, []byte) { j, w := tinyConv(nil); return j, append(w, 0, 0, 0, 0) }, Config{},
			[]string{"weights data is 232 bytes", "describes 228 bytes"}},
		{"quantized", func() ([]byte, []byte) {
			j, w := tinyConv(nil)
			return []byte(strings.Replace(string(j), `"dtype":"float32","name":"w"`,
				`"dtype":"float32","name":"w","quantization":{"dtype":"uint8","min":0,"scale":1}`, 1)), w
		}, Config{}, []string{`weight "w" is quantized`}},
		{"float16 weight", func() ([]byte, []byte) {
			j, w := tinyConv(nil)
			return []byte(strings.Replace(string(j), `"dtype":"float32","name":"bias"`, `"dtype":"float16","name":"bias"`, 1)), w
		}, Config{}, []string{`weight "bias" has unsupported dtype "float16"`}},
		{"NCHW", func() ([]byte, []byte) {
			return tinyConv(func(_ *graphBuilder, a map[string]any) { a["data_format"] = aStr("NCHW") })
		}, Config{}, []string{`node "conv" (op _FusedConv2D)`, `data_format "NCHW"`}},
		{"dilations", func() ([]byte, []byte) {
			return tinyConv(func(_ *graphBuilder, a map[string]any) { a["dilations"] = aInts(1, 2, 2, 1) })
		}, Config{}, []string{`node "conv"`, "dilations [2 2] not supported"}},
		{"int input dtype", func() ([]byte, []byte) {
			return tinyConv(func(_ *graphBuilder, a map[string]any) { a["T"] = aType("DT_INT32") })
		}, Config{}, []string{`node "conv"`, "unsupported dtype DT_INT32"}},
		{"fused relu6", func() ([]byte, []byte) {
			return tinyConv(func(_ *graphBuilder, a map[string]any) { a["fused_ops"] = aStrs("BiasAdd", "Relu6") })
		}, Config{}, []string{`node "conv"`, "unsupported fused_ops"}},
		{"fused batchnorm args", func() ([]byte, []byte) {
			return tinyConv(func(_ *graphBuilder, a map[string]any) { a["num_args"] = aInt(4) })
		}, Config{}, []string{`node "conv"`, "num_args 4"}},
		{"unknown attr", func() ([]byte, []byte) {
			return tinyConv(func(_ *graphBuilder, a map[string]any) { a["frobnicate"] = aBool(true) })
		}, Config{}, []string{`node "conv"`, `unsupported attr "frobnicate"`}},
		{"filter channels", func() ([]byte, []byte) {
			b := &graphBuilder{}
			b.placeholder("x", 1, 4, 4, 5)
			b.constF("w", []int64{1, 1, 2, 3}, make([]float32, 6))
			b.constF("bias", []int64{3}, make([]float32, 3))
			b.node("conv", "_FusedConv2D", []string{"x", "w", "bias"}, fusedConvAttr("SAME", 1, 1, "BiasAdd"))
			return b.json(), b.bin
		}, Config{}, []string{`node "conv"`, "filter input channels 2 != input channels 5"}},
		{"dynamic spatial", func() ([]byte, []byte) {
			b := &graphBuilder{}
			b.placeholder("x", 1, -1, 4, 2)
			b.node("relu", "Relu", []string{"x"}, floatT)
			return b.json(), b.bin
		}, Config{}, []string{`node "x" (op Placeholder)`, "only the batch"}},
		{"missing weight", func() ([]byte, []byte) {
			b := &graphBuilder{}
			b.placeholder("x", 1, 2)
			b.node("k", "Const", nil, map[string]any{"dtype": aType("DT_FLOAT")})
			b.node("add", "AddV2", []string{"x", "k"}, floatT)
			return b.json(), b.bin
		}, Config{}, []string{`node "k" (op Const)`, "no weight"}},
		{"unknown input", func() ([]byte, []byte) {
			b := &graphBuilder{}
			b.placeholder("x", 1, 2)
			b.node("relu", "Relu", []string{"nope"}, floatT)
			return b.json(), b.bin
		}, Config{}, []string{`node "relu" (op Relu)`, `"nope" refers to an unknown node`}},
		{"second output", func() ([]byte, []byte) {
			b := &graphBuilder{}
			b.placeholder("x", 1, 2)
			b.node("relu", "Relu", []string{"x:1"}, floatT)
			return b.json(), b.bin
		}, Config{}, []string{`node "relu"`, "uses output 1"}},
		{"cycle", func() ([]byte, []byte) {
			b := &graphBuilder{}
			b.placeholder("x", 1, 2)
			b.node("a", "AddV2", []string{"x", "b"}, floatT)
			b.node("b", "Relu", []string{"a"}, floatT)
			b.node("out", "Identity", []string{"b"}, floatT)
			return b.json(), b.bin
		}, Config{}, []string{"cycle"}},
		{"dynamic pad", func() ([]byte, []byte) {
			b := &graphBuilder{}
			b.placeholder("x", -1, 2)
			b.constI("p", []int64{2, 2}, 1, 0, 0, 0)
			b.node("pad", "Pad", []string{"x", "p"}, floatT)
			return b.json(), b.bin
		}, Config{}, []string{`node "pad" (op Pad)`, "dynamic batch"}},
		{"dynamic reshape", func() ([]byte, []byte) {
			b := &graphBuilder{}
			b.placeholder("x", 1, 2, 3)
			b.node("r", "Reshape", []string{"x", "x"}, floatT)
			return b.json(), b.bin
		}, Config{}, []string{`node "r" (op Reshape)`, "must be a Const"}},
		{"signature mismatch", func() ([]byte, []byte) {
			b := &graphBuilder{}
			b.placeholder("x", 1, 2)
			b.node("out", "Relu", []string{"x"}, floatT)
			b.extra = map[string]any{"signature": map[string]any{"outputs": map[string]any{
				"out:0": map[string]any{"name": "out:0", "tensorShape": aShape(1, 3)["shape"]}}}}
			return b.json(), b.bin
		}, Config{}, []string{`output "out"`, "signature says [1 3]"}},
		{"bad opset", func() ([]byte, []byte) { return tinyConv(nil) }, Config{Opset: 9}, []string{"unsupported opset 9"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			j, w := c.model()
			_, err := Convert(j, w, c.opts)
			if err == nil {
				t.Fatal("expected an error")
			}
			for _, s := range c.want {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not contain %q", err, s)
				}
			}
			t.Log(err)
			if !strings.HasPrefix(err.Error(), "tfjsonnx: ") {
				t.Errorf("error %q lacks the package prefix", err)
			}
		})
	}
}

func TestOutputsWithoutWeights(t *testing.T) {
	j, _, want := syntheticModel()
	got, err := Outputs(j)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("Outputs = %v, want %v", got, want)
	}
	if _, err := Outputs([]byte("{")); err == nil {
		t.Error("Outputs accepted bad json")
	}
}
