package tfjsonnx

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// This file holds the model.json schema (the subset the converter reads) and
// the decoding of TensorFlow AttrValue messages, which tfjs-converter writes
// in proto3 JSON form: bytes as base64, int64 as decimal strings, enums as
// names, default values omitted.

// modelFile is the top level of a tfjs model.json.
type modelFile struct {
	Format              string           `json:"format"`
	ModelTopology       *graphDef        `json:"modelTopology"`
	WeightsManifest     []weightGroup    `json:"weightsManifest"`
	Signature           *signatureDef    `json:"signature"`
	UserDefinedMetadata *userDefinedMeta `json:"userDefinedMetadata"`
}

type userDefinedMeta struct {
	Signature *signatureDef `json:"signature"`
}

type signatureDef struct {
	Outputs orderedTensorInfos `json:"outputs"`
}

type tensorInfoJSON struct {
	Name        string     `json:"name"`
	TensorShape *tfShapeJS `json:"tensorShape"`
}

// orderedTensorInfos is a signature's {key: TensorInfo} object decoded in
// document order: TensorFlow.js orders model.outputs by these keys, and we
// want the ONNX outputs in the same order.
type orderedTensorInfos []keyedTensorInfo

type keyedTensorInfo struct {
	key  string
	info tensorInfoJSON
}

func (o *orderedTensorInfos) UnmarshalJSON(b []byte) error {
	*o = nil
	if string(bytes.TrimSpace(b)) == "null" {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return fmt.Errorf("signature entries must be a JSON object")
	}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return err
		}
		key, _ := t.(string)
		var info tensorInfoJSON
		if err := dec.Decode(&info); err != nil {
			return fmt.Errorf("signature entry %q: %w", key, err)
		}
		*o = append(*o, keyedTensorInfo{key: key, info: info})
	}
	_, err := dec.Token() // closing '}'
	return err
}

type graphDef struct {
	Node []*tfNode `json:"node"`
}

type tfNode struct {
	Name  string            `json:"name"`
	Op    string            `json:"op"`
	Input []string          `json:"input"`
	Attr  map[string]tfAttr `json:"attr"`
}

type weightGroup struct {
	Paths   []string      `json:"paths"`
	Weights []weightEntry `json:"weights"`
}

type weightEntry struct {
	Name         string          `json:"name"`
	Shape        []int64         `json:"shape"`
	Dtype        string          `json:"dtype"`
	Quantization json.RawMessage `json:"quantization"`
}

// jsonInt accepts an int64 written either as a JSON number or, as proto3 JSON
// does for 64-bit integers, as a decimal string.
type jsonInt int64

func (v *jsonInt) UnmarshalJSON(b []byte) error {
	s := string(bytes.Trim(b, `"`))
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return fmt.Errorf("invalid integer %s", b)
	}
	*v = jsonInt(n)
	return nil
}

// tfAttr is a TensorFlow AttrValue. Exactly one field is normally set; the
// raw JSON of oneof members we never interpret is kept only so that a
// present-but-unsupported value is distinguishable from an absent one.
type tfAttr struct {
	S      *string         `json:"s"`
	I      *jsonInt        `json:"i"`
	F      json.RawMessage `json:"f"`
	B      *bool           `json:"b"`
	Type   json.RawMessage `json:"type"`
	Shape  *tfShapeJS      `json:"shape"`
	List   *tfAttrList     `json:"list"`
	Tensor *tfTensorJS     `json:"tensor"`
	Func   json.RawMessage `json:"func"`
}

type tfAttrList struct {
	S    []string          `json:"s"`
	I    []jsonInt         `json:"i"`
	F    []json.RawMessage `json:"f"`
	B    []bool            `json:"b"`
	Type []json.RawMessage `json:"type"`
}

type tfShapeJS struct {
	Dim         []tfDimJS `json:"dim"`
	UnknownRank bool      `json:"unknownRank"`
}

type tfDimJS struct {
	Size jsonInt `json:"size"` // omitted (0) when the size is zero
}

type tfTensorJS struct {
	Dtype       json.RawMessage `json:"dtype"`
	TensorShape *tfShapeJS      `json:"tensorShape"`
}

// dims converts a TensorShapeProto to a shape where -1 marks an unknown size.
func (s *tfShapeJS) dims() ([]int64, error) {
	if s == nil || s.UnknownRank {
		return nil, fmt.Errorf("unknown rank")
	}
	out := make([]int64, len(s.Dim))
	for i, d := range s.Dim {
		if d.Size < -1 {
			return nil, fmt.Errorf("invalid dimension size %d", d.Size)
		}
		out[i] = int64(d.Size)
	}
	return out, nil
}

// tfDataTypes maps the TensorFlow DataType enum numbers that may appear in
// numeric form to their names; proto3 JSON normally writes the names.
var tfDataTypes = map[int64]string{
	1: "DT_FLOAT", 2: "DT_DOUBLE", 3: "DT_INT32", 4: "DT_UINT8", 5: "DT_INT16",
	6: "DT_INT8", 7: "DT_STRING", 9: "DT_INT64", 10: "DT_BOOL", 19: "DT_HALF",
}

// parseDataType decodes a DataType enum written as a name or a number.
func parseDataType(raw json.RawMessage) (string, error) {
	var name string
	if err := json.Unmarshal(raw, &name); err == nil {
		return name, nil
	}
	var n int64
	if err := json.Unmarshal(raw, &n); err != nil {
		return "", fmt.Errorf("invalid DataType %s", raw)
	}
	if name, ok := tfDataTypes[n]; ok {
		return name, nil
	}
	return fmt.Sprintf("DataType(%d)", n), nil
}

// decodeAttrString decodes the base64 bytes of an AttrValue.s / list.s.
func decodeAttrString(s string) (string, error) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		// Some writers use the URL-safe alphabet or drop padding.
		if b2, err2 := base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "=")); err2 == nil {
			return string(b2), nil
		}
		return "", fmt.Errorf("invalid base64 string %q", s)
	}
	return string(b), nil
}

// nodeAttrs is a typed accessor over one node's attributes. Every error it
// returns names the node and op so a failing conversion points at the model.
type nodeAttrs struct {
	n *tfNode
}

func (a nodeAttrs) errorf(format string, args ...any) error {
	return fmt.Errorf("node %q (op %s): %s", a.n.Name, a.n.Op, fmt.Sprintf(format, args...))
}

func (a nodeAttrs) get(key string) (tfAttr, bool) {
	v, ok := a.n.Attr[key]
	return v, ok
}

// str returns a string attribute, def when absent.
func (a nodeAttrs) str(key, def string) (string, error) {
	v, ok := a.get(key)
	if !ok {
		return def, nil
	}
	if v.S == nil {
		if v.isEmpty() {
			return "", nil // proto3 JSON omits the empty string
		}
		return "", a.errorf("attr %q is not a string", key)
	}
	s, err := decodeAttrString(*v.S)
	if err != nil {
		return "", a.errorf("attr %q: %v", key, err)
	}
	return s, nil
}

// integer returns an int attribute, def when absent.
func (a nodeAttrs) integer(key string, def int64) (int64, error) {
	v, ok := a.get(key)
	if !ok {
		return def, nil
	}
	if v.I == nil {
		if v.isEmpty() {
			return 0, nil
		}
		return 0, a.errorf("attr %q is not an int", key)
	}
	return int64(*v.I), nil
}

// boolean returns a bool attribute, def when absent.
func (a nodeAttrs) boolean(key string, def bool) (bool, error) {
	v, ok := a.get(key)
	if !ok {
		return def, nil
	}
	if v.B == nil {
		if v.isEmpty() {
			return false, nil
		}
		return false, a.errorf("attr %q is not a bool", key)
	}
	return *v.B, nil
}

// ints returns a list(int) attribute, def when absent.
func (a nodeAttrs) ints(key string, def []int64) ([]int64, error) {
	v, ok := a.get(key)
	if !ok {
		return def, nil
	}
	if v.List == nil {
		if v.isEmpty() {
			return nil, nil
		}
		return nil, a.errorf("attr %q is not a list", key)
	}
	out := make([]int64, len(v.List.I))
	for i, x := range v.List.I {
		out[i] = int64(x)
	}
	return out, nil
}

// strs returns a list(string) attribute, def when absent.
func (a nodeAttrs) strs(key string, def []string) ([]string, error) {
	v, ok := a.get(key)
	if !ok {
		return def, nil
	}
	if v.List == nil {
		if v.isEmpty() {
			return nil, nil
		}
		return nil, a.errorf("attr %q is not a list", key)
	}
	out := make([]string, len(v.List.S))
	for i, x := range v.List.S {
		s, err := decodeAttrString(x)
		if err != nil {
			return nil, a.errorf("attr %q: %v", key, err)
		}
		out[i] = s
	}
	return out, nil
}

// dtype returns a type attribute, "" when absent.
func (a nodeAttrs) dtype(key string) (string, error) {
	v, ok := a.get(key)
	if !ok || len(v.Type) == 0 {
		if ok && !v.isEmpty() {
			return "", a.errorf("attr %q is not a type", key)
		}
		return "", nil
	}
	t, err := parseDataType(v.Type)
	if err != nil {
		return "", a.errorf("attr %q: %v", key, err)
	}
	return t, nil
}

// isEmpty reports an AttrValue with no member set, which is how proto3 JSON
// writes a zero value (e.g. {} for i: 0).
func (v tfAttr) isEmpty() bool {
	return v.S == nil && v.I == nil && len(v.F) == 0 && v.B == nil && len(v.Type) == 0 &&
		v.Shape == nil && v.List == nil && v.Tensor == nil && len(v.Func) == 0
}

// checkAttrs rejects attributes the converter does not understand, so that
// a model relying on semantics we would silently drop fails loudly instead.
// Attributes starting with "_" are TensorFlow-internal annotations
// (e.g. "_cloned") without numerical meaning and are ignored.
func (a nodeAttrs) checkAttrs(known ...string) error {
	for key := range a.n.Attr {
		if strings.HasPrefix(key, "_") {
			continue
		}
		found := false
		for _, k := range known {
			if k == key {
				found = true
				break
			}
		}
		if !found {
			return a.errorf("unsupported attr %q", key)
		}
	}
	return nil
}

// checkFloat requires the dtype attribute key (normally "T") to be DT_FLOAT
// when present: the converter only emits float32 graphs.
func (a nodeAttrs) checkFloat(key string) error {
	t, err := a.dtype(key)
	if err != nil {
		return err
	}
	if t != "" && t != "DT_FLOAT" {
		return a.errorf("unsupported dtype %s (only DT_FLOAT)", t)
	}
	return nil
}

// checkNHWC requires NHWC, the only layout tfjs graph models use for the
// ops we convert; NCHW graphs would need different pad/axis mappings.
func (a nodeAttrs) checkNHWC() error {
	f, err := a.str("data_format", "NHWC")
	if err != nil {
		return err
	}
	if f != "NHWC" {
		return a.errorf("unsupported data_format %q (only NHWC)", f)
	}
	return nil
}

// spatial4 reads an NHWC 4-element list attr (strides, ksize, dilations)
// whose batch and channel entries must be 1, returning the H and W values.
func (a nodeAttrs) spatial4(key string) (h, w int64, err error) {
	v, err := a.ints(key, []int64{1, 1, 1, 1})
	if err != nil {
		return 0, 0, err
	}
	if len(v) == 0 {
		v = []int64{1, 1, 1, 1}
	}
	if len(v) != 4 {
		return 0, 0, a.errorf("attr %q must have 4 entries, got %v", key, v)
	}
	if v[0] != 1 || v[3] != 1 {
		return 0, 0, a.errorf("attr %q %v: batch and channel entries must be 1", key, v)
	}
	if v[1] < 1 || v[2] < 1 {
		return 0, 0, a.errorf("attr %q %v: entries must be positive", key, v)
	}
	return v[1], v[2], nil
}

// padding describes how a conv/pool node pads its spatial dims.
type padding struct {
	mode     string   // "SAME", "VALID" or "EXPLICIT"
	explicit [4]int64 // top, bottom, left, right for EXPLICIT
}

// padding reads the padding / explicit_paddings attributes.
func (a nodeAttrs) padding() (padding, error) {
	mode, err := a.str("padding", "")
	if err != nil {
		return padding{}, err
	}
	p := padding{mode: mode}
	ex, err := a.ints("explicit_paddings", nil)
	if err != nil {
		return padding{}, err
	}
	switch mode {
	case "SAME", "VALID":
		if len(ex) != 0 {
			return padding{}, a.errorf("explicit_paddings %v given with padding %s", ex, mode)
		}
	case "EXPLICIT":
		if len(ex) != 8 {
			return padding{}, a.errorf("explicit_paddings must have 8 entries, got %v", ex)
		}
		if ex[0] != 0 || ex[1] != 0 || ex[6] != 0 || ex[7] != 0 {
			return padding{}, a.errorf("explicit_paddings %v pad batch or channel dims", ex)
		}
		for _, x := range ex {
			if x < 0 {
				return padding{}, a.errorf("negative explicit_paddings %v", ex)
			}
		}
		p.explicit = [4]int64{ex[2], ex[3], ex[4], ex[5]}
	default:
		return padding{}, a.errorf("unsupported padding %q (SAME, VALID or EXPLICIT)", mode)
	}
	return p, nil
}
