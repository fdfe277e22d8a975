package source

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"io"
	"log/slog"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/framecast/framecast/internal/imagex"
)

// Encoder writes a video file from raw frames through an ffmpeg child:
// frames go to ffmpeg's stdin as rgb24, ffmpeg encodes them with H.264
// (libx264, or MPEG-4 part 2 when ffmpeg lacks libx264; VP9 or VP8 for
// .webm) at a constant frame rate. Frames must all have the size given
// to NewEncoder. An Encoder is used by one goroutine.
type Encoder struct {
	dst    string
	w, h   int
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stderr *encoderStderr
	log    *slog.Logger
	buf    []byte // rgb24 conversion buffer for Write
	frames int64

	done    chan struct{} // closed when ffmpeg has exited
	waitErr error         // ffmpeg's exit; read after done
	closed  bool
	err     error // Close's result, returned again by later calls
}

// encoderWaitDelay bounds how long Close waits for ffmpeg's pipes after
// it exited (a grandchild holding them open must not hang the caller).
const encoderWaitDelay = 5 * time.Second

// NewEncoder starts ffmpeg (an executable path or a name looked up in
// PATH; "" means "ffmpeg") writing dst, which it overwrites, with frames
// of width×height at fps frames per second. The container follows dst's
// extension (.mp4, .mkv, .mov, .webm, …). Odd sizes are padded by one
// pixel, as 4:2:0 video needs even ones. A missing ffmpeg is an error
// wrapping ErrNoFFmpeg. Cancelling ctx kills ffmpeg; log receives what
// ffmpeg said when it succeeded anyway (nil: discarded).
func NewEncoder(ctx context.Context, ffmpeg, dst string, width, height int, fps float64, log *slog.Logger) (*Encoder, error) {
	if width <= 0 || height <= 0 {
		return nil, fmt.Errorf("encode %s: frame size %d×%d: must be positive", dst, width, height)
	}
	if !(fps > 0) || fps > 1000 {
		return nil, fmt.Errorf("encode %s: frame rate %v: must be above 0 and at most 1000", dst, fps)
	}
	if ffmpeg == "" {
		ffmpeg = "ffmpeg"
	}
	bin, err := exec.LookPath(ffmpeg)
	if err != nil {
		return nil, fmt.Errorf("%w: %q: %s", ErrNoFFmpeg, ffmpeg, probeInstallHint)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	codec, err := encoderCodec(ctx, bin, strings.ToLower(filepath.Ext(dst)))
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", dst, err)
	}
	target := dst
	if !strings.Contains(dst, "://") {
		// Without the protocol "a:b.mp4" would name protocol "a".
		target = "file:" + dst
	}
	args := []string{"-hide_banner", "-loglevel", "error", "-nostats", "-y",
		"-f", "rawvideo", "-pix_fmt", "rgb24", "-s", fmt.Sprintf("%dx%d", width, height),
		"-r", strconv.FormatFloat(fps, 'f', -1, 64), "-i", "pipe:0",
		"-an", "-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2"}
	args = append(args, codec...)
	args = append(args, target)
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.WaitDelay = encoderWaitDelay
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	e := &Encoder{dst: dst, w: width, h: height, cmd: cmd, stdin: stdin,
		stderr: &encoderStderr{max: 4 << 10}, log: log, done: make(chan struct{})}
	cmd.Stderr = e.stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("encode %s: start ffmpeg: %w", dst, err)
	}
	log.Debug("encoding video", "file", dst, "size", fmt.Sprintf("%dx%d", width, height), "fps", fps, "codec", codec[1])
	go func() {
		e.waitErr = cmd.Wait()
		close(e.done)
	}()
	return e, nil
}

// encoderCodecs caches, per ffmpeg executable, whether it has libx264,
// libvpx-vp9 and libvpx.
var encoderCodecs sync.Map // path → map[string]bool

// encoderCodec returns the -c:v arguments for a container.
func encoderCodec(ctx context.Context, bin, ext string) ([]string, error) {
	have, ok := encoderCodecs.Load(bin)
	if !ok {
		out, err := exec.CommandContext(ctx, bin, "-hide_banner", "-encoders").Output()
		if err != nil {
			return nil, fmt.Errorf("list ffmpeg's encoders: %w", err)
		}
		m := map[string]bool{}
		sc := bufio.NewScanner(bytes.NewReader(out))
		for sc.Scan() {
			// " V....D libx264  libx264 H.264 / AVC …"
			if f := strings.Fields(sc.Text()); len(f) >= 2 && strings.HasPrefix(f[0], "V") {
				m[f[1]] = true
			}
		}
		have, _ = encoderCodecs.LoadOrStore(bin, m)
	}
	m := have.(map[string]bool)
	switch {
	case ext == ".webm" && m["libvpx-vp9"]:
		return []string{"-c:v", "libvpx-vp9", "-pix_fmt", "yuv420p", "-deadline", "realtime", "-cpu-used", "8", "-b:v", "0", "-crf", "33"}, nil
	case ext == ".webm" && m["libvpx"]:
		return []string{"-c:v", "libvpx", "-pix_fmt", "yuv420p", "-deadline", "realtime", "-b:v", "2M"}, nil
	case ext == ".webm":
		return nil, errors.New("this ffmpeg cannot write WebM (no libvpx); write .mp4 or .mkv instead")
	case m["libx264"]:
		return []string{"-c:v", "libx264", "-pix_fmt", "yuv420p", "-preset", "veryfast", "-movflags", "+faststart"}, nil
	}
	return []string{"-c:v", "mpeg4", "-pix_fmt", "yuv420p", "-q:v", "3", "-movflags", "+faststart"}, nil
}

// Size is the frame size the encoder expects.
func (e *Encoder) Size() (width, height int) { return e.w, e.h }

// Frames is how many frames were written.
func (e *Encoder) Frames() int64 { return e.frames }

// WriteRGB encodes one frame.
func (e *Encoder) WriteRGB(img *imagex.RGB) error {
	if img.W != e.w || img.H != e.h {
		return fmt.Errorf("encode %s: frame is %d×%d, the video is %d×%d", e.dst, img.W, img.H, e.w, e.h)
	}
	return e.write(img.Pix[:e.w*e.h*3])
}

// Write encodes one frame of any image type, converting it to RGB.
func (e *Encoder) Write(img image.Image) error {
	b := img.Bounds()
	if b.Dx() != e.w || b.Dy() != e.h {
		return fmt.Errorf("encode %s: frame is %d×%d, the video is %d×%d", e.dst, b.Dx(), b.Dy(), e.w, e.h)
	}
	e.buf = e.buf[:0]
	if m, ok := img.(*image.RGBA); ok {
		for y := b.Min.Y; y < b.Max.Y; y++ {
			row := m.Pix[m.PixOffset(b.Min.X, y):]
			for x := 0; x < e.w; x++ {
				e.buf = append(e.buf, row[4*x], row[4*x+1], row[4*x+2])
			}
		}
	} else {
		for y := b.Min.Y; y < b.Max.Y; y++ {
			for x := b.Min.X; x < b.Max.X; x++ {
				c := color.RGBAModel.Convert(img.At(x, y)).(color.RGBA)
				e.buf = append(e.buf, c.R, c.G, c.B)
			}
		}
	}
	return e.write(e.buf)
}

func (e *Encoder) write(pix []byte) error {
	if e.closed {
		return fmt.Errorf("encode %s: encoder is closed", e.dst)
	}
	if _, err := e.stdin.Write(pix); err != nil {
		// ffmpeg is gone (bad output path, full disk, killed): its own
		// words say why better than EPIPE does.
		e.stdin.Close()
		<-e.done
		return e.failure(err)
	}
	e.frames++
	return nil
}

// Close ends the video, waits for ffmpeg to finish the file and returns
// its failure, with the last lines ffmpeg printed. Calling Close again
// returns the same result.
func (e *Encoder) Close() error {
	if e.closed {
		return e.err
	}
	e.closed = true
	e.stdin.Close()
	<-e.done
	if e.waitErr != nil {
		e.err = e.failure(e.waitErr)
		return e.err
	}
	if said := e.stderr.String(); said != "" {
		e.log.Debug("ffmpeg", "file", e.dst, "said", lastStderrLines(said, 5))
	}
	return nil
}

func (e *Encoder) failure(err error) error {
	if e.waitErr != nil {
		err = e.waitErr
	}
	if said := lastStderrLines(e.stderr.String(), 5); said != "" {
		return fmt.Errorf("encode %s: ffmpeg failed (%v): %s", e.dst, err, said)
	}
	return fmt.Errorf("encode %s: ffmpeg failed: %w", e.dst, err)
}

// encoderStderr keeps the last max bytes written to it.
type encoderStderr struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *encoderStderr) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if over := len(t.b) - t.max; over > 0 {
		t.b = append(t.b[:0], t.b[over:]...)
	}
	return len(p), nil
}

func (t *encoderStderr) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}
