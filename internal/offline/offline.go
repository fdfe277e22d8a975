// Package offline analyses image and video files without Kafka, for
// `framecast analyze`: each image, and each selected frame of a video,
// goes through the same analysis stage as a frame from Kafka and becomes a
// framecast.result.v1 (camera = the file name, seq = the image's place
// among the inputs or the frame's number in the video).
//
// Invariants:
//   - One bad file never stops the others: its error is returned for it
//     alone (Image) or counted and reported through Output.Failed
//     (Videos); only what ends the whole run (an interrupt, a closed
//     output, an unwritable report) ends it.
//   - Input is bounded before it is read whole (the byte limit) and before
//     it is decoded (the pixel limit, in the stage).
//   - Offline there is no capture clock: a frame counts as captured when
//     framecast started reading it, so latency is reading plus analysis.
//   - The package writes only where the caller says: results, progress and
//     summaries to its Output (text.go has the forms `framecast analyze`
//     prints), narration to its logger.
package offline

import (
	"fmt"
	"image"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/framecast/framecast/internal/analysis"
	"github.com/framecast/framecast/internal/annotate"
	"github.com/framecast/framecast/internal/frame"
	"github.com/framecast/framecast/internal/imagex"
)

// Config configures an Analyzer. The zero value of each field but Stage
// means its documented default.
type Config struct {
	// Stage analyses the frames; the Analyzer closes it.
	Stage *analysis.Stage
	// Limits are the stage's; MaxBytes also bounds what is read.
	Limits imagex.Limits
	// Tracking is what may be left out on a video's frames (each video is
	// one camera); images are always analysed in full.
	Tracking analysis.Tracking
	// Worker is the results' "worker" field.
	Worker string
	// AnnotateDir, when set, receives annotated copies of the images
	// (NAME.jpg); it must exist.
	AnnotateDir string
	// Stdin is what the path "-" reads.
	Stdin io.Reader
	// Log narrates (default: discarded); SourceLog is the video sources'
	// (default: Log).
	Log, SourceLog *slog.Logger
}

// Analyzer analyses files one at a time.
type Analyzer struct {
	cfg   Config
	stage *analysis.Stage
	used  map[string]bool // annotated file names taken

	// --annotate's per-image state, kept from image to image.
	enc    *imagex.Encoder
	canvas *image.RGBA
	out    []byte
}

// New returns an analyzer for cfg.
func New(cfg Config) *Analyzer {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.SourceLog == nil {
		cfg.SourceLog = cfg.Log
	}
	cfg.Limits = cfg.Limits.WithDefaults()
	return &Analyzer{cfg: cfg, stage: cfg.Stage, used: map[string]bool{}}
}

// Close closes the stage.
func (a *Analyzer) Close() {
	a.stage.Close()
	if a.enc != nil {
		a.enc.Close()
	}
}

// Image analyses one image file ("-": stdin) as the seq-th input.
func (a *Analyzer) Image(path string, seq int64) (*frame.Result, error) {
	start := time.Now()
	data, err := ReadImage(path, a.cfg.Stdin, a.cfg.Limits.MaxBytes)
	if err != nil {
		return nil, err
	}
	read := time.Now()
	name := filepath.Base(path)
	if path == "-" {
		name = "stdin"
	}
	// The analysis timings count from when it was read, as they count
	// from the fetch for frames from Kafka.
	res, err := a.analyze(data, name, path, seq, start, read, nil, time.Time{})
	if err != nil {
		return nil, err
	}
	if a.cfg.AnnotateDir != "" {
		if err := a.writeAnnotated(name, res.Faces); err != nil {
			return nil, fmt.Errorf("--annotate: %w", err)
		}
	}
	return res, nil
}

// analyze decodes and analyses an encoded image (JPEG, PNG, …) and returns
// its result; captured and received are as in analysis.Input.
// cam, if not nil, is the video's state, at the frame's time in it.
func (a *Analyzer) analyze(data []byte, name, path string, seq int64, captured, received time.Time, cam *analysis.Camera, at time.Time) (*frame.Result, error) {
	res := analysis.Begin(analysis.Input{
		Camera: name, Seq: seq, CapturedAt: captured, Received: received,
		Frame: frame.FrameInfo{Source: path}, Worker: a.cfg.Worker,
	})
	if err := a.stage.AnalyzeCamera(data, &res, cam, at); err != nil {
		return nil, err
	}
	analysis.Finish(&res, received)
	return &res, nil
}

func (a *Analyzer) writeAnnotated(name string, faces []frame.Face) error {
	base := strings.TrimSuffix(name, filepath.Ext(name))
	out := base + ".jpg"
	for n := 2; a.used[out]; n++ {
		out = fmt.Sprintf("%s-%d.jpg", base, n)
	}
	a.used[out] = true
	a.canvas = a.stage.Image().ToImageInto(a.canvas)
	if err := annotate.Draw(a.canvas, faces); err != nil {
		return err
	}
	if a.enc == nil {
		a.enc = imagex.NewEncoder()
	}
	var err error
	if a.out, err = a.enc.EncodeImage(a.out[:0], a.canvas, 90); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(a.cfg.AnnotateDir, out), a.out, 0o666)
}
