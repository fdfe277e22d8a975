package source

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/framecast/framecast/internal/ratelog"
)

// ffmpegInstallHint is what a user without ffmpeg should do.
const ffmpegInstallHint = "install ffmpeg (Debian/Ubuntu: sudo apt-get install ffmpeg; macOS: brew install ffmpeg) or give its path with --ffmpeg PATH"

// Timings of an ffmpeg stream.
const (
	// ffmpegTermGrace is how long Close lets ffmpeg exit after SIGTERM
	// before it is killed.
	ffmpegTermGrace = 2 * time.Second
	// ffmpegExitWait is how long Next waits for ffmpeg to exit after it
	// closed its output, before killing it: a process that closed stdout
	// is on its way out, but must not hang the caller.
	ffmpegExitWait = 5 * time.Second
	// ffmpegStderrWait bounds the wait for ffmpeg's last stderr lines
	// after it exited (a grandchild could hold the pipe open).
	ffmpegStderrWait = time.Second
	// ffmpegTailLines is how many of ffmpeg's last stderr lines are kept
	// for the error that ends a stream, and ffmpegErrLines how many of
	// them the error quotes.
	ffmpegTailLines = 10
	ffmpegErrLines  = 3
	// ffmpegLogBurst lines of ffmpeg's stderr are logged per
	// ffmpegLogWindow; the rest are counted and the count is logged when
	// logging resumes. A camera with a broken stream can make ffmpeg print
	// hundreds of lines a second.
	ffmpegLogBurst  = 5
	ffmpegLogWindow = 10 * time.Second
	// ffmpegDefaultIOTimeout is ffmpeg's socket timeout when no stall
	// timeout is set.
	ffmpegDefaultIOTimeout = DefaultStallTimeout
)

// ffmpegArgs builds ffmpeg's command line (without the executable): the
// input as its kind needs, then MJPEG frames on stdout. It is written for
// ffmpeg 5.1 and later; ffmpegCompatArgs adapts it to older versions.
func ffmpegArgs(in ffmpegInput, cfg liveConfig) []string {
	args := []string{"-hide_banner", "-nostdin", "-nostats", "-loglevel", "warning"}
	switch in.Kind {
	case inputFile:
		if cfg.Realtime {
			args = append(args, "-re")
		}
		if cfg.Loop {
			args = append(args, "-stream_loop", "-1")
		}
		args = append(args, "-i", ffmpegFileTarget(in.Target))
	case inputNetwork:
		if in.Finite && cfg.Realtime {
			args = append(args, "-re")
		}
		args = append(args, ffmpegNetworkOptions(in.Target, cfg.StallTimeout)...)
		args = append(args, "-i", in.Target)
	case inputV4L2:
		// A webcam captures at the size and rate it is asked for:
		// cheaper and sharper than scaling and dropping afterwards.
		args = append(args, "-f", "v4l2")
		if in.InputFormat != "" {
			args = append(args, "-input_format", in.InputFormat)
		}
		if cfg.Width > 0 && cfg.Height > 0 {
			args = append(args, "-video_size", fmt.Sprintf("%dx%d", cfg.Width, cfg.Height))
		}
		if cfg.FPS > 0 {
			args = append(args, "-framerate", ffmpegNumber(cfg.FPS))
		}
		args = append(args, "-i", in.Target)
	case inputLavfi:
		// A test source stands in for a camera: paced like one unless
		// unpaced reading is asked for, instead of rendering as fast as
		// the CPU allows.
		if cfg.Realtime {
			args = append(args, "-re")
		}
		args = append(args, "-f", "lavfi", "-i", in.Target)
	}
	args = append(args, "-an", "-sn", "-dn")
	var vf []string
	if cfg.Every > 1 {
		vf = append(vf, fmt.Sprintf(`select='not(mod(n\,%d))'`, cfg.Every))
	}
	if in.Kind != inputV4L2 {
		if cfg.FPS > 0 {
			// At most one frame per 1/FPS interval of the input's
			// timestamps. Unlike the fps filter, this never duplicates
			// frames when the input is slower than FPS (a camera sending
			// 5 fps stays at 5 instead of being padded to the limit with
			// copies the detectors would process again), and a timestamp
			// jump backwards (a camera reset) does not stall it.
			f := ffmpegNumber(cfg.FPS)
			vf = append(vf, fmt.Sprintf(`select='not(eq(floor(t*%s)\,floor(prev_selected_t*%s)))'`, f, f))
		}
		if cfg.Width > 0 || cfg.Height > 0 {
			w, h := cfg.Width, cfg.Height
			if w <= 0 {
				w = -1
			}
			if h <= 0 {
				h = -1
			}
			vf = append(vf, fmt.Sprintf("scale=%d:%d", w, h))
		}
	}
	if len(vf) > 0 {
		args = append(args, "-vf", strings.Join(vf, ","))
	}
	// passthrough: every frame out of the filters is written once, with
	// no duplicates or drops to reach a constant rate.
	// -threads 1: with frame threads ffmpeg's MJPEG encoder holds each
	// JPEG until the next frame is encoded, a frame interval of latency
	// (measured: +100 ms at 10 fps); one JPEG per frame is cheap anyway.
	args = append(args, "-fps_mode", "passthrough", "-threads", "1",
		"-c:v", "mjpeg", "-pix_fmt", "yuvj420p", "-q:v", strconv.Itoa(ffmpegQScale(cfg.Quality)),
		"-f", "image2pipe", "pipe:1")
	return args
}

// ffmpegFileTarget names a file for ffmpeg's -i: with the file: protocol,
// so that "a:b.mp4" is not read as protocol "a" and "-x.mp4" not as an
// option.
func ffmpegFileTarget(path string) string {
	if strings.Contains(path, "://") {
		return path
	}
	return "file:" + path
}

// ffmpegNetworkOptions are the input options of a network URL: RTSP over
// TCP (UDP loses packets, and with them whole frames, on any busy network
// and does not pass NAT), and a socket timeout so that a camera that goes
// silent fails the read instead of hanging ffmpeg forever.
func ffmpegNetworkOptions(target string, timeout time.Duration) []string {
	if timeout <= 0 {
		timeout = ffmpegDefaultIOTimeout
	}
	us := strconv.FormatInt(timeout.Microseconds(), 10)
	scheme, _, _ := strings.Cut(target, "://")
	switch strings.ToLower(scheme) {
	case "rtsp", "rtsps":
		return []string{"-rtsp_transport", "tcp", "-timeout", us}
	case "http", "https":
		return []string{"-timeout", us}
	}
	// rtmp's -timeout means "listen for a connection", srt's and udp's
	// differ between versions: the generic I/O timeout of every protocol
	// is the safe one.
	return []string{"-rw_timeout", us}
}

// ffmpegQScale maps a JPEG quality 1-100 to ffmpeg's -q:v scale, 31
// (worst) to 2 (best). 0 means DefaultJPEGQuality.
func ffmpegQScale(quality int) int {
	if quality <= 0 {
		quality = DefaultJPEGQuality
	}
	quality = min(quality, 100)
	return 2 + ((100-quality)*29+49)/99
}

// ffmpegNumber formats a rate for ffmpeg: 10, 2.5, 29.97.
func ffmpegNumber(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

// ffmpegCompatArgs adapts ffmpegArgs' command line to an older ffmpeg
// (major.minor as ffmpegVersion reports it; 0.0 means unknown, taken as
// current): before 5.1 -fps_mode was -vsync, and before 5.0 the RTSP socket
// timeout was -stimeout, -timeout meaning "listen" instead (Ubuntu 22.04
// ships 4.4).
func ffmpegCompatArgs(args []string, major, minor int) []string {
	if major == 0 || major > 5 || major == 5 && minor >= 1 {
		return args
	}
	out := append([]string(nil), args...)
	rtsp := false
	for i, a := range out {
		if a == "-rtsp_transport" {
			rtsp = true
		}
		if a == "-fps_mode" {
			out[i] = "-vsync"
		}
		if a == "-timeout" && rtsp && major < 5 {
			out[i] = "-stimeout"
		}
	}
	return out
}

// ffmpegVersions caches ffmpegVersion per executable path.
var ffmpegVersions sync.Map // path → [2]int

var ffmpegVersionRE = regexp.MustCompile(`^ffmpeg version n?(\d+)\.(\d+)`)

// ffmpegVersion returns the major and minor version of an ffmpeg
// executable, 0, 0 when it cannot tell (a git build: "N-12345-g…").
func ffmpegVersion(ctx context.Context, bin string) (major, minor int) {
	if v, ok := ffmpegVersions.Load(bin); ok {
		v := v.([2]int)
		return v[0], v[1]
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "-hide_banner", "-version").Output()
	if err != nil && ctx.Err() != nil {
		return 0, 0 // do not cache a timeout
	}
	if m := ffmpegVersionRE.FindSubmatch(out); m != nil {
		major, _ = strconv.Atoi(string(m[1]))
		minor, _ = strconv.Atoi(string(m[2]))
	}
	ffmpegVersions.Store(bin, [2]int{major, minor})
	return major, minor
}

// ffmpegNoise are ffmpeg warnings that say nothing to a user: swscale
// warns about the yuvj pixel formats the MJPEG encoder needs, on every
// start of every stream.
var ffmpegNoise = []string{
	"deprecated pixel format used, make sure you did set range correctly",
}

// ffmpegPermanentError is a dial error no retry can mend; it wraps its
// cause and errPermanent without adding "permanent" to the message.
type ffmpegPermanentError struct{ err error }

func (e *ffmpegPermanentError) Error() string   { return e.err.Error() }
func (e *ffmpegPermanentError) Unwrap() []error { return []error{e.err, errPermanent} }

// newFFmpegDialer returns a dialer that starts a new ffmpeg for every
// connection.
func newFFmpegDialer(in ffmpegInput, cfg liveConfig) dialer {
	return func(ctx context.Context) (stream, error) {
		return startFFmpeg(ctx, in, cfg)
	}
}

// ffmpegStream is one ffmpeg child writing MJPEG to a pipe. ffmpeg runs in
// a process group of its own, so that Close (and its own exit) also ends
// anything it started, and a terminal's Ctrl-C reaches the framecast
// process, which then closes its streams, rather than killing ffmpeg
// under it.
type ffmpegStream struct {
	kind   inputKind
	finite bool
	name   string // the input, without credentials, for logs
	log    *slog.Logger
	pid    int
	stdout *os.File
	split  *jpegSplitter

	exited     chan struct{} // closed when ffmpeg has been waited for
	waitErr    error         // ffmpeg's exit status; read after exited
	stderrDone chan struct{} // closed when stderr reached EOF
	tailMu     sync.Mutex
	tail       []string // ffmpeg's last stderr lines, for the error

	closing   chan struct{} // closed by Close
	closeOnce sync.Once

	err      error           // Next's sticky error (Next's goroutine only)
	dropped  splitStats      // drops already reported (Next's goroutine only)
	dropLogs *ratelog.Logger // paces reportDrops, which logs with s.log
}

// errFFmpegClosed is returned by Next after Close.
var errFFmpegClosed = errors.New("ffmpeg stream closed")

func startFFmpeg(ctx context.Context, in ffmpegInput, cfg liveConfig) (*ffmpegStream, error) {
	name := cfg.FFmpeg
	if name == "" {
		name = "ffmpeg"
	}
	bin, err := exec.LookPath(name)
	if err != nil {
		return nil, &ffmpegPermanentError{fmt.Errorf("%w: %q: %s", ErrNoFFmpeg, name, ffmpegInstallHint)}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	major, minor := ffmpegVersion(ctx, bin)
	args := ffmpegCompatArgs(ffmpegArgs(in, cfg), major, minor)

	outR, outW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("ffmpeg: %w", err)
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		outR.Close()
		outW.Close()
		return nil, fmt.Errorf("ffmpeg: %w", err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = outW, errW
	cmd.SysProcAttr = childProcAttr()
	err = cmd.Start()
	// The child has its own copies; ours must go, or the pipes never
	// report EOF.
	outW.Close()
	errW.Close()
	if err != nil {
		outR.Close()
		errR.Close()
		return nil, fmt.Errorf("start ffmpeg: %w", err)
	}
	s := &ffmpegStream{
		kind: in.Kind, finite: in.Finite, name: ffmpegInputName(in), log: log, pid: cmd.Process.Pid,
		stdout: outR, split: newJPEGSplitter(outR, cfg.MaxFrameSize),
		exited: make(chan struct{}), stderrDone: make(chan struct{}), closing: make(chan struct{}),
		dropLogs: ratelog.New(log, ffmpegLogWindow, 1),
	}
	go func() {
		s.waitErr = cmd.Wait()
		// Whatever ffmpeg started goes with it. ffmpeg's pid is its
		// process group's id; a group exists only while it has members
		// and the kernel hands a freed pid out again only after
		// wrapping around, so this cannot hit an unrelated group.
		syscall.Kill(-s.pid, syscall.SIGKILL)
		close(s.exited)
	}()
	go s.readStderr(errR, in.Target)
	return s, nil
}

// ffmpegInputName is the input for logs and errors: URLs without their
// password.
func ffmpegInputName(in ffmpegInput) string {
	if in.Kind == inputLavfi {
		return "lavfi:" + in.Target
	}
	return redact(in.Target)
}

// Next returns the next frame. Cancelling ctx closes the stream (a pipe
// read cannot be abandoned half-way through a frame and resumed).
func (s *ffmpegStream) Next(ctx context.Context) (Frame, error) {
	if s.err != nil {
		return Frame{}, s.err
	}
	if err := ctx.Err(); err != nil {
		return Frame{}, err
	}
	if ctx.Done() != nil {
		stop := context.AfterFunc(ctx, func() { s.Close() })
		defer stop()
	}
	jpg, w, h, err := s.split.Next()
	s.reportDrops()
	if err == nil {
		return Frame{JPEG: jpg, Width: w, Height: h, CapturedAt: time.Now()}, nil
	}
	s.err = s.end(ctx, err)
	return Frame{}, s.err
}

// end works out why the output ended: Close, ctx, or ffmpeg's exit.
func (s *ffmpegStream) end(ctx context.Context, readErr error) error {
	select {
	case <-s.closing:
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return errFFmpegClosed
	default:
	}
	if readErr != io.EOF && readErr != io.ErrUnexpectedEOF {
		s.Close()
		return fmt.Errorf("read ffmpeg's output: %w", readErr)
	}
	t := time.NewTimer(ffmpegExitWait)
	defer t.Stop()
	select {
	case <-s.exited:
	case <-s.closing:
		return errFFmpegClosed
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		s.Close()
	}
	<-s.exited
	select {
	case <-s.stderrDone:
	case <-time.After(ffmpegStderrWait):
	}
	said := s.lastLines(ffmpegErrLines)
	if said != "" {
		said = ": " + said
	}
	var exit *exec.ExitError
	switch {
	case s.waitErr == nil && (s.kind == inputFile || s.kind == inputLavfi || s.finite):
		return fmt.Errorf("ffmpeg: %w", ErrEndOfInput)
	case s.waitErr == nil:
		// A camera or stream that ends is reconnected, not finished:
		// the supervisor stops for good only on ErrEndOfInput.
		return fmt.Errorf("ffmpeg: the stream ended%s", said)
	case errors.As(s.waitErr, &exit):
		if ws, ok := exit.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return fmt.Errorf("ffmpeg was killed by signal %v%s", ws.Signal(), said)
		}
		return fmt.Errorf("ffmpeg exited with status %d%s", exit.ExitCode(), said)
	}
	return fmt.Errorf("ffmpeg: %w%s", s.waitErr, said)
}

// reportDrops warns about frames the splitter dropped since the last
// call, at most once per ffmpegLogWindow.
func (s *ffmpegStream) reportDrops() {
	st := s.split.Stats()
	over, trunc := st.Oversized-s.dropped.Oversized, st.Truncated-s.dropped.Truncated
	if over == 0 && trunc == 0 {
		return
	}
	if ok, _ := s.dropLogs.Allow(); !ok {
		return
	}
	s.dropped = st
	s.log.Warn("dropped frames from ffmpeg", "source", s.name, "oversized", over, "truncated", trunc,
		"max_frame_bytes", s.split.maxFrame)
}

// Close stops ffmpeg: its output pipe is closed (which unblocks Next and
// makes ffmpeg's next write fail), its process group gets SIGTERM, and
// SIGKILL if it is still there after ffmpegTermGrace. Close returns when
// ffmpeg has been waited for. It may be called concurrently with Next and
// more than once.
func (s *ffmpegStream) Close() error {
	s.closeOnce.Do(func() {
		close(s.closing)
		s.stdout.Close()
		select {
		case <-s.exited:
			return
		default:
		}
		syscall.Kill(-s.pid, syscall.SIGTERM)
		t := time.NewTimer(ffmpegTermGrace)
		defer t.Stop()
		select {
		case <-s.exited:
		case <-t.C:
			syscall.Kill(-s.pid, syscall.SIGKILL)
			<-s.exited
		}
	})
	return nil
}

// readStderr logs what ffmpeg prints, rate-limited, and keeps the last
// lines for the error that ends the stream.
func (s *ffmpegStream) readStderr(r *os.File, target string) {
	defer close(s.stderrDone)
	defer r.Close()
	// ffmpeg echoes the input URL in its messages: keep passwords out of
	// logs and errors.
	secrets := uriSecrets(target)
	limit := ratelog.New(s.log, ffmpegLogWindow, ffmpegLogBurst)
	br := bufio.NewReaderSize(r, 4096)
	for {
		// A line longer than the buffer comes in pieces, each handled
		// as a line: stderr must be drained whatever ffmpeg writes.
		chunk, err := br.ReadSlice('\n')
		for _, part := range bytes.Split(chunk, []byte{'\r'}) {
			line := strings.TrimSpace(string(part))
			line = scrub(line, secrets)
			s.stderrLine(line, limit)
		}
		if err != nil && err != bufio.ErrBufferFull {
			break
		}
	}
	if n := limit.Flush(); n > 0 {
		s.log.Warn("ffmpeg printed more", "source", s.name, ratelog.SuppressedKey, n)
	}
}

// ffmpegContextRE matches the "[tcp @ 0x55d5c8a0] " that ffmpeg puts
// before a component's messages: the address means nothing to a user.
var ffmpegContextRE = regexp.MustCompile(`^\[([\w:-]+) @ 0x[0-9a-fA-F]+\] `)

func (s *ffmpegStream) stderrLine(line string, limit *ratelog.Logger) {
	for {
		m := ffmpegContextRE.FindStringSubmatchIndex(line)
		if m == nil {
			break
		}
		line = line[m[2]:m[3]] + ": " + line[m[1]:]
	}
	if line == "" {
		return
	}
	for _, n := range ffmpegNoise {
		if strings.Contains(line, n) {
			return
		}
	}
	s.tailMu.Lock()
	if len(s.tail) == ffmpegTailLines {
		copy(s.tail, s.tail[1:])
		s.tail = s.tail[:ffmpegTailLines-1]
	}
	s.tail = append(s.tail, line)
	s.tailMu.Unlock()
	select {
	case <-s.closing:
		// After Close, ffmpeg complains about the pipe we closed
		// ("Broken pipe"): our doing, not news for the log.
		return
	default:
	}
	limit.Warn("ffmpeg", "source", s.name, "ffmpeg", line)
}

// lastLines returns ffmpeg's last n stderr lines, joined by "; ".
func (s *ffmpegStream) lastLines(n int) string {
	s.tailMu.Lock()
	defer s.tailMu.Unlock()
	return strings.Join(s.tail[max(0, len(s.tail)-n):], "; ")
}
