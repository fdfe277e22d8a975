package cli

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"image"
	"io"
	"log/slog"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/framecast/framecast/internal/annotate"
	"github.com/framecast/framecast/internal/frame"
	"github.com/framecast/framecast/internal/ratelog"
	"github.com/framecast/framecast/internal/report"
	"github.com/framecast/framecast/internal/source"
)

// analyze with video files: each video is probed (ffprobe), decoded by
// the ffmpeg source as fast as the analysis takes frames, and every
// selected frame is analysed like an image. Results are
// framecast.result.v1 with camera = the file name and seq = the frame's
// number in the video, so a result can be matched to its frame (with
// --every 5 the seqs are 0, 5, 10, …); the video time of a result is
// seq ÷ the video's frame rate.

// videoExts are the file name extensions analyze reads as videos. Other
// files that are not images are recognised by their first bytes.
var videoExts = map[string]bool{
	".mp4": true, ".m4v": true, ".mkv": true, ".webm": true, ".mov": true, ".avi": true,
	".mpg": true, ".mpeg": true, ".ts": true, ".m2ts": true, ".mts": true, ".flv": true,
	".wmv": true, ".ogv": true, ".3gp": true, ".y4m": true,
}

// isImageName reports names that are images, never sniffed for video:
// analyze's imageExts plus what the decoder also reads.
func isImageName(path string) bool {
	ext := strings.ToLower(filepath.Ext(path))
	return imageExts[ext] || ext == ".bmp" || ext == ".webp"
}

// videoFlags are analyze's flags for video inputs.
type videoFlags struct {
	every  optionalInt
	fps    optionalFloat
	report string
	ffmpeg string
}

func registerVideoFlags(fs *flag.FlagSet) *videoFlags {
	v := &videoFlags{}
	fs.Var(&v.every, "every", "videos: analyse every Nth frame, N ≥ 1 (default: every frame; not with --fps)")
	fs.Var(&v.fps, "fps", "videos: analyse this many frames per second of video (default: every frame; not with --every)")
	fs.StringVar(&v.report, "report", "", "videos: write a self-contained HTML report (summary, emotion timeline, faces over time, key frames) to this file")
	fs.StringVar(&v.ffmpeg, "ffmpeg", "ffmpeg", "the ffmpeg executable for videos; ffprobe is taken from the same directory")
	return v
}

// optionalInt is an int flag that knows whether it was given, so that an
// explicit --every 0 is an error rather than the default.
type optionalInt struct {
	v   int
	set bool
}

func (o *optionalInt) String() string {
	if o == nil || !o.set {
		return ""
	}
	return strconv.Itoa(o.v)
}

func (o *optionalInt) Set(s string) error {
	n, err := strconv.Atoi(s)
	if err != nil {
		return errors.New("want a whole number")
	}
	o.v, o.set = n, true
	return nil
}

// optionalFloat is optionalInt for numbers.
type optionalFloat struct {
	v   float64
	set bool
}

func (o *optionalFloat) String() string {
	if o == nil || !o.set {
		return ""
	}
	return strconv.FormatFloat(o.v, 'g', -1, 64)
}

func (o *optionalFloat) Set(s string) error {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return errors.New("want a number")
	}
	o.v, o.set = f, true
	return nil
}

// splitInputs sorts the arguments into images and videos. A directory
// stands for the images and videos in it, each kind sorted by name.
// Missing paths count as images, so they are reported per file like any
// other failure, as before videos existed.
func splitInputs(args []string) (images, videos []string, err error) {
	for _, a := range args {
		st, err := os.Stat(a)
		switch {
		case a == "-" || err != nil:
			images = append(images, a)
		case st.IsDir():
			ents, err := os.ReadDir(a)
			if err != nil {
				return nil, nil, err
			}
			var imgs, vids []string
			for _, e := range ents {
				p := filepath.Join(a, e.Name())
				switch ext := strings.ToLower(filepath.Ext(e.Name())); {
				case e.IsDir():
				case imageExts[ext]:
					imgs = append(imgs, p)
				case videoExts[ext]:
					vids = append(vids, p)
				}
			}
			if len(imgs)+len(vids) == 0 {
				return nil, nil, fmt.Errorf("%s: no images (.jpg, .jpeg, .png, .gif) or videos (.mp4, .mkv, .mov, .webm, .avi, …) in this directory", a)
			}
			sort.Strings(imgs)
			sort.Strings(vids)
			images, videos = append(images, imgs...), append(videos, vids...)
		case videoExts[strings.ToLower(filepath.Ext(a))]:
			videos = append(videos, a)
		case !isImageName(a) && looksLikeVideo(a):
			videos = append(videos, a)
		default:
			images = append(images, a)
		}
	}
	return images, videos, nil
}

// looksLikeVideo recognises the common containers by their first bytes,
// for videos whose names do not say so.
func looksLikeVideo(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	b := make([]byte, 189)
	n, _ := io.ReadFull(f, b)
	b = b[:n]
	switch {
	case len(b) >= 12 && string(b[4:8]) == "ftyp": // MP4, MOV, 3GP
		return true
	case bytes.HasPrefix(b, []byte{0x1a, 0x45, 0xdf, 0xa3}): // Matroska, WebM
		return true
	case len(b) >= 12 && string(b[:4]) == "RIFF" && string(b[8:12]) == "AVI ":
		return true
	case bytes.HasPrefix(b, []byte("OggS")), bytes.HasPrefix(b, []byte("FLV")),
		bytes.HasPrefix(b, []byte{0, 0, 1, 0xba}), // MPEG program stream
		bytes.HasPrefix(b, []byte("YUV4MPEG2")):
		return true
	case len(b) >= 189 && b[0] == 0x47 && b[188] == 0x47: // MPEG transport stream
		return true
	}
	return false
}

// videoPlan is what analyze does with its videos, decided and checked
// before the models load.
type videoPlan struct {
	flags   *videoFlags
	videos  []string
	outputs []string // per video: the annotated video to write, or ""
	ffprobe string
}

// plan validates the video flags against the inputs. --annotate names a
// directory (annotated images as NAME.jpg, videos as NAME.mp4), or, when
// the only input is one video, the annotated video file itself: then
// *annotateDir is cleared so that no directory is made of it.
func (v *videoFlags) plan(images, videos []string, annotateDir *string) (*videoPlan, error) {
	var errs []string
	if v.every.set && v.every.v < 1 {
		errs = append(errs, fmt.Sprintf("--every %d: must be 1 or more (1 analyses every frame)", v.every.v))
	}
	if v.fps.set && !(v.fps.v > 0 && v.fps.v <= 1000) {
		errs = append(errs, fmt.Sprintf("--fps %v: must be above 0 and at most 1000", v.fps.v))
	}
	if v.every.set && v.fps.set {
		errs = append(errs, "--every and --fps both choose the frames to analyse; give one of them")
	}
	if v.report != "" && len(videos) == 0 {
		errs = append(errs, "--report summarises videos, and no video is among the inputs")
	}
	if v.report != "" {
		if st, err := os.Stat(filepath.Dir(v.report)); err != nil || !st.IsDir() {
			errs = append(errs, fmt.Sprintf("--report %s: the directory %s does not exist", v.report, filepath.Dir(v.report)))
		}
	}
	p := &videoPlan{flags: v, videos: videos, outputs: make([]string, len(videos))}
	if out := *annotateDir; out != "" && len(videos) > 0 {
		if videoExts[strings.ToLower(filepath.Ext(out))] {
			if len(videos) == 1 && len(images) == 0 {
				p.outputs[0] = out
				*annotateDir = ""
			} else {
				errs = append(errs, fmt.Sprintf("--annotate %s names one video file, but there are %d inputs; "+
					"annotate one video at a time, or give a directory: --annotate DIR writes DIR/NAME.mp4 for each video "+
					"and DIR/NAME.jpg for each image", out, len(videos)+len(images)))
			}
		} else {
			used := map[string]bool{}
			for i, in := range videos {
				base := strings.TrimSuffix(filepath.Base(in), filepath.Ext(in))
				name := base + ".mp4"
				for n := 2; used[name] || sameFile(filepath.Join(out, name), in); n++ {
					name = fmt.Sprintf("%s-%d.mp4", base, n)
				}
				used[name] = true
				p.outputs[i] = filepath.Join(out, name)
			}
		}
	}
	if len(errs) > 0 {
		return nil, usageError("%s", strings.Join(errs, "; "))
	}
	if len(videos) > 0 {
		if _, err := exec.LookPath(v.ffmpeg); err != nil {
			return nil, fmt.Errorf("%w: %q: videos need ffmpeg and ffprobe; install ffmpeg (Debian/Ubuntu: apt-get install ffmpeg; macOS: brew install ffmpeg) or point --ffmpeg at it", source.ErrNoFFmpeg, v.ffmpeg)
		}
		p.ffprobe = source.FFprobeFor(v.ffmpeg)
		if _, err := exec.LookPath(p.ffprobe); err != nil {
			return nil, fmt.Errorf("%w: %q: videos need ffprobe, which comes with ffmpeg (Debian/Ubuntu: apt-get install ffmpeg; macOS: brew install ffmpeg)", source.ErrNoFFmpeg, p.ffprobe)
		}
	}
	return p, nil
}

func sameFile(a, b string) bool {
	sa, err1 := os.Stat(a)
	sb, err2 := os.Stat(b)
	return err1 == nil && err2 == nil && os.SameFile(sa, sb)
}

// sampling is which frames of one video are analysed, and where they sit
// in it.
type sampling struct {
	every  int     // source.Options.Every: every Nth frame (1: all)
	fps    float64 // source.Options.VideoFPS: resampled to this rate (0: not)
	native float64 // the video's frame rate (0: unknown)
}

// samplingFor turns --every or --fps into source options for one video.
// --fps that divides the video's rate becomes --every, so results carry
// exact frame numbers; at or above the video's rate it is every frame.
func (p *videoPlan) samplingFor(info source.VideoInfo) sampling {
	s := sampling{every: 1, native: info.FPS}
	switch {
	case p.flags.every.set:
		s.every = p.flags.every.v
	case p.flags.fps.set && s.native > 0:
		ratio := s.native / p.flags.fps.v
		if n := math.Round(ratio); ratio <= 1 || math.Abs(ratio-n) < 1e-6*ratio {
			s.every = max(1, int(n))
		} else {
			s.fps = p.flags.fps.v
		}
	case p.flags.fps.set:
		s.fps = p.flags.fps.v
	}
	return s
}

// seq is the frame number in the video of the kth analysed frame. When
// resampled to a rate that does not divide the video's, the source keeps
// the first frame of each 1/fps interval: the first frame at or after
// k/fps seconds.
func (s sampling) seq(k int64) int64 {
	if s.fps > 0 {
		if s.native <= 0 {
			return k
		}
		return int64(math.Ceil(float64(k)*s.native/s.fps - 1e-6))
	}
	return k * int64(s.every)
}

// at is the video time of the kth analysed frame.
func (s sampling) at(k int64) time.Duration {
	var secs float64
	switch {
	case s.native > 0:
		secs = float64(s.seq(k)) / s.native
	case s.fps > 0:
		secs = float64(k) / s.fps
	}
	return time.Duration(secs * float64(time.Second))
}

// rate is analysed frames per second of video: the annotated video's
// frame rate. An unknown native rate counts as 25 fps.
func (s sampling) rate() float64 {
	if s.fps > 0 {
		return s.fps
	}
	native := s.native
	if native <= 0 {
		native = 25
	}
	return native / float64(s.every)
}

// expected is how many frames will be analysed, for the progress bar; 0
// when unknown.
func (s sampling) expected(info source.VideoInfo) int64 {
	if s.fps > 0 {
		return int64(math.Ceil(info.Duration.Seconds() * s.fps))
	}
	return (info.Frames + int64(s.every) - 1) / int64(s.every)
}

func (s sampling) String() string {
	switch {
	case s.fps > 0:
		return fmt.Sprintf("%s frames per second", trimNum(s.fps))
	case s.every == 1:
		return "every frame"
	case s.every == 2:
		return "every 2nd frame"
	case s.every == 3:
		return "every 3rd frame"
	}
	return fmt.Sprintf("every %dth frame", s.every)
}

func trimNum(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

// analyzeVideos analyses every video of the plan and returns how many
// failed; err is for what stops the whole run (interrupt, report).
func (a *analyzer) analyzeVideos(ctx context.Context, p *videoPlan, jsonOut bool) (failed int, err error) {
	if len(p.videos) == 0 {
		return 0, nil
	}
	var rep *report.Report
	if p.flags.report != "" {
		title := "framecast analyze: " + strings.Join(baseNames(p.videos), ", ")
		if len(p.videos) > 3 {
			title = fmt.Sprintf("framecast analyze: %d videos", len(p.videos))
		}
		rep = report.New(title)
	}
	for i, path := range p.videos {
		if err := ctx.Err(); err != nil {
			return failed, err
		}
		err := a.video(ctx, p, path, p.outputs[i], rep, jsonOut)
		if err != nil && ctx.Err() != nil {
			return failed, ctx.Err()
		}
		var stop stopRun
		if errors.As(err, &stop) {
			return failed, stop.error
		}
		if err != nil {
			failed++
			fmt.Fprintf(a.env.stderr, "framecast analyze: %s: %v\n", path, err)
		}
	}
	if rep != nil {
		var buf bytes.Buffer
		if err := rep.Write(&buf); err != nil {
			return failed, fmt.Errorf("--report: %w", err)
		}
		if err := os.WriteFile(p.flags.report, buf.Bytes(), 0o644); err != nil {
			return failed, fmt.Errorf("--report: %w", err)
		}
		a.env.log.Info("report written", "file", p.flags.report, "bytes", buf.Len())
	}
	return failed, nil
}

func baseNames(paths []string) []string {
	out := make([]string, len(paths))
	for i, p := range paths {
		out[i] = filepath.Base(p)
	}
	return out
}

// openVideoSource opens a video that was probed; tests replace it to fail
// on cue.
var openVideoSource = source.OpenVideo

// video analyses one video file, writing the annotated video to out
// unless it is "".
func (a *analyzer) video(ctx context.Context, p *videoPlan, path, out string, rep *report.Report, jsonOut bool) (err error) {
	name := filepath.Base(path)
	info, perr := source.Probe(ctx, p.ffprobe, path)
	var rv *report.Video
	if rep != nil {
		rv = rep.AddVideo(name, info)
		defer func() {
			if err != nil {
				rv.Fail(err)
			}
		}()
	}
	if perr != nil {
		return perr
	}
	s := p.samplingFor(info)
	if rv != nil {
		rv.Sampling = s.String()
	}
	// The sources narrate connects, ends and reconnects for cameras; here
	// a failure is reported once, as this file's error, so their own
	// account is for --log-level debug.
	srcLog := ratelog.AtLeast(a.env.log, slog.LevelError)
	if a.env.log.Enabled(ctx, slog.LevelDebug) {
		srcLog = a.env.log
	}
	src, err := openVideoSource(path, info, source.Options{Unpaced: true, Every: s.every, VideoFPS: s.fps, FFmpeg: p.flags.ffmpeg,
		Log: srcLog.With("component", "source")})
	if err != nil {
		return err
	}
	defer src.Close()
	vctx, stop := watchSource(ctx, src)
	defer stop()

	var enc *source.Encoder
	var canvas *image.RGBA // the annotated frame, reused
	bar := newProgressBar(a.env.stderr, isTerminal(a.env.stderr), name, s.expected(info))
	defer func() {
		if enc != nil {
			if cerr := enc.Close(); err == nil && cerr != nil {
				err = fmt.Errorf("--annotate: %w", cerr)
			}
		}
		if err != nil {
			bar.abort()
		}
	}()
	var tally report.Tally
	start := time.Now()
	for k := int64(0); ; k++ {
		f, err := src.Next(vctx)
		got := time.Now()
		if errors.Is(err, source.ErrEndOfInput) {
			break
		}
		if err != nil {
			if cause := context.Cause(vctx); ctx.Err() == nil && cause != nil && !errors.Is(cause, context.Canceled) {
				err = cause
			}
			return fmt.Errorf("after %d frames: %w", k, err)
		}
		seq := s.seq(k)
		res, err := a.videoFrame(f, got, name, path, seq)
		if err != nil {
			return fmt.Errorf("frame %d: %w", seq, err)
		}
		tally.Add(res)
		if jsonOut {
			b, err := frame.Marshal(res)
			if err != nil {
				return err
			}
			if _, err := a.env.stdout.Write(b); err != nil {
				return stopRun{err}
			}
		}
		if rv != nil {
			if err := rv.Add(s.at(k), res, a.stage.Image()); err != nil {
				return err
			}
		}
		if out != "" {
			if enc == nil {
				enc, err = source.NewEncoder(ctx, p.flags.ffmpeg, out, a.stage.Image().W, a.stage.Image().H, s.rate(), a.env.log)
				if err != nil {
					return fmt.Errorf("--annotate: %w", err)
				}
			}
			canvas = a.stage.Image().ToImageInto(canvas)
			if err := annotate.Draw(canvas, res.Faces); err != nil {
				return err
			}
			if err := enc.Write(canvas); err != nil {
				return fmt.Errorf("--annotate: %w", err)
			}
		}
		bar.update(tally.Frames)
	}
	elapsed := time.Since(start)
	if enc != nil {
		err := enc.Close()
		enc = nil
		if err != nil {
			return fmt.Errorf("--annotate: %w", err)
		}
	}
	bar.finish(tally.Frames)
	if tally.Frames == 0 {
		return errors.New("ffmpeg decoded no frames from this video")
	}
	rate := float64(tally.Frames) / max(elapsed.Seconds(), 1e-9)
	if !bar.tty {
		a.env.log.Info("video analysed", "file", path, "frames", tally.Frames, "faces", tally.Faces,
			"seconds", math.Round(elapsed.Seconds()*100)/100, "fps", math.Round(rate*10)/10)
	}
	if !jsonOut {
		printVideoSummary(a.env.stdout, path, info, s, tally, elapsed)
	}
	return nil
}

// stopRun wraps errors that end the whole run rather than one video,
// such as a closed stdout.
type stopRun struct{ error }

// videoFrame analyses one decoded video frame into a.img and a result.
// The frame counts as captured when the source delivered it (start), so
// latency is the analysis time, as for images.
func (a *analyzer) videoFrame(f source.Frame, start time.Time, name, path string, seq int64) (*frame.Result, error) {
	return a.analyzeImage(f.JPEG, name, path, seq, start, start)
}

// watchSource returns a context for reading src that ends, with the
// source's error as its cause, as soon as the source reports a failed
// connection. The supervisor behind video sources reconnects, which for a
// camera is right, but for a file would replay it from the start (or wait
// forever for a file ffmpeg cannot decode): offline, a failure ends the
// video.
func watchSource(ctx context.Context, src source.Source) (context.Context, func()) {
	vctx, cancel := context.WithCancelCause(ctx)
	sr, ok := src.(source.StatusReporter)
	if !ok {
		return vctx, func() { cancel(nil) }
	}
	done := make(chan struct{})
	go func() {
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-vctx.Done():
				return
			case <-tick.C:
				if st := sr.Status(); st.Failures > 0 || st.Connects > 1 {
					msg := st.LastError
					if msg == "" {
						msg = "the video source restarted"
					}
					cancel(fmt.Errorf("ffmpeg could not decode this video: %s", msg))
					return
				}
			}
		}
	}()
	return vctx, func() { close(done); cancel(nil) }
}

// printVideoSummary writes the table of one video.
func printVideoSummary(w io.Writer, path string, info source.VideoInfo, s sampling, t report.Tally, elapsed time.Duration) {
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

func (p *progressBar) update(done int64) {
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
func (p *progressBar) finish(done int64) {
	if !p.tty {
		return
	}
	fmt.Fprintf(p.w, "\r%s\x1b[K\n", p.line(done, p.now(), true))
}

// abort ends a drawn bar's line so that an error message starts afresh.
func (p *progressBar) abort() {
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
