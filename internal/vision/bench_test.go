package vision

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/framecast/framecast/internal/imagex"
	"github.com/framecast/framecast/internal/samples"
)

// The benchmarks use the 640×480 camera-sized frame with four faces that
// `make setup` derives from sample4.jpg. One intra-op thread: a worker
// process runs one engine per core.

func benchFrame(b *testing.B) []byte {
	requireRuntime(b)
	data, err := os.ReadFile(filepath.Join(paths.TestImages(), samples.Frame640))
	if err != nil {
		b.Fatal(err)
	}
	return data
}

func BenchmarkPreprocess(b *testing.B) {
	img := loadImage(b, filepath.Join(paths.TestImages(), samples.Frame640))
	e := testEngine(b)
	dst := make([]float32, DetectorSize*DetectorSize*3)
	b.ReportAllocs()
	for b.Loop() {
		e.DetectorInput(img, dst)
	}
}

func BenchmarkDetect(b *testing.B)     { benchDetect(b, testEngine(b)) }
func BenchmarkDetectInt8(b *testing.B) { benchDetect(b, testEngineInt8(b)) }

func benchDetect(b *testing.B, e *Engine) {
	img := loadImage(b, filepath.Join(paths.TestImages(), samples.Frame640))
	faces := make([]Face, 0, 32)
	b.ReportAllocs()
	for b.Loop() {
		faces, _ = e.Detect(img, faces[:0])
	}
	b.ReportMetric(float64(len(faces)), "faces")
}

// BenchmarkClassify and BenchmarkClassifyInt8 classify the faces the
// float detector finds, so both models see the same crops.
func BenchmarkClassify(b *testing.B)     { benchClassify(b, testEngine(b)) }
func BenchmarkClassifyInt8(b *testing.B) { benchClassify(b, testEngineInt8(b)) }

func benchClassify(b *testing.B, e *Engine) {
	img := loadImage(b, filepath.Join(paths.TestImages(), samples.Frame640))
	faces, err := testEngine(b).Detect(img, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := e.Classify(img, faces); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(faces)), "faces")
}

// BenchmarkFrame is the whole per-frame path: JPEG bytes in, faces with
// emotions out. The target is ≤ 12 ms median on the 2-core reference box.
func BenchmarkFrame(b *testing.B) { benchFrameOn(b, testEngine(b)) }

// BenchmarkFrameInt8 is BenchmarkFrame with the int8 models.
func BenchmarkFrameInt8(b *testing.B) { benchFrameOn(b, testEngineInt8(b)) }

func benchFrameOn(b *testing.B, e *Engine) {
	data := benchFrame(b)
	dec := imagex.NewDecoder(imagex.DefaultLimits())
	defer dec.Close()
	var img imagex.RGB
	faces := make([]Face, 0, 32)
	b.ReportAllocs()
	for b.Loop() {
		if err := dec.Decode(data, &img); err != nil {
			b.Fatal(err)
		}
		var err error
		if faces, _, err = e.Analyze(&img, faces[:0]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(faces)), "faces")
}
