package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"time"

	"github.com/framecast/framecast/internal/analysis"
	"github.com/framecast/framecast/internal/broker"
	"github.com/framecast/framecast/internal/kafka"
	"github.com/framecast/framecast/internal/models"
	"github.com/framecast/framecast/internal/process"
	"github.com/framecast/framecast/internal/publish"
	"github.com/framecast/framecast/internal/rungroup"
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
	var vf visionFlags
	vf.register(fs)
	var wf viewFlags
	wf.register(fs)
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
	if err := vf.validate(); err != nil {
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
	bc := broker.Config{Listen: *brokerListen, DataDir: *dataDir}
	tempData := false
	if bc.DataDir == "" {
		bc.DataDir, tempData = demoDataDir(models.At(vf.home).Home, *brokerListen)
	}
	if err := bc.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("--broker-listen/--data-dir: %w", err))
	}
	if err := errors.Join(errs...); err != nil {
		return usageError("%v", err)
	}
	if vf.threads == 0 && *concurrency > 1 {
		vf.threads = 1 // N engines × one thread each, as `framecast process` runs them
	}

	d := &demo{env: env}
	defer d.close()
	start := time.Now()

	// The default rate fits this machine: measured before the cameras
	// open, since a synthetic camera's scene runs at its rate.
	rate, err := demoRate(ctx, &sf, vf, specs, *concurrency)
	if err != nil {
		return nil // interrupted
	}

	// Sources first: a wrong path is reported before anything starts.
	if d.cams, err = openCameras(env, &sf, specs, 0); err != nil {
		return err
	}

	bc.Logger = env.log.With("role", "broker")
	if tempData {
		if err := os.MkdirAll(filepath.Dir(bc.DataDir), 0o700); err != nil {
			return fmt.Errorf("broker data directory: %w", err)
		}
		if bc.DataDir, err = os.MkdirTemp(filepath.Dir(bc.DataDir), filepath.Base(bc.DataDir)); err != nil {
			return fmt.Errorf("broker data directory: %w", err)
		}
		d.tempDir = bc.DataDir
	}
	if d.broker, err = broker.Start(ctx, bc); err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return fmt.Errorf("%w\n(is `framecast broker` or another demo running? Stop it, or give the demo its own broker port "+
				"with --broker-listen 127.0.0.1:0: it then keeps its broker's data in a directory of its own)", err)
		}
		return err
	}
	kc := kafka.Config{Brokers: d.broker.Addr(), ClientID: "framecast-demo"}
	kc.Topics = kafka.Topics{Frames: kafka.DefaultFramesTopic, Results: kafka.DefaultResultsTopic, DLQ: kafka.DefaultDLQTopic}
	clientOpts, err := kc.ClientOpts(env.log)
	if err != nil {
		return err
	}

	d.pub, err = publish.New(ctx, publish.Config{
		Topic: kc.Topics.Frames, FlushTimeout: 2 * time.Second, Log: env.log.With("role", "publish"),
	}, clientOpts...)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("publisher: %w", err)
	}
	wf.stallAlarm = *stallAlarm // the dashboard's readers raise the same alarm (-1 here: never)
	srv, ln, err := startView(env, wf, kc.Topics, clientOpts)
	if err != nil {
		return err
	}
	// The processor last: once it exists nothing else can fail before
	// Run, which is what closes its engines.
	proc, err := process.New(ctx, process.Config{
		Client: clientOpts, Topics: kc.Topics, Group: "framecast-demo",
		Worker: workerName(), Concurrency: *concurrency, Limits: vf.limits(), MaxAge: *maxAge,
		NewAnalyzer:  func() (analysis.Analyzer, error) { return vf.engine() },
		DrainTimeout: 3 * time.Second, StatsInterval: 30 * time.Second, StallAlarm: *stallAlarm,
		Log: env.log.With("role", "process"),
	})
	if err != nil {
		srv.Close()
		ln.Close()
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("processor: %w (the models come with `framecast models fetch`, or `make setup`)", err)
	}
	fmt.Fprintln(env.stdout, dashboardURL(ln.Addr()))
	env.log.Info("demo running: open the dashboard URL printed on stdout; Ctrl-C stops it",
		append([]any{"cameras", len(d.cams), "broker", d.broker.Addr(), "data_dir", bc.DataDir,
			"startup", time.Since(start).Round(time.Millisecond)}, rate...)...)

	// One run group: the first part to end (with an error or not) stops
	// the others; Ctrl-C stops them all.
	g, runCtx := rungroup.New(ctx)
	part := func(name string, run func(context.Context) error) {
		g.Go(func(ctx context.Context) error {
			err := run(ctx)
			if ctx.Err() == nil {
				env.log.Warn("a part of the demo stopped; stopping the rest", "part", name, "err", err)
			}
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			return nil
		})
	}
	cams := d.cams
	d.cams = nil // Run closes the sources
	part("publisher", func(ctx context.Context) error { return d.pub.Run(ctx, cams) })
	part("processor", proc.Run)
	part("dashboard", func(ctx context.Context) error { return srv.Run(ctx, ln) })
	<-runCtx.Done()
	stopAt := time.Now()
	if ctx.Err() != nil {
		env.log.Info("stopping the demo: cameras, processor, dashboard, then the broker")
	}
	err = g.Wait()
	d.close()
	env.log.Info("demo stopped", "shutdown", time.Since(stopAt).Round(time.Millisecond))
	return err
}

// demo holds what runDemo started, for closing on every path.
type demo struct {
	env    *environment
	cams   []publish.Camera
	broker *broker.Broker
	pub    *publish.Publisher
	// tempDir is the broker's data directory when it is the demo's own
	// for one run (--broker-listen with port 0); removed on close.
	tempDir string
}

// demoDataDir is where the demo's broker keeps its data when --data-dir
// is not given. Two brokers must never share a directory (kfake would
// interleave their segments; the broker's lock refuses the second), so
// a demo on another port than the default gets a directory of its own:
// <home>/demo/broker-PORT for a fixed port, and for port 0 a fresh one
// for this run (temp is then true: the name is a pattern for
// os.MkdirTemp, and the directory is removed at the end).
func demoDataDir(home, listen string) (dir string, temp bool) {
	base := filepath.Join(home, "demo", "broker")
	if listen == kafka.DefaultBrokers {
		return base, false
	}
	_, port, err := net.SplitHostPort(listen)
	if err != nil {
		return base, false // the listen address is refused later
	}
	if port == "0" {
		return base + "-run-*", true
	}
	return base + "-" + port, false
}

func (d *demo) close() {
	for _, c := range d.cams {
		c.Source.Close()
	}
	d.cams = nil
	if d.pub != nil {
		d.pub.Close()
		d.pub = nil
	}
	if d.broker != nil {
		if err := d.broker.Close(); err != nil {
			d.env.log.Warn("closing the broker", "err", err)
		}
		d.broker = nil
	}
	if d.tempDir != "" {
		if err := os.RemoveAll(d.tempDir); err != nil {
			d.env.log.Warn("removing the demo's broker data", "err", err)
		}
		d.tempDir = ""
	}
}
