package tfjsonnx

import (
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
)

// decodedModel is what decodeModel extracts from a serialized ModelProto.
type decodedModel struct {
	irVersion    int64
	opsetDomain  string
	opsetVersion int64
	producer     string
	nodes        []string // op types in order
	inits        []string // initializer names
	inputs       []string
	outputs      []string
}

// fields splits one message into (number, raw value) pairs, failing on any
// malformed encoding.
func fields(t testing.TB, b []byte) []struct {
	num protowire.Number
	typ protowire.Type
	v   uint64
	b   []byte
} {
	t.Helper()
	var out []struct {
		num protowire.Number
		typ protowire.Type
		v   uint64
		b   []byte
	}
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			t.Fatalf("bad tag: %v", protowire.ParseError(n))
		}
		b = b[n:]
		f := struct {
			num protowire.Number
			typ protowire.Type
			v   uint64
			b   []byte
		}{num: num, typ: typ}
		switch typ {
		case protowire.VarintType:
			f.v, n = protowire.ConsumeVarint(b)
		case protowire.BytesType:
			f.b, n = protowire.ConsumeBytes(b)
		default:
			n = protowire.ConsumeFieldValue(num, typ, b)
		}
		if n < 0 {
			t.Fatalf("field %d: %v", num, protowire.ParseError(n))
		}
		b = b[n:]
		out = append(out, f)
	}
	return out
}

// decodeModel independently parses the fields the converter writes, so the
// wire format is checked even where ONNX Runtime is unavailable.
func decodeModel(t testing.TB, b []byte) decodedModel {
	t.Helper()
	var m decodedModel
	nameOf := func(msg []byte, num protowire.Number) string {
		for _, f := range fields(t, msg) {
			if f.num == num {
				return string(f.b)
			}
		}
		return ""
	}
	for _, f := range fields(t, b) {
		switch f.num {
		case fModelIRVersion:
			m.irVersion = int64(f.v)
		case fModelProducerName:
			m.producer = string(f.b)
		case fModelOpsetImport:
			for _, g := range fields(t, f.b) {
				switch g.num {
				case fOpsetDomain:
					m.opsetDomain = string(g.b)
				case fOpsetVersion:
					m.opsetVersion = int64(g.v)
				}
			}
		case fModelGraph:
			for _, g := range fields(t, f.b) {
				switch g.num {
				case fGraphNode:
					m.nodes = append(m.nodes, nameOf(g.b, fNodeOpType))
				case fGraphInitializer:
					m.inits = append(m.inits, nameOf(g.b, fTensorName))
				case fGraphInput:
					m.inputs = append(m.inputs, nameOf(g.b, fValueInfoName))
				case fGraphOutput:
					m.outputs = append(m.outputs, nameOf(g.b, fValueInfoName))
				}
			}
		}
	}
	return m
}

func TestEncodingHeader(t *testing.T) {
	j, w, outs := syntheticModel()
	for _, tc := range []struct {
		opset, ir int64
	}{{13, 7}, {15, 8}, {18, 8}, {19, 9}, {21, 10}} {
		m, err := Convert(j, w, Config{Opset: int(tc.opset), ProducerName: "p"})
		if err != nil {
			t.Fatal(err)
		}
		dm := decodeModel(t, m.ONNX)
		if dm.irVersion != tc.ir || dm.opsetVersion != tc.opset || dm.opsetDomain != "" || dm.producer != "p" {
			t.Errorf("opset %d: header %+v", tc.opset, dm)
		}
		if len(dm.inputs) != 1 || dm.inputs[0] != "x" {
			t.Errorf("inputs %v", dm.inputs)
		}
		if len(dm.outputs) != len(outs) {
			t.Errorf("outputs %v, want %v", dm.outputs, outs)
		}
		for i := range outs {
			if dm.outputs[i] != outs[i] {
				t.Errorf("outputs %v, want %v", dm.outputs, outs)
			}
		}
	}
}

func TestValueInfoDims(t *testing.T) {
	b := onnxValueInfo{name: "y", elemType: onnxFloat, dims: []int64{-1, 7}}.marshal()
	// name, then type{tensor_type{elem_type, shape{dim{param N}, dim{value 7}}}}
	fs := fields(t, b)
	if len(fs) != 2 || string(fs[0].b) != "y" {
		t.Fatalf("fields %v", fs)
	}
	tt := fields(t, fields(t, fs[1].b)[0].b)
	if tt[0].num != fTensorTypeElemType || tt[0].v != onnxFloat {
		t.Fatalf("elem type %v", tt[0])
	}
	dims := fields(t, tt[1].b)
	d0, d1 := fields(t, dims[0].b), fields(t, dims[1].b)
	if d0[0].num != fDimParam || string(d0[0].b) != batchDimParam || d1[0].num != fDimValue || d1[0].v != 7 {
		t.Errorf("dims %v %v", d0, d1)
	}
}
