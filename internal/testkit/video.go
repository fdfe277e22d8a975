package testkit

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/framecast/framecast/internal/models"
)

// VideoConfig describe a test video. Zero fields take the defaults.
type VideoConfig struct {
	// Width and Height are the frame size, even numbers (4:2:0 video).
	// Default 640×480.
	Width, Height int
	// FPS is the frame rate. Default 10.
	FPS float64
	// Seconds is the length. Default 2. The video has
	// round(Seconds×FPS) frames.
	Seconds float64
	// Samples are the photos filmed, in order, each for an equal share of
	// the video. Default: sample4.jpg (four faces) then sample1.jpg
	// (three faces) from the face-api samples (`framecast models fetch`).
	Samples []string
}

// DefaultVideoSamples are the photos MakeVideo films by default, in the
// samples directory: large, frontal faces the detector finds in every
// frame.
var DefaultVideoSamples = []string{"sample4.jpg", "sample1.jpg"}

// videoZoom is how much larger than the frame a photo is scaled before
// the camera pans across it: enough for visible motion, little enough
// that faces stay in the frame and large.
const videoZoom = 1.3

// MakeVideo renders a test video of the sample photos with moving faces:
// for each photo, a virtual camera pans across it, scaled to cover the
// frame videoZoom times, alternately left to right and back, drifting
// vertically, so face boxes move from frame to frame the way they do in
// camera footage. The container follows dst's extension (.mp4, .mkv,
// .mov, .avi: H.264 with libx264, yuv420p, or MPEG-4 part 2 when ffmpeg
// lacks libx264; .webm: VP9). ffmpeg is an executable path or a name in
// PATH ("" means "ffmpeg").
//
// The output is deterministic for a given ffmpeg build (single-threaded
// encoding, bit-exact flags, no metadata), so tests may compare results
// between runs. dst is written atomically: through a temporary file in
// its directory, renamed when complete.
func MakeVideo(ffmpeg, dst string, opt VideoConfig) error {
	opt, err := opt.withDefaults()
	if err != nil {
		return fmt.Errorf("make video %s: %w", dst, err)
	}
	if ffmpeg == "" {
		ffmpeg = "ffmpeg"
	}
	bin, err := exec.LookPath(ffmpeg)
	if err != nil {
		return fmt.Errorf("make video %s: ffmpeg %q not found: install ffmpeg (Debian/Ubuntu: sudo apt-get install ffmpeg; macOS: brew install ffmpeg)", dst, ffmpeg)
	}
	for _, s := range opt.Samples {
		if _, err := os.Stat(s); err != nil {
			return fmt.Errorf("make video %s: sample photo: %w (run `framecast models fetch`)", dst, err)
		}
	}
	ext := strings.ToLower(filepath.Ext(dst))
	tmp, err := os.CreateTemp(filepath.Dir(dst), "."+strings.TrimSuffix(filepath.Base(dst), filepath.Ext(dst))+".*"+ext)
	if err != nil {
		return fmt.Errorf("make video: %w", err)
	}
	tmp.Close()
	defer os.Remove(tmp.Name()) // after a successful rename there is nothing left to remove

	err = runFFmpeg(bin, videoArgs(opt, ext, false, tmp.Name()))
	if err != nil && ext != ".webm" && strings.Contains(err.Error(), "libx264") {
		// An ffmpeg built without libx264 (some distributions leave
		// GPL codecs out): MPEG-4 part 2 still makes a usable test video.
		err = runFFmpeg(bin, videoArgs(opt, ext, true, tmp.Name()))
	}
	if err != nil {
		return fmt.Errorf("make video %s: %w", dst, err)
	}
	// CreateTemp made it private; a video is as readable as any output.
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return fmt.Errorf("make video: %w", err)
	}
	if err := os.Rename(tmp.Name(), dst); err != nil {
		return fmt.Errorf("make video: %w", err)
	}
	return nil
}

// Video makes a test video at dst with MakeVideo and returns dst. The test
// fails without ffmpeg, and is skipped without the sample photos (see
// RequireSamples) unless opt names its own.
func Video(t testing.TB, dst string, opt VideoConfig) string {
	t.Helper()
	if len(opt.Samples) == 0 {
		RequireSamples(t)
	}
	if err := MakeVideo(FFmpeg(t), dst, opt); err != nil {
		t.Fatalf("make a test video: %v", err)
	}
	return dst
}

func (o VideoConfig) withDefaults() (VideoConfig, error) {
	if o.Width == 0 && o.Height == 0 {
		o.Width, o.Height = 640, 480
	}
	if o.FPS == 0 {
		o.FPS = 10
	}
	if o.Seconds == 0 {
		o.Seconds = 2
	}
	if len(o.Samples) == 0 {
		dir := models.At("").Samples()
		for _, s := range DefaultVideoSamples {
			o.Samples = append(o.Samples, filepath.Join(dir, s))
		}
	}
	var errs []error
	if o.Width < 2 || o.Height < 2 || o.Width%2 != 0 || o.Height%2 != 0 || o.Width > 7680 || o.Height > 4320 {
		errs = append(errs, fmt.Errorf("size %d×%d: use even numbers from 2×2 to 7680×4320", o.Width, o.Height))
	}
	if !(o.FPS > 0 && o.FPS <= 240) {
		errs = append(errs, fmt.Errorf("frame rate %v: use above 0 to 240", o.FPS))
	}
	if !(o.Seconds > 0 && o.Seconds <= 3600) {
		errs = append(errs, fmt.Errorf("length %v s: use above 0 to 3600", o.Seconds))
	}
	return o, errors.Join(errs...)
}

// videoFrames is the number of frames of a video.
func (o VideoConfig) videoFrames() int {
	return max(1, int(math.Round(o.Seconds*o.FPS)))
}

// videoArgs builds the ffmpeg command line: one looped-image input per
// sample, each panned and trimmed to its share of the frames, concatenated.
func videoArgs(o VideoConfig, ext string, mpeg4 bool, out string) []string {
	fps := strconv.FormatFloat(o.FPS, 'f', -1, 64)
	total := o.videoFrames()
	// Scaled to cover the frame videoZoom times (aspect kept), then a
	// frame-sized window moves across it. Expressions use the frame
	// number n, not the time, so fractional rates give the same path.
	sw := 2 * int(math.Ceil(float64(o.Width)*videoZoom/2))
	sh := 2 * int(math.Ceil(float64(o.Height)*videoZoom/2))
	args := []string{"-hide_banner", "-nostdin", "-nostats", "-loglevel", "error", "-y",
		"-filter_complex_threads", "1"}
	var graph []string
	var segs string
	nseg := 0
	for i, s := range o.Samples {
		// Frames [i×total/n, (i+1)×total/n) film photo i.
		k := (i+1)*total/len(o.Samples) - i*total/len(o.Samples)
		if k == 0 {
			continue
		}
		args = append(args, "-f", "image2", "-pattern_type", "none", "-loop", "1", "-framerate", fps, "-i", "file:"+s)
		// ease goes 0 → 1 over the segment, smoothly (a camera
		// operator's pan, not a linear slide).
		ease := fmt.Sprintf("(0.5-0.5*cos(PI*n/%d))", max(k-1, 1))
		x := "(iw-ow)*" + ease
		if nseg%2 == 1 {
			x = "(iw-ow)*(1-" + ease + ")"
		}
		// Faces are in the upper half of the photos: the vertical drift
		// stays in the top 60 % of the spare height.
		y := "(ih-oh)*(0.1+0.5*" + ease + ")"
		graph = append(graph, fmt.Sprintf(
			"[%d:v]scale=%d:%d:force_original_aspect_ratio=increase:flags=bicubic,crop=%d:%d:x='%s':y='%s',trim=end_frame=%d,setpts=PTS-STARTPTS,setsar=1,format=yuv420p[v%d]",
			nseg, sw, sh, o.Width, o.Height, x, y, k, nseg))
		segs += fmt.Sprintf("[v%d]", nseg)
		nseg++
	}
	graph = append(graph, fmt.Sprintf("%sconcat=n=%d:v=1:a=0[out]", segs, nseg))
	args = append(args, "-filter_complex", strings.Join(graph, ";"), "-map", "[out]",
		"-frames:v", strconv.Itoa(total), "-r", fps)
	switch {
	case ext == ".webm":
		args = append(args, "-c:v", "libvpx-vp9", "-deadline", "good", "-cpu-used", "8", "-row-mt", "0",
			"-b:v", "0", "-crf", "32")
	case mpeg4:
		args = append(args, "-c:v", "mpeg4", "-q:v", "3")
	default:
		args = append(args, "-c:v", "libx264", "-preset", "veryfast", "-crf", "18")
	}
	args = append(args, "-pix_fmt", "yuv420p", "-threads", "1",
		"-fflags", "+bitexact", "-flags:v", "+bitexact", "-map_metadata", "-1")
	if ext == ".mp4" || ext == ".mov" || ext == ".m4v" {
		args = append(args, "-movflags", "+faststart")
	}
	return append(args, "file:"+out)
}

// runFFmpeg runs ffmpeg and returns its last stderr lines as the error.
func runFFmpeg(bin string, args []string) error {
	var stderr bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
		said := strings.Join(lines[max(0, len(lines)-3):], "; ")
		if said == "" {
			return fmt.Errorf("ffmpeg: %w", err)
		}
		return fmt.Errorf("ffmpeg: %v: %s", err, said)
	}
	return nil
}
