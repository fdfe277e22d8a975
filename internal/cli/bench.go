package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"text/tabwriter"
	"time"

	"github.com/framecast/framecast/internal/imagex"
	"github.com/framecast/framecast/internal/offline"
	"github.com/framecast/framecast/internal/quantile"
	"github.com/framecast/framecast/internal/vision"
)

// benchImage is the measurement of one image.
type benchImage struct {
	Name       string  `json:"name"`
	Width      int     `json:"width"`
	Height     int     `json:"height"`
	Faces      int     `json:"faces"`
	DecodeP50  float64 `json:"decode_ms_p50"`
	DetectP50  float64 `json:"detect_ms_p50"`
	ClassifyP5 float64 `json:"classify_ms_p50"`
	AnalyzeP50 float64 `json:"analyze_ms_p50"` // detect + classify: what Human's detect() covers
	TotalP50   float64 `json:"total_ms_p50"`   // decode + analyze
	TotalP90   float64 `json:"total_ms_p90"`
}

type benchReport struct {
	Iterations  int          `json:"iterations"`
	Threads     int          `json:"threads"`
	CPUs        int          `json:"cpus"`
	ONNXRuntime string       `json:"onnxruntime"`
	Images      []benchImage `json:"images"`
	// Medians over the images of the per-image medians.
	AnalyzeMedian float64 `json:"analyze_ms_median"`
	TotalMedian   float64 `json:"total_ms_median"`
	FramesPerSec  float64 `json:"frames_per_second"`
}

func runBench(ctx context.Context, env *environment, args []string) error {
	if isSoakBench(args) {
		return runBenchSoak(ctx, env, args)
	}
	if isPipelineBench(args) {
		return runBenchPipeline(ctx, env, args)
	}
	fs := newFlagSet(env, "bench", "[flags] FILE|DIR ...\n       framecast bench --pipeline [flags]\n       framecast bench --soak DURATION [flags]",
		"Measure the compute-only cost of analysing images: decode, detect, classify, total,\n"+
			"medians over --iterations runs after --warmup runs, one engine, one frame at a time.\n\n"+
			"With --pipeline: measure throughput and latency through the embedded broker instead\n"+
			"(compute only vs through Kafka, real-time latency, broker memory); see\n"+
			"`framecast bench --pipeline --help`.\n\n"+
			"With --soak DURATION: run the whole pipeline above the machine's capacity for that\n"+
			"long and check that every frame is accounted for, no partition stalls and memory\n"+
			"stays flat; see `framecast bench --soak 1m --help`.")
	fs.Bool("pipeline", false, "measure the whole pipeline through the embedded broker (see `framecast bench --pipeline --help`)")
	var vf visionFlags
	vf.register(fs)
	iters := fs.Int("iterations", 50, "measured runs per image")
	warmup := fs.Int("warmup", 5, "unmeasured runs per image first")
	jsonOut := fs.Bool("json", false, "print the report as JSON")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := vf.validate(); err != nil {
		return err
	}
	if *iters < 1 || *warmup < 0 {
		return usageError("--iterations must be ≥ 1 and --warmup ≥ 0")
	}
	if fs.NArg() == 0 {
		return usageError("no images given")
	}
	files, err := offline.ExpandImages(fs.Args())
	if err != nil {
		return err
	}
	eng, err := vf.engine()
	if err != nil {
		return err
	}
	defer eng.Close()
	dec := imagex.NewDecoder(vf.limits())
	defer dec.Close()
	rep := benchReport{Iterations: *iters, Threads: vf.threads, CPUs: runtime.NumCPU(), ONNXRuntime: vision.RuntimeVersion()}
	var img imagex.RGB
	faces := make([]vision.Face, 0, 32)
	var analyzeAll, totalAll []float64
	for _, path := range files {
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		var dm, de, cl, an, to []float64
		for i := 0; i < *warmup+*iters; i++ {
			if err := ctx.Err(); err != nil {
				return err
			}
			t0 := time.Now()
			if err := dec.Decode(data, &img); err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
			d := time.Since(t0)
			var t vision.Timings
			if faces, t, err = eng.Analyze(&img, faces[:0]); err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
			total := time.Since(t0)
			if i < *warmup {
				continue
			}
			dm = append(dm, ms(d))
			de = append(de, ms(t.Detect))
			cl = append(cl, ms(t.Classify))
			an = append(an, ms(t.Detect+t.Classify))
			to = append(to, ms(total))
		}
		bi := benchImage{
			Name: filepath.Base(path), Width: img.W, Height: img.H, Faces: len(faces),
			DecodeP50: quantile.Of(dm, 0.5), DetectP50: quantile.Of(de, 0.5), ClassifyP5: quantile.Of(cl, 0.5),
			AnalyzeP50: quantile.Of(an, 0.5), TotalP50: quantile.Of(to, 0.5), TotalP90: quantile.Of(to, 0.9),
		}
		rep.Images = append(rep.Images, bi)
		analyzeAll = append(analyzeAll, bi.AnalyzeP50)
		totalAll = append(totalAll, bi.TotalP50)
	}
	rep.AnalyzeMedian = quantile.Of(analyzeAll, 0.5)
	rep.TotalMedian = quantile.Of(totalAll, 0.5)
	var sum float64
	for _, v := range totalAll {
		sum += v
	}
	rep.FramesPerSec = float64(len(totalAll)) * 1000 / sum
	if *jsonOut {
		enc := json.NewEncoder(env.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	tw := tabwriter.NewWriter(env.stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "IMAGE\tSIZE\tFACES\tDECODE\tDETECT\tCLASSIFY\tTOTAL p50\tTOTAL p90\t")
	for _, b := range rep.Images {
		fmt.Fprintf(tw, "%s\t%d×%d\t%d\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\t\n", b.Name, b.Width, b.Height, b.Faces, b.DecodeP50, b.DetectP50, b.ClassifyP5, b.TotalP50, b.TotalP90)
	}
	tw.Flush()
	fmt.Fprintf(env.stdout, "\nmilliseconds, medians of %d runs; median image: analyse %.2f ms, with decode %.2f ms; %.1f frames/s on one engine (ONNX Runtime %s, %d intra-op threads, %d CPUs)\n",
		*iters, rep.AnalyzeMedian, rep.TotalMedian, rep.FramesPerSec, rep.ONNXRuntime, vf.threads, rep.CPUs)
	return nil
}
