// Package annotate draws face boxes and emotion labels onto frames, legible
// on any background: each box has a dark outline and each label sits on a
// solid patch in the emotion's colour with text in black or white, whichever
// contrasts more.
package annotate

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"math"
	"sync"

	"golang.org/x/image/font"
	"golang.org/x/image/font/gofont/gobold"
	"golang.org/x/image/font/opentype"
	"golang.org/x/image/math/fixed"

	"github.com/framecast/framecast/internal/frame"
)

// Colors per emotion; chosen to be distinct from each other and readable as
// a fill behind text.
var Colors = map[string]color.RGBA{
	"angry":    {230, 57, 70, 255},
	"disgust":  {106, 153, 78, 255},
	"fear":     {155, 93, 229, 255},
	"happy":    {255, 209, 102, 255},
	"sad":      {69, 123, 157, 255},
	"surprise": {247, 127, 0, 255},
	"neutral":  {200, 200, 200, 255},
}

var (
	fontOnce sync.Once
	fontData *opentype.Font
	fontErr  error
	faces    sync.Map // size → font.Face
)

func face(size float64) (font.Face, error) {
	fontOnce.Do(func() { fontData, fontErr = opentype.Parse(gobold.TTF) })
	if fontErr != nil {
		return nil, fontErr
	}
	key := math.Round(size)
	if f, ok := faces.Load(key); ok {
		return f.(font.Face), nil
	}
	f, err := opentype.NewFace(fontData, &opentype.FaceOptions{Size: key, DPI: 72, Hinting: font.HintingFull})
	if err != nil {
		return nil, err
	}
	faces.Store(key, f)
	return f, nil
}

// Label is the text drawn for a face: "happy 95%".
func Label(f frame.Face) string {
	return fmt.Sprintf("%s %d%%", f.Emotion, int(math.Round(f.Emotions[f.Emotion]*100)))
}

// Draw draws every face's box and label onto dst. Sizes scale with the
// frame so labels stay readable from thumbnails to 4K.
func Draw(dst *image.RGBA, fs []frame.Face) error {
	b := dst.Bounds()
	short := math.Min(float64(b.Dx()), float64(b.Dy()))
	thick := int(math.Max(2, math.Round(short/240)))
	ff, err := face(math.Max(12, short/32))
	if err != nil {
		return err
	}
	for _, f := range fs {
		c, ok := Colors[f.Emotion]
		if !ok {
			c = Colors["neutral"]
		}
		r := image.Rect(int(f.Box.X), int(f.Box.Y), int(math.Round(f.Box.X+f.Box.W)), int(math.Round(f.Box.Y+f.Box.H)))
		// Dark halo first, then the coloured frame inside it.
		strokeRect(dst, r.Inset(-1), thick+2, color.RGBA{0, 0, 0, 255})
		strokeRect(dst, r, thick, c)
		drawLabel(dst, r, Label(f), ff, c, thick)
	}
	return nil
}

func strokeRect(dst *image.RGBA, r image.Rectangle, t int, c color.RGBA) {
	u := image.NewUniform(c)
	for _, side := range []image.Rectangle{
		{r.Min, image.Pt(r.Max.X, r.Min.Y+t)},
		{image.Pt(r.Min.X, r.Max.Y-t), r.Max},
		{r.Min, image.Pt(r.Min.X+t, r.Max.Y)},
		{image.Pt(r.Max.X-t, r.Min.Y), r.Max},
	} {
		draw.Draw(dst, side.Intersect(dst.Bounds()), u, image.Point{}, draw.Src)
	}
}

func drawLabel(dst *image.RGBA, box image.Rectangle, text string, ff font.Face, bg color.RGBA, pad int) {
	m := ff.Metrics()
	adv := font.MeasureString(ff, text).Ceil()
	h := (m.Ascent + m.Descent).Ceil() + 2*pad
	w := adv + 2*pad
	// Above the box (clear of its one-pixel halo) when there is room,
	// otherwise just inside its top edge.
	y := box.Min.Y - 1 - h
	if y < dst.Bounds().Min.Y {
		y = box.Min.Y + pad
	}
	x := box.Min.X
	if x+w > dst.Bounds().Max.X {
		x = dst.Bounds().Max.X - w
	}
	if x < dst.Bounds().Min.X {
		x = dst.Bounds().Min.X
	}
	patch := image.Rect(x, y, x+w, y+h)
	draw.Draw(dst, patch.Inset(-1).Intersect(dst.Bounds()), image.NewUniform(color.Black), image.Point{}, draw.Src)
	draw.Draw(dst, patch.Intersect(dst.Bounds()), image.NewUniform(bg), image.Point{}, draw.Src)
	fg := color.Black
	if luminance(bg) < 140 {
		fg = color.White
	}
	d := font.Drawer{Dst: dst, Src: image.NewUniform(fg), Face: ff,
		Dot: fixed.P(x+pad, y+pad+m.Ascent.Ceil())}
	d.DrawString(text)
}

func luminance(c color.RGBA) float64 {
	return 0.299*float64(c.R) + 0.587*float64(c.G) + 0.114*float64(c.B)
}
