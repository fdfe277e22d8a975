package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"runtime"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/framecast/framecast/internal/analysis"
	"github.com/framecast/framecast/internal/broker"
	"github.com/framecast/framecast/internal/demo"
	"github.com/framecast/framecast/internal/kafka"
	"github.com/framecast/framecast/internal/models"
	"github.com/framecast/framecast/internal/process"
	"github.com/framecast/framecast/internal/publish"
	"github.com/framecast/framecast/internal/telemetry"
	"github.com/framecast/framecast/internal/view"
)

const demoAbout = `The whole pipeline in one process: the embedded development broker, synthetic cameras
(or your sources), a processor and the live dashboard. It prints the dashboard's URL
on stdout; open it in a browser. Ctrl-C (or SIGTERM) stops everything cleanly: the
cameras stop, the processor finishes the frames in flight, the dashboard and the
broker close.

Cameras: --cameras N synthetic cameras demo-1 … demo-N (the face-api sample photos
filmed by a virtual camera, a different seed each), or --source [ID=]URI and
--camera-file as for framecast publish (repeatable; not together with --cameras).

Rate: without --fps (or FRAMECAST_FPS) the demo first measures this machine for
about a second (a few synthetic frames rendered, then analysed on the processor's
engines) and gives the cameras a rate that uses at most 65 % of what it can
analyse, 1 to 10 fps; the start-up line says what it measured and chose.

The broker keeps its data in <cache>/demo/broker (--data-dir) and listens on
--broker-listen, so other tools can join in: framecast results, or a second
framecast process on the same broker. On another --broker-listen port the data goes
to <cache>/demo/broker-PORT, and with port 0 to a fresh directory removed at exit:
two brokers never share a directory (the second would stop, naming the first).

Example: framecast demo --cameras 6 --fps 5`

func runDemo(ctx context.Context, env *environment, args []string) error {
	fs := newFlagSet(env, "demo", "[flags]", demoAbout)
	var vf analysis.Flags
	vf.Register(fs)
	var wf viewFlags
	wf.register(fs)
	metrics := telemetry.RegisterFlags(fs)
	brokerListen := fs.String("broker-listen", kafka.DefaultBrokers, "host:port of the embedded broker (port 0: any free port)")
	dataDir := fs.String("data-dir", "", "the broker's data directory (default <home>/demo/broker)")
	cameras := fs.Int("cameras", 4, "synthetic cameras demo-1 … demo-N, when no --source or --camera-file is given (not with them)")
	// The cameras: --source, --camera-file and the source options as for
	// framecast publish; without them, synthetic cameras.
	var sf sourceFlags
	sf.register(fs, publish.DefaultFPS)
	concurrency := fs.Int("concurrency", runtime.GOMAXPROCS(0), "the processor's analysis goroutines, each with its own engine")
	maxAge := fs.Duration("max-age", 2*time.Second, "the processor skips frames older than this (status skipped, reason stale)")
	stallAlarm := fs.Duration("stall-alarm", process.DefaultStallAlarm, "the processor logs an error naming any frames partition that lags with no frame processed for this long (0: never)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	var errs []error
	if fs.NArg() > 0 {
		errs = append(errs, fmt.Errorf("unexpected arguments %q: demo takes only flags (cameras with --source)", fs.Args()))
	}
	if err := vf.Check(); err != nil {
		errs = append(errs, err)
	}
	errs = append(errs, wf.validate()...)
	synthetic := len(sf.sources) == 0 && sf.cameraFile == ""
	if !synthetic && given(fs, "cameras") {
		errs = append(errs, errors.New("--cameras and --source/--camera-file exclude each other: --cameras N makes synthetic cameras, --source and --camera-file name yours"))
	}
	if synthetic {
		if *cameras < 1 || *cameras > 64 {
			errs = append(errs, fmt.Errorf("--cameras %d: want 1 to 64", *cameras))
		}
		for i := 1; i <= min(max(*cameras, 0), 64); i++ {
			sf.sources = append(sf.sources, fmt.Sprintf("demo-%d=synthetic:?seed=%d", i, i))
		}
	}
	specs, err := sf.specs(nil)
	if err != nil {
		errs = append(errs, err)
	}
	if *concurrency < 1 || *concurrency > 64 {
		errs = append(errs, fmt.Errorf("--concurrency %d: want 1 to 64", *concurrency))
	}
	if *maxAge <= 0 {
		errs = append(errs, errors.New("--max-age must be positive"))
	}
	if *stallAlarm < 0 {
		errs = append(errs, errors.New("--stall-alarm must not be negative"))
	}
	*stallAlarm = offIfZero(*stallAlarm)
	bc := broker.Config{Listen: *brokerListen, DataDir: *dataDir, StatsInterval: -1} // the processor and dashboard narrate
	tempData := false
	if bc.DataDir == "" {
		bc.DataDir, tempData = demo.DataDir(models.At(vf.Home).Home, *brokerListen)
	}
	if err := bc.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("--broker-listen/--data-dir: %w", err))
	}
	if err := errors.Join(errs...); err != nil {
		return usageError("%v", err)
	}
	if vf.Threads == 0 && *concurrency > 1 {
		vf.Threads = 1 // N engines × one thread each, as `framecast process` runs them
	}
	start := time.Now()

	// The default rate fits this machine: measured before the cameras
	// open, since a synthetic camera's scene runs at its rate.
	rate, err := demoRate(ctx, &sf, vf, specs, *concurrency)
	if err != nil {
		return nil // interrupted
	}
	// Sources first: a wrong path is reported before anything starts.
	cams, err := publish.OpenCameras(specs, sf.options, 0, env.log)
	if err != nil {
		return err
	}
	wf.stallAlarm = *stallAlarm // the dashboard's readers raise the same alarm (-1 here: never)
	return demo.Run(ctx, demo.Config{
		Broker: bc, TempDataDir: tempData, Cameras: cams,
		Process: process.Config{
			Worker: workerName(), Concurrency: *concurrency, Limits: vf.Limits(), MaxAge: *maxAge, Tracking: vf.Tracking(),
			NewAnalyzer:  func() (analysis.Analyzer, error) { return vf.Engine() },
			DrainTimeout: 3 * time.Second, StatsInterval: 30 * time.Second, StallAlarm: *stallAlarm,
		},
		StartView: func(topics kafka.Topics, clientOpts []kgo.Opt) (*view.Server, net.Listener, error) {
			return startView(env, wf, topics, clientOpts, metrics, "framecast-demo-view")
		},
		Ready: func(ln net.Listener, brokerAddr, dataDir string) {
			fmt.Fprintln(env.stdout, view.URL(ln.Addr()))
			env.log.Info("demo running: open the dashboard URL printed on stdout; Ctrl-C stops it",
				append([]any{"cameras", len(cams), "broker", brokerAddr, "data_dir", dataDir,
					"startup", time.Since(start).Round(time.Millisecond)}, rate...)...)
		},
		Log: env.log, Metrics: metrics,
	})
}
