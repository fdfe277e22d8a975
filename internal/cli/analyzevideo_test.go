package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/framecast/framecast/internal/frame"
	"github.com/framecast/framecast/internal/offline"
	"github.com/framecast/framecast/internal/source"
	"github.com/framecast/framecast/internal/testkit"
)

// videoTestClip makes a 3 s, 10 fps, 640×480 video of the sample photos
// with moving faces: 30 frames. The tests analyse it, so they are skipped
// without the models.
func videoTestClip(t *testing.T, dir string) string {
	t.Helper()
	testkit.RequireModels(t)
	return testkit.Video(t, filepath.Join(dir, "clip.mp4"), testkit.VideoConfig{Width: 640, Height: 480, FPS: 10, Seconds: 3})
}

// videoResults parses and validates JSON lines.
func videoResults(t *testing.T, out string) []frame.Result {
	t.Helper()
	var rs []frame.Result
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if err := frame.Validate(sc.Bytes()); err != nil {
			t.Fatalf("output does not match the schema: %v\n%s", err, sc.Text())
		}
		var r frame.Result
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatal(err)
		}
		rs = append(rs, r)
	}
	return rs
}

func TestAnalyzeVideo(t *testing.T) {
	dir := t.TempDir()
	video := videoTestClip(t, dir)

	t.Run("json every 5 with an image", func(t *testing.T) {
		code, out, errs := runCLI(t, nil, "analyze", "--json", "--every", "5", frame640(t), video)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errs)
		}
		rs := videoResults(t, out)
		if len(rs) != 1+6 {
			t.Fatalf("%d results, want 1 image + 6 frames:\n%s", len(rs), out)
		}
		if rs[0].Camera != "frame-640x480.jpg" || rs[0].Seq != 0 {
			t.Errorf("image result first: %+v", rs[0])
		}
		for i, r := range rs[1:] {
			if r.Camera != "clip.mp4" || r.Seq != int64(5*i) || r.Frame.Source != video || r.Frame.Width != 640 || r.Frame.Height != 480 {
				t.Errorf("frame %d: camera %q seq %d source %q %d×%d", i, r.Camera, r.Seq, r.Frame.Source, r.Frame.Width, r.Frame.Height)
			}
			// The camera pans across the photos: some faces leave the
			// frame, but never all.
			if len(r.Faces) == 0 {
				t.Errorf("frame %d: no face", r.Seq)
			}
			if time.Since(r.CapturedAt) > time.Minute || r.ProcessedAt.Before(r.CapturedAt) {
				t.Errorf("frame %d: captured %v, processed %v: want analysis times", r.Seq, r.CapturedAt, r.ProcessedAt)
			}
		}
		// Off a terminal: no progress bar, a line at the end instead.
		if strings.Contains(errs, "\r") || !strings.Contains(errs, "video analysed") {
			t.Errorf("stderr:\n%s", errs)
		}
	})

	// The video is one camera: faces are followed between detector runs
	// and keep their track ids; an image is analysed in full, untracked.
	t.Run("detect every 3", func(t *testing.T) {
		code, out, errs := runCLI(t, nil, "analyze", "--json", "--detect-every", "3", frame640(t), video)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errs)
		}
		rs := videoResults(t, out)
		if len(rs) != 1+30 {
			t.Fatalf("%d results, want 1 image + 30 frames", len(rs))
		}
		if rs[0].Analysis != "" || len(rs[0].Faces) == 0 || rs[0].Faces[0].TrackID != 0 {
			t.Errorf("image: analysis %q, faces %+v", rs[0].Analysis, rs[0].Faces)
		}
		kinds := map[string]int{}
		for _, r := range rs[1:] {
			kinds[r.Analysis]++
			for _, f := range r.Faces {
				if f.TrackID < 1 || (f.Source != "detected" && f.Source != "tracked") {
					t.Fatalf("frame %d: face %+v", r.Seq, f)
				}
			}
		}
		if rs[1].Analysis != "full" || kinds["tracked"] < 10 || kinds["full"] < 10 || kinds["full"]+kinds["tracked"] != 30 {
			t.Errorf("analyses %v, first %q: want full on the first frame and then about one in three", kinds, rs[1].Analysis)
		}
	})

	t.Run("fps 2", func(t *testing.T) {
		code, out, errs := runCLI(t, nil, "analyze", "--json", "--fps", "2", video)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errs)
		}
		rs := videoResults(t, out)
		if len(rs) != 6 {
			t.Fatalf("%d results, want 6 (3 s at 2 frames per second)", len(rs))
		}
		if rs[1].Seq != 5 {
			t.Errorf("second frame is frame %d of the video, want 5", rs[1].Seq)
		}
	})

	// 3 fps does not divide 10: the source keeps the first frame of each
	// third of a second, and seq still names that frame.
	t.Run("fps 3", func(t *testing.T) {
		code, out, errs := runCLI(t, nil, "analyze", "--json", "--fps", "3", video)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errs)
		}
		var seqs []string
		for _, r := range videoResults(t, out) {
			seqs = append(seqs, strconv.FormatInt(r.Seq, 10))
		}
		if got, want := strings.Join(seqs, " "), "0 4 7 10 14 17 20 24 27"; got != want {
			t.Errorf("seqs %s, want %s", got, want)
		}
	})

	t.Run("summary, annotated video and report", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "annotated.mp4")
		html := filepath.Join(t.TempDir(), "report.html")
		code, stdout, errs := runCLI(t, nil, "analyze", "--every", "3", "--annotate", out, "--report", html, video)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errs)
		}
		for _, want := range []string{video, "640×480", "frames analysed", "10 of 30 (every 3rd frame)", "frames with faces  10 (100%)", "dominant emotion", "frames/s"} {
			if !strings.Contains(stdout, want) {
				t.Errorf("summary lacks %q:\n%s", want, stdout)
			}
		}
		info, err := source.Probe(context.Background(), "", out)
		if err != nil {
			t.Fatal(err)
		}
		if info.Frames != 10 || info.Width != 640 || info.Height != 480 || info.FPS < 3.3 || info.FPS > 3.4 {
			t.Errorf("annotated video: %+v, want 10 frames of 640×480 at 10/3 fps", info)
		}
		b, err := os.ReadFile(html)
		if err != nil {
			t.Fatal(err)
		}
		doc := string(b)
		for _, want := range []string{"clip.mp4", "Emotions over time", "Faces per frame", "<svg", "<path", "data:image/jpeg;base64,", "most faces"} {
			if !strings.Contains(doc, want) {
				t.Errorf("report lacks %q", want)
			}
		}
		if m := regexp.MustCompile(`(?i)https?://`).FindString(doc); m != "" {
			t.Errorf("report refers to %q: it must open offline", m)
		}
	})

	t.Run("corrupt video next to an image", func(t *testing.T) {
		bad := filepath.Join(t.TempDir(), "broken.mp4")
		junk := make([]byte, 64<<10)
		for i := range junk {
			junk[i] = byte(rand.N(256))
		}
		if err := os.WriteFile(bad, junk, 0o644); err != nil {
			t.Fatal(err)
		}
		code, out, errs := runCLI(t, nil, "analyze", "--json", bad, frame640(t))
		if code != 1 {
			t.Errorf("exit %d, want 1", code)
		}
		if rs := videoResults(t, out); len(rs) != 1 || rs[0].Camera != "frame-640x480.jpg" {
			t.Errorf("the image must still be analysed, stdout:\n%s", out)
		}
		if !strings.Contains(errs, bad+": not a video") || !strings.Contains(errs, "1 of 2 files could not be analysed") {
			t.Errorf("stderr:\n%s", errs)
		}
	})
}

// fakeVideo stands in for the ffmpeg source: n frames of the sample
// image, then either err or, with stuck, a supervisor that failed and
// keeps reconnecting (Next blocks, Status reports the failure).
type fakeVideo struct {
	jpeg  []byte
	n     int64
	err   error
	stuck bool
	sent  atomic.Int64
}

func (f *fakeVideo) Next(ctx context.Context) (source.Frame, error) {
	if f.sent.Load() < f.n {
		f.sent.Add(1)
		return source.Frame{JPEG: f.jpeg, Width: 640, Height: 480, CapturedAt: time.Now()}, nil
	}
	if f.stuck {
		<-ctx.Done()
		return source.Frame{}, ctx.Err()
	}
	return source.Frame{}, f.err
}

func (f *fakeVideo) Close() error { return nil }

func (f *fakeVideo) Status() source.Status {
	if f.stuck && f.sent.Load() >= f.n {
		return source.Status{Connects: 1, Failures: 1, LastError: "ffmpeg: exit status 1: Invalid NAL unit size"}
	}
	return source.Status{Connects: 1, Up: true}
}

// TestAnalyzeVideoSourceFails: a video whose decoding fails part-way
// keeps the results so far and fails with the source's reason, also when
// the source would rather reconnect (as it does for cameras).
func TestAnalyzeVideoSourceFails(t *testing.T) {
	video := videoTestClip(t, t.TempDir())
	jpg, err := os.ReadFile(frame640(t))
	if err != nil {
		t.Fatal(err)
	}
	defer func(open func(string, source.VideoInfo, source.Config) (source.Source, error)) {
		offline.OpenVideoSource = open
	}(offline.OpenVideoSource)
	for _, fake := range []*fakeVideo{
		{jpeg: jpg, n: 3, err: errors.New("ffmpeg: exit status 1: Invalid NAL unit size")},
		{jpeg: jpg, n: 3, stuck: true},
	} {
		offline.OpenVideoSource = func(string, source.VideoInfo, source.Config) (source.Source, error) { return fake, nil }
		start := time.Now()
		code, out, errs := runCLI(t, nil, "analyze", "--json", video)
		if code != 1 || len(videoResults(t, out)) != 3 {
			t.Errorf("stuck %v: exit %d, %d results; want 1 and the 3 frames before the failure", fake.stuck, code, len(videoResults(t, out)))
		}
		if !strings.Contains(errs, "after 3 frames") || !strings.Contains(errs, "Invalid NAL unit size") {
			t.Errorf("stuck %v: stderr:\n%s", fake.stuck, errs)
		}
		if time.Since(start) > 20*time.Second {
			t.Errorf("stuck %v: took %v", fake.stuck, time.Since(start))
		}
	}
}

func TestAnalyzeVideoUsage(t *testing.T) {
	dir := t.TempDir()
	a, b, photo := filepath.Join(dir, "a.mp4"), filepath.Join(dir, "b.mkv"), filepath.Join(dir, "photo.jpg")
	for _, p := range []string{a, b, photo} {
		if err := os.WriteFile(p, []byte("not read: the flags are wrong"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--every", "5", "--fps", "2", a}, "give one of them"},
		{[]string{"--every", "0", a}, "--every 0: must be 1 or more"},
		{[]string{"--every", "x", a}, "want a whole number"},
		{[]string{"--fps", "0", a}, "--fps 0: must be above 0"},
		{[]string{"--fps", "-3", a}, "--fps -3"},
		{[]string{"--annotate", filepath.Join(dir, "out.mp4"), a, b}, "annotate one video at a time, or give a directory"},
		{[]string{"--report", filepath.Join(dir, "r.html"), photo}, "no video is among the inputs"},
		{[]string{"--report", filepath.Join(dir, "missing", "r.html"), a}, "does not exist"},
	} {
		code, _, errs := runCLI(t, nil, append([]string{"analyze"}, tc.args...)...)
		if code != 2 || !strings.Contains(errs, tc.want) {
			t.Errorf("analyze %s: exit %d, stderr %q; want 2 and %q", strings.Join(tc.args, " "), code, errs, tc.want)
		}
	}
	code, _, errs := runCLI(t, nil, "analyze", "--ffmpeg", filepath.Join(dir, "no-ffmpeg"), a)
	if code != 1 || !strings.Contains(errs, "apt-get install ffmpeg") {
		t.Errorf("missing ffmpeg: exit %d, stderr %q", code, errs)
	}
}

// analyze probes each video once: for its report and to read it. The
// ffprobe used is the one beside --ffmpeg.
func TestAnalyzeVideoProbesOnce(t *testing.T) {
	dir := t.TempDir()
	video := videoTestClip(t, dir)
	probe, err := exec.LookPath("ffprobe")
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "bin")
	count := filepath.Join(dir, "probes")
	for name, script := range map[string]string{
		"ffmpeg":  "#!/bin/sh\nexec " + testkit.FFmpeg(t) + " \"$@\"\n",
		"ffprobe": "#!/bin/sh\necho >> " + count + "\nexec " + probe + " \"$@\"\n",
	} {
		if err := os.MkdirAll(bin, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(bin, name), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	code, out, errs := runCLI(t, nil, "analyze", "--json", "--every", "10", "--ffmpeg", filepath.Join(bin, "ffmpeg"), video)
	if code != 0 || len(videoResults(t, out)) != 3 {
		t.Fatalf("exit %d, %d results: %s", code, len(videoResults(t, out)), errs)
	}
	if b, _ := os.ReadFile(count); len(b) != 1 {
		t.Errorf("ffprobe ran %d times for one video, want once", len(b))
	}
}
