package vision

import (
	"fmt"
	"math"
)

// SelfCheck loads both models and runs them once on synthetic input,
// checking output shapes, finiteness and that the emotion output is a
// probability distribution. It catches a broken conversion or an
// incompatible ONNX Runtime before the first real frame does.
func SelfCheck(o Config) error {
	e, err := New(o)
	if err != nil {
		return err
	}
	defer e.Close()
	in := make([]float32, DetectorSize*DetectorSize*3)
	for i := range in {
		in[i] = float32(math.Sin(float64(i) * 0.001))
	}
	outs, err := e.RunDetectorRaw(in)
	if err != nil {
		return err
	}
	for i, o := range outs {
		for _, v := range o {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return fmt.Errorf("detector output %d is not finite", i)
			}
		}
	}
	const n = 2
	ein := make([]float32, n*EmotionSize*EmotionSize)
	for i := range ein {
		ein[i] = float32(math.Cos(float64(i) * 0.01))
	}
	probs, err := e.RunEmotionRaw(ein, n)
	if err != nil {
		return err
	}
	for f := 0; f < n; f++ {
		var sum float64
		for _, p := range probs[f*7 : f*7+7] {
			if !(p >= 0 && p <= 1) {
				return fmt.Errorf("emotion output %v is not a probability", p)
			}
			sum += float64(p)
		}
		if math.Abs(sum-1) > 1e-3 {
			return fmt.Errorf("emotion probabilities sum to %v, want 1", sum)
		}
	}
	return nil
}
