package tfjsonnx

import (
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"
)

// This file is a deliberately naive float64 interpreter for TF graphs in the
// original NHWC layout. It shares no layout, filter-reordering or padding
// code with the converter (SAME padding is re-derived from TensorFlow's
// definition below), so agreement between it and ONNX Runtime running the
// converted model checks the converter's layout and padding logic.

type refTensor struct {
	shape []int
	data  []float64
}

func newRef(shape ...int) *refTensor {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return &refTensor{shape: shape, data: make([]float64, n)}
}

// idx4 indexes an NHWC tensor.
func (r *refTensor) idx4(n, h, w, c int) int {
	return ((n*r.shape[1]+h)*r.shape[2]+w)*r.shape[3] + c
}

// refPads returns output size and leading padding per TensorFlow's
// documented SAME/VALID rules.
func refPads(mode string, in, k, s int) (out, before int) {
	if mode == "VALID" {
		return int(math.Ceil(float64(in-k+1) / float64(s))), 0
	}
	out = int(math.Ceil(float64(in) / float64(s)))
	total := max((out-1)*s+k-in, 0)
	return out, total / 2
}

func refConv(x *refTensor, f *constTensor, sh, sw int, mode string) *refTensor {
	kh, kw, ci, co := int(f.shape[0]), int(f.shape[1]), int(f.shape[2]), int(f.shape[3])
	oh, pt := refPads(mode, x.shape[1], kh, sh)
	ow, pl := refPads(mode, x.shape[2], kw, sw)
	y := newRef(x.shape[0], oh, ow, co)
	for n := 0; n < x.shape[0]; n++ {
		for i := 0; i < oh; i++ {
			for j := 0; j < ow; j++ {
				acc := y.data[y.idx4(n, i, j, 0):][:co]
				for a := 0; a < kh; a++ {
					for b := 0; b < kw; b++ {
						h, w := i*sh+a-pt, j*sw+b-pl
						if h < 0 || w < 0 || h >= x.shape[1] || w >= x.shape[2] {
							continue
						}
						px := x.data[x.idx4(n, h, w, 0):][:ci]
						for c, xv := range px {
							for o, fv := range f.f[((a*kw+b)*ci+c)*co:][:co] {
								acc[o] += xv * float64(fv)
							}
						}
					}
				}
			}
		}
	}
	return y
}

func refDepthwise(x *refTensor, f *constTensor, sh, sw int, mode string) *refTensor {
	kh, kw, ch, mult := int(f.shape[0]), int(f.shape[1]), int(f.shape[2]), int(f.shape[3])
	oh, pt := refPads(mode, x.shape[1], kh, sh)
	ow, pl := refPads(mode, x.shape[2], kw, sw)
	y := newRef(x.shape[0], oh, ow, ch*mult)
	for n := 0; n < x.shape[0]; n++ {
		for i := 0; i < oh; i++ {
			for j := 0; j < ow; j++ {
				for c := 0; c < ch; c++ {
					for m := 0; m < mult; m++ {
						s := 0.0
						for a := 0; a < kh; a++ {
							for b := 0; b < kw; b++ {
								h, w := i*sh+a-pt, j*sw+b-pl
								if h < 0 || w < 0 || h >= x.shape[1] || w >= x.shape[2] {
									continue
								}
								s += x.data[x.idx4(n, h, w, c)] * float64(f.f[((a*kw+b)*ch+c)*mult+m])
							}
						}
						y.data[y.idx4(n, i, j, c*mult+m)] = s
					}
				}
			}
		}
	}
	return y
}

func refMaxPool(x *refTensor, kh, kw, sh, sw int, mode string) *refTensor {
	oh, pt := refPads(mode, x.shape[1], kh, sh)
	ow, pl := refPads(mode, x.shape[2], kw, sw)
	y := newRef(x.shape[0], oh, ow, x.shape[3])
	for n := 0; n < x.shape[0]; n++ {
		for i := 0; i < oh; i++ {
			for j := 0; j < ow; j++ {
				for c := 0; c < x.shape[3]; c++ {
					m := math.Inf(-1)
					for a := 0; a < kh; a++ {
						for b := 0; b < kw; b++ {
							h, w := i*sh+a-pt, j*sw+b-pl
							if h >= 0 && w >= 0 && h < x.shape[1] && w < x.shape[2] {
								m = math.Max(m, x.data[x.idx4(n, h, w, c)])
							}
						}
					}
					y.data[y.idx4(n, i, j, c)] = m
				}
			}
		}
	}
	return y
}

// strides returns row-major element strides of shape.
func strides(shape []int) []int {
	s := make([]int, len(shape))
	acc := 1
	for i := len(shape) - 1; i >= 0; i-- {
		s[i] = acc
		acc *= shape[i]
	}
	return s
}

// unravel converts a flat index to coordinates.
func unravel(i int, shape []int) []int {
	c := make([]int, len(shape))
	for d := len(shape) - 1; d >= 0; d-- {
		c[d] = i % shape[d]
		i /= shape[d]
	}
	return c
}

func refAdd(a, b *refTensor) *refTensor {
	if len(a.shape) < len(b.shape) {
		a, b = b, a
	}
	// Fast paths (same shape; per-channel bias) keep the real-model
	// reference runs quick under -race; the general path handles the rest.
	if len(b.data) == len(a.data) && reflect.DeepEqual(a.shape, b.shape) {
		y := newRef(a.shape...)
		for i := range y.data {
			y.data[i] = a.data[i] + b.data[i]
		}
		return y
	}
	if len(b.shape) == 1 && b.shape[0] == a.shape[len(a.shape)-1] {
		y := newRef(a.shape...)
		for i := range y.data {
			y.data[i] = a.data[i] + b.data[i%b.shape[0]]
		}
		return y
	}
	shape := append([]int(nil), a.shape...)
	off := len(a.shape) - len(b.shape)
	for d := range b.shape {
		if b.shape[d] != 1 && shape[off+d] == 1 {
			shape[off+d] = b.shape[d]
		}
	}
	y := newRef(shape...)
	sa, sb := strides(a.shape), strides(b.shape)
	for i := range y.data {
		c := unravel(i, y.shape)
		ia, ib := 0, 0
		for d := range c {
			if a.shape[d] != 1 {
				ia += c[d] * sa[d]
			}
			if d >= off && b.shape[d-off] != 1 {
				ib += c[d] * sb[d-off]
			}
		}
		y.data[i] = a.data[ia] + b.data[ib]
	}
	return y
}

func refPad(x *refTensor, p []int64) *refTensor {
	shape := make([]int, len(x.shape))
	for d := range shape {
		shape[d] = x.shape[d] + int(p[2*d]+p[2*d+1])
	}
	y := newRef(shape...)
	sy := strides(shape)
	for i, v := range x.data {
		c := unravel(i, x.shape)
		j := 0
		for d := range c {
			j += (c[d] + int(p[2*d])) * sy[d]
		}
		y.data[j] = v
	}
	return y
}

func refMean(x *refTensor, axes []int64, keep bool) *refTensor {
	red := map[int]bool{}
	for _, a := range axes {
		if a < 0 {
			a += int64(len(x.shape))
		}
		red[int(a)] = true
	}
	var outShape, keptShape []int
	for d, s := range x.shape {
		if red[d] {
			keptShape = append(keptShape, 1)
			if keep {
				outShape = append(outShape, 1)
			}
		} else {
			keptShape = append(keptShape, s)
			outShape = append(outShape, s)
		}
	}
	y := newRef(outShape...)
	sk := strides(keptShape)
	count := len(x.data) / max(len(y.data), 1)
	for i, v := range x.data {
		c := unravel(i, x.shape)
		j := 0
		for d := range c {
			if !red[d] {
				j += c[d] * sk[d]
			}
		}
		y.data[j] += v / float64(count)
	}
	return y
}

func refSoftmax(x *refTensor) *refTensor {
	y := newRef(x.shape...)
	k := x.shape[len(x.shape)-1]
	for r := 0; r < len(x.data)/k; r++ {
		row := x.data[r*k : r*k+k]
		m := math.Inf(-1)
		for _, v := range row {
			m = math.Max(m, v)
		}
		s := 0.0
		for i, v := range row {
			y.data[r*k+i] = math.Exp(v - m)
			s += y.data[r*k+i]
		}
		for i := range row {
			y.data[r*k+i] /= s
		}
	}
	return y
}

// refEval evaluates the named outputs of a tfjs graph on one float64 input.
func refEval(t testing.TB, modelJSON, weights []byte, in *refTensor, outputs []string) []*refTensor {
	t.Helper()
	mf, g, err := parseModel(modelJSON)
	if err != nil {
		t.Fatal(err)
	}
	consts, err := readWeights(mf.WeightsManifest, weights)
	if err != nil {
		t.Fatal(err)
	}
	memo := map[string]*refTensor{}
	var eval func(name string) *refTensor
	eval = func(name string) *refTensor {
		if r, ok := memo[name]; ok {
			return r
		}
		n := g.byName[name]
		var ins []string
		for _, s := range n.Input {
			if !strings.HasPrefix(s, "^") {
				ins = append(ins, strings.SplitN(s, ":", 2)[0])
			}
		}
		a := nodeAttrs{n}
		must := func(err error) {
			if err != nil {
				t.Fatal(err)
			}
		}
		sp := func(key string) (int, int) {
			v, err := a.ints(key, nil)
			must(err)
			return int(v[1]), int(v[2])
		}
		mode, _ := a.str("padding", "")
		var r *refTensor
		switch n.Op {
		case "Placeholder":
			r = in
		case "Const":
			k := consts[name]
			r = &refTensor{}
			for _, d := range k.shape {
				r.shape = append(r.shape, int(d))
			}
			for _, v := range k.f {
				r.data = append(r.data, float64(v))
			}
		case "Identity":
			r = eval(ins[0])
		case "_FusedConv2D", "Conv2D":
			sh, sw := sp("strides")
			r = refConv(eval(ins[0]), consts[ins[1]], sh, sw, mode)
			if n.Op == "_FusedConv2D" {
				r = refAdd(r, eval(ins[2]))
				ops, _ := a.strs("fused_ops", nil)
				if len(ops) == 2 {
					r = refRelu(r)
				}
			}
		case "DepthwiseConv2dNative":
			sh, sw := sp("strides")
			r = refDepthwise(eval(ins[0]), consts[ins[1]], sh, sw, mode)
		case "MaxPool":
			sh, sw := sp("strides")
			kh, kw := sp("ksize")
			r = refMaxPool(eval(ins[0]), kh, kw, sh, sw, mode)
		case "AddV2", "Add":
			r = refAdd(eval(ins[0]), eval(ins[1]))
		case "Relu":
			r = refRelu(eval(ins[0]))
		case "Pad":
			r = refPad(eval(ins[0]), consts[ins[1]].ints())
		case "Reshape":
			x := eval(ins[0])
			target := consts[ins[1]].ints()
			known, inf := 1, -1
			for i, d := range target {
				if d < 0 {
					inf = i
				} else {
					known *= int(d)
				}
			}
			r = &refTensor{data: x.data}
			for _, d := range target {
				r.shape = append(r.shape, int(d))
			}
			if inf >= 0 {
				r.shape[inf] = len(x.data) / known
			}
		case "Mean":
			keep, _ := a.boolean("keep_dims", false)
			r = refMean(eval(ins[0]), consts[ins[1]].ints(), keep)
		case "Softmax":
			r = refSoftmax(eval(ins[0]))
		default:
			t.Fatalf("reference: op %s not implemented", n.Op)
		}
		memo[name] = r
		return r
	}
	var res []*refTensor
	for _, o := range outputs {
		res = append(res, eval(o))
	}
	return res
}

func refRelu(x *refTensor) *refTensor {
	y := newRef(x.shape...)
	for i, v := range x.data {
		y.data[i] = math.Max(v, 0)
	}
	return y
}

// compareRef checks an ORT result against the reference: shape exactly, and
// |got-want| <= atol + rtol*|want| elementwise.
func compareRef(got ortResult, want *refTensor, atol, rtol float64) (maxAbs float64, err error) {
	if len(got.shape) != len(want.shape) {
		return 0, fmt.Errorf("shape %v, want %v", got.shape, want.shape)
	}
	for i := range got.shape {
		if int(got.shape[i]) != want.shape[i] {
			return 0, fmt.Errorf("shape %v, want %v", got.shape, want.shape)
		}
	}
	for i, w := range want.data {
		d := math.Abs(float64(got.data[i]) - w)
		maxAbs = math.Max(maxAbs, d)
		if d > atol+rtol*math.Abs(w) {
			return maxAbs, fmt.Errorf("element %d (coords %v): got %v, want %v", i, unravel(i, want.shape), got.data[i], w)
		}
	}
	return maxAbs, nil
}
