package vision

import (
	"math"

	"github.com/framecast/framecast/internal/frame"
)

// round keeps the given number of decimals; dividing by a power of ten
// (rather than multiplying by 1e-4) yields the double nearest the decimal,
// so JSON shows 0.0018, not 0.0018000000000000002.
func round(v float64, decimals int) float64 {
	p := math.Pow(10, float64(decimals))
	return math.Round(v*p) / p
}

// Result converts a face to its framecast.result.v1 form. Coordinates are
// rounded to 0.01 px and probabilities to 1e-4: finer digits are noise from
// float32 inference and only make the JSON longer.
func (f *Face) Result() frame.Face {
	em, _ := f.Emotion()
	probs := make(map[string]float64, len(frame.Labels))
	for i, l := range frame.Labels {
		probs[l] = round(float64(f.Probs[i]), 4)
	}
	return frame.Face{
		Box: frame.Box{
			X: round(f.Box.X1, 2), Y: round(f.Box.Y1, 2),
			W: round(f.Box.W(), 2), H: round(f.Box.H(), 2),
		},
		Score:    round(float64(f.Score), 4),
		Emotion:  em,
		Emotions: probs,
	}
}
