package tfjsonnx

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"strings"
)

// Static int8 quantisation of a converted model, in the QDQ form ONNX Runtime
// fuses into integer kernels: every activation a quantised op reads or
// writes passes through a QuantizeLinear/DequantizeLinear pair (uint8,
// asymmetric, calibrated range), every quantised Conv reads its weights
// through a DequantizeLinear of int8 per-output-channel symmetric weights and
// an int32 bias with scale input-scale × weight-scale. ONNX Runtime's CPU
// provider turns "DQ → Conv → Q" into QLinearConv, "DQ, DQ → Add → Q" into
// QLinearAdd and drops the pairs around MaxPool; what it cannot fuse runs in
// float between a DQ and a Q, so the graph is correct either way.
//
// uint8 activations with int8 weights (U8S8) is the combination ONNX
// Runtime's x86 kernels are built for: with int8 activations ONNX Runtime
// 1.24 fused only 29 of BlazeFace's 58 int8 convs (not the depthwise ones)
// and none of its Adds, and the detector ran about twice as slow.

// Element types the quantised graph adds.
const (
	onnxUint8 = 2 // UINT8
	onnxInt8  = 3 // INT8
)

// QuantConfig chooses what Quantize leaves in float. The zero value
// quantises every Conv, Add and MaxPool.
type QuantConfig struct {
	// Float names the convolutions kept in float, by TensorFlow node name
	// (QuantizableConvs lists them). The first layer, which sees raw pixels,
	// and the heads whose outputs are decoded directly are the usual
	// candidates: their error is not averaged away by later layers.
	Float []string
}

// Range is the calibrated range of one activation tensor.
type Range struct{ Min, Max float32 }

// QuantStats counts what Quantize did.
type QuantStats struct {
	Convs      int // convolutions in int8
	FloatConvs int // convolutions left in float (QuantConfig.Float)
	Adds       int // additions in int8
	MaxPools   int // max-pools on int8 data
	Relus      int // Relus folded into the preceding op's quantisation
	Tensors    int // activations with a Q/DQ pair
}

// convName is the TensorFlow name of an emitted Conv node: its output is the
// TF name with a "#…" suffix.
func convName(n onnxNode) string {
	name, _, _ := strings.Cut(n.outputs[0], "#")
	return name
}

// QuantizableConvs lists the convolutions of a converted model by TF node
// name, in graph order, for choosing QuantConfig.Float.
func QuantizableConvs(model []byte) ([]string, error) {
	m, err := decodeModelProto(model)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, n := range m.graph.nodes {
		if n.opType == "Conv" {
			out = append(out, convName(n))
		}
	}
	return out, nil
}

// qplan is what to quantise in one graph, shared by CalibrationModel and
// Quantize so that calibration measures exactly the tensors quantised.
type qplan struct {
	quant   map[int]bool   // node index → quantised Conv/Add/MaxPool
	folded  map[int]int    // Relu index → index of the op it is folded into
	outName map[int]string // quantised op → its output after folding
	tensors []string       // activations to quantise, first-produced first
	tie     map[string]string
	stats   QuantStats
}

func planQuant(g *onnxGraph, cfg QuantConfig) (*qplan, error) {
	inits := map[string]bool{}
	for _, t := range g.inits {
		inits[t.name] = true
	}
	outputs := map[string]bool{}
	for _, o := range g.outputs {
		outputs[o.name] = true
	}
	consumers := map[string][]int{}
	producer := map[string]int{}
	for i, n := range g.nodes {
		for _, in := range n.inputs {
			consumers[in] = append(consumers[in], i)
		}
		for _, o := range n.outputs {
			producer[o] = i
		}
	}
	keep := map[string]bool{}
	for _, f := range cfg.Float {
		keep[f] = true
	}
	p := &qplan{quant: map[int]bool{}, folded: map[int]int{}, outName: map[int]string{}, tie: map[string]string{}}
	seenFloat := map[string]bool{}
	for i, n := range g.nodes {
		switch n.opType {
		case "Conv":
			if len(n.inputs) < 2 || !inits[n.inputs[1]] || (len(n.inputs) > 2 && !inits[n.inputs[2]]) {
				continue
			}
			if keep[convName(n)] {
				seenFloat[convName(n)] = true
				p.stats.FloatConvs++
				continue
			}
			p.quant[i] = true
			p.stats.Convs++
		case "Add":
			if len(n.inputs) == 2 && !inits[n.inputs[0]] && !inits[n.inputs[1]] {
				p.quant[i] = true
				p.stats.Adds++
			}
		case "MaxPool":
			p.quant[i] = true
			p.stats.MaxPools++
		}
	}
	for f := range keep {
		if !seenFloat[f] {
			return nil, fmt.Errorf("tfjsonnx: quantize: no convolution named %q to keep in float", f)
		}
	}
	// A Relu right after a quantised Conv or Add is folded into the op's
	// output quantisation: a uint8 range starting at 0 clamps negatives to
	// the zero point, which is the Relu, and the op fuses with its Q.
	for i, n := range g.nodes {
		if n.opType != "Relu" || outputs[n.outputs[0]] {
			continue
		}
		src, ok := producer[n.inputs[0]]
		if !ok || !p.quant[src] || g.nodes[src].opType == "MaxPool" || len(consumers[n.inputs[0]]) != 1 || outputs[n.inputs[0]] {
			continue
		}
		p.folded[i] = src
		p.outName[src] = n.outputs[0]
		p.stats.Relus++
	}
	seen := map[string]bool{}
	add := func(t string) {
		if !seen[t] {
			seen[t] = true
			p.tensors = append(p.tensors, t)
		}
	}
	for i, n := range g.nodes {
		if !p.quant[i] {
			continue
		}
		switch n.opType {
		case "Conv", "MaxPool":
			add(n.inputs[0])
		case "Add":
			add(n.inputs[0])
			add(n.inputs[1])
		}
		out := n.outputs[0]
		if o, ok := p.outName[i]; ok {
			out = o
		}
		add(out)
		if n.opType == "MaxPool" {
			// Same scale in and out: the pool then works on the integers
			// and ONNX Runtime drops the pair around it.
			p.tie[out] = n.inputs[0]
		}
	}
	p.stats.Tensors = len(p.tensors)
	// Order tensors as they are produced, which is the order CalibrationModel
	// reports them and the order a reader of the graph expects.
	order := map[string]int{}
	for _, in := range g.inputs {
		order[in.name] = -1
	}
	for i, n := range g.nodes {
		order[n.outputs[0]] = i
	}
	slices.SortStableFunc(p.tensors, func(a, b string) int { return order[a] - order[b] })
	return p, nil
}

// CalibrationModel returns the model with every activation Quantize would
// quantise added as an extra graph output, and those tensors' names in the
// order of the extra outputs. Running it over representative inputs and
// recording each tensor's range gives Quantize its ranges.
func CalibrationModel(model []byte, cfg QuantConfig) ([]byte, []string, error) {
	m, err := decodeModelProto(model)
	if err != nil {
		return nil, nil, err
	}
	p, err := planQuant(&m.graph, cfg)
	if err != nil {
		return nil, nil, err
	}
	outs := map[string]bool{}
	for _, o := range m.graph.outputs {
		outs[o.name] = true
	}
	var names []string
	for _, t := range p.tensors {
		if !outs[t] {
			m.graph.outputs = append(m.graph.outputs, onnxValueInfo{name: t, elemType: onnxFloat, noShape: true})
		}
		names = append(names, t)
	}
	return m.marshal(), names, nil
}

// qparams are one activation's uint8 scale and zero point.
type qparams struct {
	scale float32
	zero  uint8
}

// uint8Params maps [min, max] (widened to hold 0, so that zero padding and
// Relu are exact) onto 0..255.
func uint8Params(r Range) qparams {
	lo, hi := min(r.Min, 0), max(r.Max, 0)
	scale := (hi - lo) / 255
	if scale == 0 || math.IsNaN(float64(scale)) || math.IsInf(float64(scale), 0) {
		return qparams{scale: 1}
	}
	z := math.Round(float64(-lo / scale))
	return qparams{scale: scale, zero: uint8(max(0, min(255, z)))}
}

// Quantize rewrites a converted float model into QDQ int8 form using the
// calibrated ranges of the tensors CalibrationModel names. The interface
// (inputs, outputs, their types and names) is unchanged.
func Quantize(model []byte, ranges map[string]Range, cfg QuantConfig) ([]byte, QuantStats, error) {
	m, err := decodeModelProto(model)
	if err != nil {
		return nil, QuantStats{}, err
	}
	g := &m.graph
	p, err := planQuant(g, cfg)
	if err != nil {
		return nil, QuantStats{}, err
	}
	params := map[string]qparams{}
	for _, t := range p.tensors {
		r, ok := ranges[t]
		if !ok {
			return nil, QuantStats{}, fmt.Errorf("tfjsonnx: quantize: no calibrated range for tensor %q", t)
		}
		params[t] = uint8Params(r)
	}
	// In production order, so a pool of a pool takes the first one's scale.
	for _, t := range p.tensors {
		if in, ok := p.tie[t]; ok {
			params[t] = params[in]
		}
	}
	inits := map[string]*onnxTensor{}
	for i := range g.inits {
		inits[g.inits[i].name] = &g.inits[i]
	}
	var nodes []onnxNode
	addInit := func(t onnxTensor) string {
		g.inits = append(g.inits, t)
		return t.name
	}
	// qdq emits the pair for tensor t; consumers read t+"#dq".
	qdq := func(t string) {
		q := params[t]
		s := addInit(onnxTensor{name: t + "#scale", dataType: onnxFloat, raw: float32Raw([]float32{q.scale})})
		z := addInit(onnxTensor{name: t + "#zp", dataType: onnxUint8, raw: []byte{q.zero}})
		nodes = append(nodes,
			onnxNode{name: t + "#q", opType: "QuantizeLinear", inputs: []string{t, s, z}, outputs: []string{t + "#q"}},
			onnxNode{name: t + "#dq", opType: "DequantizeLinear", inputs: []string{t + "#q", s, z}, outputs: []string{t + "#dq"}})
	}
	quantised := map[string]bool{}
	for _, t := range p.tensors {
		quantised[t] = true
	}
	for _, in := range g.inputs {
		if quantised[in.name] {
			qdq(in.name)
		}
	}
	for i, n := range g.nodes {
		if _, ok := p.folded[i]; ok {
			continue
		}
		n.inputs = slices.Clone(n.inputs)
		for k, in := range n.inputs {
			if quantised[in] {
				n.inputs[k] = in + "#dq"
			}
		}
		if o, ok := p.outName[i]; ok {
			n.outputs = []string{o}
			n.name = o
		}
		if p.quant[i] && n.opType == "Conv" {
			sx := params[strings.TrimSuffix(n.inputs[0], "#dq")].scale
			if err := quantizeConvWeights(&n, inits, sx, addInit, &nodes); err != nil {
				return nil, QuantStats{}, err
			}
		}
		nodes = append(nodes, n)
		if quantised[n.outputs[0]] {
			qdq(n.outputs[0])
		}
	}
	g.nodes = nodes
	// Weights replaced by their int8 forms are no longer read in float.
	used := map[string]bool{}
	for _, n := range g.nodes {
		for _, in := range n.inputs {
			used[in] = true
		}
	}
	g.inits = slices.DeleteFunc(g.inits, func(t onnxTensor) bool { return !used[t.name] })
	return m.marshal(), p.stats, nil
}

// quantizeConvWeights replaces the float weight (and bias) inputs of Conv n
// by DequantizeLinear nodes of int8 per-output-channel symmetric weights
// and an int32 bias with per-channel scale sx·sw[c], the form ONNX Runtime
// fuses into QLinearConv.
func quantizeConvWeights(n *onnxNode, inits map[string]*onnxTensor, sx float32, addInit func(onnxTensor) string, nodes *[]onnxNode) error {
	w := inits[n.inputs[1]]
	if w == nil || w.dataType != onnxFloat || len(w.dims) != 4 {
		return fmt.Errorf("tfjsonnx: quantize: Conv %q: weight is not a 4-D float initializer", n.name)
	}
	wf := rawFloat32(w.raw)
	co := int(w.dims[0])
	per := len(wf) / co
	scales := make([]float32, co)
	q := make([]byte, len(wf))
	for c := 0; c < co; c++ {
		m := float32(0)
		for _, v := range wf[c*per : (c+1)*per] {
			m = max(m, float32(math.Abs(float64(v))))
		}
		s := m / 127
		if s == 0 {
			s = 1
		}
		scales[c] = s
		for k, v := range wf[c*per : (c+1)*per] {
			q[c*per+k] = byte(int8(max(-127, min(127, math.Round(float64(v/s))))))
		}
	}
	base := convName(*n)
	dq := func(name string, dims []int64, dt int, raw []byte, scale []float32, zeroRaw []byte) string {
		addInit(onnxTensor{name: name + "#q", dims: dims, dataType: dt, raw: raw})
		addInit(onnxTensor{name: name + "#scale", dims: []int64{int64(co)}, dataType: onnxFloat, raw: float32Raw(scale)})
		addInit(onnxTensor{name: name + "#zp", dims: []int64{int64(co)}, dataType: dt, raw: zeroRaw})
		*nodes = append(*nodes, onnxNode{name: name + "#dq", opType: "DequantizeLinear",
			inputs: []string{name + "#q", name + "#scale", name + "#zp"}, outputs: []string{name + "#dq"},
			attrs: []onnxAttr{attrInt("axis", 0)}})
		return name + "#dq"
	}
	n.inputs[1] = dq(base+"#w", w.dims, onnxInt8, q, scales, make([]byte, co))
	if len(n.inputs) > 2 {
		b := inits[n.inputs[2]]
		if b == nil || b.dataType != onnxFloat || len(b.dims) != 1 || int(b.dims[0]) != co {
			return fmt.Errorf("tfjsonnx: quantize: Conv %q: bias is not a [%d] float initializer", n.name, co)
		}
		bf := rawFloat32(b.raw)
		bs := make([]float32, co)
		bq := make([]int32, co)
		for c := range bf {
			bs[c] = sx * scales[c]
			bq[c] = int32(max(math.MinInt32, min(math.MaxInt32, math.Round(float64(bf[c]/bs[c])))))
		}
		n.inputs[2] = dq(base+"#b", b.dims, onnxInt32, int32Raw(bq), bs, make([]byte, 4*co))
	}
	return nil
}

func rawFloat32(b []byte) []float32 {
	out := make([]float32, len(b)/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return out
}
