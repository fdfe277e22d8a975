package view

import (
	"context"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// chromiumPath is Debian's chromium (apt-get install chromium), or
// $FRAMECAST_CHROMIUM; the browser tests fail, not skip, without it.
var chromiumPath = func() string {
	if p := os.Getenv("FRAMECAST_CHROMIUM"); p != "" {
		return p
	}
	return "/usr/bin/chromium"
}()

// newBrowser starts headless chromium for one test and stops it (by PID,
// checked) at the end.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Fatalf("the dashboard's browser tests drive Debian's chromium at %s: install it with `apt-get install chromium` (%v)", chromiumPath, err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath),
		chromedp.NoSandbox, // CI runs as root
		chromedp.DisableGPU,
		chromedp.WindowSize(1280, 1000),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("mute-audio", true),
	)
	actx, acancel := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	if err := chromedp.Do(ctx); err != nil { // starts the browser
		cancel()
		acancel()
		t.Fatalf("starting %s: %v", chromiumPath, err)
	}
	pid := 0
	if p := chromedp.FromContext(ctx).Browser.Process(); p != nil {
		pid = p.Pid
	}
	t.Cleanup(func() {
		cancel()
		acancel()
		if pid == 0 {
			return
		}
		// chromedp kills and reaps its browser; make sure of it.
		deadline := time.Now().Add(10 * time.Second)
		for syscall.Kill(pid, 0) == nil {
			if time.Now().After(deadline) {
				syscall.Kill(pid, syscall.SIGKILL)
				t.Errorf("chromium (pid %d) was still running; killed", pid)
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
	return ctx
}

// pageState is window.__framecast, what the page shows.
type pageState struct {
	Connected   bool               `json:"connected"`
	Connections int                `json:"connections"`
	Messages    int                `json:"messages"`
	Frames      int                `json:"frames"`
	Results     int                `json:"results"`
	Paused      bool               `json:"paused"`
	Mode        string             `json:"mode"`
	Overlays    bool               `json:"overlays"`
	Cams        map[string]pageCam `json:"cams"`
	Charts      struct {
		Draws        int `json:"draws"`
		Stats        int `json:"stats"`
		Points       int `json:"points"`
		EmotionTotal int `json:"emotionTotal"`
	} `json:"charts"`
}

type pageCam struct {
	FrameSeq      int64     `json:"frameSeq"`
	FrameCaptured float64   `json:"frameCaptured"`
	FramesShown   int       `json:"framesShown"`
	DrawnSeq      int64     `json:"drawnSeq"`
	DrawnCaptured float64   `json:"drawnCaptured"`
	Boxes         []pageBox `json:"boxes"`
	Overlay       bool      `json:"overlay"`
	Width         int       `json:"width"`
	Height        int       `json:"height"`
	FPS           float64   `json:"fps"`
	Mode          string    `json:"mode"`    // the mode the frame on screen was drawn in
	Played        bool      `json:"played"`  // a played frame (matched mode)
	Matched       bool      `json:"matched"` // drawn with its own result
	DelayMS       float64   `json:"delayMs"`
	Faces         int       `json:"faces"` // in the result the frame is drawn with
	Stalled       bool      `json:"stalled"`
}

type pageBox struct {
	X, Y, W, H float64
	Emotion    string `json:"emotion"`
	Label      string `json:"label"`
}

// state reads window.__framecast. Boxes and sequence numbers are read in
// one evaluation, so they belong together.
func state(t *testing.T, ctx context.Context) pageState {
	t.Helper()
	st, err := chromedp.Run(ctx, chromedp.Evaluate[pageState](`window.__framecast || {}`))
	if err != nil {
		t.Fatalf("reading the page state: %v", err)
	}
	return st
}

func evalInt(t *testing.T, ctx context.Context, expr string) int {
	t.Helper()
	n, err := chromedp.Run(ctx, chromedp.Evaluate[int](expr))
	if err != nil {
		t.Fatalf("%s: %v", expr, err)
	}
	return n
}

func navigate(t *testing.T, ctx context.Context, url string) {
	t.Helper()
	if err := chromedp.Do(ctx, chromedp.Navigate(url)); err != nil {
		t.Fatalf("navigating to %s: %v", url, err)
	}
}

func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	path := artifactDir(t) + "/" + name
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
}
