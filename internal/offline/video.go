package offline

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/framecast/framecast/internal/analysis"
	"github.com/framecast/framecast/internal/annotate"
	"github.com/framecast/framecast/internal/frame"
	"github.com/framecast/framecast/internal/report"
	"github.com/framecast/framecast/internal/source"
)

// Videos are probed (ffprobe), decoded by the ffmpeg source as fast as the
// analysis takes frames, and every selected frame is analysed like an
// image. Results have camera = the file name and seq = the frame's number
// in the video, so a result can be matched to its frame (with Every 5 the
// seqs are 0, 5, 10, …); the video time of a result is seq ÷ the video's
// frame rate.

// VideoPlan is what to do with the videos, decided and checked before the
// models load (PlanVideos).
type VideoPlan struct {
	Videos  []string
	Outputs []string // per video: the annotated video to write, or ""
	// Every analyses every Nth frame; FPS resamples to this many frames per
	// second of video instead. Zero: not set (every frame).
	Every int
	FPS   float64
	// Report, when set, is the HTML report to write.
	Report string
	// FFmpeg is the ffmpeg executable, FFprobe the ffprobe beside it.
	FFmpeg, FFprobe string
}

// PlanError is a plan that cannot be carried out as asked: the caller's
// invocation is wrong (not the files).
type PlanError struct{ Problems []string }

func (e *PlanError) Error() string { return strings.Join(e.Problems, "; ") }

// PlanVideos checks the video settings of p (Every, FPS, Report, FFmpeg)
// against the inputs and fills in Outputs and FFprobe. annotate names a
// directory (annotated images as NAME.jpg, videos as NAME.mp4), or, when
// the only input is one video, the annotated video file itself: then the
// returned annotateDir is "" so that no directory is made of it.
func PlanVideos(p VideoPlan, images []string, annotate string) (plan *VideoPlan, annotateDir string, err error) {
	var errs []string
	if p.Every < 0 || p.FPS < 0 || p.FPS > 1000 {
		errs = append(errs, fmt.Sprintf("every %d, fps %v: want every ≥ 1 or fps in (0, 1000]", p.Every, p.FPS))
	}
	if p.Every != 0 && p.FPS != 0 {
		errs = append(errs, "--every and --fps both choose the frames to analyse; give one of them")
	}
	if p.Report != "" && len(p.Videos) == 0 {
		errs = append(errs, "--report summarises videos, and no video is among the inputs")
	}
	if p.Report != "" {
		if st, err := os.Stat(filepath.Dir(p.Report)); err != nil || !st.IsDir() {
			errs = append(errs, fmt.Sprintf("--report %s: the directory %s does not exist", p.Report, filepath.Dir(p.Report)))
		}
	}
	annotateDir = annotate
	p.Outputs = make([]string, len(p.Videos))
	if out := annotate; out != "" && len(p.Videos) > 0 {
		if videoExts[strings.ToLower(filepath.Ext(out))] {
			if len(p.Videos) == 1 && len(images) == 0 {
				p.Outputs[0] = out
				annotateDir = ""
			} else {
				errs = append(errs, fmt.Sprintf("--annotate %s names one video file, but there are %d inputs; "+
					"annotate one video at a time, or give a directory: --annotate DIR writes DIR/NAME.mp4 for each video "+
					"and DIR/NAME.jpg for each image", out, len(p.Videos)+len(images)))
			}
		} else {
			used := map[string]bool{}
			for i, in := range p.Videos {
				base := strings.TrimSuffix(filepath.Base(in), filepath.Ext(in))
				name := base + ".mp4"
				for n := 2; used[name] || sameFile(filepath.Join(out, name), in); n++ {
					name = fmt.Sprintf("%s-%d.mp4", base, n)
				}
				used[name] = true
				p.Outputs[i] = filepath.Join(out, name)
			}
		}
	}
	if len(errs) > 0 {
		return nil, "", &PlanError{errs}
	}
	if p.FFmpeg == "" {
		p.FFmpeg = "ffmpeg"
	}
	if len(p.Videos) > 0 {
		if _, err := exec.LookPath(p.FFmpeg); err != nil {
			return nil, "", fmt.Errorf("%w: %q: videos need ffmpeg and ffprobe; install ffmpeg (Debian/Ubuntu: apt-get install ffmpeg; macOS: brew install ffmpeg) or point --ffmpeg at it", source.ErrNoFFmpeg, p.FFmpeg)
		}
		p.FFprobe = source.FFprobeFor(p.FFmpeg)
		if _, err := exec.LookPath(p.FFprobe); err != nil {
			return nil, "", fmt.Errorf("%w: %q: videos need ffprobe, which comes with ffmpeg (Debian/Ubuntu: apt-get install ffmpeg; macOS: brew install ffmpeg)", source.ErrNoFFmpeg, p.FFprobe)
		}
	}
	return &p, annotateDir, nil
}

func sameFile(a, b string) bool {
	sa, err1 := os.Stat(a)
	sb, err2 := os.Stat(b)
	return err1 == nil && err2 == nil && os.SameFile(sa, sb)
}

// Output receives what the analysis of videos produces; the caller
// formats it.
type Output interface {
	// Result is each analysed frame's result. An error ends the whole run
	// (a closed stdout).
	Result(*frame.Result) error
	// Progress starts a video's progress display; expected frames is 0
	// when unknown.
	Progress(name string, expected int64) Progress
	// Done is a video analysed to its end.
	Done(VideoSummary)
	// Failed is a video that could not be analysed; the others go on.
	Failed(path string, err error)
}

// Progress follows one video.
type Progress interface {
	Update(done int64)
	Finish(done int64)
	Abort()
}

// VideoSummary is what one video came to.
type VideoSummary struct {
	Path     string
	Info     source.VideoInfo
	Sampling string // which frames were analysed, in words
	Tally    report.Tally
	Elapsed  time.Duration
}

// Videos analyses every video of p, telling o, and writes the report; it
// returns how many videos failed. err is for what stops the whole run
// (interrupt, closed output, report).
func (a *Analyzer) Videos(ctx context.Context, p *VideoPlan, o Output) (failed int, err error) {
	if len(p.Videos) == 0 {
		return 0, nil
	}
	var rep *report.Report
	if p.Report != "" {
		title := "framecast analyze: " + strings.Join(baseNames(p.Videos), ", ")
		if len(p.Videos) > 3 {
			title = fmt.Sprintf("framecast analyze: %d videos", len(p.Videos))
		}
		rep = report.New(title)
	}
	for i, path := range p.Videos {
		if err := ctx.Err(); err != nil {
			return failed, err
		}
		err := a.video(ctx, p, path, p.Outputs[i], rep, o)
		if err != nil && ctx.Err() != nil {
			return failed, ctx.Err()
		}
		var stop stopRun
		if errors.As(err, &stop) {
			return failed, stop.error
		}
		if err != nil {
			failed++
			o.Failed(path, err)
		}
	}
	if rep != nil {
		var buf bytes.Buffer
		if err := rep.Write(&buf); err != nil {
			return failed, fmt.Errorf("--report: %w", err)
		}
		if err := os.WriteFile(p.Report, buf.Bytes(), 0o644); err != nil {
			return failed, fmt.Errorf("--report: %w", err)
		}
		a.cfg.Log.Info("report written", "file", p.Report, "bytes", buf.Len())
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

// OpenVideoSource opens a video that was probed; tests replace it to fail
// on cue.
var OpenVideoSource = source.OpenVideo

// video analyses one video file, writing the annotated video to out
// unless it is "".
func (a *Analyzer) video(ctx context.Context, p *VideoPlan, path, out string, rep *report.Report, o Output) (err error) {
	name := filepath.Base(path)
	info, perr := source.Probe(ctx, p.FFprobe, path)
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
	src, err := OpenVideoSource(path, info, source.Config{Unpaced: true, Every: s.every, VideoFPS: s.fps, FFmpeg: p.FFmpeg,
		Log: a.cfg.SourceLog.With("component", "source")})
	if err != nil {
		return err
	}
	defer src.Close()
	vctx, stop := watchSource(ctx, src)
	defer stop()

	var enc *source.Encoder
	var canvas *image.RGBA // the annotated frame, reused
	bar := o.Progress(name, s.expected(info))
	defer func() {
		if enc != nil {
			if cerr := enc.Close(); err == nil && cerr != nil {
				err = fmt.Errorf("--annotate: %w", cerr)
			}
		}
		if err != nil {
			bar.Abort()
		}
	}()
	var tally report.Tally
	start := time.Now()
	// The video is one camera, its frames in order: the tracker's state
	// lives for this video and no longer.
	cam := analysis.NewCamera(a.cfg.Tracking)
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
		// The frame counts as captured when the source delivered it, so
		// latency is the analysis time, as for images.
		res, err := a.analyze(f.JPEG, name, path, seq, got, got, cam, time.Unix(0, 0).Add(s.at(k)))
		if err != nil {
			return fmt.Errorf("frame %d: %w", seq, err)
		}
		if rv != nil || out != "" {
			// The report and the annotated video show this frame, which a
			// reused or half-size analysis did not decode in full.
			if _, err := a.stage.FrameImage(f.JPEG); err != nil {
				return fmt.Errorf("frame %d: %w", seq, err)
			}
		}
		tally.Add(res)
		if err := o.Result(res); err != nil {
			return stopRun{err}
		}
		if rv != nil {
			if err := rv.Add(s.at(k), res, a.stage.Image()); err != nil {
				return err
			}
		}
		if out != "" {
			if enc == nil {
				enc, err = source.NewEncoder(ctx, p.FFmpeg, out, a.stage.Image().W, a.stage.Image().H, s.rate(), a.cfg.Log)
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
		bar.Update(tally.Frames)
	}
	elapsed := time.Since(start)
	if enc != nil {
		err := enc.Close()
		enc = nil
		if err != nil {
			return fmt.Errorf("--annotate: %w", err)
		}
	}
	bar.Finish(tally.Frames)
	if tally.Frames == 0 {
		return errors.New("ffmpeg decoded no frames from this video")
	}
	o.Done(VideoSummary{Path: path, Info: info, Sampling: s.String(), Tally: tally, Elapsed: elapsed})
	return nil
}

// stopRun wraps errors that end the whole run rather than one video,
// such as a closed stdout.
type stopRun struct{ error }

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

// sampling is which frames of one video are analysed, and where they sit
// in it.
type sampling struct {
	every  int     // source.Config.Every: every Nth frame (1: all)
	fps    float64 // source.Config.VideoFPS: resampled to this rate (0: not)
	native float64 // the video's frame rate (0: unknown)
}

// samplingFor turns --every or --fps into source options for one video.
// --fps that divides the video's rate becomes --every, so results carry
// exact frame numbers; at or above the video's rate it is every frame.
func (p *VideoPlan) samplingFor(info source.VideoInfo) sampling {
	s := sampling{every: 1, native: info.FPS}
	switch {
	case p.Every > 0:
		s.every = p.Every
	case p.FPS > 0 && s.native > 0:
		ratio := s.native / p.FPS
		if n := math.Round(ratio); ratio <= 1 || math.Abs(ratio-n) < 1e-6*ratio {
			s.every = max(1, int(n))
		} else {
			s.fps = p.FPS
		}
	case p.FPS > 0:
		s.fps = p.FPS
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
