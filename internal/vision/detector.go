package vision

import (
	"fmt"
	"math"

	ort "github.com/yalue/onnxruntime_go"
)

// Detector output slots, in the order of the concatenated [896,17] matrix.
const (
	outScores16 = iota // [1,512,1]  logits of the 16×16 grid
	outRegs16          // [1,512,16] box and keypoint regressors
	outScores8         // [1,384,1]
	outRegs8           // [1,384,16]
)

// detector owns one BlazeFace session and its pre-allocated tensors; the
// session is created once and reused for every frame.
type detector struct {
	sess  *ort.AdvancedSession
	in    *ort.Tensor[float32]
	outs  [4]*ort.Tensor[float32]
	table resizeTable
	cands []candidate
	keep  []candidate
}

func newDetector(path string, o Config) (*detector, error) {
	ins, outs, err := ort.GetInputOutputInfo(path)
	if err != nil {
		return nil, fmt.Errorf("read detector model %s: %w (run `framecast models fetch`)", path, err)
	}
	if len(ins) != 1 || len(outs) != 4 {
		return nil, fmt.Errorf("detector model %s: want 1 input and 4 outputs, have %d and %d", path, len(ins), len(outs))
	}
	if !ins[0].Dimensions.Equals(ort.NewShape(1, DetectorSize, DetectorSize, 3)) {
		return nil, fmt.Errorf("detector model %s: input shape %v, want [1 256 256 3]", path, ins[0].Dimensions)
	}
	d := &detector{cands: make([]candidate, 0, numAnchors), keep: make([]candidate, 0, 64)}
	// Outputs are recognised by shape, not by name: names differ between
	// conversions, shapes are what the decoding relies on.
	names := make([]string, 4)
	for _, oi := range outs {
		dims := oi.Dimensions
		if len(dims) != 3 || dims[0] != 1 {
			return nil, fmt.Errorf("detector model %s: unexpected output %s", path, oi.String())
		}
		slot := -1
		switch {
		case dims[1] == 512 && dims[2] == 1:
			slot = outScores16
		case dims[1] == 512 && dims[2] == 16:
			slot = outRegs16
		case dims[1] == 384 && dims[2] == 1:
			slot = outScores8
		case dims[1] == 384 && dims[2] == 16:
			slot = outRegs8
		}
		if slot < 0 || names[slot] != "" {
			return nil, fmt.Errorf("detector model %s: unexpected output %s", path, oi.String())
		}
		names[slot] = oi.Name
		if d.outs[slot], err = ort.NewEmptyTensor[float32](dims.Clone()); err != nil {
			d.close()
			return nil, err
		}
	}
	if d.in, err = ort.NewEmptyTensor[float32](ort.NewShape(1, DetectorSize, DetectorSize, 3)); err != nil {
		d.close()
		return nil, err
	}
	so, err := sessionOptions(o)
	if err != nil {
		d.close()
		return nil, err
	}
	defer so.Destroy()
	outVals := make([]ort.Value, 4)
	for i, t := range d.outs {
		outVals[i] = t
	}
	d.sess, err = ort.NewAdvancedSession(path, []string{ins[0].Name}, names, []ort.Value{d.in}, outVals, so)
	if err != nil {
		d.close()
		return nil, fmt.Errorf("create detector session from %s: %w", path, err)
	}
	return d, nil
}

func (d *detector) close() {
	if d.sess != nil {
		d.sess.Destroy()
	}
	if d.in != nil {
		d.in.Destroy()
	}
	for _, t := range d.outs {
		if t != nil {
			t.Destroy()
		}
	}
}

// run executes the model on whatever is in d.in.
func (d *detector) run() error {
	if err := d.sess.Run(); err != nil {
		return fmt.Errorf("run detector: %w", err)
	}
	return nil
}

// logit is the inverse sigmoid, so the score threshold can be applied to
// raw logits and the exponential computed only for the few candidates.
func logit(p float64) float64 {
	if p <= 0 {
		return math.Inf(-1)
	}
	if p >= 1 {
		return math.Inf(1)
	}
	return math.Log(p / (1 - p))
}

// decode turns the model outputs into faces in frame pixels: anchors,
// sigmoid, threshold, NMS, then scaling by (W/256, H/256).
func (d *detector) decode(w, h int, o *Config, faces []Face) []Face {
	minLogit := float32(logit(o.MinScore))
	d.cands = d.cands[:0]
	grids := [2]struct {
		scores, regs []float32
		base         int
	}{
		{d.outs[outScores16].GetData(), d.outs[outRegs16].GetData(), 0},
		{d.outs[outScores8].GetData(), d.outs[outRegs8].GetData(), 512},
	}
	for _, g := range grids {
		for i, l := range g.scores {
			if l < minLogit {
				continue
			}
			a := anchors[g.base+i]
			r := g.regs[i*16 : i*16+16]
			cx, cy := r[0]+a[0], r[1]+a[1]
			hw, hh := r[2]/2, r[3]/2
			d.cands = append(d.cands, candidate{
				idx:   g.base + i,
				score: sigmoid(l),
				box:   Rect{float64(cx - hw), float64(cy - hh), float64(cx + hw), float64(cy + hh)},
			})
		}
	}
	d.keep = nms(d.cands, o.IoU, o.MaxFaces, d.keep)
	fx, fy := float64(w)/DetectorSize, float64(h)/DetectorSize
	for _, c := range d.keep {
		if float64(c.score) < o.MinScore {
			continue
		}
		f := Face{
			Box:   Rect{c.box.X1 * fx, c.box.Y1 * fy, c.box.X2 * fx, c.box.Y2 * fy},
			Score: c.score,
		}
		var r []float32
		if c.idx < 512 {
			r = grids[0].regs[c.idx*16:]
		} else {
			r = grids[1].regs[(c.idx-512)*16:]
		}
		a := anchors[c.idx]
		for k := 0; k < 6; k++ {
			f.Landmarks[k] = [2]float32{(r[4+2*k] + a[0]) * float32(fx), (r[5+2*k] + a[1]) * float32(fy)}
		}
		f.Crop = CropBox(f.Box, o.CropScale)
		faces = append(faces, f)
	}
	return faces
}

func sigmoid(x float32) float32 { return float32(1 / (1 + math.Exp(-float64(x)))) }
