package tfjsonnx

import (
	"errors"
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
)

// decodeModelProto reads back a ModelProto of the kind marshal writes, so the
// quantiser can rewrite a converted model. It reads exactly the fields
// onnxpb.go emits and rejects anything else (an attribute of another type,
// tensor data outside raw_data, a second opset domain): a model from another
// producer may carry meaning this encoder would silently drop on re-encoding.
func decodeModelProto(b []byte) (*onnxModel, error) {
	m := &onnxModel{}
	err := eachField(b, func(num protowire.Number, v uint64, s []byte) error {
		switch num {
		case fModelIRVersion:
			m.irVersion = int64(v)
		case fModelProducerName:
			m.producerName = string(s)
		case fModelProducerVersion:
			m.producerVersion = string(s)
		case fModelDocString:
			m.docString = string(s)
		case fModelGraph:
			return decodeGraph(s, &m.graph)
		case fModelOpsetImport:
			return eachField(s, func(num protowire.Number, v uint64, s []byte) error {
				switch num {
				case fOpsetDomain:
					if len(s) != 0 {
						return fmt.Errorf("opset domain %q: only the default domain is supported", s)
					}
				case fOpsetVersion:
					m.opset = int64(v)
				}
				return nil
			})
		default:
			return fmt.Errorf("ModelProto field %d not supported", num)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("tfjsonnx: decode ONNX model: %w (only models written by this converter can be rewritten)", err)
	}
	return m, nil
}

// eachField calls f for every field of one message: v for varints, s for
// length-delimited fields.
func eachField(b []byte, f func(num protowire.Number, v uint64, s []byte) error) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return protowire.ParseError(n)
		}
		b = b[n:]
		var v uint64
		var s []byte
		switch typ {
		case protowire.VarintType:
			v, n = protowire.ConsumeVarint(b)
		case protowire.BytesType:
			s, n = protowire.ConsumeBytes(b)
		default:
			return fmt.Errorf("field %d: wire type %d not supported", num, typ)
		}
		if n < 0 {
			return protowire.ParseError(n)
		}
		b = b[n:]
		if err := f(num, v, s); err != nil {
			return err
		}
	}
	return nil
}

func decodeGraph(b []byte, g *onnxGraph) error {
	return eachField(b, func(num protowire.Number, v uint64, s []byte) error {
		switch num {
		case fGraphNode:
			n, err := decodeNode(s)
			if err != nil {
				return err
			}
			g.nodes = append(g.nodes, n)
		case fGraphName:
			g.name = string(s)
		case fGraphInitializer:
			t, err := decodeTensor(s)
			if err != nil {
				return err
			}
			g.inits = append(g.inits, t)
		case fGraphInput, fGraphOutput:
			vi, err := decodeValueInfo(s)
			if err != nil {
				return err
			}
			if num == fGraphInput {
				g.inputs = append(g.inputs, vi)
			} else {
				g.outputs = append(g.outputs, vi)
			}
		default:
			return fmt.Errorf("GraphProto field %d not supported", num)
		}
		return nil
	})
}

func decodeNode(b []byte) (onnxNode, error) {
	var n onnxNode
	err := eachField(b, func(num protowire.Number, v uint64, s []byte) error {
		switch num {
		case fNodeInput:
			n.inputs = append(n.inputs, string(s))
		case fNodeOutput:
			n.outputs = append(n.outputs, string(s))
		case fNodeName:
			n.name = string(s)
		case fNodeOpType:
			n.opType = string(s)
		case fNodeAttribute:
			a, err := decodeAttr(s)
			if err != nil {
				return fmt.Errorf("node %q: %w", n.name, err)
			}
			n.attrs = append(n.attrs, a)
		default:
			return fmt.Errorf("NodeProto field %d not supported", num)
		}
		return nil
	})
	return n, err
}

func decodeAttr(b []byte) (onnxAttr, error) {
	var a onnxAttr
	err := eachField(b, func(num protowire.Number, v uint64, s []byte) error {
		switch num {
		case fAttrName:
			a.name = string(s)
		case fAttrI:
			a.i = int64(v)
		case fAttrInts:
			if s != nil { // packed encoding
				for len(s) > 0 {
					x, n := protowire.ConsumeVarint(s)
					if n < 0 {
						return protowire.ParseError(n)
					}
					a.ints = append(a.ints, int64(x))
					s = s[n:]
				}
				return nil
			}
			a.ints = append(a.ints, int64(v))
		case fAttrType:
			a.typ = int(v)
		default:
			return fmt.Errorf("AttributeProto field %d not supported", num)
		}
		return nil
	})
	if err == nil && a.typ != attrTypeInt && a.typ != attrTypeInts {
		err = fmt.Errorf("attribute %q has type %d; only INT and INTS are supported", a.name, a.typ)
	}
	return a, err
}

func decodeTensor(b []byte) (onnxTensor, error) {
	var t onnxTensor
	err := eachField(b, func(num protowire.Number, v uint64, s []byte) error {
		switch num {
		case fTensorDims:
			t.dims = append(t.dims, int64(v))
		case fTensorDataType:
			t.dataType = int(v)
		case fTensorName:
			t.name = string(s)
		case fTensorRawData:
			t.raw = append([]byte(nil), s...)
		default:
			return fmt.Errorf("TensorProto field %d not supported", num)
		}
		return nil
	})
	return t, err
}

func decodeValueInfo(b []byte) (onnxValueInfo, error) {
	vi := onnxValueInfo{noShape: true}
	err := eachField(b, func(num protowire.Number, v uint64, s []byte) error {
		switch num {
		case fValueInfoName:
			vi.name = string(s)
		case fValueInfoType:
			return eachField(s, func(num protowire.Number, v uint64, s []byte) error {
				if num != fTypeTensorType {
					return errors.New("only tensor types are supported")
				}
				return eachField(s, func(num protowire.Number, v uint64, s []byte) error {
					switch num {
					case fTensorTypeElemType:
						vi.elemType = int(v)
					case fTensorTypeShape:
						vi.dims, vi.noShape = []int64{}, false
						return eachField(s, func(num protowire.Number, v uint64, s []byte) error {
							d := int64(0)
							err := eachField(s, func(num protowire.Number, v uint64, _ []byte) error {
								switch num {
								case fDimValue:
									d = int64(v)
								case fDimParam:
									d = -1
								}
								return nil
							})
							vi.dims = append(vi.dims, d)
							return err
						})
					}
					return nil
				})
			})
		}
		return nil
	})
	return vi, err
}
