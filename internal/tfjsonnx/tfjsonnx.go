// Package tfjsonnx converts TensorFlow.js graph models (model.json plus its
// binary weight shards) into ONNX models that ONNX Runtime can execute.
//
// It exists so the project can run the face models published for
// TensorFlow.js (BlazeFace, the emotion classifier, ...) through ONNX Runtime
// without a Python or JavaScript toolchain. Only the small op set those
// models use is supported; anything else fails with an error naming the
// node, rather than converting to something numerically different.
//
// The ONNX model keeps the TensorFlow interface exactly: the same input and
// output names, NHWC input layout, and output shapes as the TF graph. Inside,
// the graph is transposed once to NCHW (ONNX's native conv layout) and only
// transposed back where an op depends on NHWC memory order (Reshape, graph
// outputs). Convolution and pooling padding is made explicit from static
// shapes, reproducing TensorFlow's asymmetric SAME padding.
package tfjsonnx

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// DefaultOpset is the ONNX opset used when Config.Opset is zero. Opset 13
// is the oldest with the semantics we rely on (Softmax over one axis, Pad
// taking pads as an input) and is supported by every current runtime.
const DefaultOpset = 13

// Supported opset range. Above 21 we have not checked every op's schema.
const (
	minOpset = 13
	maxOpset = 21
)

// Config tunes the emitted ONNX model. The zero value is valid.
type Config struct {
	// ProducerName and ProducerVersion are recorded in the ModelProto so a
	// converted file says what made it; defaults "framecast-tfjsonnx", "1".
	ProducerName    string
	ProducerVersion string
	// Opset is the ai.onnx opset to target, DefaultOpset when 0. Only
	// 13..21 are accepted; from 18 on ReduceMean takes axes as an input.
	Opset int
}

// Tensor names and shapes one graph input or output, so callers (e.g. the
// vision engine) can bind ONNX Runtime sessions without re-reading the file.
type Tensor struct {
	// Name is the ONNX value name, identical to the TF node name.
	Name string
	// Shape is in TensorFlow (NHWC) order; -1 marks the dynamic batch
	// dimension, written to ONNX as the symbolic dimension "N".
	Shape []int64
}

// Model is the result of Convert.
type Model struct {
	// ONNX is the serialized ModelProto, ready for ONNX Runtime or a file.
	ONNX []byte
	// Inputs are the graph's Placeholder nodes in model.json order.
	Inputs []Tensor
	// Outputs are ordered as Outputs documents.
	Outputs []Tensor
}

// Convert translates a tfjs graph model to ONNX. modelJSON is the model.json
// content; weights is the concatenation of all files listed in its
// weightsManifest, in manifest order (for single-shard models, simply the
// .bin file). Only nodes reachable from the outputs are converted.
func Convert(modelJSON, weights []byte, opts Config) (*Model, error) {
	if opts.Opset == 0 {
		opts.Opset = DefaultOpset
	}
	if opts.Opset < minOpset || opts.Opset > maxOpset {
		return nil, fmt.Errorf("tfjsonnx: unsupported opset %d (supported %d..%d)", opts.Opset, minOpset, maxOpset)
	}
	if opts.ProducerName == "" {
		opts.ProducerName = "framecast-tfjsonnx"
	}
	if opts.ProducerVersion == "" {
		opts.ProducerVersion = "1"
	}
	mf, g, err := parseModel(modelJSON)
	if err != nil {
		return nil, err
	}
	consts, err := readWeights(mf.WeightsManifest, weights)
	if err != nil {
		return nil, fmt.Errorf("tfjsonnx: %w", err)
	}
	outputs, sigShapes, err := g.outputs(mf)
	if err != nil {
		return nil, fmt.Errorf("tfjsonnx: %w", err)
	}
	c := &converter{
		g:      g,
		consts: consts,
		vals:   map[string]*value{},
		alias:  map[string]string{},
		inits:  map[string]bool{},
		opset:  int64(opts.Opset),
		state:  map[string]int{},
	}
	c.out.name = "tfjs_graph"
	model := &Model{}
	for _, n := range g.nodes {
		if n.Op != "Placeholder" {
			continue
		}
		if err := c.placeholder(n); err != nil {
			return nil, fmt.Errorf("tfjsonnx: %w", err)
		}
		shape := c.vals[n.Name].shape
		model.Inputs = append(model.Inputs, Tensor{Name: n.Name, Shape: append([]int64(nil), shape...)})
		c.out.inputs = append(c.out.inputs, onnxValueInfo{name: n.Name, elemType: onnxFloat, dims: shape})
	}
	for _, o := range outputs {
		if err := c.visit(o); err != nil {
			return nil, fmt.Errorf("tfjsonnx: %w", err)
		}
	}
	for _, o := range outputs {
		src := c.resolve(o)
		v := c.vals[src]
		if v.konst != nil && v.konst.dtype != "float32" {
			return nil, fmt.Errorf("tfjsonnx: output %q is a %s constant; only float outputs are supported", o, v.konst.dtype)
		}
		if want, ok := sigShapes[o]; ok && !equalShape(want, v.shape) {
			return nil, fmt.Errorf("tfjsonnx: output %q: inferred shape %v, signature says %v", o, v.shape, want)
		}
		name := c.nhwc(src)
		if name != o {
			c.emit("Identity", []string{name}, o)
		}
		model.Outputs = append(model.Outputs, Tensor{Name: o, Shape: append([]int64(nil), v.shape...)})
		c.out.outputs = append(c.out.outputs, onnxValueInfo{name: o, elemType: onnxFloat, dims: v.shape})
	}
	pm := onnxModel{
		irVersion:       irVersionFor(int64(opts.Opset)),
		opset:           int64(opts.Opset),
		producerName:    opts.ProducerName,
		producerVersion: opts.ProducerVersion,
		graph:           c.out,
	}
	model.ONNX = pm.marshal()
	return model, nil
}

// Outputs returns the graph's output names without converting anything, in
// the order Convert uses, which is the order TensorFlow.js reports as
// model.outputs (so code ported from a tfjs app can index outputs the same
// way): if the model has a signature (userDefinedMetadata.signature, else the
// top-level "signature"), its outputs in the order they are written in
// model.json — for Human's BlazeFace that is Identity_3, Identity,
// Identity_1, Identity_2; otherwise every non-Const node that no other node
// consumes, in graph order.
func Outputs(modelJSON []byte) ([]string, error) {
	mf, g, err := parseModel(modelJSON)
	if err != nil {
		return nil, err
	}
	outs, _, err := g.outputs(mf)
	if err != nil {
		return nil, fmt.Errorf("tfjsonnx: %w", err)
	}
	return outs, nil
}

// irVersionFor returns the ONNX IR version released together with the given
// opset, the oldest IR a runtime must understand to load the model.
func irVersionFor(opset int64) int64 {
	switch {
	case opset <= 14:
		return 7
	case opset <= 18:
		return 8
	case opset <= 20:
		return 9
	default:
		return 10
	}
}

// ---- graph structure -------------------------------------------------------

type graph struct {
	nodes  []*tfNode
	byName map[string]*tfNode
	pos    map[string]int
}

// parseRef splits a TF input reference "name", "name:N" or "^name".
func parseRef(s string) (name string, idx int, control bool) {
	if strings.HasPrefix(s, "^") {
		return s[1:], 0, true
	}
	if i := strings.LastIndexByte(s, ':'); i >= 0 {
		if n, err := strconv.Atoi(s[i+1:]); err == nil {
			return s[:i], n, false
		}
	}
	return s, 0, false
}

func parseModel(modelJSON []byte) (*modelFile, *graph, error) {
	var mf modelFile
	if err := json.Unmarshal(modelJSON, &mf); err != nil {
		return nil, nil, fmt.Errorf("tfjsonnx: parse model.json: %w", err)
	}
	if mf.Format != "" && mf.Format != "graph-model" {
		return nil, nil, fmt.Errorf("tfjsonnx: model format %q not supported (only graph-model)", mf.Format)
	}
	if mf.ModelTopology == nil || len(mf.ModelTopology.Node) == 0 {
		return nil, nil, errors.New("tfjsonnx: model.json has no modelTopology.node")
	}
	g := &graph{byName: map[string]*tfNode{}, pos: map[string]int{}}
	for i, n := range mf.ModelTopology.Node {
		if n == nil || n.Name == "" {
			return nil, nil, fmt.Errorf("tfjsonnx: node #%d has no name", i)
		}
		if _, dup := g.byName[n.Name]; dup {
			return nil, nil, fmt.Errorf("tfjsonnx: duplicate node name %q", n.Name)
		}
		g.byName[n.Name] = n
		g.pos[n.Name] = i
		g.nodes = append(g.nodes, n)
	}
	for _, n := range g.nodes {
		for _, in := range n.Input {
			name, idx, control := parseRef(in)
			if _, ok := g.byName[name]; !ok {
				return nil, nil, fmt.Errorf("tfjsonnx: node %q (op %s): input %q refers to an unknown node", n.Name, n.Op, in)
			}
			if !control && idx != 0 {
				return nil, nil, fmt.Errorf("tfjsonnx: node %q (op %s): input %q uses output %d; only single-output producers are supported", n.Name, n.Op, in, idx)
			}
		}
	}
	return &mf, g, nil
}

// outputs picks the graph outputs (see Outputs) and returns the signature's
// shapes, if any, for checking against inferred shapes.
func (g *graph) outputs(mf *modelFile) ([]string, map[string][]int64, error) {
	// Same precedence as tf.loadGraphModel: userDefinedMetadata.signature
	// overrides the top-level signature.
	sig := mf.Signature
	if mf.UserDefinedMetadata != nil && mf.UserDefinedMetadata.Signature != nil {
		sig = mf.UserDefinedMetadata.Signature
	}
	shapes := map[string][]int64{}
	var names []string
	if sig != nil && len(sig.Outputs) > 0 {
		seen := map[string]bool{}
		for _, e := range sig.Outputs {
			ref := e.info.Name
			if ref == "" {
				ref = e.key
			}
			name, idx, control := parseRef(ref)
			if _, ok := g.byName[name]; !ok || control || idx != 0 {
				return nil, nil, fmt.Errorf("signature output %q does not name a node output in the graph", ref)
			}
			if seen[name] {
				continue
			}
			seen[name] = true
			names = append(names, name)
			if e.info.TensorShape != nil {
				if d, err := e.info.TensorShape.dims(); err == nil {
					shapes[name] = d
				}
			}
		}
		return names, shapes, nil
	}
	consumed := map[string]bool{}
	for _, n := range g.nodes {
		for _, in := range n.Input {
			if name, _, control := parseRef(in); !control {
				consumed[name] = true
			}
		}
	}
	for _, n := range g.nodes {
		if !consumed[n.Name] && n.Op != "Const" && n.Op != "Placeholder" && n.Op != "NoOp" {
			names = append(names, n.Name)
		}
	}
	if len(names) == 0 {
		return nil, nil, errors.New("graph has no outputs")
	}
	return names, shapes, nil
}

func equalShape(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// ---- weights ---------------------------------------------------------------

// constTensor is one decoded weightsManifest entry.
type constTensor struct {
	dtype string // "float32" or "int32"
	shape []int64
	f     []float32
	i     []int32
}

// ints returns integer constant values as int64.
func (t *constTensor) ints() []int64 {
	out := make([]int64, len(t.i))
	for k, v := range t.i {
		out[k] = int64(v)
	}
	return out
}

func numElements(shape []int64) int64 {
	n := int64(1)
	for _, d := range shape {
		n *= d
	}
	return n
}

// readWeights slices the concatenated weight data according to the manifest
// and requires it to be exactly as long as the manifest describes: a size
// mismatch means the wrong .bin (or a truncated download) and would shift
// every later weight.
func readWeights(groups []weightGroup, data []byte) (map[string]*constTensor, error) {
	var need int64
	for _, grp := range groups {
		for _, w := range grp.Weights {
			if len(w.Quantization) > 0 && string(w.Quantization) != "null" {
				return nil, fmt.Errorf("weight %q is quantized; quantized weights are not supported", w.Name)
			}
			if w.Dtype != "float32" && w.Dtype != "int32" {
				return nil, fmt.Errorf("weight %q has unsupported dtype %q (only float32, int32)", w.Name, w.Dtype)
			}
			for _, d := range w.Shape {
				if d < 0 {
					return nil, fmt.Errorf("weight %q has invalid shape %v", w.Name, w.Shape)
				}
			}
			need += 4 * numElements(w.Shape)
		}
	}
	if int64(len(data)) != need {
		return nil, fmt.Errorf("weights data is %d bytes but the manifest describes %d bytes", len(data), need)
	}
	out := map[string]*constTensor{}
	off := int64(0)
	for _, grp := range groups {
		for _, w := range grp.Weights {
			if _, dup := out[w.Name]; dup {
				return nil, fmt.Errorf("weight %q listed twice in the manifest", w.Name)
			}
			n := numElements(w.Shape)
			b := data[off : off+4*n]
			off += 4 * n
			t := &constTensor{dtype: w.Dtype, shape: append([]int64(nil), w.Shape...)}
			if w.Dtype == "float32" {
				t.f = make([]float32, n)
				for k := range t.f {
					t.f[k] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*k:]))
				}
			} else {
				t.i = make([]int32, n)
				for k := range t.i {
					t.i[k] = int32(binary.LittleEndian.Uint32(b[4*k:]))
				}
			}
			out[w.Name] = t
		}
	}
	return out, nil
}

func float32Raw(v []float32) []byte {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return b
}

func int32Raw(v []int32) []byte {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], uint32(x))
	}
	return b
}

func int64Raw(v []int64) []byte {
	b := make([]byte, 8*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint64(b[8*i:], uint64(x))
	}
	return b
}
