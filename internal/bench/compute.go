package bench

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"text/tabwriter"

	"github.com/framecast/framecast/internal/analysis"
	"github.com/framecast/framecast/internal/quantile"
	"github.com/framecast/framecast/internal/vision"
)

// ComputeReport is the result of `framecast bench FILE…`.
type ComputeReport struct {
	Iterations  int     `json:"iterations"`
	Threads     int     `json:"threads"`
	CPUs        int     `json:"cpus"`
	ONNXRuntime string  `json:"onnxruntime"`
	Images      []Image `json:"images"`
	// Medians over the images of the per-image medians.
	AnalyzeMedian float64 `json:"analyze_ms_median"`
	TotalMedian   float64 `json:"total_ms_median"`
	FramesPerSec  float64 `json:"frames_per_second"`
}

// Image is the measurement of one image, in milliseconds.
type Image struct {
	Name        string  `json:"name"`
	Width       int     `json:"width"`
	Height      int     `json:"height"`
	Faces       int     `json:"faces"`
	DecodeP50   float64 `json:"decode_ms_p50"`
	DetectP50   float64 `json:"detect_ms_p50"`
	ClassifyP50 float64 `json:"classify_ms_p50"`
	AnalyzeP50  float64 `json:"analyze_ms_p50"` // detect + classify: what Human's detect() covers
	TotalP50    float64 `json:"total_ms_p50"`   // decode + analyze
	TotalP90    float64 `json:"total_ms_p90"`
}

// RunCompute analyses each file Warmup + Iterations times, one frame at a
// time on one engine, and reports the medians.
func RunCompute(ctx context.Context, cfg ComputeConfig) (*ComputeReport, error) {
	if err := cfg.withDefaults(); err != nil {
		return nil, err
	}
	an, err := cfg.NewAnalyzer()
	if err != nil {
		return nil, err
	}
	st := analysis.NewStage(an, cfg.Limits)
	defer st.Close()
	rep := &ComputeReport{Iterations: cfg.Iterations, Threads: cfg.Threads, CPUs: runtime.NumCPU(), ONNXRuntime: vision.RuntimeVersion()}
	var analyzeAll, totalAll []float64
	for _, path := range cfg.Files {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		var dm, de, cl, an, to []float64
		im := Image{Name: filepath.Base(path)}
		for i := 0; i < cfg.Warmup+cfg.Iterations; i++ {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			res, err := analyse(st, data)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", path, err)
			}
			im.Width, im.Height, im.Faces = res.Frame.Width, res.Frame.Height, len(res.Faces)
			if i < cfg.Warmup {
				continue
			}
			t := res.TimingsMS
			dm = append(dm, t.Decode)
			de = append(de, t.Detect)
			cl = append(cl, t.Classify)
			an = append(an, t.Detect+t.Classify)
			to = append(to, t.Total)
		}
		im.DecodeP50, im.DetectP50, im.ClassifyP50 = quantile.Of(dm, 0.5), quantile.Of(de, 0.5), quantile.Of(cl, 0.5)
		im.AnalyzeP50, im.TotalP50, im.TotalP90 = quantile.Of(an, 0.5), quantile.Of(to, 0.5), quantile.Of(to, 0.9)
		rep.Images = append(rep.Images, im)
		analyzeAll = append(analyzeAll, im.AnalyzeP50)
		totalAll = append(totalAll, im.TotalP50)
	}
	rep.AnalyzeMedian = quantile.Of(analyzeAll, 0.5)
	rep.TotalMedian = quantile.Of(totalAll, 0.5)
	var sum float64
	for _, v := range totalAll {
		sum += v
	}
	rep.FramesPerSec = float64(len(totalAll)) * 1000 / sum
	return rep, nil
}

// Print writes the report as a table of the images and a summary line.
func (rep *ComputeReport) Print(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "IMAGE\tSIZE\tFACES\tDECODE\tDETECT\tCLASSIFY\tTOTAL p50\tTOTAL p90\t")
	for _, b := range rep.Images {
		fmt.Fprintf(tw, "%s\t%d×%d\t%d\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\t\n", b.Name, b.Width, b.Height, b.Faces, b.DecodeP50, b.DetectP50, b.ClassifyP50, b.TotalP50, b.TotalP90)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "\nmilliseconds, medians of %d runs; median image: analyse %.2f ms, with decode %.2f ms; %.1f frames/s on one engine (ONNX Runtime %s, %d intra-op threads, %d CPUs)\n",
		rep.Iterations, rep.AnalyzeMedian, rep.TotalMedian, rep.FramesPerSec, rep.ONNXRuntime, rep.Threads, rep.CPUs)
	return err
}
