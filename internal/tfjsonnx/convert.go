package tfjsonnx

import (
	"fmt"
)

// Layout handling: every TF tensor x may exist in the ONNX graph in its
// original (TF, NHWC for 4-D) layout under the name x, and/or — for 4-D
// tensors — transposed to NCHW under x+"#nchw". '#' cannot occur in TF node
// names, so derived names never collide with real ones. Layout-sensitive ops
// ask for the form they need and a Transpose is emitted at most once per
// tensor and direction.

const nchwSuffix = "#nchw"

// Permutations between TF NHWC and ONNX NCHW.
var (
	permToNCHW = []int64{0, 3, 1, 2}
	permToNHWC = []int64{0, 2, 3, 1}
	// nhwcAxisInNCHW[a] is where NHWC axis a lives in NCHW.
	nhwcAxisInNCHW = []int{0, 2, 3, 1}
)

// value is one converted TF tensor.
type value struct {
	shape []int64      // TF semantics; -1 = dynamic batch
	konst *constTensor // set for Const nodes, emitted lazily as initializer
	nhwc  bool         // present in TF layout under the TF name
	nchw  bool         // present in NCHW layout under name+"#nchw"
}

type converter struct {
	g      *graph
	consts map[string]*constTensor
	vals   map[string]*value
	alias  map[string]string // Identity node -> resolved source
	inits  map[string]bool
	state  map[string]int // DFS: 1 visiting, 2 done
	opset  int64
	out    onnxGraph
}

func nodeErr(n *tfNode, format string, args ...any) error {
	return fmt.Errorf("node %q (op %s): %s", n.Name, n.Op, fmt.Sprintf(format, args...))
}

// resolve follows Identity aliases to the node holding the data.
func (c *converter) resolve(name string) string {
	for {
		a, ok := c.alias[name]
		if !ok {
			return name
		}
		name = a
	}
}

// visit converts name and its inputs in dependency order (TF graphs in
// model.json are not guaranteed to be topologically sorted).
func (c *converter) visit(name string) error {
	switch c.state[name] {
	case 1:
		return fmt.Errorf("graph has a cycle through node %q", name)
	case 2:
		return nil
	}
	c.state[name] = 1
	n := c.g.byName[name]
	for _, in := range n.Input {
		ref, _, control := parseRef(in)
		if control {
			continue
		}
		if err := c.visit(ref); err != nil {
			return err
		}
	}
	if err := c.convertNode(n); err != nil {
		return err
	}
	c.state[name] = 2
	return nil
}

// dataInputs returns n's non-control inputs resolved through aliases.
func (c *converter) dataInputs(n *tfNode) []string {
	var out []string
	for _, in := range n.Input {
		ref, _, control := parseRef(in)
		if !control {
			out = append(out, c.resolve(ref))
		}
	}
	return out
}

func (c *converter) emit(op string, inputs []string, output string, attrs ...onnxAttr) {
	c.out.nodes = append(c.out.nodes, onnxNode{
		name: output, opType: op, inputs: inputs, outputs: []string{output}, attrs: attrs,
	})
}

func (c *converter) addInit(name string, dims []int64, dataType int, raw []byte) string {
	if !c.inits[name] {
		c.inits[name] = true
		c.out.inits = append(c.out.inits, onnxTensor{name: name, dims: dims, dataType: dataType, raw: raw})
	}
	return name
}

func (c *converter) int64Init(name string, v []int64) string {
	return c.addInit(name, []int64{int64(len(v))}, onnxInt64, int64Raw(v))
}

// nhwc returns the ONNX name of tensor name in TF layout, materializing it
// (initializer or Transpose back from NCHW) on first use.
func (c *converter) nhwc(name string) string {
	v := c.vals[name]
	if v.nhwc {
		return name
	}
	if v.konst != nil {
		if v.konst.dtype == "float32" {
			c.addInit(name, v.konst.shape, onnxFloat, float32Raw(v.konst.f))
		} else {
			c.addInit(name, v.konst.shape, onnxInt32, int32Raw(v.konst.i))
		}
	} else {
		c.emit("Transpose", []string{name + nchwSuffix}, name, attrInts("perm", permToNHWC...))
	}
	v.nhwc = true
	return name
}

// nchw returns the ONNX name of 4-D tensor name in NCHW layout.
func (c *converter) nchw(name string) string {
	v := c.vals[name]
	if !v.nchw {
		c.emit("Transpose", []string{c.nhwc(name)}, name+nchwSuffix, attrInts("perm", permToNCHW...))
		v.nchw = true
	}
	return name + nchwSuffix
}

// defineNCHW / defineNHWC register the output of the node just emitted.
func (c *converter) defineNCHW(name string, shape []int64) string {
	c.vals[name] = &value{shape: shape, nchw: true}
	return name + nchwSuffix
}

func (c *converter) defineNHWC(name string, shape []int64) string {
	c.vals[name] = &value{shape: shape, nhwc: true}
	return name
}

// preferNCHW reports whether a layout-agnostic op should run in NCHW: when
// its 4-D input already lives there, computing in NCHW avoids a transpose.
func (c *converter) preferNCHW(name string) bool {
	v := c.vals[name]
	return len(v.shape) == 4 && v.konst == nil && v.nchw
}

// constInput returns the constant feeding input i of n.
func (c *converter) constInput(n *tfNode, ins []string, i int, what string) (*constTensor, error) {
	if i >= len(ins) {
		return nil, nodeErr(n, "missing %s input", what)
	}
	v := c.vals[ins[i]]
	if v.konst == nil {
		return nil, nodeErr(n, "%s input %q must be a Const (dynamic %s is not supported)", what, ins[i], what)
	}
	return v.konst, nil
}

// intConst returns the values of an int32 constant input (shape, axes...).
func (c *converter) intConst(n *tfNode, ins []string, i int, what string) (*constTensor, []int64, error) {
	k, err := c.constInput(n, ins, i, what)
	if err != nil {
		return nil, nil, err
	}
	if k.dtype != "int32" {
		return nil, nil, nodeErr(n, "%s must be int32, got %s", what, k.dtype)
	}
	return k, k.ints(), nil
}

// image4 returns the shape of a 4-D NHWC input whose H, W and C are static,
// as convolution and pooling need to compute padding at conversion time.
func (c *converter) image4(n *tfNode, ins []string, i int) ([]int64, error) {
	if i >= len(ins) {
		return nil, nodeErr(n, "missing input %d", i)
	}
	v := c.vals[ins[i]]
	if v.konst != nil && v.konst.dtype != "float32" {
		return nil, nodeErr(n, "input %q is not float32", ins[i])
	}
	s := v.shape
	if len(s) != 4 {
		return nil, nodeErr(n, "input %q must be 4-D NHWC, has shape %v", ins[i], s)
	}
	if s[1] < 0 || s[2] < 0 || s[3] < 0 {
		return nil, nodeErr(n, "input %q has dynamic spatial/channel dims %v; only the batch may be dynamic", ins[i], s)
	}
	return s, nil
}

func (c *converter) convertNode(n *tfNode) error {
	switch n.Op {
	case "Const":
		return c.constNode(n)
	case "Placeholder":
		return nil // registered up front as a graph input
	case "Identity":
		return c.identity(n)
	case "Conv2D", "_FusedConv2D":
		return c.conv2D(n)
	case "DepthwiseConv2dNative":
		return c.depthwise(n)
	case "MaxPool":
		return c.maxPool(n)
	case "Add", "AddV2", "Relu":
		return c.elementwise(n)
	case "Pad":
		return c.pad(n)
	case "Mean":
		return c.mean(n)
	case "Reshape":
		return c.reshape(n)
	case "Softmax":
		return c.softmax(n)
	default:
		return nodeErr(n, "unsupported op")
	}
}

func (c *converter) constNode(n *tfNode) error {
	a := nodeAttrs{n}
	if err := a.checkAttrs("dtype", "value"); err != nil {
		return err
	}
	k, ok := c.consts[n.Name]
	if !ok {
		return nodeErr(n, "no weight with this name in weightsManifest (inline tensor values are not supported)")
	}
	dt, err := a.dtype("dtype")
	if err != nil {
		return err
	}
	want := map[string]string{"float32": "DT_FLOAT", "int32": "DT_INT32"}[k.dtype]
	if dt != "" && dt != want {
		return nodeErr(n, "dtype %s does not match manifest dtype %s", dt, k.dtype)
	}
	if v, ok := n.Attr["value"]; ok && v.Tensor != nil && v.Tensor.TensorShape != nil {
		if s, err := v.Tensor.TensorShape.dims(); err == nil && !equalShape(s, k.shape) {
			return nodeErr(n, "tensor shape %v does not match manifest shape %v", s, k.shape)
		}
	}
	c.vals[n.Name] = &value{shape: k.shape, konst: k}
	return nil
}

func (c *converter) placeholder(n *tfNode) error {
	a := nodeAttrs{n}
	if err := a.checkAttrs("dtype", "shape"); err != nil {
		return err
	}
	if err := a.checkFloat("dtype"); err != nil {
		return err
	}
	sa, ok := n.Attr["shape"]
	if !ok || sa.Shape == nil {
		return nodeErr(n, "missing shape attr; a static shape is required")
	}
	shape, err := sa.Shape.dims()
	if err != nil {
		return nodeErr(n, "shape: %v", err)
	}
	for i, d := range shape {
		if d < 0 && i != 0 {
			return nodeErr(n, "shape %v: only the batch (first) dimension may be dynamic", shape)
		}
	}
	c.defineNHWC(n.Name, shape)
	c.state[n.Name] = 2
	return nil
}

func (c *converter) identity(n *tfNode) error {
	a := nodeAttrs{n}
	if err := a.checkAttrs("T"); err != nil {
		return err
	}
	ins := c.dataInputs(n)
	if len(ins) != 1 {
		return nodeErr(n, "expected 1 input, got %d", len(ins))
	}
	c.alias[n.Name] = ins[0]
	return nil
}
