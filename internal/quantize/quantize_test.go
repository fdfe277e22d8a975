package quantize

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	ort "github.com/yalue/onnxruntime_go"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/framecast/framecast/internal/imagex"
	"github.com/framecast/framecast/internal/models"
	"github.com/framecast/framecast/internal/testkit"
	"github.com/framecast/framecast/internal/vision"
)

func TestVariants(t *testing.T) {
	img := &imagex.RGB{W: 8, H: 6, Pix: make([]byte, 8*6*3)}
	for i := range img.Pix {
		img.Pix[i] = byte(i)
	}
	vs := Variants(img)
	want := [][2]int{{8, 6}, {8, 6}, {8, 6}, {4, 3}, {4, 3}, {8, 6}, {8, 3}}
	if len(vs) != len(want) {
		t.Fatalf("%d variants, want %d", len(vs), len(want))
	}
	for i, v := range vs {
		if v.W != want[i][0] || v.H != want[i][1] || len(v.Pix) != v.W*v.H*3 {
			t.Errorf("variant %d: %d×%d with %d bytes, want %v", i, v.W, v.H, len(v.Pix), want[i])
		}
	}
	// The mirror's first pixel is the original's last of row 0.
	if m := vs[1]; m.Pix[0] != img.Pix[7*3] || m.Pix[2] != img.Pix[7*3+2] {
		t.Errorf("mirror starts with %v, want %v", m.Pix[:3], img.Pix[21:24])
	}
	// The centre crop starts at (w/5, h/5) = (1, 1).
	if c := vs[4]; c.Pix[0] != img.Pix[(1*8+1)*3] {
		t.Errorf("centre crop starts with %d, want %d", c.Pix[0], img.Pix[(8+1)*3])
	}
}

var initRuntime = sync.OnceValue(func() error { return vision.InitRuntime(models.At("").ResolveORTLib("")) })

// TestBuild quantises the cached models into a fresh cache directory: both
// int8 models are written, recorded in the manifest, load and pass the
// engine's self-check, and a second Build with nothing changed does
// nothing.
func TestBuild(t *testing.T) {
	src := testkit.RequireModels(t)
	if err := initRuntime(); err != nil {
		t.Fatal(err)
	}
	p := models.At(t.TempDir())
	for _, f := range []string{src.Detector(), src.Emotion()} {
		dst := filepath.Join(p.ModelsDir(), filepath.Base(f))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(f, dst); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(filepath.Dir(p.Samples()), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(src.Samples(), p.Samples()); err != nil {
		t.Fatal(err)
	}
	res, err := Build(Config{Paths: p})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d frames, %d faces; detector %+v; emotion %+v", res.Frames, res.Faces, res.Detector, res.Emotion)
	if res.Frames != 6*7 || res.Faces < 22 || res.Detector.Convs == 0 || res.Emotion.Convs == 0 {
		t.Errorf("result %+v", res)
	}
	if res.Detector.FloatConvs != len(DetectorFloat) || res.Emotion.FloatConvs != len(EmotionFloat) {
		t.Errorf("float convs %d, %d; want %d, %d", res.Detector.FloatConvs, res.Emotion.FloatConvs, len(DetectorFloat), len(EmotionFloat))
	}
	m, err := models.ReadManifest(p)
	if err != nil {
		t.Fatal(err)
	}
	for _, rel := range []string{"models/blazeface.int8.onnx", "models/emotion.int8.onnx"} {
		if f, ok := m.File(rel); !ok || !strings.Contains(f.From, "quantised from") {
			t.Errorf("manifest record of %s: %+v", rel, f)
		}
	}
	if err := vision.SelfCheck(vision.Config{DetectorModel: p.DetectorInt8(), EmotionModel: p.EmotionInt8(), Threads: 1}); err != nil {
		t.Fatal(err)
	}
	// ONNX Runtime must fuse the QDQ groups into integer kernels, or int8
	// would only add work: every int8 Conv becomes a QLinearConv in the
	// graph it optimises.
	for _, tc := range []struct {
		path  string
		convs int
	}{{p.DetectorInt8(), res.Detector.Convs}, {p.EmotionInt8(), res.Emotion.Convs}} {
		ops := optimizedOps(t, tc.path)
		if ops["QLinearConv"] != tc.convs {
			t.Errorf("%s: ONNX Runtime made %d QLinearConv of %d int8 convs (ops %v)", filepath.Base(tc.path), ops["QLinearConv"], tc.convs, ops)
		}
	}
	again, err := Build(Config{Paths: p})
	if err != nil {
		t.Fatal(err)
	}
	if !again.Skipped {
		t.Error("second Build quantised again although nothing changed")
	}
}

// The key names everything an int8 model is made from, so changing any of
// it makes the next fetch quantise again.
func TestKey(t *testing.T) {
	base := key([]byte("model"), []string{"a", "b"}, 100)
	for name, k := range map[string]string{
		"model":      key([]byte("model2"), []string{"a", "b"}, 100),
		"layers":     key([]byte("model"), []string{"a"}, 100),
		"split":      key([]byte("model"), []string{"a,b"}, 100),
		"percentile": key([]byte("model"), []string{"a", "b"}, 99.99),
	} {
		if k == base {
			t.Errorf("another %s gives the same key", name)
		}
	}
}

// optimizedOps has ONNX Runtime optimise the model as a session does
// (SetOptimizedModelFilePath) and counts the op types of the result.
func optimizedOps(t *testing.T, model string) map[string]int {
	t.Helper()
	out := filepath.Join(t.TempDir(), "optimized.onnx")
	so, err := ort.NewSessionOptions()
	if err != nil {
		t.Fatal(err)
	}
	defer so.Destroy()
	if err := so.SetIntraOpNumThreads(1); err != nil {
		t.Fatal(err)
	}
	if err := so.SetOptimizedModelFilePath(out); err != nil {
		t.Fatal(err)
	}
	ins, outs, err := ort.GetInputOutputInfo(model)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, o := range outs {
		names = append(names, o.Name)
	}
	s, err := ort.NewDynamicAdvancedSession(model, []string{ins[0].Name}, names, so)
	if err != nil {
		t.Fatal(err)
	}
	s.Destroy()
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	ops := map[string]int{}
	// ModelProto.graph (7) → GraphProto.node (1) → NodeProto.op_type (4).
	for _, g := range subfields(t, b, 7) {
		for _, n := range subfields(t, g, 1) {
			for _, op := range subfields(t, n, 4) {
				ops[string(op)]++
			}
		}
	}
	return ops
}

// subfields returns the length-delimited fields numbered num of a message.
func subfields(t *testing.T, b []byte, num protowire.Number) [][]byte {
	t.Helper()
	var out [][]byte
	for len(b) > 0 {
		n, typ, k := protowire.ConsumeTag(b)
		if k < 0 {
			t.Fatal(protowire.ParseError(k))
		}
		b = b[k:]
		k = protowire.ConsumeFieldValue(n, typ, b)
		if k < 0 {
			t.Fatal(protowire.ParseError(k))
		}
		if n == num && typ == protowire.BytesType {
			v, _ := protowire.ConsumeBytes(b)
			out = append(out, v)
		}
		b = b[k:]
	}
	return out
}
