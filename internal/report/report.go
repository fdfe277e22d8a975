// Package report renders the results of analysing videos as one
// self-contained HTML file: per video a summary, an emotion timeline,
// faces over time and thumbnails of key frames. The file references
// nothing outside itself — styles are inline, charts are SVG drawn here
// (no JavaScript), thumbnails are data: URIs — so it opens offline, from
// an e-mail attachment or a CI artefact alike.
//
// Memory stays bounded however long the video: results are folded into
// per-second aggregates as they arrive, and of the frames only the
// current key-frame candidates are kept, as small JPEG thumbnails.
package report

import (
	_ "embed"
	"encoding/base64"
	"fmt"
	"html/template"
	"image"
	"io"
	"math"
	"sort"
	"strings"
	"time"

	xdraw "golang.org/x/image/draw"

	"github.com/framecast/framecast/internal/annotate"
	"github.com/framecast/framecast/internal/frame"
	"github.com/framecast/framecast/internal/imagex"
	"github.com/framecast/framecast/internal/source"
)

// ThumbWidth is the width of key-frame thumbnails in pixels (narrower
// frames keep their size).
const ThumbWidth = 240

// maxBins caps the points of a chart: longer videos are aggregated over
// more than a second per point.
const maxBins = 600

//go:embed report.html.tmpl
var pageTemplate string

var page = template.Must(template.New("report").Parse(pageTemplate))

// Report is the HTML report of one run over one or more videos. It is
// used by one goroutine.
type Report struct {
	// Title heads the page.
	Title string
	// Generated is shown as the report's date; zero omits it. New sets it
	// to the current time.
	Generated time.Time
	videos    []*Video
}

// New returns an empty report.
func New(title string) *Report {
	return &Report{Title: title, Generated: time.Now()}
}

// AddVideo starts the section of one video; info is what Probe said of
// it (zero fields are shown as unknown). Sections appear in the order
// they were added.
func (r *Report) AddVideo(name string, info source.VideoInfo) *Video {
	v := &Video{Name: name, Info: info}
	r.videos = append(r.videos, v)
	return v
}

// Video accumulates one video's results.
type Video struct {
	// Name is the section heading, usually the file name.
	Name string
	// Info describes the video.
	Info source.VideoInfo
	// Sampling says which frames were analysed ("every 5th frame",
	// "2 frames per second"); empty means every frame.
	Sampling string

	tally   Tally
	seconds []second      // indexed by whole seconds of video time
	last    time.Duration // latest video time added
	most    keyFrame      // the frame with the most faces
	best    [7]keyFrame   // per emotion: the most confident face's frame
	err     string
}

// second aggregates the frames analysed within one second of video.
type second struct {
	frames int
	faces  int
	probs  [7]float64 // summed over faces, frame.Labels order
}

// keyFrame is a key-frame candidate; set once a frame qualified.
type keyFrame struct {
	set   bool
	seq   int64
	t     time.Duration
	faces int
	conf  float64 // for emotions: the face's probability of it
	thumb *thumb
}

type thumb struct {
	jpeg []byte
	w, h int
}

// Tally counts frames, faces and each face's most probable emotion.
type Tally struct {
	// Frames is the number of frames analysed; FramesWithFaces those
	// with at least one face.
	Frames, FramesWithFaces int64
	// Faces is the number of faces over all frames.
	Faces int64
	// ByEmotion counts faces by their most probable emotion, in
	// frame.Labels order.
	ByEmotion [7]int64
}

// Add counts one result.
func (t *Tally) Add(res *frame.Result) {
	t.Frames++
	if len(res.Faces) > 0 {
		t.FramesWithFaces++
	}
	t.Faces += int64(len(res.Faces))
	for _, f := range res.Faces {
		if i := labelIndex(f.Emotion); i >= 0 {
			t.ByEmotion[i]++
		}
	}
}

// Share is the fraction of faces whose most probable emotion is
// frame.Labels[i]; 0 without faces.
func (t Tally) Share(i int) float64 {
	if t.Faces == 0 {
		return 0
	}
	return float64(t.ByEmotion[i]) / float64(t.Faces)
}

// Dominant is the emotion most faces showed, with its share; "" without
// faces. Ties go to the earlier label.
func (t Tally) Dominant() (string, float64) {
	best := -1
	for i, n := range t.ByEmotion {
		if n > 0 && (best < 0 || n > t.ByEmotion[best]) {
			best = i
		}
	}
	if best < 0 {
		return "", 0
	}
	return frame.Labels[best], t.Share(best)
}

func labelIndex(l string) int {
	for i, x := range frame.Labels {
		if x == l {
			return i
		}
	}
	return -1
}

// Tally returns the counts so far.
func (v *Video) Tally() Tally { return v.tally }

// Fail records why the video's analysis stopped; the section shows it
// next to whatever was analysed before.
func (v *Video) Fail(err error) { v.err = err.Error() }

// Add folds in the result of the frame at video time t. img is the
// analysed frame; it is read only when the frame becomes a key-frame
// candidate (a thumbnail is made of it then) and not kept, so callers may
// reuse it. A nil img gives key frames without pictures.
func (v *Video) Add(t time.Duration, res *frame.Result, img *imagex.RGB) error {
	v.tally.Add(res)
	if t < 0 {
		t = 0
	}
	v.last = max(v.last, t)
	s := int(t / time.Second)
	if s >= len(v.seconds) {
		v.seconds = append(v.seconds, make([]second, s+1-len(v.seconds))...)
	}
	b := &v.seconds[s]
	b.frames++
	b.faces += len(res.Faces)
	for _, f := range res.Faces {
		for i, l := range frame.Labels {
			b.probs[i] += f.Emotions[l]
		}
	}

	// Strictly better only: ties keep the earlier frame.
	mostFaces := len(res.Faces) > 0 && len(res.Faces) > v.most.faces
	var conf [7]float64
	for _, f := range res.Faces {
		if i := labelIndex(f.Emotion); i >= 0 {
			conf[i] = max(conf[i], f.Emotions[f.Emotion])
		}
	}
	var emotions []int
	for i, c := range conf {
		if c > 0 && (!v.best[i].set || c > v.best[i].conf) {
			emotions = append(emotions, i)
		}
	}
	if !mostFaces && len(emotions) == 0 {
		return nil
	}
	k := keyFrame{set: true, seq: res.Seq, t: t, faces: len(res.Faces)}
	if img != nil && img.W > 0 && img.H > 0 {
		th, err := makeThumb(img, res.Faces)
		if err != nil {
			return fmt.Errorf("report: thumbnail of frame %d: %w", res.Seq, err)
		}
		k.thumb = th
	}
	// The replaced candidates' thumbnails become garbage here, so at most
	// eight thumbnails per video are alive.
	if mostFaces {
		v.most = k
	}
	for _, i := range emotions {
		v.best[i] = k
		v.best[i].conf = conf[i]
	}
	return nil
}

// makeThumb scales img to ThumbWidth and draws the faces on it.
func makeThumb(img *imagex.RGB, faces []frame.Face) (*thumb, error) {
	w := min(ThumbWidth, img.W)
	h := max(1, int(math.Round(float64(img.H)*float64(w)/float64(img.W))))
	full := img.ToImage()
	dst := image.NewRGBA(image.Rect(0, 0, w, h))
	xdraw.CatmullRom.Scale(dst, dst.Bounds(), full, full.Bounds(), xdraw.Src, nil)
	sx, sy := float64(w)/float64(img.W), float64(h)/float64(img.H)
	scaled := make([]frame.Face, len(faces))
	for i, f := range faces {
		f.Box = frame.Box{X: f.Box.X * sx, Y: f.Box.Y * sy, W: f.Box.W * sx, H: f.Box.H * sy}
		scaled[i] = f
	}
	if err := annotate.Draw(dst, scaled); err != nil {
		return nil, err
	}
	data, err := imagex.AppendJPEG(nil, dst, 80)
	if err != nil {
		return nil, err
	}
	return &thumb{jpeg: data, w: w, h: h}, nil
}

// Write renders the report.
func (r *Report) Write(w io.Writer) error {
	d := pageData{Title: r.Title}
	if !r.Generated.IsZero() {
		d.Generated = r.Generated.Format("2006-01-02 15:04:05 MST")
	}
	for i, l := range frame.Labels {
		d.Legend = append(d.Legend, legendItem{Name: l, Color: colorOf(i)})
	}
	for i, v := range r.videos {
		d.Videos = append(d.Videos, v.data(fmt.Sprintf("video-%d", i+1)))
	}
	return page.Execute(w, d)
}

// The template's data: everything formatted already, so the template
// only places strings.
type pageData struct {
	Title, Generated string
	Legend           []legendItem
	Videos           []videoData
}

type legendItem struct{ Name, Color string }

type videoData struct {
	ID, Name                   string
	Size, FPS, Codec, Duration string
	Sampling                   string
	Frames, FramesTotal        string
	FramesWithFaces            string
	Faces                      string
	Dominant                   string
	Emotions                   []emotionRow
	Timeline, FacesChart       *chart
	Bin                        string // "second", "5 s"
	Keys                       []keyData
	Error                      string
	Analysed                   bool // any frame
}

type emotionRow struct {
	Name, Color, Faces, Share string
	Bar                       string // SVG bar width, 0-100
}

type keyData struct {
	What []string // why the frame was picked
	When string
	Src  template.URL
	W, H int
	Alt  string
}

func (v *Video) data(id string) videoData {
	t := v.tally
	d := videoData{ID: id, Name: v.Name, Codec: v.Info.Codec, Sampling: v.Sampling, Error: v.err}
	if d.Sampling == "" {
		d.Sampling = "every frame"
	}
	if v.Info.Width > 0 {
		d.Size = fmt.Sprintf("%d×%d", v.Info.Width, v.Info.Height)
	}
	if v.Info.FPS > 0 {
		d.FPS = trimFloat(v.Info.FPS, 2)
	}
	dur := v.Info.Duration
	if dur <= 0 {
		dur = v.last
	}
	d.Duration = clock(dur, true)
	d.Frames = fmt.Sprint(t.Frames)
	d.Analysed = t.Frames > 0
	if v.Info.Frames > 0 {
		d.FramesTotal = fmt.Sprint(v.Info.Frames)
	}
	d.FramesWithFaces = fmt.Sprintf("%d (%s)", t.FramesWithFaces, percent(t.FramesWithFaces, t.Frames))
	d.Faces = fmt.Sprint(t.Faces)
	if t.Frames > 0 {
		d.Faces += fmt.Sprintf(" (%s per frame)", trimFloat(float64(t.Faces)/float64(t.Frames), 2))
	}
	if l, share := t.Dominant(); l != "" {
		d.Dominant = fmt.Sprintf("%s (%.0f%% of faces)", l, 100*share)
	}
	for i, l := range frame.Labels {
		d.Emotions = append(d.Emotions, emotionRow{Name: l, Color: colorOf(i),
			Faces: fmt.Sprint(t.ByEmotion[i]), Share: fmt.Sprintf("%.1f%%", 100*t.Share(i)),
			Bar: fmt.Sprintf("%.1f", 100*t.Share(i))})
	}
	bins, binSecs := v.bins(dur)
	d.Bin = "second"
	if binSecs > 1 {
		d.Bin = fmt.Sprintf("%d s", binSecs)
	}
	d.Timeline = timelineChart(bins, binSecs)
	d.FacesChart = facesChart(bins, binSecs)
	// One figure per frame, naming every reason it was picked.
	type reason struct {
		k    keyFrame
		what string
	}
	var reasons []reason
	if v.most.set {
		reasons = append(reasons, reason{v.most, fmt.Sprintf("most faces: %d", v.most.faces)})
	}
	for i, k := range v.best {
		if k.set {
			reasons = append(reasons, reason{k, fmt.Sprintf("most %s: %.2f", frame.Labels[i], k.conf)})
		}
	}
	at := map[int64]int{} // seq → index in d.Keys
	for _, r := range reasons {
		if i, ok := at[r.k.seq]; ok {
			d.Keys[i].What = append(d.Keys[i].What, r.what)
			continue
		}
		at[r.k.seq] = len(d.Keys)
		d.Keys = append(d.Keys, r.k.data(r.what))
	}
	for i := range d.Keys {
		k := &d.Keys[i]
		k.Alt = fmt.Sprintf("%s, %s", k.When, strings.Join(k.What, ", "))
	}
	return d
}

func (k keyFrame) data(what string) keyData {
	d := keyData{What: []string{what}, When: fmt.Sprintf("%s · frame %d", clock(k.t, true), k.seq)}
	if k.thumb != nil {
		d.W, d.H = k.thumb.w, k.thumb.h
		// Built here from our own JPEG bytes, so it is safe as a URL.
		d.Src = template.URL("data:image/jpeg;base64," + base64.StdEncoding.EncodeToString(k.thumb.jpeg))
	}
	return d
}

// bin is the aggregate of one chart point: whole seconds
// [start, start+width) of video.
type bin struct {
	start  int
	frames int
	faces  int
	probs  [7]float64
}

// bins merges the per-second aggregates into at most maxBins bins of a
// whole number of seconds each, covering the video's duration.
func (v *Video) bins(dur time.Duration) ([]bin, int) {
	n := max(len(v.seconds), int(math.Ceil(dur.Seconds())), 1)
	width := 1
	for _, w := range []int{1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1800, 3600} {
		width = w
		if (n+w-1)/w <= maxBins {
			break
		}
	}
	out := make([]bin, (n+width-1)/width)
	for i := range out {
		out[i].start = i * width
	}
	for s, a := range v.seconds {
		b := &out[s/width]
		b.frames += a.frames
		b.faces += a.faces
		for i := range a.probs {
			b.probs[i] += a.probs[i]
		}
	}
	return out, width
}

// Chart geometry, in SVG user units.
const (
	chartW, chartH         = 720, 200
	plotL, plotR           = 44, 20
	plotT, plotB           = 10, 26
	plotW, plotH   float64 = chartW - plotL - plotR, chartH - plotT - plotB
)

type chart struct {
	W, H, Label    string
	X, Y, PW, PH   string // plot area
	XR, YB         string // its right and bottom edges
	Layers         []layer
	Bars           []rect
	XTicks, YTicks []tick
	Columns        []rect // transparent hover areas carrying tooltips
	Empty          bool
	EmptyX, EmptyY string
}

type layer struct{ Name, Color, D string }

type rect struct{ X, Y, W, H, Color, Title string }

type tick struct{ X, Y, Label string }

func f1(x float64) string { return trimFloat(x, 1) }

func newChart(label string, nbins, binSecs int) *chart {
	c := &chart{W: fmt.Sprint(chartW), H: fmt.Sprint(chartH), Label: label,
		X: fmt.Sprint(plotL), Y: fmt.Sprint(plotT), PW: f1(plotW), PH: f1(plotH),
		XR: f1(plotL + plotW), YB: f1(plotT + plotH),
		EmptyX: f1(plotL + plotW/2), EmptyY: f1(plotT + plotH/2)}
	total := nbins * binSecs
	step := 1
	for _, s := range []int{1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 18000, 36000} {
		step = s
		if total/s <= 8 {
			break
		}
	}
	for s := 0; s <= total; s += step {
		c.XTicks = append(c.XTicks, tick{X: f1(xAt(float64(s), total)),
			Y: f1(plotT + plotH + 16), Label: clock(time.Duration(s)*time.Second, false)})
	}
	return c
}

// xAt is the horizontal position of time s seconds. (The conversions
// keep the compiler from fusing multiply and add, which would round
// differently on arm64 and change the golden files.)
func xAt(s float64, total int) float64 { return plotL + float64(plotW*s)/float64(total) }

// yAt is the vertical position of value f of a 0..top axis.
func yAt(f, top float64) float64 { return plotT + float64(plotH*(1-f/top)) }

// timelineChart stacks the seven mean emotion probabilities (mean over
// the faces in each bin). Bins without analysed frames are left out and
// their neighbours joined; bins with frames but no faces are zero.
func timelineChart(bins []bin, binSecs int) *chart {
	c := newChart("mean emotion probability over the faces in view", len(bins), binSecs)
	for _, f := range []float64{0, 0.25, 0.5, 0.75, 1} {
		c.YTicks = append(c.YTicks, tick{X: f1(plotL - 6), Y: f1(yAt(f, 1)), Label: trimFloat(f, 2)})
	}
	total := len(bins) * binSecs
	type point struct {
		x, x0, x1 float64    // the bin's centre, start and end
		cum       [8]float64 // cum[k]: sum of the first k means
	}
	var pts []point
	for _, b := range bins {
		if b.frames == 0 {
			continue
		}
		p := point{x: xAt(float64(b.start)+float64(binSecs)/2, total),
			x0: xAt(float64(b.start), total), x1: xAt(float64(b.start+binSecs), total)}
		for k := range 7 {
			m := 0.0
			if b.faces > 0 {
				m = b.probs[k] / float64(b.faces)
			}
			p.cum[k+1] = p.cum[k] + m
		}
		pts = append(pts, p)
		tip := clock(time.Duration(b.start)*time.Second, false) + "–" + clock(time.Duration(b.start+binSecs)*time.Second, false) + ": "
		if b.faces == 0 {
			tip += "no faces"
		} else {
			tip += meansText(p.cum)
		}
		c.Columns = append(c.Columns, rect{X: f1(p.x0), Y: f1(plotT), W: f1(p.x1 - p.x0), H: f1(plotH), Title: tip})
	}
	if len(pts) == 0 {
		c.Empty = true
		return c
	}
	// Hold the first and last values out to the bins' outer edges.
	first, last := pts[0], pts[len(pts)-1]
	first.x, last.x = first.x0, last.x1
	pts = append(append([]point{first}, pts...), last)
	for k := range 7 {
		var d strings.Builder
		for i, p := range pts {
			cmd := "L"
			if i == 0 {
				cmd = "M"
			}
			fmt.Fprintf(&d, "%s%s %s", cmd, f1(p.x), f1(yAt(p.cum[k+1], 1)))
		}
		for i := len(pts) - 1; i >= 0; i-- {
			fmt.Fprintf(&d, "L%s %s", f1(pts[i].x), f1(yAt(pts[i].cum[k], 1)))
		}
		d.WriteString("Z")
		c.Layers = append(c.Layers, layer{Name: frame.Labels[k], Color: colorOf(k), D: d.String()})
	}
	return c
}

// meansText lists the means in a cumulative sum, largest first.
func meansText(cum [8]float64) string {
	order := []int{0, 1, 2, 3, 4, 5, 6}
	sort.SliceStable(order, func(a, b int) bool {
		return cum[order[a]+1]-cum[order[a]] > cum[order[b]+1]-cum[order[b]]
	})
	parts := make([]string, 0, 7)
	for _, k := range order {
		parts = append(parts, fmt.Sprintf("%s %.2f", frame.Labels[k], cum[k+1]-cum[k]))
	}
	return strings.Join(parts, ", ")
}

// facesChart draws the mean number of faces per analysed frame in each
// bin as bars.
func facesChart(bins []bin, binSecs int) *chart {
	c := newChart("faces per frame, mean over each bin", len(bins), binSecs)
	total := len(bins) * binSecs
	top := 1.0
	for _, b := range bins {
		if b.frames > 0 {
			top = max(top, math.Ceil(float64(b.faces)/float64(b.frames)))
		}
	}
	step := math.Max(1, math.Ceil(top/4))
	top = math.Ceil(top/step) * step
	for f := 0.0; f <= top; f += step {
		c.YTicks = append(c.YTicks, tick{X: f1(plotL - 6), Y: f1(yAt(f, top)), Label: trimFloat(f, 0)})
	}
	bw := plotW * float64(binSecs) / float64(total)
	gap := math.Min(2, bw/5)
	any := false
	for _, b := range bins {
		if b.frames == 0 {
			continue
		}
		any = true
		m := float64(b.faces) / float64(b.frames)
		x := xAt(float64(b.start), total)
		c.Bars = append(c.Bars, rect{X: f1(x + gap/2), Y: f1(yAt(m, top)), W: f1(bw - gap), H: f1(plotH * m / top), Color: "#457b9d",
			Title: fmt.Sprintf("%s–%s: %s faces per frame (%d frames)", clock(time.Duration(b.start)*time.Second, false),
				clock(time.Duration(b.start+binSecs)*time.Second, false), trimFloat(m, 2), b.frames)})
	}
	c.Empty = !any
	return c
}

func colorOf(i int) string {
	c := annotate.Colors[frame.Labels[i]]
	return fmt.Sprintf("#%02x%02x%02x", c.R, c.G, c.B)
}

// clock formats a video time: m:ss, or h:mm:ss past an hour; tenths
// with frac.
func clock(d time.Duration, frac bool) string {
	if d < 0 {
		d = 0
	}
	tenths := int64(d / (100 * time.Millisecond))
	if !frac {
		tenths = int64(d/time.Second) * 10
	}
	s := tenths / 10
	out := fmt.Sprintf("%d:%02d", s/60, s%60)
	if s >= 3600 {
		out = fmt.Sprintf("%d:%02d:%02d", s/3600, s/60%60, s%60)
	}
	if frac {
		out += fmt.Sprintf(".%d", tenths%10)
	}
	return out
}

func percent(n, of int64) string {
	if of == 0 {
		return "0%"
	}
	return fmt.Sprintf("%.0f%%", 100*float64(n)/float64(of))
}

// trimFloat formats f with at most prec decimals, without trailing zeros.
func trimFloat(f float64, prec int) string {
	s := fmt.Sprintf("%.*f", prec, f)
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	if s == "-0" {
		s = "0"
	}
	return s
}
