package e2e

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/framecast/framecast/internal/testkit"
)

// TestVideoAndWebcamSources runs the README's camera commands with the
// real binary: a video file (played at its rate, ending by itself) and an
// ffmpeg test source standing in for a webcam, through a worker, to
// results with faces.
func TestVideoAndWebcamSources(t *testing.T) {
	ffmpeg, err := exec.LookPath("ffmpeg")
	if err != nil {
		t.Fatal("ffmpeg is required (apt-get install ffmpeg)")
	}
	video := filepath.Join(t.TempDir(), "entrance.mp4")
	if err := testkit.MakeVideo(ffmpeg, video, testkit.VideoConfig{Width: 320, Height: 240, FPS: 10, Seconds: 2}); err != nil {
		t.Fatal(err)
	}
	_, addr := broker(t, t.TempDir())
	start(t, "process", "process", "--brokers", addr)
	pub := start(t, "publish", "publish", "--brokers", addr, "--count", "20",
		"--source", "replay="+video, "--source", "desk=lavfi:testsrc2=size=320x240:rate=10")
	if code := pub.wait(t, 60*time.Second); code != 0 {
		t.Fatalf("publish exit %d", code)
	}
	seen, res := countResults(t, addr, 40, 90*time.Second)
	if len(seen) != 40 {
		t.Fatalf("%d distinct results, want 40 (20 per camera)", len(seen))
	}
	faces := 0
	for _, r := range res {
		if r.Camera == "replay" {
			faces += len(r.Faces)
		}
	}
	if faces < 20 {
		t.Errorf("%d faces in the 20 frames of the video made from the sample photos; want at least one per frame", faces)
	}
	for _, l := range jsonLines(pub.Stderr()) {
		if l["msg"] == "publish finished" && l["acked"] != float64(40) {
			t.Errorf("publish finished with %v", l)
		}
	}
}

// TestSIGKILLLeavesNoFFmpeg kills a publisher with SIGKILL while its
// ffmpeg child waits on a camera that accepted the connection and sends
// nothing: the child must end with its parent rather than hold the camera
// until its own 60 s timeout (it never writes, so no broken pipe would
// stop it).
func TestSIGKILLLeavesNoFFmpeg(t *testing.T) {
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		t.Fatal("ffmpeg is required (apt-get install ffmpeg)")
	}
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	go func() {
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			defer c.Close() // held open, never written to
		}
	}()
	_, addr := broker(t, t.TempDir())
	pub := start(t, "publish", "publish", "--brokers", addr,
		"--source", "frozen=tcp://"+silent.Addr().String()+"#stall=60s")
	var child int
	eventually(t, 30*time.Second, "the publisher's ffmpeg child", func() bool {
		child = ffmpegChild(pub.cmd.Process.Pid)
		return child > 0
	})
	pub.kill(syscall.SIGKILL)
	pub.wait(t, 10*time.Second)
	eventually(t, 5*time.Second, fmt.Sprintf("ffmpeg %d to end with its parent", child), func() bool {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", child))
		// Gone, or a zombie waiting for its new parent to reap it.
		return err != nil || strings.Contains(string(b), ") Z ")
	})
}

// ffmpegChild returns the pid of the ffmpeg reading a camera for pid, or 0.
func ffmpegChild(pid int) int {
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	for _, f := range tasks {
		b, _ := os.ReadFile(f)
		for _, c := range strings.Fields(string(b)) {
			n, _ := strconv.Atoi(c)
			// The reading ffmpeg, not the short-lived `ffmpeg -version`
			// run once to learn its options.
			cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", n))
			if strings.Contains(string(cmdline), "ffmpeg") && strings.Contains(string(cmdline), "image2pipe") {
				return n
			}
		}
	}
	return 0
}
