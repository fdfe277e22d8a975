package source

import (
	"bytes"
	"image/jpeg"
	"testing"

	"github.com/framecast/framecast/internal/imagex"
	"github.com/framecast/framecast/internal/models"
	"github.com/framecast/framecast/internal/testkit"
	"github.com/framecast/framecast/internal/vision"
)

// TestSyntheticFacesDetected: BlazeFace finds the photos' faces in the
// synthetic frames libjpeg-turbo encodes, as often as in the same frames
// encoded by image/jpeg (the encoder the cameras used before): the demo
// and the benchmarks count on faces in these frames.
func TestSyntheticFacesDetected(t *testing.T) {
	paths := testkit.RequireModels(t)
	if err := vision.InitRuntime(models.At("").ResolveORTLib("")); err != nil {
		t.Fatal(err)
	}
	eng, err := vision.New(vision.Config{DetectorModel: paths.Detector(), EmotionModel: paths.Emotion(), Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	dec := imagex.NewDecoder(imagex.Limits{})
	defer dec.Close()
	var rgb imagex.RGB
	detect := func(data []byte) int {
		t.Helper()
		if err := dec.Decode(data, &rgb); err != nil {
			t.Fatal(err)
		}
		faces, err := eng.Detect(&rgb, nil)
		if err != nil {
			t.Fatal(err)
		}
		return len(faces)
	}
	var frames, withFaces, faces, goFaces int
	for _, seed := range []string{"1", "2", "3"} {
		s := openSynthetic(t, "synthetic:?size=640x480&seed="+seed)
		// Two frames per shot (6 s = 60 frames at 10 fps), mid-move.
		for i := int64(15); i < 12*60; i += 30 {
			data, err := s.Render(i)
			if err != nil {
				t.Fatal(err)
			}
			n := detect(data)
			var buf bytes.Buffer
			if err := jpeg.Encode(&buf, s.img, &jpeg.Options{Quality: s.cfg.Quality}); err != nil {
				t.Fatal(err)
			}
			frames++
			faces += n
			goFaces += detect(buf.Bytes())
			if n > 0 {
				withFaces++
			}
		}
		s.Close()
	}
	t.Logf("%d frames: %d with faces, %d faces (image/jpeg's encoding of the same frames: %d)", frames, withFaces, faces, goFaces)
	if withFaces < frames*2/3 {
		t.Errorf("faces found in only %d of %d frames", withFaces, frames)
	}
	if d := faces - goFaces; d < -frames/10 || d > frames/10 {
		t.Errorf("%d faces in libjpeg-turbo's frames, %d in image/jpeg's: the encoders should not differ for the detector", faces, goFaces)
	}
}
