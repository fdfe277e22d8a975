package tfjsonnx

import (
	"fmt"
	"sort"
	"strings"
)

// The TensorFlow operations the converter maps to ONNX, one method each.

// convAttrs holds what conv-like nodes share.
type convAttrs struct {
	sh, sw int64
	pad    padding
}

func (c *converter) readConvAttrs(n *tfNode, known ...string) (convAttrs, error) {
	a := nodeAttrs{n}
	if err := a.checkAttrs(known...); err != nil {
		return convAttrs{}, err
	}
	if err := a.checkFloat("T"); err != nil {
		return convAttrs{}, err
	}
	if err := a.checkNHWC(); err != nil {
		return convAttrs{}, err
	}
	if _, ok := n.Attr["dilations"]; ok {
		dh, dw, err := a.spatial4("dilations")
		if err != nil {
			return convAttrs{}, err
		}
		if dh != 1 || dw != 1 {
			return convAttrs{}, nodeErr(n, "dilations [%d %d] not supported (only 1)", dh, dw)
		}
	}
	sh, sw, err := a.spatial4("strides")
	if err != nil {
		return convAttrs{}, err
	}
	p, err := a.padding()
	if err != nil {
		return convAttrs{}, err
	}
	return convAttrs{sh: sh, sw: sw, pad: p}, nil
}

// spatial computes the output H, W and ONNX pads [top, left, bottom, right].
func (ca convAttrs) spatial(n *tfNode, in []int64, kh, kw int64) (oh, ow int64, pads []int64, err error) {
	oh, t, b, err := spatialPads(in[1], kh, ca.sh, ca.pad, 0)
	if err != nil {
		return 0, 0, nil, nodeErr(n, "height: %v", err)
	}
	ow, l, r, err := spatialPads(in[2], kw, ca.sw, ca.pad, 1)
	if err != nil {
		return 0, 0, nil, nodeErr(n, "width: %v", err)
	}
	return oh, ow, []int64{t, l, b, r}, nil
}

func (c *converter) conv2D(n *tfNode) error {
	fused := n.Op == "_FusedConv2D"
	known := []string{"T", "strides", "padding", "explicit_paddings", "data_format", "dilations", "use_cudnn_on_gpu"}
	if fused {
		known = append(known, "fused_ops", "num_args", "epsilon", "leakyrelu_alpha")
	}
	ca, err := c.readConvAttrs(n, known...)
	if err != nil {
		return err
	}
	a := nodeAttrs{n}
	ins := c.dataInputs(n)
	relu := false
	wantInputs := 2
	if fused {
		ops, err := a.strs("fused_ops", nil)
		if err != nil {
			return err
		}
		switch strings.Join(ops, ",") {
		case "BiasAdd":
		case "BiasAdd,Relu":
			relu = true
		default:
			return nodeErr(n, "unsupported fused_ops %q (only BiasAdd, BiasAdd+Relu)", ops)
		}
		numArgs, err := a.integer("num_args", 0)
		if err != nil {
			return err
		}
		if numArgs != 1 {
			return nodeErr(n, "num_args %d not supported (BiasAdd takes 1)", numArgs)
		}
		wantInputs = 3
	}
	if len(ins) != wantInputs {
		return nodeErr(n, "expected %d inputs, got %d", wantInputs, len(ins))
	}
	in, err := c.image4(n, ins, 0)
	if err != nil {
		return err
	}
	f, err := c.constInput(n, ins, 1, "filter")
	if err != nil {
		return err
	}
	if f.dtype != "float32" || len(f.shape) != 4 {
		return nodeErr(n, "filter must be a 4-D float32 [H W I O] tensor, got %s %v", f.dtype, f.shape)
	}
	kh, kw, ci, co := f.shape[0], f.shape[1], f.shape[2], f.shape[3]
	if ci != in[3] {
		return nodeErr(n, "filter input channels %d != input channels %d (grouped conv not supported)", ci, in[3])
	}
	oh, ow, pads, err := ca.spatial(n, in, kh, kw)
	if err != nil {
		return err
	}
	// HWIO -> OIHW.
	w := make([]float32, len(f.f))
	for h := int64(0); h < kh; h++ {
		for x := int64(0); x < kw; x++ {
			for i := int64(0); i < ci; i++ {
				for o := int64(0); o < co; o++ {
					w[((o*ci+i)*kh+h)*kw+x] = f.f[((h*kw+x)*ci+i)*co+o]
				}
			}
		}
	}
	inputs := []string{c.nchw(ins[0]), c.addInit(ins[1]+"#oihw", []int64{co, ci, kh, kw}, onnxFloat, float32Raw(w))}
	if fused {
		b, err := c.constInput(n, ins, 2, "bias")
		if err != nil {
			return err
		}
		if b.dtype != "float32" || !equalShape(b.shape, []int64{co}) {
			return nodeErr(n, "bias must be float32 [%d], got %s %v", co, b.dtype, b.shape)
		}
		inputs = append(inputs, c.nhwc(ins[2]))
	}
	outShape := []int64{in[0], oh, ow, co}
	out := n.Name + nchwSuffix
	convOut := out
	if relu {
		convOut = n.Name + "#conv"
	}
	c.emit("Conv", inputs, convOut,
		attrInts("kernel_shape", kh, kw), attrInts("strides", ca.sh, ca.sw),
		attrInts("pads", pads...), attrInts("dilations", 1, 1), attrInt("group", 1))
	if relu {
		c.emit("Relu", []string{convOut}, out)
	}
	c.defineNCHW(n.Name, outShape)
	return nil
}

func (c *converter) depthwise(n *tfNode) error {
	ca, err := c.readConvAttrs(n, "T", "strides", "padding", "explicit_paddings", "data_format", "dilations")
	if err != nil {
		return err
	}
	ins := c.dataInputs(n)
	if len(ins) != 2 {
		return nodeErr(n, "expected 2 inputs, got %d", len(ins))
	}
	in, err := c.image4(n, ins, 0)
	if err != nil {
		return err
	}
	f, err := c.constInput(n, ins, 1, "filter")
	if err != nil {
		return err
	}
	if f.dtype != "float32" || len(f.shape) != 4 {
		return nodeErr(n, "filter must be a 4-D float32 [H W C M] tensor, got %s %v", f.dtype, f.shape)
	}
	kh, kw, ch, mult := f.shape[0], f.shape[1], f.shape[2], f.shape[3]
	if ch != in[3] {
		return nodeErr(n, "filter channels %d != input channels %d", ch, in[3])
	}
	oh, ow, pads, err := ca.spatial(n, in, kh, kw)
	if err != nil {
		return err
	}
	// [H W C M] -> [C*M 1 H W]; TF orders depthwise output channels c*M+m.
	w := make([]float32, len(f.f))
	for h := int64(0); h < kh; h++ {
		for x := int64(0); x < kw; x++ {
			for k := int64(0); k < ch; k++ {
				for m := int64(0); m < mult; m++ {
					w[((k*mult+m)*kh+h)*kw+x] = f.f[((h*kw+x)*ch+k)*mult+m]
				}
			}
		}
	}
	inputs := []string{c.nchw(ins[0]), c.addInit(ins[1]+"#dw", []int64{ch * mult, 1, kh, kw}, onnxFloat, float32Raw(w))}
	c.emit("Conv", inputs, n.Name+nchwSuffix,
		attrInts("kernel_shape", kh, kw), attrInts("strides", ca.sh, ca.sw),
		attrInts("pads", pads...), attrInts("dilations", 1, 1), attrInt("group", ch))
	c.defineNCHW(n.Name, []int64{in[0], oh, ow, ch * mult})
	return nil
}

func (c *converter) maxPool(n *tfNode) error {
	ca, err := c.readConvAttrs(n, "T", "ksize", "strides", "padding", "data_format")
	if err != nil {
		return err
	}
	if ca.pad.mode == "EXPLICIT" {
		return nodeErr(n, "EXPLICIT padding not supported for pooling")
	}
	kh, kw, err := nodeAttrs{n}.spatial4("ksize")
	if err != nil {
		return err
	}
	ins := c.dataInputs(n)
	if len(ins) != 1 {
		return nodeErr(n, "expected 1 input, got %d", len(ins))
	}
	in, err := c.image4(n, ins, 0)
	if err != nil {
		return err
	}
	oh, ow, pads, err := ca.spatial(n, in, kh, kw)
	if err != nil {
		return err
	}
	// ONNX MaxPool never selects padded positions, like TF's SAME pooling.
	c.emit("MaxPool", []string{c.nchw(ins[0])}, n.Name+nchwSuffix,
		attrInts("kernel_shape", kh, kw), attrInts("strides", ca.sh, ca.sw), attrInts("pads", pads...))
	c.defineNCHW(n.Name, []int64{in[0], oh, ow, in[3]})
	return nil
}

// broadcast applies numpy/TF broadcasting to two shapes.
func broadcast(a, b []int64) ([]int64, bool) {
	if len(a) < len(b) {
		a, b = b, a
	}
	out := append([]int64(nil), a...)
	off := len(a) - len(b)
	for i, d := range b {
		x := out[off+i]
		switch {
		case x == d:
		case d == 1:
		case x == 1:
			out[off+i] = d
		case x == -1 || d == -1:
			// Only the batch is ever dynamic; a static size wins.
			if x == -1 {
				out[off+i] = d
			}
		default:
			return nil, false
		}
	}
	return out, true
}

func (c *converter) elementwise(n *tfNode) error {
	a := nodeAttrs{n}
	if err := a.checkAttrs("T"); err != nil {
		return err
	}
	if err := a.checkFloat("T"); err != nil {
		return err
	}
	ins := c.dataInputs(n)
	onnxOp, arity := "Add", 2
	if n.Op == "Relu" {
		onnxOp, arity = "Relu", 1
	}
	if len(ins) != arity {
		return nodeErr(n, "expected %d inputs, got %d", arity, len(ins))
	}
	shape := c.vals[ins[0]].shape
	useNCHW := c.preferNCHW(ins[0])
	for _, in := range ins[1:] {
		v := c.vals[in]
		var ok bool
		if shape, ok = broadcast(shape, v.shape); !ok {
			return nodeErr(n, "shapes %v and %v do not broadcast", c.vals[ins[0]].shape, v.shape)
		}
		useNCHW = useNCHW || c.preferNCHW(in)
	}
	for _, in := range ins {
		if v := c.vals[in]; v.konst != nil && v.konst.dtype != "float32" {
			return nodeErr(n, "input %q is not float32", in)
		}
		// Same-rank 4-D operands broadcast identically after permuting all of
		// them; anything else (rank mismatch, constants) stays in TF layout.
		if v := c.vals[in]; len(v.shape) != 4 || v.konst != nil {
			useNCHW = false
		}
	}
	names := make([]string, len(ins))
	for i, in := range ins {
		if useNCHW {
			names[i] = c.nchw(in)
		} else {
			names[i] = c.nhwc(in)
		}
	}
	if useNCHW {
		c.emit(onnxOp, names, c.defineNCHW(n.Name, shape))
	} else {
		c.emit(onnxOp, names, c.defineNHWC(n.Name, shape))
	}
	return nil
}

func (c *converter) pad(n *tfNode) error {
	a := nodeAttrs{n}
	if err := a.checkAttrs("T", "Tpaddings"); err != nil {
		return err
	}
	if err := a.checkFloat("T"); err != nil {
		return err
	}
	ins := c.dataInputs(n)
	if len(ins) != 2 {
		return nodeErr(n, "expected 2 inputs, got %d", len(ins))
	}
	shape := c.vals[ins[0]].shape
	rank := int64(len(shape))
	k, p, err := c.intConst(n, ins, 1, "paddings")
	if err != nil {
		return err
	}
	if !equalShape(k.shape, []int64{rank, 2}) {
		return nodeErr(n, "paddings shape %v, want [%d 2]", k.shape, rank)
	}
	out := append([]int64(nil), shape...)
	for d := int64(0); d < rank; d++ {
		b, e := p[2*d], p[2*d+1]
		if b < 0 || e < 0 {
			return nodeErr(n, "negative paddings %v", p)
		}
		if shape[d] < 0 {
			if b != 0 || e != 0 {
				return nodeErr(n, "padding the dynamic batch dimension is not supported")
			}
			continue
		}
		out[d] = shape[d] + b + e
	}
	// ONNX pads: all begins, then all ends, in the tensor's axis order.
	pads := make([]int64, 2*rank)
	useNCHW := c.preferNCHW(ins[0])
	for d := int64(0); d < rank; d++ {
		at := d
		if useNCHW {
			at = int64(nhwcAxisInNCHW[d])
		}
		pads[at], pads[rank+at] = p[2*d], p[2*d+1]
	}
	padsName := c.int64Init(n.Name+"#pads", pads)
	if useNCHW {
		c.emit("Pad", []string{c.nchw(ins[0]), padsName}, c.defineNCHW(n.Name, out))
	} else {
		c.emit("Pad", []string{c.nhwc(ins[0]), padsName}, c.defineNHWC(n.Name, out))
	}
	return nil
}

func (c *converter) mean(n *tfNode) error {
	a := nodeAttrs{n}
	if err := a.checkAttrs("T", "Tidx", "keep_dims"); err != nil {
		return err
	}
	if err := a.checkFloat("T"); err != nil {
		return err
	}
	keep, err := a.boolean("keep_dims", false)
	if err != nil {
		return err
	}
	ins := c.dataInputs(n)
	if len(ins) != 2 {
		return nodeErr(n, "expected 2 inputs, got %d", len(ins))
	}
	shape := c.vals[ins[0]].shape
	rank := int64(len(shape))
	_, raw, err := c.intConst(n, ins, 1, "reduction_indices")
	if err != nil {
		return err
	}
	if len(raw) == 0 {
		return nodeErr(n, "empty reduction axes not supported")
	}
	reduced := map[int64]bool{}
	for _, ax := range raw {
		if ax < 0 {
			ax += rank
		}
		if ax < 0 || ax >= rank {
			return nodeErr(n, "axis %v out of range for rank %d", raw, rank)
		}
		reduced[ax] = true
	}
	var out, kept []int64
	for d := int64(0); d < rank; d++ {
		switch {
		case !reduced[d]:
			out = append(out, shape[d])
			kept = append(kept, d)
		case keep:
			out = append(out, 1)
		}
	}
	// In NCHW the surviving axes must keep their relative order, otherwise
	// dropping the reduced ones would leave a differently ordered result.
	useNCHW := c.preferNCHW(ins[0])
	if useNCHW && !keep {
		for i := 1; i < len(kept); i++ {
			if nhwcAxisInNCHW[kept[i]] < nhwcAxisInNCHW[kept[i-1]] {
				useNCHW = false
			}
		}
	}
	var axes []int64
	for ax := range reduced {
		if useNCHW {
			axes = append(axes, int64(nhwcAxisInNCHW[ax]))
		} else {
			axes = append(axes, ax)
		}
	}
	sort.Slice(axes, func(i, j int) bool { return axes[i] < axes[j] })
	var x, y string
	if useNCHW {
		x = c.nchw(ins[0])
		if keep {
			y = c.defineNCHW(n.Name, out)
		} else {
			y = c.defineNHWC(n.Name, out) // rank < 4: layout-free
		}
	} else {
		x = c.nhwc(ins[0])
		y = c.defineNHWC(n.Name, out)
	}
	keepAttr := attrInt("keepdims", 0)
	if keep {
		keepAttr = attrInt("keepdims", 1)
	}
	if c.opset >= 18 {
		c.emit("ReduceMean", []string{x, c.int64Init(n.Name+"#axes", axes)}, y, keepAttr)
	} else {
		c.emit("ReduceMean", []string{x}, y, attrInts("axes", axes...), keepAttr)
	}
	return nil
}

func (c *converter) reshape(n *tfNode) error {
	a := nodeAttrs{n}
	if err := a.checkAttrs("T", "Tshape"); err != nil {
		return err
	}
	if err := a.checkFloat("T"); err != nil {
		return err
	}
	ins := c.dataInputs(n)
	if len(ins) != 2 {
		return nodeErr(n, "expected 2 inputs, got %d", len(ins))
	}
	shape := c.vals[ins[0]].shape
	k, target, err := c.intConst(n, ins, 1, "shape")
	if err != nil {
		return err
	}
	if len(k.shape) != 1 {
		return nodeErr(n, "shape must be 1-D, got %v", k.shape)
	}
	out, err := reshapeShape(shape, target)
	if err != nil {
		return nodeErr(n, "%v", err)
	}
	// Reshape follows memory order, so it must see TF (NHWC) layout.
	c.emit("Reshape", []string{c.nhwc(ins[0]), c.int64Init(n.Name+"#shape", target)}, c.defineNHWC(n.Name, out))
	return nil
}

// reshapeShape infers a Reshape's output shape. A dynamic input is only
// supported when the batch dimension is carried through as target[0] = -1,
// which keeps "-1 means the batch" true for every inferred shape.
func reshapeShape(in, target []int64) ([]int64, error) {
	infer := -1
	known := int64(1)
	for i, d := range target {
		switch {
		case d == -1 && infer < 0:
			infer = i
		case d == -1:
			return nil, fmt.Errorf("shape %v has more than one -1", target)
		case d <= 0:
			return nil, fmt.Errorf("shape %v: non-positive size not supported", target)
		default:
			known *= d
		}
	}
	out := append([]int64(nil), target...)
	if len(in) > 0 && in[0] < 0 {
		tail := numElements(in[1:])
		if infer != 0 || known != tail {
			return nil, fmt.Errorf("reshape of dynamic-batch %v to %v must keep the batch as the leading -1", in, target)
		}
		return out, nil
	}
	total := numElements(in)
	if infer >= 0 {
		if total%known != 0 {
			return nil, fmt.Errorf("cannot reshape %v to %v", in, target)
		}
		out[infer] = total / known
	} else if total != known {
		return nil, fmt.Errorf("cannot reshape %v (%d elements) to %v", in, total, target)
	}
	return out, nil
}

func (c *converter) softmax(n *tfNode) error {
	a := nodeAttrs{n}
	if err := a.checkAttrs("T"); err != nil {
		return err
	}
	if err := a.checkFloat("T"); err != nil {
		return err
	}
	ins := c.dataInputs(n)
	if len(ins) != 1 {
		return nodeErr(n, "expected 1 input, got %d", len(ins))
	}
	v := c.vals[ins[0]]
	if len(v.shape) == 0 {
		return nodeErr(n, "softmax of a scalar")
	}
	// TF normalizes the last axis; opset >= 13 Softmax does exactly one axis.
	if c.preferNCHW(ins[0]) && !v.nhwc {
		c.emit("Softmax", []string{c.nchw(ins[0])}, c.defineNCHW(n.Name, v.shape), attrInt("axis", 1))
		return nil
	}
	c.emit("Softmax", []string{c.nhwc(ins[0])}, c.defineNHWC(n.Name, v.shape), attrInt("axis", -1))
	return nil
}
