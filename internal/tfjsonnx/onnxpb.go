package tfjsonnx

import (
	"google.golang.org/protobuf/encoding/protowire"
)

// This file is a minimal hand-written encoder for the subset of onnx.proto
// (github.com/onnx/onnx, onnx/onnx.proto, proto2 syntax) that the converter
// emits. A hand-written encoder avoids vendoring generated code for a ~900
// line schema of which we need a dozen fields. Field numbers are copied from
// onnx.proto and must never change (they are the wire format); each constant
// names its message and field.

// ModelProto fields.
const (
	fModelIRVersion       = 1 // int64 ir_version
	fModelProducerName    = 2 // string producer_name
	fModelProducerVersion = 3 // string producer_version
	fModelDocString       = 6 // string doc_string
	fModelGraph           = 7 // GraphProto graph
	fModelOpsetImport     = 8 // repeated OperatorSetIdProto opset_import
)

// OperatorSetIdProto fields.
const (
	fOpsetDomain  = 1 // string domain
	fOpsetVersion = 2 // int64 version
)

// GraphProto fields.
const (
	fGraphNode        = 1  // repeated NodeProto node
	fGraphName        = 2  // string name
	fGraphInitializer = 5  // repeated TensorProto initializer
	fGraphInput       = 11 // repeated ValueInfoProto input
	fGraphOutput      = 12 // repeated ValueInfoProto output
)

// NodeProto fields.
const (
	fNodeInput     = 1 // repeated string input
	fNodeOutput    = 2 // repeated string output
	fNodeName      = 3 // string name
	fNodeOpType    = 4 // string op_type
	fNodeAttribute = 5 // repeated AttributeProto attribute
)

// AttributeProto fields.
const (
	fAttrName = 1  // string name
	fAttrI    = 3  // int64 i
	fAttrInts = 8  // repeated int64 ints
	fAttrType = 20 // AttributeType type
)

// AttributeProto.AttributeType enum values.
const (
	attrTypeInt  = 2 // INT
	attrTypeInts = 7 // INTS
)

// TensorProto fields.
const (
	fTensorDims     = 1 // repeated int64 dims
	fTensorDataType = 2 // int32 data_type (TensorProto.DataType)
	fTensorName     = 8 // string name
	fTensorRawData  = 9 // bytes raw_data (fixed-width little-endian)
)

// TensorProto.DataType enum values.
const (
	onnxFloat = 1 // FLOAT
	onnxInt32 = 6 // INT32
	onnxInt64 = 7 // INT64
)

// ValueInfoProto, TypeProto, TypeProto.Tensor, TensorShapeProto and
// TensorShapeProto.Dimension fields.
const (
	fValueInfoName      = 1 // ValueInfoProto.name
	fValueInfoType      = 2 // ValueInfoProto.type (TypeProto)
	fTypeTensorType     = 1 // TypeProto.tensor_type (TypeProto.Tensor)
	fTensorTypeElemType = 1 // TypeProto.Tensor.elem_type (int32)
	fTensorTypeShape    = 2 // TypeProto.Tensor.shape (TensorShapeProto)
	fShapeDim           = 1 // TensorShapeProto.dim (repeated Dimension)
	fDimValue           = 1 // Dimension.dim_value (int64)
	fDimParam           = 2 // Dimension.dim_param (string)
)

// batchDimParam is the symbolic name given to the dynamic batch dimension so
// that ONNX consumers see a named free dimension instead of a fixed size.
const batchDimParam = "N"

// onnxAttr is an INT or INTS AttributeProto, the only kinds the emitted ops
// need.
type onnxAttr struct {
	name string
	typ  int
	i    int64
	ints []int64
}

func attrInt(name string, v int64) onnxAttr { return onnxAttr{name: name, typ: attrTypeInt, i: v} }
func attrInts(name string, v ...int64) onnxAttr {
	return onnxAttr{name: name, typ: attrTypeInts, ints: v}
}

// onnxNode is a NodeProto in the default (ai.onnx) domain.
type onnxNode struct {
	name    string
	opType  string
	inputs  []string
	outputs []string
	attrs   []onnxAttr
}

// onnxTensor is an initializer stored as little-endian raw_data.
type onnxTensor struct {
	name     string
	dims     []int64
	dataType int
	raw      []byte
}

// onnxValueInfo describes a graph input or output: a float tensor whose
// negative dims are encoded as the symbolic batch dim_param.
type onnxValueInfo struct {
	name     string
	elemType int
	dims     []int64
	// noShape leaves the shape out: extra outputs the quantiser adds for
	// calibration have shapes it does not track, and ONNX Runtime infers them.
	noShape bool
}

type onnxGraph struct {
	name    string
	nodes   []onnxNode
	inits   []onnxTensor
	inputs  []onnxValueInfo
	outputs []onnxValueInfo
}

type onnxModel struct {
	irVersion       int64
	opset           int64
	producerName    string
	producerVersion string
	docString       string
	graph           onnxGraph
}

func appendString(b []byte, num protowire.Number, s string) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendString(b, s)
}

func appendBytes(b []byte, num protowire.Number, v []byte) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendBytes(b, v)
}

func appendVarint(b []byte, num protowire.Number, v int64) []byte {
	b = protowire.AppendTag(b, num, protowire.VarintType)
	return protowire.AppendVarint(b, uint64(v))
}

// appendInts writes a repeated int64 field unpacked, the proto2 default
// encoding onnx.proto declares (parsers accept either form).
func appendInts(b []byte, num protowire.Number, vs []int64) []byte {
	for _, v := range vs {
		b = appendVarint(b, num, v)
	}
	return b
}

func (a onnxAttr) marshal() []byte {
	var b []byte
	b = appendString(b, fAttrName, a.name)
	switch a.typ {
	case attrTypeInt:
		b = appendVarint(b, fAttrI, a.i)
	case attrTypeInts:
		b = appendInts(b, fAttrInts, a.ints)
	}
	return appendVarint(b, fAttrType, int64(a.typ))
}

func (n onnxNode) marshal() []byte {
	var b []byte
	for _, in := range n.inputs {
		b = appendString(b, fNodeInput, in)
	}
	for _, out := range n.outputs {
		b = appendString(b, fNodeOutput, out)
	}
	if n.name != "" {
		b = appendString(b, fNodeName, n.name)
	}
	b = appendString(b, fNodeOpType, n.opType)
	for _, a := range n.attrs {
		b = appendBytes(b, fNodeAttribute, a.marshal())
	}
	return b
}

func (t onnxTensor) marshal() []byte {
	var b []byte
	b = appendInts(b, fTensorDims, t.dims)
	b = appendVarint(b, fTensorDataType, int64(t.dataType))
	b = appendString(b, fTensorName, t.name)
	return appendBytes(b, fTensorRawData, t.raw)
}

func (v onnxValueInfo) marshal() []byte {
	var shape []byte
	for _, d := range v.dims {
		var dim []byte
		if d < 0 {
			dim = appendString(dim, fDimParam, batchDimParam)
		} else {
			dim = appendVarint(dim, fDimValue, d)
		}
		shape = appendBytes(shape, fShapeDim, dim)
	}
	var tt []byte
	tt = appendVarint(tt, fTensorTypeElemType, int64(v.elemType))
	if !v.noShape {
		tt = appendBytes(tt, fTensorTypeShape, shape)
	}
	var typ []byte
	typ = appendBytes(typ, fTypeTensorType, tt)
	var b []byte
	b = appendString(b, fValueInfoName, v.name)
	return appendBytes(b, fValueInfoType, typ)
}

func (g *onnxGraph) marshal() []byte {
	var b []byte
	for _, n := range g.nodes {
		b = appendBytes(b, fGraphNode, n.marshal())
	}
	b = appendString(b, fGraphName, g.name)
	for _, t := range g.inits {
		b = appendBytes(b, fGraphInitializer, t.marshal())
	}
	for _, v := range g.inputs {
		b = appendBytes(b, fGraphInput, v.marshal())
	}
	for _, v := range g.outputs {
		b = appendBytes(b, fGraphOutput, v.marshal())
	}
	return b
}

func (m *onnxModel) marshal() []byte {
	var b []byte
	b = appendVarint(b, fModelIRVersion, m.irVersion)
	b = appendString(b, fModelProducerName, m.producerName)
	b = appendString(b, fModelProducerVersion, m.producerVersion)
	if m.docString != "" {
		b = appendString(b, fModelDocString, m.docString)
	}
	b = appendBytes(b, fModelGraph, m.graph.marshal())
	var opset []byte
	opset = appendString(opset, fOpsetDomain, "")
	opset = appendVarint(opset, fOpsetVersion, m.opset)
	return appendBytes(b, fModelOpsetImport, opset)
}
