package cli

import (
	"context"
	"fmt"
	"image/jpeg"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/framecast/framecast/internal/analysis"
	"github.com/framecast/framecast/internal/annotate"
	"github.com/framecast/framecast/internal/frame"
	"github.com/framecast/framecast/internal/imagex"
)

func runAnalyze(ctx context.Context, env *environment, args []string) error {
	fs := newFlagSet(env, "analyze", "[flags] FILE|VIDEO|DIR|- ...",
		"Detect faces and classify their emotions in image and video files, offline (no Kafka).\n"+
			"A directory means the images and videos in it; - reads one image from standard input.\n"+
			"Videos (.mp4, .mkv, .mov, .webm, .avi, …) are decoded with ffmpeg; --every or --fps pick frames.\n"+
			"Results go to stdout: a table per image and a summary per video, or framecast.result.v1\n"+
			"JSON lines with --json (for videos camera = file name, seq = frame number in the video).\n"+
			"A file that cannot be analysed is reported on stderr; the others are still analysed\n"+
			"and the exit status is 1 at the end.")
	var vf visionFlags
	vf.register(fs)
	jsonOut := fs.Bool("json", false, "print one framecast.result.v1 JSON object per image and per analysed video frame")
	annotateDir := fs.String("annotate", "", "write annotated copies (boxes, emotion labels) into this directory (videos as NAME.mp4); for a single video, OUT.mp4 names the file")
	vidf := registerVideoFlags(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := vf.validate(); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return usageError("no files given; usage: framecast analyze [flags] FILE...")
	}
	files, videos, err := splitInputs(fs.Args())
	if err != nil {
		return err
	}
	vplan, err := vidf.plan(files, videos, annotateDir)
	if err != nil {
		return err
	}
	if *annotateDir != "" {
		if err := os.MkdirAll(*annotateDir, 0o755); err != nil {
			return fmt.Errorf("--annotate: %w", err)
		}
	}
	eng, err := vf.engine()
	if err != nil {
		return err
	}
	a := &analyzer{
		env: env, stage: analysis.NewStage(eng, vf.limits()), limits: vf.limits(),
		annotateDir: *annotateDir, used: map[string]bool{}, worker: workerName(),
	}
	defer a.stage.Close()
	failed := 0
	for i, path := range files {
		if err := ctx.Err(); err != nil {
			return err
		}
		res, err := a.one(path, int64(i))
		if err != nil {
			failed++
			fmt.Fprintf(env.stderr, "framecast analyze: %s: %v\n", path, err)
			continue
		}
		if *jsonOut {
			b, err := frame.Marshal(res)
			if err != nil {
				return err
			}
			if _, err := env.stdout.Write(b); err != nil {
				return err
			}
		} else {
			printTable(env.stdout, path, res)
		}
	}
	vfailed, err := a.analyzeVideos(ctx, vplan, *jsonOut)
	if err != nil {
		return err
	}
	failed += vfailed
	if failed > 0 {
		fmt.Fprintf(env.stderr, "framecast analyze: %d of %d files could not be analysed\n", failed, len(files)+len(videos))
		return errReported
	}
	return nil
}

// imageExts are the file names a directory argument expands to.
var imageExts = map[string]bool{".jpg": true, ".jpeg": true, ".png": true, ".gif": true}

// expandInputs replaces directories by the images in them, sorted. Missing
// paths are kept so they are reported per file like any other failure.
func expandInputs(args []string) ([]string, error) {
	var out []string
	for _, a := range args {
		st, err := os.Stat(a)
		if err != nil || !st.IsDir() {
			out = append(out, a)
			continue
		}
		ents, err := os.ReadDir(a)
		if err != nil {
			return nil, err
		}
		var in []string
		for _, e := range ents {
			if !e.IsDir() && imageExts[strings.ToLower(filepath.Ext(e.Name()))] {
				in = append(in, filepath.Join(a, e.Name()))
			}
		}
		sort.Strings(in)
		if len(in) == 0 {
			return nil, fmt.Errorf("%s: no images (.jpg, .jpeg, .png, .gif) in this directory", a)
		}
		out = append(out, in...)
	}
	return out, nil
}

type analyzer struct {
	env         *environment
	stage       *analysis.Stage
	limits      imagex.Limits
	annotateDir string
	used        map[string]bool
	worker      string
}

// readInput reads a file or stdin, refusing anything over the byte limit
// before reading it whole.
func (a *analyzer) readInput(path string) ([]byte, error) {
	var r io.Reader
	if path == "-" {
		r = a.env.stdin
	} else {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		st, err := f.Stat()
		if err != nil {
			return nil, err
		}
		if st.IsDir() {
			return nil, fmt.Errorf("is a directory")
		}
		if st.Size() > a.limits.MaxBytes {
			return nil, fmt.Errorf("%w: file is %d bytes, the limit is %d (raise it with --max-bytes)", imagex.ErrTooLarge, st.Size(), a.limits.MaxBytes)
		}
		r = f
	}
	b, err := io.ReadAll(io.LimitReader(r, a.limits.MaxBytes+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > a.limits.MaxBytes {
		return nil, fmt.Errorf("%w: input is over %d bytes (raise it with --max-bytes)", imagex.ErrTooLarge, a.limits.MaxBytes)
	}
	return b, nil
}

func (a *analyzer) one(path string, seq int64) (*frame.Result, error) {
	start := time.Now()
	data, err := a.readInput(path)
	if err != nil {
		return nil, err
	}
	read := time.Now()
	name := filepath.Base(path)
	if path == "-" {
		name = "stdin"
	}
	// Offline there is no capture clock: the frame counts as captured
	// when framecast started reading it, so latency is reading and
	// analysis; the analysis timings count from when it was read, as they
	// count from the fetch for frames from Kafka.
	res, err := a.analyzeImage(data, name, path, seq, start, read)
	if err != nil {
		return nil, err
	}
	if a.annotateDir != "" {
		if err := a.writeAnnotated(name, res.Faces); err != nil {
			return nil, fmt.Errorf("--annotate: %w", err)
		}
	}
	return res, nil
}

// analyzeImage decodes and analyses an encoded image (JPEG, PNG, …) and
// returns its result; captured and received are as in analysis.Input.
func (a *analyzer) analyzeImage(data []byte, name, path string, seq int64, captured, received time.Time) (*frame.Result, error) {
	res := analysis.Begin(analysis.Input{
		Camera: name, Seq: seq, CapturedAt: captured, Received: received,
		Frame: frame.FrameInfo{Source: path}, Worker: a.worker,
	})
	if err := a.stage.Analyze(data, &res); err != nil {
		return nil, err
	}
	analysis.Finish(&res, received)
	return &res, nil
}

func (a *analyzer) writeAnnotated(name string, faces []frame.Face) error {
	base := strings.TrimSuffix(name, filepath.Ext(name))
	out := base + ".jpg"
	for n := 2; a.used[out]; n++ {
		out = fmt.Sprintf("%s-%d.jpg", base, n)
	}
	a.used[out] = true
	rgba := a.stage.Image().ToImage()
	if err := annotate.Draw(rgba, faces); err != nil {
		return err
	}
	f, err := os.Create(filepath.Join(a.annotateDir, out))
	if err != nil {
		return err
	}
	if err := jpeg.Encode(f, rgba, &jpeg.Options{Quality: 90}); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func ms(d time.Duration) float64 { return analysis.MS(d) }

func workerName() string {
	h, err := os.Hostname()
	if err != nil {
		h = "unknown"
	}
	return fmt.Sprintf("%s-%d", h, os.Getpid())
}

func printTable(w io.Writer, path string, r *frame.Result) {
	plural := "s"
	if len(r.Faces) == 1 {
		plural = ""
	}
	fmt.Fprintf(w, "%s  %d×%d  %d face%s  (decode %.1f ms, detect %.1f ms, classify %.1f ms)\n",
		path, r.Frame.Width, r.Frame.Height, len(r.Faces), plural, r.TimingsMS.Decode, r.TimingsMS.Detect, r.TimingsMS.Classify)
	if len(r.Faces) == 0 {
		fmt.Fprintln(w)
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  FACE\tBOX x,y,w,h\tSCORE\tEMOTION\tCONFIDENCE\tRUNNER-UP")
	for i, f := range r.Faces {
		second, sp := "", -1.0
		for _, l := range frame.Labels {
			if p := f.Emotions[l]; l != f.Emotion && p > sp {
				second, sp = l, p
			}
		}
		fmt.Fprintf(tw, "  %d\t%.0f,%.0f,%.0f,%.0f\t%.2f\t%s\t%.2f\t%s %.2f\n",
			i+1, f.Box.X, f.Box.Y, f.Box.W, f.Box.H, f.Score, f.Emotion, f.Emotions[f.Emotion], second, sp)
	}
	tw.Flush()
	fmt.Fprintln(w)
}
