package cli

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/framecast/framecast/internal/frame"
	"github.com/framecast/framecast/internal/kafka"
	"github.com/framecast/framecast/internal/testkit"
)

// mjpegCamera serves an endless MJPEG stream (multipart/x-mixed-replace),
// like an IP camera: a frame every 40 ms, numbered by its gray level.
func mjpegCamera(t *testing.T) *httptest.Server {
	t.Helper()
	var frames [][]byte
	for i := range 8 {
		m := image.NewGray(image.Rect(0, 0, 160, 120))
		for p := range m.Pix {
			m.Pix[p] = uint8(30 * i)
		}
		m.SetGray(i, i, color.Gray{255})
		var buf bytes.Buffer
		if err := jpeg.Encode(&buf, m, nil); err != nil {
			t.Fatal(err)
		}
		frames = append(frames, buf.Bytes())
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "multipart/x-mixed-replace; boundary=frame")
		tick := time.NewTicker(40 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			f := frames[i%len(frames)]
			if _, err := fmt.Fprintf(w, "--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n", len(f)); err != nil {
				return
			}
			w.Write(f)
			w.Write([]byte("\r\n"))
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
				return
			case <-tick.C:
			}
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestPublishMixedSources publishes, in one process, a video file, an
// ffmpeg test source standing in for a webcam, an MJPEG IP camera and an
// RTSP camera that is down: the first three deliver, in order per camera,
// while the dead one is retried and reported, never stopping the others.
func TestPublishMixedSources(t *testing.T) {
	c := pubCluster(t)
	video := testkit.Video(t, filepath.Join(t.TempDir(), "clip.mp4"), testkit.VideoConfig{Width: 320, Height: 240, FPS: 10, Seconds: 2})
	cam := mjpegCamera(t)
	dead := testkit.FreeAddr(t) // nothing listens there
	env, logs := pubEnv()
	pub := testkit.Go(t, func(ctx context.Context) error {
		return runPublish(ctx, env, []string{"--brokers", c.Addr, "--stats-interval", "100ms",
			"--source", "file=" + video,
			"--source", "webcam=lavfi:testsrc2=size=160x120:rate=10",
			"--source", "ipcam=" + cam.URL + "/video.mjpg",
			"--source", "gate=rtsp://" + dead + "/stream1",
		})
	})
	// The file's 20 frames, and frames from the two live cameras, while
	// the dead camera keeps failing.
	counts := map[string]int{}
	seqs := map[string][]int64{}
	cl := c.Client(t, kgo.ConsumeTopics(kafka.DefaultFramesTopic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	deadline := time.Now().Add(60 * time.Second)
	for counts["file"] < 20 || counts["webcam"] < 10 || counts["ipcam"] < 10 || failures(t, logs, "gate") < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("after 60 s: frames %v, gate failures %d\n%s", counts, failures(t, logs, "gate"), logs.String())
		}
		pctx, pcancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		fs := cl.PollFetches(pctx)
		pcancel()
		fs.EachRecord(func(r *kgo.Record) {
			m, err := frame.DecodeMeta(r)
			if err != nil {
				t.Errorf("record of %s: %v", r.Key, err)
				return
			}
			id := string(r.Key)
			counts[id]++
			seqs[id] = append(seqs[id], m.Seq)
			if id == "file" && (m.Width != 320 || m.Height != 240) {
				t.Errorf("file frame %d is %dx%d, want 320x240", m.Seq, m.Width, m.Height)
			}
			if id == "ipcam" && (m.Width != 160 || m.Height != 120) {
				t.Errorf("ipcam frame %d is %dx%d", m.Seq, m.Width, m.Height)
			}
		})
	}
	for id, s := range seqs {
		for i, q := range s {
			if q != int64(i) {
				t.Fatalf("camera %s: sequence numbers %v, want 0, 1, 2, …", id, s)
			}
		}
	}
	if counts["file"] != 20 {
		t.Errorf("the 2 s 10 fps file gave %d frames, want 20", counts["file"])
	}
	if counts["gate"] != 0 {
		t.Errorf("the dead camera published %d frames", counts["gate"])
	}
	// The file ends cleanly after its last frame; the live cameras go on,
	// the dead one is still retried, and the stats lines tell them apart.
	reported := func() bool {
		for _, l := range logs.lines(t, "publish stats") {
			if l["sources_ended"] == "file" && l["sources_down"] == "gate" && l["sources_up"] == float64(2) {
				return true
			}
		}
		return false
	}
	for len(logs.lines(t, "source ended")) == 0 || !reported() {
		if time.Now().After(deadline) {
			t.Fatalf("no stats line with file ended, gate down and 2 up:\n%s", logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := pub.Stop(20 * time.Second); err != nil {
		t.Fatalf("publish: %v", err)
	}
	if ended := logs.lines(t, "source ended"); len(ended) != 1 || ended[0]["camera"] != "file" {
		t.Errorf("want exactly the file to end: %v", ended)
	}
}

// failures counts the logged connection failures of a camera.
func failures(t *testing.T, logs *pubLog, camera string) int {
	n := 0
	for _, l := range logs.lines(t, "source failed; reconnecting") {
		if l["camera"] == camera {
			n++
		}
	}
	return n
}
