package tfjsonnx

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"math"
	"strconv"
)

// graphBuilder assembles a tfjs model.json and its weights in tests, writing
// attributes in the same proto3-JSON form tfjs-converter produces.
type graphBuilder struct {
	nodes    []map[string]any
	manifest []map[string]any
	bin      []byte
	extra    map[string]any // extra top-level keys (e.g. signature)
}

func (b *graphBuilder) node(name, op string, inputs []string, attr map[string]any) {
	n := map[string]any{"name": name, "op": op}
	if len(inputs) > 0 {
		n["input"] = inputs
	}
	if attr != nil {
		n["attr"] = attr
	}
	b.nodes = append(b.nodes, n)
}

func (b *graphBuilder) weight(name, dtype string, shape []int64) {
	b.manifest = append(b.manifest, map[string]any{"name": name, "shape": shape, "dtype": dtype})
	b.node(name, "Const", nil, map[string]any{
		"dtype": aType(map[string]string{"float32": "DT_FLOAT", "int32": "DT_INT32"}[dtype]),
		"value": map[string]any{"tensor": map[string]any{
			"dtype":       map[string]string{"float32": "DT_FLOAT", "int32": "DT_INT32"}[dtype],
			"tensorShape": aShape(shape...)["shape"],
		}},
	})
}

func (b *graphBuilder) constF(name string, shape []int64, v []float32) {
	b.weight(name, "float32", shape)
	for _, x := range v {
		b.bin = binary.LittleEndian.AppendUint32(b.bin, math.Float32bits(x))
	}
}

func (b *graphBuilder) constI(name string, shape []int64, v ...int32) {
	b.weight(name, "int32", shape)
	for _, x := range v {
		b.bin = binary.LittleEndian.AppendUint32(b.bin, uint32(x))
	}
}

func (b *graphBuilder) placeholder(name string, shape ...int64) {
	b.node(name, "Placeholder", nil, map[string]any{"dtype": aType("DT_FLOAT"), "shape": aShape(shape...)})
}

func (b *graphBuilder) json() []byte {
	m := map[string]any{
		"format":          "graph-model",
		"modelTopology":   map[string]any{"node": b.nodes, "library": map[string]any{}, "versions": map[string]any{}},
		"weightsManifest": []any{map[string]any{"paths": []string{"group1-shard1of1.bin"}, "weights": b.manifest}},
	}
	for k, v := range b.extra {
		m[k] = v
	}
	out, err := json.Marshal(m)
	if err != nil {
		panic(err)
	}
	return out
}

// AttrValue constructors in proto3 JSON form.
func aStr(s string) map[string]any {
	return map[string]any{"s": base64.StdEncoding.EncodeToString([]byte(s))}
}
func aInt(i int64) map[string]any { return map[string]any{"i": strconv.FormatInt(i, 10)} }
func aBool(v bool) map[string]any { return map[string]any{"b": v} }
func aType(t string) map[string]any {
	return map[string]any{"type": t}
}
func aInts(v ...int64) map[string]any {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = strconv.FormatInt(x, 10)
	}
	return map[string]any{"list": map[string]any{"i": s}}
}
func aStrs(v ...string) map[string]any {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = base64.StdEncoding.EncodeToString([]byte(x))
	}
	return map[string]any{"list": map[string]any{"s": s}}
}
func aShape(dims ...int64) map[string]any {
	d := make([]map[string]string, len(dims))
	for i, x := range dims {
		d[i] = map[string]string{"size": strconv.FormatInt(x, 10)}
	}
	return map[string]any{"shape": map[string]any{"dim": d}}
}

// convAttr returns the attributes tfjs-converter writes for a fused conv.
func fusedConvAttr(padding string, sh, sw int64, ops ...string) map[string]any {
	return map[string]any{
		"T": aType("DT_FLOAT"), "data_format": aStr("NHWC"), "dilations": aInts(1, 1, 1, 1),
		"strides": aInts(1, sh, sw, 1), "padding": aStr(padding), "explicit_paddings": map[string]any{"list": map[string]any{}},
		"use_cudnn_on_gpu": aBool(true), "num_args": aInt(1), "epsilon": map[string]any{"f": 0},
		"fused_ops": aStrs(ops...),
	}
}

func depthwiseAttr(padding string, sh, sw int64) map[string]any {
	return map[string]any{
		"T": aType("DT_FLOAT"), "data_format": aStr("NHWC"), "dilations": aInts(1, 1, 1, 1),
		"strides": aInts(1, sh, sw, 1), "padding": aStr(padding), "explicit_paddings": map[string]any{"list": map[string]any{}},
	}
}

func maxPoolAttr(padding string, k, s int64) map[string]any {
	return map[string]any{
		"T": aType("DT_FLOAT"), "data_format": aStr("NHWC"), "ksize": aInts(1, k, k, 1),
		"strides": aInts(1, s, s, 1), "padding": aStr(padding),
	}
}

var floatT = map[string]any{"T": aType("DT_FLOAT")}
