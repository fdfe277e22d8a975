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

func BenchmarkDetect(b *testing.B) {
	img := loadImage(b, filepath.Join(paths.TestImages(), samples.Frame640))
	e := testEngine(b)
	faces := make([]Face, 0, 32)
	b.ReportAllocs()
	for b.Loop() {
		faces, _ = e.Detect(img, faces[:0])
	}
	b.ReportMetric(float64(len(faces)), "faces")
}

func BenchmarkClassify(b *testing.B) {
	img := loadImage(b, filepath.Join(paths.TestImages(), samples.Frame640))
	e := testEngine(b)
	faces, err := e.Detect(img, nil)
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
func BenchmarkFrame(b *testing.B) {
	data := benchFrame(b)
	e := testEngine(b)
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

// BenchmarkFrameInt8 is BenchmarkFrame with the int8 models.
func BenchmarkFrameInt8(b *testing.B) {
	data := benchFrame(b)
	e := testEngineInt8(b)
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

// BenchmarkDetectInt8 and BenchmarkClassifyInt8 split BenchmarkFrameInt8.
func BenchmarkDetectInt8(b *testing.B) {
	img := loadImage(b, filepath.Join(paths.TestImages(), samples.Frame640))
	e := testEngineInt8(b)
	faces := make([]Face, 0, 32)
	for b.Loop() {
		faces, _ = e.Detect(img, faces[:0])
	}
	b.ReportMetric(float64(len(faces)), "faces")
}

func BenchmarkClassifyInt8(b *testing.B) {
	img := loadImage(b, filepath.Join(paths.TestImages(), samples.Frame640))
	e := testEngineInt8(b)
	faces, err := testEngine(b).Detect(img, nil)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if err := e.Classify(img, faces); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(faces)), "faces")
}
