package vision

import (
	"fmt"

	ort "github.com/yalue/onnxruntime_go"
)

// classifier owns one emotion-model session. All faces of a frame go through
// it in one batched call; the tensors for each batch size are allocated on
// first use and kept, so steady state allocates nothing.
type classifier struct {
	sess          *ort.DynamicAdvancedSession
	inName, oName string
	batches       []*emotionBatch // index: batch size
}

// emotionBatch binds one batch size's tensors to the session once; running
// through the binding passes no Go slices to cgo, so a call allocates nothing.
type emotionBatch struct {
	in   *ort.Tensor[float32]
	out  *ort.Tensor[float32]
	bind *ort.IoBinding
}

func newClassifier(path string, o Config) (*classifier, error) {
	ins, outs, err := ort.GetInputOutputInfo(path)
	if err != nil {
		return nil, fmt.Errorf("read emotion model %s: %w (run `framecast models fetch`)", path, err)
	}
	if len(ins) != 1 || len(outs) != 1 {
		return nil, fmt.Errorf("emotion model %s: want 1 input and 1 output, have %d and %d", path, len(ins), len(outs))
	}
	in, out := ins[0].Dimensions, outs[0].Dimensions
	if len(in) != 4 || in[1] != EmotionSize || in[2] != EmotionSize || in[3] != 1 || len(out) != 2 || out[1] != 7 {
		return nil, fmt.Errorf("emotion model %s: shapes %v → %v, want [N 64 64 1] → [N 7]", path, in, out)
	}
	so, err := sessionOptions(o)
	if err != nil {
		return nil, err
	}
	defer so.Destroy()
	sess, err := ort.NewDynamicAdvancedSession(path, []string{ins[0].Name}, []string{outs[0].Name}, so)
	if err != nil {
		return nil, fmt.Errorf("create emotion session from %s: %w", path, err)
	}
	return &classifier{sess: sess, inName: ins[0].Name, oName: outs[0].Name, batches: make([]*emotionBatch, o.MaxFaces+1)}, nil
}

// batch returns the tensors for n faces.
func (c *classifier) batch(n int) (*emotionBatch, error) {
	if n >= len(c.batches) {
		c.batches = append(c.batches, make([]*emotionBatch, n+1-len(c.batches))...)
	}
	if b := c.batches[n]; b != nil {
		return b, nil
	}
	in, err := ort.NewEmptyTensor[float32](ort.NewShape(int64(n), EmotionSize, EmotionSize, 1))
	if err != nil {
		return nil, err
	}
	out, err := ort.NewEmptyTensor[float32](ort.NewShape(int64(n), 7))
	if err != nil {
		in.Destroy()
		return nil, err
	}
	b := &emotionBatch{in: in, out: out}
	fail := func(err error) (*emotionBatch, error) {
		b.destroy()
		return nil, fmt.Errorf("bind emotion tensors: %w", err)
	}
	if b.bind, err = c.sess.CreateIoBinding(); err != nil {
		return fail(err)
	}
	if err := b.bind.BindInput(c.inName, in); err != nil {
		return fail(err)
	}
	if err := b.bind.BindOutput(c.oName, out); err != nil {
		return fail(err)
	}
	c.batches[n] = b
	return b, nil
}

func (c *classifier) run(b *emotionBatch) error {
	if err := c.sess.RunWithBinding(b.bind); err != nil {
		return fmt.Errorf("run emotion model: %w", err)
	}
	return nil
}

func (c *classifier) close() {
	for _, b := range c.batches {
		if b != nil {
			b.destroy()
		}
	}
	if c.sess != nil {
		c.sess.Destroy()
	}
}

func (b *emotionBatch) destroy() {
	if b.bind != nil {
		b.bind.Destroy()
	}
	b.in.Destroy()
	b.out.Destroy()
}
