package report

import (
	"bytes"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"flag"
	"html"
	"image/jpeg"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/framecast/framecast/internal/frame"
	"github.com/framecast/framecast/internal/imagex"
	"github.com/framecast/framecast/internal/source"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// face makes a face whose most probable emotion is label, with
// probability p and the rest spread evenly.
func face(x, y, w, h float64, label string, p float64) frame.Face {
	probs := map[string]float64{}
	for _, l := range frame.Labels {
		probs[l] = (1 - p) / 6
	}
	probs[label] = p
	return frame.Face{Box: frame.Box{X: x, Y: y, W: w, H: h}, Score: 0.9, Emotion: label, Emotions: probs}
}

// testFrame is a deterministic 320×240 picture that changes with seq.
func testFrame(seq int64) *imagex.RGB {
	img := &imagex.RGB{W: 320, H: 240, Pix: make([]byte, 320*240*3)}
	for y := range 240 {
		for x := range 320 {
			i := (y*320 + x) * 3
			img.Pix[i] = byte(x * 255 / 319)
			img.Pix[i+1] = byte(y * 255 / 239)
			img.Pix[i+2] = byte(seq * 20)
		}
	}
	return img
}

// sampleReport is a fixed report: a video with faces (with a second
// without analysed frames and seconds without faces), and one that
// failed. Its name needs escaping.
func sampleReport(t *testing.T) *Report {
	t.Helper()
	r := New(`framecast analysis of <clips> & "more"`)
	r.Generated = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	v := r.AddVideo(`<script>alert("x")</script>.mp4`, source.VideoInfo{
		Duration: 5 * time.Second, FPS: 10, Frames: 50, Width: 320, Height: 240, Codec: "h264"})
	v.Sampling = "every 5th frame"
	frames := map[int64][]frame.Face{
		0:  {face(40, 40, 60, 60, "happy", 0.8)},
		5:  {face(44, 40, 60, 60, "happy", 0.9), face(200, 60, 50, 50, "sad", 0.6)},
		10: {face(48, 40, 60, 60, "happy", 0.7), face(200, 60, 50, 50, "sad", 0.7), face(120, 120, 40, 40, "surprise", 0.5)},
		15: {face(52, 40, 60, 60, "neutral", 0.6)},
		// 20 and 25 have no faces; 30–39 were not analysed.
		40: {face(60, 40, 60, 60, "happy", 0.95), face(200, 60, 50, 50, "sad", 0.7), face(120, 120, 40, 40, "angry", 0.55)},
		45: {face(64, 40, 60, 60, "happy", 0.9)},
	}
	for _, seq := range []int64{0, 5, 10, 15, 20, 25, 40, 45} {
		res := &frame.Result{Seq: seq, Faces: frames[seq]}
		if err := v.Add(time.Duration(seq)*100*time.Millisecond, res, testFrame(seq)); err != nil {
			t.Fatal(err)
		}
	}
	bad := r.AddVideo("broken.mp4", source.VideoInfo{})
	bad.Fail(errors.New("not a video ffprobe can read: moov atom <not> found"))
	return r
}

func render(t *testing.T, r *Report) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := r.Write(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// thumbData matches the thumbnails' bytes, which the golden file leaves
// out: image scaling and font rasterising round differently across CPUs
// (TestSelfContained checks the thumbnails themselves).
var thumbData = regexp.MustCompile(`data:image/jpeg;base64,[A-Za-z0-9+/=&#;]+`)

func TestGolden(t *testing.T) {
	got := thumbData.ReplaceAll(render(t, sampleReport(t)), []byte("data:image/jpeg;base64,…"))
	golden := filepath.Join("testdata", "report.golden.html")
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		out := filepath.Join(t.TempDir(), "report.html")
		os.WriteFile(out, got, 0o644)
		t.Errorf("report differs from %s (written to %s; go test -update accepts it)", golden, out)
	}
}

// TestSelfContained checks what makes the file open offline: no remote
// reference of any kind, thumbnails inline.
func TestSelfContained(t *testing.T) {
	doc := string(render(t, sampleReport(t)))
	for _, bad := range []string{"http://", "https://", "//cdn", "url(", "@import", "<script", "<link"} {
		if strings.Contains(strings.ToLower(doc), bad) {
			t.Errorf("report contains %q", bad)
		}
	}
	imgs := regexp.MustCompile(`<img [^>]*src="([^"]*)"`).FindAllStringSubmatch(doc, -1)
	if len(imgs) == 0 {
		t.Fatal("no thumbnails")
	}
	for _, m := range imgs {
		b64, ok := strings.CutPrefix(html.UnescapeString(m[1]), "data:image/jpeg;base64,")
		if !ok {
			t.Fatalf("thumbnail is not a JPEG data: URI: %.60s", m[1])
		}
		b, err := base64.StdEncoding.DecodeString(b64)
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := jpeg.DecodeConfig(bytes.NewReader(b))
		if err != nil || cfg.Width != ThumbWidth || cfg.Height != 180 {
			t.Errorf("thumbnail: %+v, %v", cfg, err)
		}
	}
}

// TestWellFormed parses the report as XML, strictly: the page is written
// as polyglot HTML, so every element must be closed and every attribute
// quoted, which also rules out unescaped text.
func TestWellFormed(t *testing.T) {
	doc := render(t, sampleReport(t))
	dec := xml.NewDecoder(bytes.NewReader(doc))
	dec.Strict = true
	count := map[string]int{}
	var text strings.Builder
	var stack []string
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("not well-formed: %v", err)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			count[tok.Name.Local]++
			stack = append(stack, tok.Name.Local)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		case xml.CharData:
			text.Write(tok)
		}
	}
	if len(stack) != 0 {
		t.Errorf("unclosed elements: %v", stack)
	}
	// Two videos with a share bar per emotion, the one with frames with
	// two charts.
	if count["html"] != 1 || count["section"] != 2 || count["svg"] != 2*7+2 || count["path"] != 7 || count["img"] == 0 {
		t.Errorf("element counts: %v", count)
	}
	// Names and messages come out as the text they are, not as markup.
	for _, want := range []string{`<script>alert("x")</script>.mp4`, `moov atom <not> found`, `<clips> & "more"`} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text lacks %q", want)
		}
	}
}

func TestKeyFrames(t *testing.T) {
	v := New("x").AddVideo("v", source.VideoInfo{})
	add := func(seq int64, faces ...frame.Face) {
		t.Helper()
		if err := v.Add(time.Duration(seq)*time.Second, &frame.Result{Seq: seq, Faces: faces}, nil); err != nil {
			t.Fatal(err)
		}
	}
	add(0)
	add(1, face(0, 0, 1, 1, "happy", 0.5))
	add(2, face(0, 0, 1, 1, "happy", 0.9), face(0, 0, 1, 1, "sad", 0.4))
	add(3, face(0, 0, 1, 1, "happy", 0.9), face(0, 0, 1, 1, "sad", 0.8)) // ties keep frame 2
	add(4, face(0, 0, 1, 1, "happy", 0.2), face(0, 0, 1, 1, "fear", 0.3), face(0, 0, 1, 1, "fear", 0.35))
	if v.most.seq != 4 || v.most.faces != 3 {
		t.Errorf("most faces: %+v", v.most)
	}
	want := map[string]int64{"happy": 2, "sad": 3, "fear": 4}
	for i, k := range v.best {
		l := frame.Labels[i]
		if seq, ok := want[l]; k.set != ok || k.seq != seq {
			t.Errorf("%s: %+v, want frame %d (%v)", l, k, seq, ok)
		}
	}
	if v.best[4].conf != 0.8 || v.best[2].conf != 0.35 {
		t.Errorf("confidences: sad %v, fear %v", v.best[4].conf, v.best[2].conf)
	}
	tl := v.Tally()
	if tl.Frames != 5 || tl.FramesWithFaces != 4 || tl.Faces != 8 || tl.ByEmotion[3] != 4 {
		t.Errorf("tally: %+v", tl)
	}
	if l, share := tl.Dominant(); l != "happy" || share != 0.5 {
		t.Errorf("dominant %s %v", l, share)
	}
	if l, _ := (Tally{}).Dominant(); l != "" {
		t.Errorf("dominant without faces: %q", l)
	}
}

// TestLongVideo: memory and chart size stay bounded for a long video.
func TestLongVideo(t *testing.T) {
	r := New("long")
	v := r.AddVideo("long.mp4", source.VideoInfo{Duration: 2 * time.Hour, FPS: 1})
	img := testFrame(0)
	for s := range int64(7200) {
		f := face(10, 10, 50, 50, frame.Labels[s%7], 0.3+float64(s%50)/100)
		if err := v.Add(time.Duration(s)*time.Second, &frame.Result{Seq: s, Faces: []frame.Face{f}}, img); err != nil {
			t.Fatal(err)
		}
	}
	bins, width := v.bins(2 * time.Hour)
	if len(bins) > maxBins || width != 15 {
		t.Errorf("%d bins of %d s", len(bins), width)
	}
	doc := render(t, r)
	if len(doc) > 1<<20 {
		t.Errorf("report of a 2 h video is %d bytes", len(doc))
	}
	if !strings.Contains(string(doc), "each 15 s") || !strings.Contains(string(doc), "2:00:00") {
		t.Error("axis or bin size missing")
	}
}

func TestClock(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		frac bool
		want string
	}{
		{0, true, "0:00.0"},
		{1250 * time.Millisecond, true, "0:01.2"},
		{75 * time.Second, false, "1:15"},
		{time.Hour + 2*time.Minute + 3*time.Second, false, "1:02:03"},
		{-time.Second, false, "0:00"},
	} {
		if got := clock(tc.d, tc.frac); got != tc.want {
			t.Errorf("clock(%v, %v) = %q, want %q", tc.d, tc.frac, got, tc.want)
		}
	}
}
