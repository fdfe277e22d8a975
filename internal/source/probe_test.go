package source

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/framecast/framecast/internal/testkit"
)

// probeTestVideo makes a test video with ffmpeg's testsrc2 in a temporary
// directory. A missing ffmpeg fails the test: video support is part of
// framecast, not an optional extra.
func probeTestVideo(t *testing.T, name, size string, fps, seconds int, codecArgs ...string) string {
	t.Helper()
	bin := testkit.FFmpeg(t)
	dst := filepath.Join(t.TempDir(), name)
	args := []string{"-hide_banner", "-loglevel", "error", "-nostdin", "-y",
		"-f", "lavfi", "-i", "testsrc2=size=" + size + ":rate=" + strconv.Itoa(fps) + ":duration=" + strconv.Itoa(seconds)}
	args = append(args, codecArgs...)
	args = append(args, dst)
	if out, err := exec.Command(bin, args...).CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return dst
}

func TestProbeVideos(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name      string
		codec     []string
		codecName string
	}{
		{"clip.mp4", []string{"-c:v", "libx264", "-pix_fmt", "yuv420p", "-preset", "ultrafast"}, "h264"},
		// Matroska has no frame count: Frames comes from duration × fps.
		{"clip.mkv", []string{"-c:v", "mjpeg"}, "mjpeg"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := probeTestVideo(t, tc.name, "320x240", 10, 2, tc.codec...)
			info, err := Probe(ctx, "", path)
			if err != nil {
				t.Fatal(err)
			}
			want := VideoInfo{Duration: 2 * time.Second, FPS: 10, Frames: 20, Width: 320, Height: 240, Codec: tc.codecName}
			if info.Duration < 1900*time.Millisecond || info.Duration > 2100*time.Millisecond {
				t.Errorf("duration %v, want about 2s", info.Duration)
			}
			info.Duration = want.Duration
			if info != want {
				t.Errorf("got %+v, want %+v", info, want)
			}
		})
	}
}

func TestProbeFailures(t *testing.T) {
	ctx := context.Background()
	testkit.FFmpeg(t)
	dir := t.TempDir()
	corrupt := filepath.Join(dir, "corrupt.mp4")
	if err := os.WriteFile(corrupt, []byte(strings.Repeat("\x13\x37not a video", 100)), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Probe(ctx, "", corrupt); err == nil || !strings.Contains(err.Error(), "not a video") {
		t.Errorf("corrupt file: %v", err)
	}
	if _, err := Probe(ctx, "", filepath.Join(dir, "missing.mp4")); err == nil || !strings.Contains(err.Error(), "No such file") {
		t.Errorf("missing file: %v", err)
	}
	// A colon in the name is not a protocol.
	odd := filepath.Join(dir, "a:b.mp4")
	if err := os.Rename(probeTestVideo(t, "x.mp4", "64x48", 5, 1), odd); err != nil {
		t.Fatal(err)
	}
	if info, err := Probe(ctx, "", odd); err != nil || info.Width != 64 {
		t.Errorf("%s: %+v, %v", odd, info, err)
	}
	_, err := Probe(ctx, filepath.Join(dir, "no-ffprobe"), corrupt)
	if !errors.Is(err, ErrNoFFmpeg) || !strings.Contains(err.Error(), "apt-get install ffmpeg") {
		t.Errorf("missing ffprobe: %v", err)
	}
}

func TestParseProbe(t *testing.T) {
	for _, tc := range []struct {
		name, json string
		want       VideoInfo
		err        string
	}{
		{"ntsc rate, count from duration",
			`{"streams":[{"codec_type":"video","codec_name":"vp9","width":1920,"height":1080,"avg_frame_rate":"30000/1001","r_frame_rate":"30000/1001"}],"format":{"duration":"10.010000"}}`,
			VideoInfo{Duration: 10010 * time.Millisecond, FPS: 30000.0 / 1001, Frames: 300, Width: 1920, Height: 1080, Codec: "vp9"}, ""},
		{"audio and cover art first, N/A fields",
			`{"streams":[{"codec_type":"audio","codec_name":"aac"},{"codec_type":"video","codec_name":"png","width":10,"height":10,"disposition":{"attached_pic":1}},` +
				`{"codec_type":"video","codec_name":"h264","width":640,"height":480,"avg_frame_rate":"0/0","r_frame_rate":"25/1","duration":"N/A","nb_frames":"N/A"}],"format":{"duration":"2.0"}}`,
			VideoInfo{Duration: 2 * time.Second, FPS: 25, Frames: 50, Width: 640, Height: 480, Codec: "h264"}, ""},
		{"unknown duration", `{"streams":[{"codec_type":"video","codec_name":"h264","width":2,"height":2,"avg_frame_rate":"5/1"}],"format":{}}`,
			VideoInfo{FPS: 5, Width: 2, Height: 2, Codec: "h264"}, ""},
		{"no video", `{"streams":[{"codec_type":"audio"}],"format":{}}`, VideoInfo{}, "no video stream"},
		{"garbage", `{"streams":`, VideoInfo{}, "ffprobe output"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseProbe([]byte(tc.json))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("got %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}
