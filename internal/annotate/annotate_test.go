package annotate

import (
	"image"
	"image/color"
	"testing"

	"github.com/framecast/framecast/internal/frame"
)

func mkFace(x, y, w, h float64, emotion string) frame.Face {
	probs := map[string]float64{}
	for _, l := range frame.Labels {
		probs[l] = 0.01
	}
	probs[emotion] = 0.94
	return frame.Face{Box: frame.Box{X: x, Y: y, W: w, H: h}, Score: 0.9, Emotion: emotion, Emotions: probs}
}

func fill(w, h int, c color.RGBA) *image.RGBA {
	m := image.NewRGBA(image.Rect(0, 0, w, h))
	for i := 0; i < len(m.Pix); i += 4 {
		m.Pix[i], m.Pix[i+1], m.Pix[i+2], m.Pix[i+3] = c.R, c.G, c.B, c.A
	}
	return m
}

func count(m *image.RGBA, r image.Rectangle, c color.RGBA) int {
	n := 0
	r = r.Intersect(m.Bounds())
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			if m.RGBAAt(x, y) == c {
				n++
			}
		}
	}
	return n
}

func TestDrawBoxAndLabel(t *testing.T) {
	for _, bg := range []color.RGBA{{0, 0, 0, 255}, {255, 255, 255, 255}, Colors["happy"]} {
		m := fill(640, 480, bg)
		if err := Draw(m, []frame.Face{mkFace(200, 200, 100, 80, "happy")}); err != nil {
			t.Fatal(err)
		}
		// The box edge carries the emotion colour, framed by a dark halo.
		if m.RGBAAt(250, 200) != Colors["happy"] || m.RGBAAt(200, 240) != Colors["happy"] {
			t.Errorf("bg %v: box edge not drawn in the emotion colour: %v", bg, m.RGBAAt(250, 200))
		}
		if m.RGBAAt(199, 240) != (color.RGBA{0, 0, 0, 255}) {
			t.Errorf("bg %v: no dark halo outside the box", bg)
		}
		// The label sits above the box: a solid patch with dark text on
		// this light colour.
		label := image.Rect(200, 160, 300, 198)
		if count(m, label, Colors["happy"]) < 300 {
			t.Errorf("bg %v: no label patch above the box", bg)
		}
		dark := 0
		for y := label.Min.Y; y < label.Max.Y; y++ {
			for x := label.Min.X; x < label.Max.X; x++ {
				if c := m.RGBAAt(x, y); c.R < 80 && c.G < 80 && c.B < 80 {
					dark++
				}
			}
		}
		if dark < 30 {
			t.Errorf("bg %v: label has no legible text (%d dark pixels)", bg, dark)
		}
		// The inside of the box is untouched.
		if m.RGBAAt(250, 240) != bg {
			t.Errorf("bg %v: box interior changed", bg)
		}
	}
}

func TestDrawAtEdges(t *testing.T) {
	m := fill(100, 80, color.RGBA{90, 90, 90, 255})
	faces := []frame.Face{
		mkFace(-20, -10, 50, 50, "sad"),    // off the top-left: label goes inside
		mkFace(80, 60, 60, 60, "surprise"), // off the bottom-right
		mkFace(0, 0, 0.5, 0.5, "fear"),     // degenerate
		mkFace(10, 10, 30, 30, "unknown"),  // unknown label: neutral colour
	}
	if err := Draw(m, faces); err != nil {
		t.Fatal(err)
	}
	if count(m, m.Bounds(), Colors["sad"]) == 0 {
		t.Error("face cut by the edge not drawn")
	}
	if count(m, m.Bounds(), Colors["neutral"]) == 0 {
		t.Error("unknown emotion not drawn in the neutral colour")
	}
}

func TestLabel(t *testing.T) {
	if got := Label(mkFace(0, 0, 1, 1, "happy")); got != "happy 94%" {
		t.Errorf("Label = %q", got)
	}
}

func TestWhiteTextOnDarkColours(t *testing.T) {
	m := fill(400, 300, color.RGBA{255, 255, 255, 255})
	if err := Draw(m, []frame.Face{mkFace(100, 100, 100, 100, "sad")}); err != nil {
		t.Fatal(err)
	}
	if count(m, image.Rect(100, 60, 200, 99), color.RGBA{255, 255, 255, 255}) < 10 {
		t.Error("no white text on the dark 'sad' label")
	}
}
