package testkit

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// videoNeeds returns ffmpeg's path and checks the sample photos are
// there.
func videoNeeds(t *testing.T) string {
	t.Helper()
	RequireSamples(t)
	return FFmpeg(t)
}

// frameHashes returns the MD5 of every decoded frame, in order.
func frameHashes(t *testing.T, ffmpeg, path string) []string {
	t.Helper()
	out, err := exec.Command(ffmpeg, "-hide_banner", "-loglevel", "error", "-i", path, "-f", "framemd5", "-").Output()
	if err != nil {
		t.Fatalf("decode %s: %v", path, err)
	}
	var sums []string
	for _, l := range strings.Split(string(out), "\n") {
		if f := strings.Split(l, ","); len(f) == 6 && !strings.HasPrefix(l, "#") {
			sums = append(sums, strings.TrimSpace(f[5]))
		}
	}
	return sums
}

func TestMakeVideo(t *testing.T) {
	ffmpeg := videoNeeds(t)
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.mp4"), filepath.Join(dir, "b.mp4")
	opt := VideoConfig{Width: 640, Height: 480, FPS: 10, Seconds: 2}
	for _, p := range []string{a, b} {
		if err := MakeVideo("", p, opt); err != nil {
			t.Fatal(err)
		}
	}
	out, err := exec.Command("ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0",
		"-show_entries", "stream=codec_name,pix_fmt,width,height,nb_read_frames,avg_frame_rate", "-of", "csv=p=0", a).Output()
	if err != nil {
		t.Fatalf("ffprobe: %v", err)
	}
	if got, want := strings.TrimSpace(string(out)), "h264,640,480,yuv420p,10/1,20"; got != want {
		t.Errorf("ffprobe: %s, want %s (codec,width,height,pix_fmt,fps,frames)", got, want)
	}
	x, _ := os.ReadFile(a)
	y, _ := os.ReadFile(b)
	if !bytes.Equal(x, y) {
		t.Error("two renderings differ: MakeVideo is not deterministic")
	}
	// The camera moves: no two frames are the same picture.
	sums := frameHashes(t, ffmpeg, a)
	seen := map[string]int{}
	for i, s := range sums {
		if j, ok := seen[s]; ok {
			t.Errorf("frames %d and %d are identical: the faces do not move", j, i)
		}
		seen[s] = i
	}
	// Nothing but the video is left in the directory.
	if ents, _ := os.ReadDir(dir); len(ents) != 2 {
		t.Errorf("%d files in the output directory, want 2 (temporary files left?)", len(ents))
	}
}

// Other sizes, a fractional rate, another container and one photo.
func TestMakeVideoOptions(t *testing.T) {
	videoNeeds(t)
	dir := t.TempDir()
	p := filepath.Join(dir, "v.mkv")
	one := filepath.Join(RequireSamples(t).Samples(), "sample3.jpg")
	if err := MakeVideo("ffmpeg", p, VideoConfig{Width: 320, Height: 240, FPS: 2.5, Seconds: 2, Samples: []string{one}}); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0",
		"-show_entries", "stream=width,height,nb_read_frames", "-of", "csv=p=0", p).Output()
	if err != nil {
		t.Fatalf("ffprobe: %v", err)
	}
	if got, want := strings.TrimSpace(string(out)), "320,240,5"; got != want {
		t.Errorf("ffprobe: %s, want %s (width,height,frames)", got, want)
	}
}

func TestMakeVideoErrors(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name, ffmpeg string
		opt          VideoConfig
		want         string
	}{
		{"no ffmpeg", filepath.Join(dir, "no-ffmpeg"), VideoConfig{Samples: []string{"x.jpg"}}, "apt-get install ffmpeg"},
		{"odd size", "", VideoConfig{Width: 641, Height: 480, Samples: []string{"x.jpg"}}, "even numbers"},
		{"bad rate", "", VideoConfig{FPS: -1, Samples: []string{"x.jpg"}}, "frame rate"},
		{"missing photo", "", VideoConfig{Samples: []string{filepath.Join(dir, "nope.jpg")}}, "framecast models fetch"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := MakeVideo(tt.ffmpeg, filepath.Join(dir, "v.mp4"), tt.opt)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want an error mentioning %q", err, tt.want)
			}
		})
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("failed calls left %d files behind", len(ents))
	}
}
