package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/framecast/framecast/internal/analysis"
	"github.com/framecast/framecast/internal/flagvalue"
	"github.com/framecast/framecast/internal/offline"
	"github.com/framecast/framecast/internal/ratelog"
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
	var vf analysis.Flags
	vf.Register(fs)
	jsonOut := fs.Bool("json", false, "print one framecast.result.v1 JSON object per image and per analysed video frame")
	annotateDir := fs.String("annotate", "", "write annotated copies (boxes, emotion labels) into this directory (videos as NAME.mp4); for a single video, OUT.mp4 names the file")
	var every flagvalue.OptionalInt
	var fps flagvalue.OptionalFloat
	fs.Var(&every, "every", "videos: analyse every Nth frame, N ≥ 1 (default: every frame; not with --fps)")
	fs.Var(&fps, "fps", "videos: analyse this many frames per second of video (default: every frame; not with --every)")
	report := fs.String("report", "", "videos: write a self-contained HTML report (summary, emotion timeline, faces over time, key frames) to this file")
	ffmpeg := fs.String("ffmpeg", "ffmpeg", "the ffmpeg executable for videos; ffprobe is taken from the same directory")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := vf.Check(); err != nil {
		return usageError("%v", err)
	}
	if fs.NArg() == 0 {
		return usageError("no files given; usage: framecast analyze [flags] FILE...")
	}
	// An explicit --every 0 or --fps 0 is a mistake, not "every frame".
	var bad []string
	if every.Given && every.Value < 1 {
		bad = append(bad, fmt.Sprintf("--every %d: must be 1 or more (1 analyses every frame)", every.Value))
	}
	if fps.Given && !(fps.Value > 0 && fps.Value <= 1000) {
		bad = append(bad, fmt.Sprintf("--fps %v: must be above 0 and at most 1000", fps.Value))
	}
	if len(bad) > 0 {
		return usageError("%s", strings.Join(bad, "; "))
	}
	files, videos, err := offline.SplitInputs(fs.Args())
	if err != nil {
		return err
	}
	vplan, dir, err := offline.PlanVideos(offline.VideoPlan{Videos: videos, Every: every.Value, FPS: fps.Value, Report: *report, FFmpeg: *ffmpeg}, files, *annotateDir)
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
	eng, err := vf.Engine()
	if err != nil {
		return err
	}
	// The sources narrate connects, ends and reconnects for cameras; here
	// a failure is reported once, as this file's error, so their own
	// account is for --log-level debug.
	srcLog := ratelog.AtLeast(env.log, slog.LevelError)
	if env.log.Enabled(ctx, slog.LevelDebug) {
		srcLog = env.log
	}
	a := offline.New(offline.Config{
		Stage: analysis.NewStage(eng, vf.Limits()), Limits: vf.Limits(), Worker: workerName(),
		AnnotateDir: dir, Stdin: env.stdin, Log: env.log, SourceLog: srcLog, Tracking: vf.Tracking(),
	})
	defer a.Close()
	out := &offline.TextOutput{Stdout: env.stdout, Stderr: env.stderr, JSON: *jsonOut, TTY: isTerminal(env.stderr), Log: env.log}
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
		if err := out.Image(path, res); err != nil {
			return err
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

func workerName() string {
	h, err := os.Hostname()
	if err != nil {
		h = "unknown"
	}
	return fmt.Sprintf("%s-%d", h, os.Getpid())
}
