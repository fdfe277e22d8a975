package source

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// VideoInfo describes the first video stream of a file, as ffprobe reports
// it.
type VideoInfo struct {
	// Duration of the stream (the container's when the stream has none);
	// 0 when unknown.
	Duration time.Duration
	// FPS is the stream's frame rate (average rate, falling back to the
	// nominal one); 0 when unknown.
	FPS float64
	// Frames is the number of frames: the container's count when it has
	// one (MP4, MOV), otherwise Duration×FPS rounded (Matroska, WebM);
	// 0 when neither is known.
	Frames int64
	// Width and Height are the decoded frame size in pixels.
	Width, Height int
	// Codec is ffmpeg's short codec name (h264, vp9, mjpeg, …).
	Codec string
}

// probeInstallHint is what a user without ffmpeg should do.
const probeInstallHint = "install ffmpeg, which includes ffprobe (Debian/Ubuntu: apt-get install ffmpeg; macOS: brew install ffmpeg)"

// Probe runs ffprobe (an executable path or a name looked up in PATH;
// "" means "ffprobe") on path and describes its first video stream. A
// missing ffprobe is an error wrapping ErrNoFFmpeg; a file ffprobe cannot
// read, or one without a video stream, is an error quoting ffprobe's
// reason.
func Probe(ctx context.Context, ffprobe, path string) (VideoInfo, error) {
	if ffprobe == "" {
		ffprobe = "ffprobe"
	}
	bin, err := exec.LookPath(ffprobe)
	if err != nil {
		return VideoInfo{}, fmt.Errorf("%w: %q: %s", ErrNoFFmpeg, ffprobe, probeInstallHint)
	}
	target := path
	if !strings.Contains(path, "://") {
		// Without the protocol a name like "a:b.mp4" is read as protocol
		// "a", and one starting with "-" as an option.
		target = "file:" + path
	}
	cmd := exec.CommandContext(ctx, bin, "-v", "error", "-show_streams", "-show_format", "-of", "json", target)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return VideoInfo{}, ctx.Err()
		}
		msg := lastStderrLines(stderr.String(), 3)
		if msg == "" {
			msg = err.Error()
		}
		return VideoInfo{}, fmt.Errorf("not a video ffprobe can read: %s", msg)
	}
	return parseProbe(stdout.Bytes())
}

// probeOutput is the part of ffprobe's JSON that Probe reads. Numbers that
// ffprobe prints as strings stay strings: some are "N/A".
type probeOutput struct {
	Streams []struct {
		CodecType    string `json:"codec_type"`
		CodecName    string `json:"codec_name"`
		Width        int    `json:"width"`
		Height       int    `json:"height"`
		AvgFrameRate string `json:"avg_frame_rate"`
		RFrameRate   string `json:"r_frame_rate"`
		Duration     string `json:"duration"`
		NbFrames     string `json:"nb_frames"`
		Disposition  struct {
			AttachedPic int `json:"attached_pic"`
		} `json:"disposition"`
	} `json:"streams"`
	Format struct {
		Duration string `json:"duration"`
	} `json:"format"`
}

func parseProbe(b []byte) (VideoInfo, error) {
	var out probeOutput
	if err := json.Unmarshal(b, &out); err != nil {
		return VideoInfo{}, fmt.Errorf("ffprobe output: %w", err)
	}
	for _, s := range out.Streams {
		// Cover art in audio files is a one-frame "video" stream.
		if s.CodecType != "video" || s.Disposition.AttachedPic != 0 {
			continue
		}
		info := VideoInfo{Width: s.Width, Height: s.Height, Codec: s.CodecName}
		info.FPS = probeRate(s.AvgFrameRate)
		if info.FPS == 0 {
			info.FPS = probeRate(s.RFrameRate)
		}
		secs := probeNumber(s.Duration)
		if secs == 0 {
			secs = probeNumber(out.Format.Duration)
		}
		info.Duration = time.Duration(secs * float64(time.Second))
		if n, err := strconv.ParseInt(s.NbFrames, 10, 64); err == nil && n > 0 {
			info.Frames = n
		} else if secs > 0 && info.FPS > 0 {
			info.Frames = int64(math.Round(secs * info.FPS))
		}
		return info, nil
	}
	return VideoInfo{}, errors.New("no video stream in this file")
}

// probeRate parses ffprobe's "30000/1001"; "0/0" and garbage are 0.
func probeRate(s string) float64 {
	num, den, ok := strings.Cut(s, "/")
	if !ok {
		return probeNumber(s)
	}
	n, d := probeNumber(num), probeNumber(den)
	if d == 0 {
		return 0
	}
	return n / d
}

// probeNumber parses a non-negative finite number; "N/A" and garbage are 0.
func probeNumber(s string) float64 {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f < 0 {
		return 0
	}
	return f
}

// lastStderrLines returns the last n non-empty lines of s, joined by "; ".
func lastStderrLines(s string, n int) string {
	var keep []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			keep = append(keep, l)
		}
	}
	if len(keep) > n {
		keep = keep[len(keep)-n:]
	}
	return strings.Join(keep, "; ")
}
