// Package quantize makes the int8 models on the user's machine: it
// calibrates the converted float models on the sample photos and frames
// derived from them (crops, rescales, mirror images, darker copies), then
// has tfjsonnx rewrite them into QDQ int8 form (see tfjsonnx.Quantize).
//
// Calibration runs a copy of each model with every activation to be
// quantised added as a graph output, over every calibration input, and
// records each tensor's range. The emotion model is calibrated on the face
// crops the float detector finds in those frames, which is what it sees in
// use.
package quantize

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strings"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/framecast/framecast/internal/imagex"
	"github.com/framecast/framecast/internal/models"
	"github.com/framecast/framecast/internal/samples"
	"github.com/framecast/framecast/internal/tfjsonnx"
	"github.com/framecast/framecast/internal/vision"
)

// Layers kept in float, by TensorFlow node name, chosen by measuring on the
// sample images (docs/BENCHMARKS.md, "int8"): int8 there costs fidelity
// that later layers do not average away.
var (
	// DetectorFloat: the first convolution, which sees the raw pixels (in
	// int8 it lost 7 of 43 faces), the four heads, whose outputs are
	// decoded directly (logits reach ±550, box regressors ±130), and the
	// last blocks before them (without them int8 found an extra face and
	// scores moved by up to 0.067 instead of 0.038).
	DetectorFloat = []string{
		"StatefulPartitionedCall/functional_1/conv2d/Relu",
		"StatefulPartitionedCall/functional_1/depthwise_conv2d_29/depthwise",
		"StatefulPartitionedCall/functional_1/conv2d_30/BiasAdd",
		"StatefulPartitionedCall/functional_1/depthwise_conv2d_30/depthwise",
		"StatefulPartitionedCall/functional_1/conv2d_31/BiasAdd",
		"StatefulPartitionedCall/functional_1/depthwise_conv2d_31/depthwise",
		"StatefulPartitionedCall/functional_1/re_lu_31/Relu",
		"StatefulPartitionedCall/functional_1/conv2d_33/BiasAdd",
		"StatefulPartitionedCall/functional_1/conv2d_34/BiasAdd",
		"StatefulPartitionedCall/functional_1/conv2d_35/BiasAdd",
		"StatefulPartitionedCall/functional_1/conv2d_36/BiasAdd",
	}
	// EmotionFloat: the first convolution, and the last one, whose
	// outputs are averaged straight into the logits.
	EmotionFloat = []string{
		"StatefulPartitionedCall/model_1/block1_conv1_act/Relu",
		"StatefulPartitionedCall/model_1/conv2d_5/BiasAdd",
	}
)

// DefaultPercentile is the calibration percentile Build uses.
//
// 100 is plain min/max calibration. Measured on the sample images, 99.99 and
// 99.9 clipped ranges did worse for these networks (more faces lost or
// added, more emotions changed), so outliers are kept.
const DefaultPercentile = 100

// Config configures Build.
type Config struct {
	// Paths locates the float models, the sample photos and where the int8
	// models are written.
	Paths models.Paths
	// DetectorFloat and EmotionFloat override the layers kept in float
	// (nil: the package defaults above).
	DetectorFloat, EmotionFloat []string
	// Percentile of each activation's values kept inside its int8 range
	// at each end (0: DefaultPercentile; 100: plain minimum and maximum).
	Percentile float64
	Log        *slog.Logger
}

// Result describes one Build.
type Result struct {
	Frames, Faces     int // calibration inputs of the detector and the emotion model
	Detector, Emotion tfjsonnx.QuantStats
	// Skipped is set when both int8 models were already made from the same
	// float models with the same settings, so nothing was redone.
	Skipped bool
}

// Build calibrates and quantises both models and writes them to
// Paths.DetectorInt8 and Paths.EmotionInt8, recording them in the manifest
// with a key of their float model and settings: a later Build with the same
// key and intact files does nothing, so `models fetch` stays cheap when run
// again. vision.InitRuntime must have been called.
func Build(c Config) (*Result, error) {
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	if c.DetectorFloat == nil {
		c.DetectorFloat = DetectorFloat
	}
	if c.EmotionFloat == nil {
		c.EmotionFloat = EmotionFloat
	}
	if c.Percentile == 0 {
		c.Percentile = DefaultPercentile
	}
	p := c.Paths
	steps := []struct {
		name, src, dst string
		keep           []string
		shape          []int64
		stats          *tfjsonnx.QuantStats
	}{
		{"blazeface", p.Detector(), p.DetectorInt8(), c.DetectorFloat, []int64{1, vision.DetectorSize, vision.DetectorSize, 3}, nil},
		{"emotion", p.Emotion(), p.EmotionInt8(), c.EmotionFloat, []int64{1, vision.EmotionSize, vision.EmotionSize, 1}, nil},
	}
	res := &Result{}
	steps[0].stats, steps[1].stats = &res.Detector, &res.Emotion
	m, err := models.ReadManifest(p)
	if err != nil {
		return nil, err
	}
	floats := make([][]byte, len(steps))
	keys := make([]string, len(steps))
	upToDate := true
	for i, s := range steps {
		if floats[i], err = readFile(s.src); err != nil {
			return nil, err
		}
		keys[i] = key(floats[i], s.keep, c.Percentile)
		rel, _ := filepath.Rel(p.Home, s.dst)
		rec, ok := m.File(filepath.ToSlash(rel))
		sum, _, err := models.FileSHA256(s.dst)
		upToDate = upToDate && ok && err == nil && sum == rec.SHA256 && strings.Contains(rec.From, keys[i])
	}
	if upToDate {
		c.Log.Debug("int8 models up to date")
		res.Skipped = true
		return res, nil
	}
	det, emo, err := Inputs(p)
	if err != nil {
		return nil, err
	}
	res.Frames, res.Faces = len(det), len(emo)
	if res.Faces == 0 {
		return nil, fmt.Errorf("quantize: the detector found no faces in the calibration frames; run `framecast models fetch --force` to restore the models and samples")
	}
	inputs := [][][]float32{det, emo}
	for i, s := range steps {
		cfg := tfjsonnx.QuantConfig{Float: s.keep}
		ranges, err := Calibrate(floats[i], cfg, s.shape, inputs[i], c.Percentile)
		if err != nil {
			return nil, fmt.Errorf("calibrate %s: %w", s.name, err)
		}
		q, st, err := tfjsonnx.Quantize(floats[i], ranges, cfg)
		if err != nil {
			return nil, fmt.Errorf("quantize %s: %w", s.name, err)
		}
		*s.stats = st
		rel, err := filepath.Rel(p.Home, s.dst)
		if err != nil {
			return nil, err
		}
		from := fmt.Sprintf("quantised from models/%s.onnx (int8 QDQ, %d calibration inputs, key %s)", s.name, len(inputs[i]), keys[i])
		if err := models.Install(p, rel, q, from); err != nil {
			return nil, err
		}
		c.Log.Info("quantised", "model", s.name, "int8_convs", st.Convs, "float_convs", st.FloatConvs, "calibration_inputs", len(inputs[i]), "bytes", len(q))
	}
	return res, nil
}

// key identifies what an int8 model is made from: the float model, the
// layers kept in float, the calibration percentile and this file's
// calibration set version (bump calibrationVersion when Variants change).
func key(float []byte, keep []string, percentile float64) string {
	h := sha256.New()
	h.Write(float)
	fmt.Fprintf(h, "\x00%q\x00%g\x00%d", keep, percentile, calibrationVersion)
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// calibrationVersion changes when the calibration frames do.
const calibrationVersion = 1

// Inputs builds the calibration set from the sample photos: each photo, its
// mirror image, a darker copy, a half-size copy and three crops (centre,
// 4:3 camera frame, top half). It returns the detector inputs (one per
// frame) and the emotion inputs of every face the float models find in
// them.
func Inputs(p models.Paths) (det, emo [][]float32, err error) {
	e, err := vision.New(vision.Config{DetectorModel: p.Detector(), EmotionModel: p.Emotion(), Threads: 1})
	if err != nil {
		return nil, nil, err
	}
	defer e.Close()
	var faces []vision.Face
	for _, name := range samples.Originals {
		img, err := imagex.DecodeFile(filepath.Join(p.Samples(), name), imagex.DefaultLimits())
		if err != nil {
			return nil, nil, fmt.Errorf("calibration photo %s: %w (run `framecast models fetch`)", name, err)
		}
		for _, f := range Variants(img) {
			in := make([]float32, vision.DetectorSize*vision.DetectorSize*3)
			e.DetectorInput(f, in)
			det = append(det, in)
			if faces, err = e.Detect(f, faces[:0]); err != nil {
				return nil, nil, err
			}
			for _, fc := range faces {
				crop := make([]float32, vision.EmotionSize*vision.EmotionSize)
				vision.EmotionInput(f, fc.Crop, crop)
				emo = append(emo, crop)
			}
		}
	}
	return det, emo, nil
}

// Variants derives the calibration frames of one photo.
func Variants(img *imagex.RGB) []*imagex.RGB {
	w, h := img.W, img.H
	cw := min(w, h*4/3)
	ch := cw * 3 / 4
	return []*imagex.RGB{
		img,
		mirror(img),
		scaleBrightness(img, 0.6),
		half(img),
		cropRGB(img, w/5, h/5, w*3/5, h*3/5),
		cropRGB(img, (w-cw)/2, (h-ch)/2, cw, ch),
		cropRGB(img, 0, 0, w, h/2),
	}
}

func cropRGB(img *imagex.RGB, x0, y0, w, h int) *imagex.RGB {
	out := &imagex.RGB{W: w, H: h, Pix: make([]byte, w*h*3)}
	for y := 0; y < h; y++ {
		copy(out.Pix[y*w*3:(y+1)*w*3], img.Pix[((y0+y)*img.W+x0)*3:])
	}
	return out
}

func mirror(img *imagex.RGB) *imagex.RGB {
	out := &imagex.RGB{W: img.W, H: img.H, Pix: make([]byte, len(img.Pix))}
	for y := 0; y < img.H; y++ {
		for x := 0; x < img.W; x++ {
			copy(out.Pix[(y*img.W+x)*3:(y*img.W+x)*3+3], img.Pix[(y*img.W+img.W-1-x)*3:])
		}
	}
	return out
}

func scaleBrightness(img *imagex.RGB, f float64) *imagex.RGB {
	out := &imagex.RGB{W: img.W, H: img.H, Pix: make([]byte, len(img.Pix))}
	for i, v := range img.Pix {
		out.Pix[i] = byte(math.Round(float64(v) * f))
	}
	return out
}

// half averages 2×2 blocks, like a camera streaming at half resolution.
func half(img *imagex.RGB) *imagex.RGB {
	w, h := img.W/2, img.H/2
	out := &imagex.RGB{W: w, H: h, Pix: make([]byte, w*h*3)}
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			for c := 0; c < 3; c++ {
				s := int(img.Pix[((2*y)*img.W+2*x)*3+c]) + int(img.Pix[((2*y)*img.W+2*x+1)*3+c]) +
					int(img.Pix[((2*y+1)*img.W+2*x)*3+c]) + int(img.Pix[((2*y+1)*img.W+2*x+1)*3+c])
				out.Pix[(y*w+x)*3+c] = byte((s + 2) / 4)
			}
		}
	}
	return out
}

// Calibrate runs model's calibration copy (tfjsonnx.CalibrationModel) on
// each input (shape gives one input's shape; inputs are run one at a time)
// and returns every quantised tensor's range: the minimum and maximum seen
// over all inputs, or with percentile < 100 the range holding that
// percentile of the values at each end.
func Calibrate(model []byte, cfg tfjsonnx.QuantConfig, shape []int64, inputs [][]float32, percentile float64) (map[string]tfjsonnx.Range, error) {
	calib, names, err := tfjsonnx.CalibrationModel(model, cfg)
	if err != nil {
		return nil, err
	}
	ins, outs, err := ort.GetInputOutputInfoWithONNXData(calib)
	if err != nil {
		return nil, err
	}
	if len(ins) != 1 {
		return nil, fmt.Errorf("model has %d inputs, want 1", len(ins))
	}
	var outNames []string
	for _, o := range outs {
		outNames = append(outNames, o.Name)
	}
	so, err := ort.NewSessionOptions()
	if err != nil {
		return nil, err
	}
	defer so.Destroy()
	sess, err := ort.NewDynamicAdvancedSessionWithONNXData(calib, []string{ins[0].Name}, outNames, so)
	if err != nil {
		return nil, fmt.Errorf("load calibration model: %w", err)
	}
	defer sess.Destroy()
	ranges := map[string]tfjsonnx.Range{}
	for _, n := range names {
		ranges[n] = tfjsonnx.Range{Min: float32(math.Inf(1)), Max: float32(math.Inf(-1))}
	}
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	// each runs the model on every input and hands each quantised tensor's
	// values to f.
	each := func(f func(name string, v []float32)) error {
		for _, in := range inputs {
			x, err := ort.NewTensor(ort.NewShape(shape...), in)
			if err != nil {
				return err
			}
			vals := make([]ort.Value, len(outNames))
			err = sess.Run([]ort.Value{x}, vals)
			x.Destroy()
			if err != nil {
				return fmt.Errorf("run calibration model: %w", err)
			}
			for i, v := range vals {
				if t, ok := v.(*ort.Tensor[float32]); ok && want[outNames[i]] {
					f(outNames[i], t.GetData())
				}
				v.Destroy()
			}
		}
		return nil
	}
	err = each(func(name string, v []float32) {
		r := ranges[name]
		for _, f := range v {
			r.Min, r.Max = min(r.Min, f), max(r.Max, f)
		}
		ranges[name] = r
	})
	if err != nil {
		return nil, err
	}
	for _, n := range names {
		// A tensor ONNX Runtime never returned would be quantised with a
		// made-up scale: fail instead.
		if r := ranges[n]; !(r.Min <= r.Max) || math.IsInf(float64(r.Min), 0) || math.IsInf(float64(r.Max), 0) {
			return nil, fmt.Errorf("calibration: no finite range observed for tensor %s (min %v, max %v)", n, r.Min, r.Max)
		}
	}
	if percentile >= 100 {
		return ranges, nil
	}
	// Second pass: a histogram over each tensor's [min, max], and the range
	// that leaves out (100 − percentile)% of the values at each end. A few
	// outliers otherwise stretch the uint8 step for all other values.
	const bins = 4096
	hist := map[string][]int64{}
	for _, n := range names {
		hist[n] = make([]int64, bins)
	}
	err = each(func(name string, v []float32) {
		r, h := ranges[name], hist[name]
		w := float64(r.Max - r.Min)
		if w <= 0 {
			return
		}
		for _, f := range v {
			b := int(float64(f-r.Min) / w * bins)
			h[min(max(b, 0), bins-1)]++
		}
	})
	if err != nil {
		return nil, err
	}
	for _, n := range names {
		r, h := ranges[n], hist[n]
		var total int64
		for _, c := range h {
			total += c
		}
		if total == 0 {
			continue
		}
		cut := int64(float64(total) * (100 - percentile) / 100)
		lo, hi := 0, bins-1
		for acc := h[0]; acc <= cut && lo < bins-1; acc += h[lo] {
			lo++
		}
		for acc := h[bins-1]; acc <= cut && hi > 0; acc += h[hi] {
			hi--
		}
		w := r.Max - r.Min
		nr := tfjsonnx.Range{Min: r.Min + w*float32(lo)/bins, Max: r.Min + w*float32(hi+1)/bins}
		if nr.Min < nr.Max {
			ranges[n] = nr
		}
	}
	return ranges, nil
}

func readFile(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w (run `framecast models fetch`)", err)
	}
	return b, nil
}
