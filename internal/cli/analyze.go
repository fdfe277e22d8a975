package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/framecast/framecast/internal/analysis"
	"github.com/framecast/framecast/internal/frame"
	"github.com/framecast/framecast/internal/offline"
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
	var every optionalInt
	var fps optionalFloat
	fs.Var(&every, "every", "videos: analyse every Nth frame, N ≥ 1 (default: every frame; not with --fps)")
	fs.Var(&fps, "fps", "videos: analyse this many frames per second of video (default: every frame; not with --every)")
	report := fs.String("report", "", "videos: write a self-contained HTML report (summary, emotion timeline, faces over time, key frames) to this file")
	ffmpeg := fs.String("ffmpeg", "ffmpeg", "the ffmpeg executable for videos; ffprobe is taken from the same directory")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := vf.validate(); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return usageError("no files given; usage: framecast analyze [flags] FILE...")
	}
	// An explicit --every 0 or --fps 0 is a mistake, not "every frame".
	var bad []string
	if every.set && every.v < 1 {
		bad = append(bad, fmt.Sprintf("--every %d: must be 1 or more (1 analyses every frame)", every.v))
	}
	if fps.set && !(fps.v > 0 && fps.v <= 1000) {
		bad = append(bad, fmt.Sprintf("--fps %v: must be above 0 and at most 1000", fps.v))
	}
	if len(bad) > 0 {
		return usageError("%s", strings.Join(bad, "; "))
	}
	files, videos, err := offline.SplitInputs(fs.Args())
	if err != nil {
		return err
	}
	vplan, dir, err := offline.PlanVideos(offline.VideoPlan{Videos: videos, Every: every.v, FPS: fps.v, Report: *report, FFmpeg: *ffmpeg}, files, *annotateDir)
	var perr *offline.PlanError
	if errors.As(err, &perr) {
		return usageError("%v", perr)
	}
	if err != nil {
		return err
	}
	if dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("--annotate: %w", err)
		}
	}
	eng, err := vf.engine()
	if err != nil {
		return err
	}
	// The sources narrate connects, ends and reconnects for cameras; here
	// a failure is reported once, as this file's error, so their own
	// account is for --log-level debug.
	srcLog := slog.New(minLevel{env.log.Handler(), slog.LevelError})
	if env.log.Enabled(ctx, slog.LevelDebug) {
		srcLog = env.log
	}
	a := offline.New(offline.Config{
		Stage: analysis.NewStage(eng, vf.limits()), Limits: vf.limits(), Worker: workerName(),
		AnnotateDir: dir, Stdin: env.stdin, Log: env.log, SourceLog: srcLog,
	})
	defer a.Close()
	out := &analyzeOutput{env: env, json: *jsonOut}
	failed := 0
	for i, path := range files {
		if err := ctx.Err(); err != nil {
			return err
		}
		res, err := a.Image(path, int64(i))
		if err != nil {
			failed++
			out.Failed(path, err)
			continue
		}
		if *jsonOut {
			if err := out.Result(res); err != nil {
				return err
			}
		} else {
			printTable(env.stdout, path, res)
		}
	}
	vfailed, err := a.Videos(ctx, vplan, out)
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

// analyzeOutput prints what offline analysis produces: JSON lines or a
// summary per video on stdout, progress and failures on stderr.
type analyzeOutput struct {
	env  *environment
	json bool
}

func (o *analyzeOutput) Result(res *frame.Result) error {
	if !o.json {
		return nil
	}
	b, err := frame.Marshal(res)
	if err != nil {
		return err
	}
	_, err = o.env.stdout.Write(b)
	return err
}

func (o *analyzeOutput) Progress(name string, expected int64) offline.Progress {
	return newProgressBar(o.env.stderr, isTerminal(o.env.stderr), name, expected)
}

func (o *analyzeOutput) Done(v offline.VideoSummary) {
	if !isTerminal(o.env.stderr) {
		rate := float64(v.Tally.Frames) / max(v.Elapsed.Seconds(), 1e-9)
		o.env.log.Info("video analysed", "file", v.Path, "frames", v.Tally.Frames, "faces", v.Tally.Faces,
			"seconds", math.Round(v.Elapsed.Seconds()*100)/100, "fps", math.Round(rate*10)/10)
	}
	if !o.json {
		printVideoSummary(o.env.stdout, v)
	}
}

func (o *analyzeOutput) Failed(path string, err error) {
	fmt.Fprintf(o.env.stderr, "framecast analyze: %s: %v\n", path, err)
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

// printVideoSummary writes the table of one video.
func printVideoSummary(w io.Writer, v offline.VideoSummary) {
	path, info, s, t, elapsed := v.Path, v.Info, v.Sampling, v.Tally, v.Elapsed
	head := []string{path}
	if info.Width > 0 {
		head = append(head, fmt.Sprintf("%d×%d", info.Width, info.Height))
	}
	if info.FPS > 0 {
		head = append(head, strconv.FormatFloat(math.Round(info.FPS*100)/100, 'f', -1, 64)+" fps")
	}
	if info.Duration > 0 {
		head = append(head, fmt.Sprintf("%.1f s", info.Duration.Seconds()))
	}
	if info.Codec != "" {
		head = append(head, info.Codec)
	}
	fmt.Fprintln(w, strings.Join(head, "  "))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	of := ""
	if info.Frames > 0 {
		of = fmt.Sprintf(" of %d", info.Frames)
	}
	fmt.Fprintf(tw, "  frames analysed\t%d%s (%s)\n", t.Frames, of, s)
	fmt.Fprintf(tw, "  frames with faces\t%d (%.0f%%)\n", t.FramesWithFaces, 100*float64(t.FramesWithFaces)/float64(max(t.Frames, 1)))
	fmt.Fprintf(tw, "  faces\t%d (%.2f per frame)\n", t.Faces, float64(t.Faces)/float64(max(t.Frames, 1)))
	if l, share := t.Dominant(); l != "" {
		fmt.Fprintf(tw, "  dominant emotion\t%s, %.0f%% of faces\n", l, 100*share)
		var parts []string
		order := []int{0, 1, 2, 3, 4, 5, 6}
		sort.SliceStable(order, func(i, j int) bool { return t.ByEmotion[order[i]] > t.ByEmotion[order[j]] })
		for _, i := range order {
			if t.ByEmotion[i] > 0 {
				parts = append(parts, fmt.Sprintf("%s %.0f%%", frame.Labels[i], 100*t.Share(i)))
			}
		}
		fmt.Fprintf(tw, "  emotions\t%s\n", strings.Join(parts, ", "))
	} else {
		fmt.Fprintf(tw, "  dominant emotion\tnone (no faces)\n")
	}
	fmt.Fprintf(tw, "  analysis\t%.1f frames/s (%.1f s)\n", float64(t.Frames)/max(elapsed.Seconds(), 1e-9), elapsed.Seconds())
	tw.Flush()
	fmt.Fprintln(w)
}

// progressBar shows a video's progress on a terminal, redrawn at most
// every progressEvery: frames done of the expected total, analysis rate
// and time left. On anything else it stays silent.
type progressBar struct {
	w     io.Writer
	tty   bool
	name  string
	total int64 // expected frames; 0: unknown
	start time.Time
	last  time.Time
	drawn bool
	now   func() time.Time
}

const progressEvery = 100 * time.Millisecond

func newProgressBar(w io.Writer, tty bool, name string, total int64) *progressBar {
	p := &progressBar{w: w, tty: tty, name: name, total: total, now: time.Now}
	p.start = p.now()
	return p
}

func (p *progressBar) Update(done int64) {
	if !p.tty {
		return
	}
	now := p.now()
	if p.drawn && now.Sub(p.last) < progressEvery {
		return
	}
	p.last, p.drawn = now, true
	fmt.Fprintf(p.w, "\r%s\x1b[K", p.line(done, now, false))
}

// finish draws the final state and ends the line.
func (p *progressBar) Finish(done int64) {
	if !p.tty {
		return
	}
	fmt.Fprintf(p.w, "\r%s\x1b[K\n", p.line(done, p.now(), true))
}

// abort ends a drawn bar's line so that an error message starts afresh.
func (p *progressBar) Abort() {
	if p.tty && p.drawn {
		fmt.Fprintln(p.w)
	}
}

func (p *progressBar) line(done int64, now time.Time, final bool) string {
	const width = 24
	elapsed := now.Sub(p.start)
	rate := 0.0
	if elapsed > 0 {
		rate = float64(done) / elapsed.Seconds()
	}
	total := p.total
	if final || (total > 0 && done > total) {
		total = done // the estimate from ffprobe was off
	}
	var b strings.Builder
	b.WriteString(p.name)
	b.WriteString("  ")
	if total > 0 {
		fill := int(float64(width) * float64(done) / float64(total))
		b.WriteString(strings.Repeat("█", fill) + strings.Repeat("░", width-fill))
		fmt.Fprintf(&b, "  %d/%d frames", done, total)
	} else {
		fmt.Fprintf(&b, "%d frames", done)
	}
	fmt.Fprintf(&b, "  %.1f fps", rate)
	switch {
	case final:
		fmt.Fprintf(&b, "  %s", elapsed.Round(100*time.Millisecond))
	case total > 0 && rate > 0:
		left := time.Duration(float64(total-done) / rate * float64(time.Second))
		fmt.Fprintf(&b, "  ETA %s", left.Round(time.Second))
	}
	return b.String()
}
