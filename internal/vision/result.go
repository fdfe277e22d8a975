package vision

import (
	"math"

	"github.com/framecast/framecast/internal/frame"
)

func round(v float64, unit float64) float64 { return math.Round(v/unit) * unit }

// Result converts a face to its framecast.result.v1 form. Coordinates are
// rounded to 0.01 px and probabilities to 1e-4: finer digits are noise from
// float32 inference and only make the JSON longer.
func (f *Face) Result() frame.Face {
	em, _ := f.Emotion()
	probs := make(map[string]float64, len(frame.Labels))
	for i, l := range frame.Labels {
		probs[l] = round(float64(f.Probs[i]), 1e-4)
	}
	return frame.Face{
		Box: frame.Box{
			X: round(f.Box.X1, 0.01), Y: round(f.Box.Y1, 0.01),
			W: round(f.Box.W(), 0.01), H: round(f.Box.H(), 0.01),
		},
		Score:    round(float64(f.Score), 1e-4),
		Emotion:  em,
		Emotions: probs,
	}
}
