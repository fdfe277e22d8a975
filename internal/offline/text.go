package offline

import (
	"fmt"
	"io"
	"log/slog"
	"math"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/framecast/framecast/internal/frame"
)

// The text forms of offline analysis, as `framecast analyze` prints them.

// TextOutput prints what offline analysis produces: a table per image and
// a summary per video, or JSON lines, on Stdout; progress (on a terminal)
// and failures on Stderr. It is the Output of `framecast analyze`.
type TextOutput struct {
	Stdout, Stderr io.Writer
	// JSON prints framecast.result.v1 lines instead of tables.
	JSON bool
	// TTY: Stderr is a terminal, so progress is drawn rather than logged.
	TTY bool
	Log *slog.Logger
}

// Image prints one image's result.
func (o *TextOutput) Image(path string, res *frame.Result) error {
	if o.JSON {
		return o.Result(res)
	}
	WriteTable(o.Stdout, path, res)
	return nil
}

// Result prints a video frame's result (JSON only).
func (o *TextOutput) Result(res *frame.Result) error {
	if !o.JSON {
		return nil
	}
	b, err := frame.Marshal(res)
	if err != nil {
		return err
	}
	_, err = o.Stdout.Write(b)
	return err
}

// Progress draws a progress bar on a terminal.
func (o *TextOutput) Progress(name string, expected int64) Progress {
	return NewProgressBar(o.Stderr, o.TTY, name, expected)
}

// Done prints a video's summary (and logs it where no bar was drawn).
func (o *TextOutput) Done(v VideoSummary) {
	if !o.TTY && o.Log != nil {
		rate := float64(v.Tally.Frames) / max(v.Elapsed.Seconds(), 1e-9)
		o.Log.Info("video analysed", "file", v.Path, "frames", v.Tally.Frames, "faces", v.Tally.Faces,
			"seconds", math.Round(v.Elapsed.Seconds()*100)/100, "fps", math.Round(rate*10)/10)
	}
	if !o.JSON {
		WriteSummary(o.Stdout, v)
	}
}

// Failed names the file and what was wrong with it.
func (o *TextOutput) Failed(path string, err error) {
	fmt.Fprintf(o.Stderr, "framecast analyze: %s: %v\n", path, err)
}

// WriteTable writes one image's result as a table of its faces.
func WriteTable(w io.Writer, path string, r *frame.Result) {
	plural := "s"
	if len(r.Faces) == 1 {
		plural = ""
	}
	fmt.Fprintf(w, "%s  %d×%d  %d face%s  (decode %.1f ms, detect %.1f ms, classify %.1f ms)\n",
		path, r.Frame.Width, r.Frame.Height, len(r.Faces), plural, r.TimingsMS.Decode, r.TimingsMS.Detect, r.TimingsMS.Classify)
	if len(r.Faces) == 0 {
		fmt.Fprintln(w)
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  FACE\tBOX x,y,w,h\tSCORE\tEMOTION\tCONFIDENCE\tRUNNER-UP")
	for i, f := range r.Faces {
		second, sp := "", -1.0
		for _, l := range frame.Labels {
			if p := f.Emotions[l]; l != f.Emotion && p > sp {
				second, sp = l, p
			}
		}
		fmt.Fprintf(tw, "  %d\t%.0f,%.0f,%.0f,%.0f\t%.2f\t%s\t%.2f\t%s %.2f\n",
			i+1, f.Box.X, f.Box.Y, f.Box.W, f.Box.H, f.Score, f.Emotion, f.Emotions[f.Emotion], second, sp)
	}
	tw.Flush()
	fmt.Fprintln(w)
}

// WriteSummary writes the table of one video, as `framecast analyze`
// prints it.
func WriteSummary(w io.Writer, v VideoSummary) {
	path, info, s, t, elapsed := v.Path, v.Info, v.Sampling, v.Tally, v.Elapsed
	head := []string{path}
	if info.Width > 0 {
		head = append(head, fmt.Sprintf("%d×%d", info.Width, info.Height))
	}
	if info.FPS > 0 {
		head = append(head, strconv.FormatFloat(math.Round(info.FPS*100)/100, 'f', -1, 64)+" fps")
	}
	if info.Duration > 0 {
		head = append(head, fmt.Sprintf("%.1f s", info.Duration.Seconds()))
	}
	if info.Codec != "" {
		head = append(head, info.Codec)
	}
	fmt.Fprintln(w, strings.Join(head, "  "))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	of := ""
	if info.Frames > 0 {
		of = fmt.Sprintf(" of %d", info.Frames)
	}
	fmt.Fprintf(tw, "  frames analysed\t%d%s (%s)\n", t.Frames, of, s)
	fmt.Fprintf(tw, "  frames with faces\t%d (%.0f%%)\n", t.FramesWithFaces, 100*float64(t.FramesWithFaces)/float64(max(t.Frames, 1)))
	fmt.Fprintf(tw, "  faces\t%d (%.2f per frame)\n", t.Faces, float64(t.Faces)/float64(max(t.Frames, 1)))
	if l, share := t.Dominant(); l != "" {
		fmt.Fprintf(tw, "  dominant emotion\t%s, %.0f%% of faces\n", l, 100*share)
		var parts []string
		order := []int{0, 1, 2, 3, 4, 5, 6}
		sort.SliceStable(order, func(i, j int) bool { return t.ByEmotion[order[i]] > t.ByEmotion[order[j]] })
		for _, i := range order {
			if t.ByEmotion[i] > 0 {
				parts = append(parts, fmt.Sprintf("%s %.0f%%", frame.Labels[i], 100*t.Share(i)))
			}
		}
		fmt.Fprintf(tw, "  emotions\t%s\n", strings.Join(parts, ", "))
	} else {
		fmt.Fprintf(tw, "  dominant emotion\tnone (no faces)\n")
	}
	fmt.Fprintf(tw, "  analysis\t%.1f frames/s (%.1f s)\n", float64(t.Frames)/max(elapsed.Seconds(), 1e-9), elapsed.Seconds())
	tw.Flush()
	fmt.Fprintln(w)
}

// ProgressBar shows a video's progress on a terminal, redrawn at most
// every progressEvery: frames done of the expected total, analysis rate
// and time left. On anything else it stays silent.
type ProgressBar struct {
	w     io.Writer
	tty   bool
	name  string
	total int64 // expected frames; 0: unknown
	start time.Time
	last  time.Time
	drawn bool
	now   func() time.Time
}

const progressEvery = 100 * time.Millisecond

func NewProgressBar(w io.Writer, tty bool, name string, total int64) *ProgressBar {
	p := &ProgressBar{w: w, tty: tty, name: name, total: total, now: time.Now}
	p.start = p.now()
	return p
}

func (p *ProgressBar) Update(done int64) {
	if !p.tty {
		return
	}
	now := p.now()
	if p.drawn && now.Sub(p.last) < progressEvery {
		return
	}
	p.last, p.drawn = now, true
	fmt.Fprintf(p.w, "\r%s\x1b[K", p.line(done, now, false))
}

// finish draws the final state and ends the line.
func (p *ProgressBar) Finish(done int64) {
	if !p.tty {
		return
	}
	fmt.Fprintf(p.w, "\r%s\x1b[K\n", p.line(done, p.now(), true))
}

// abort ends a drawn bar's line so that an error message starts afresh.
func (p *ProgressBar) Abort() {
	if p.tty && p.drawn {
		fmt.Fprintln(p.w)
	}
}

func (p *ProgressBar) line(done int64, now time.Time, final bool) string {
	const width = 24
	elapsed := now.Sub(p.start)
	rate := 0.0
	if elapsed > 0 {
		rate = float64(done) / elapsed.Seconds()
	}
	total := p.total
	if final || (total > 0 && done > total) {
		total = done // the estimate from ffprobe was off
	}
	var b strings.Builder
	b.WriteString(p.name)
	b.WriteString("  ")
	if total > 0 {
		fill := int(float64(width) * float64(done) / float64(total))
		b.WriteString(strings.Repeat("█", fill) + strings.Repeat("░", width-fill))
		fmt.Fprintf(&b, "  %d/%d frames", done, total)
	} else {
		fmt.Fprintf(&b, "%d frames", done)
	}
	fmt.Fprintf(&b, "  %.1f fps", rate)
	switch {
	case final:
		fmt.Fprintf(&b, "  %s", elapsed.Round(100*time.Millisecond))
	case total > 0 && rate > 0:
		left := time.Duration(float64(total-done) / rate * float64(time.Second))
		fmt.Fprintf(&b, "  ETA %s", left.Round(time.Second))
	}
	return b.String()
}
