// Package demo runs the whole pipeline in one process, for `framecast
// demo`: the embedded broker, a publisher with its cameras, a processor
// and the dashboard, each the same role the separate commands run.
//
// Invariants:
//   - One run group: the first part to end (with an error or not) stops the
//     others, and a cancelled context stops them all; the broker closes
//     last, after the processor has committed.
//   - Two brokers never share a data directory (DataDir): a demo on another
//     port gets its own, and with port 0 a fresh one removed at the end.
//   - Whatever Run started is closed on every path, the cameras too.
package demo

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/framecast/framecast/internal/broker"
	"github.com/framecast/framecast/internal/kafka"
	"github.com/framecast/framecast/internal/process"
	"github.com/framecast/framecast/internal/publish"
	"github.com/framecast/framecast/internal/rungroup"
	"github.com/framecast/framecast/internal/telemetry"
	"github.com/framecast/framecast/internal/view"
)

// Config is what the demo runs. Run fills in what ties the parts together
// (the broker's address, the topics, the processor's group).
type Config struct {
	// Broker is the embedded broker's; TempDataDir says that its DataDir
	// is a pattern for a directory of this run's own (DataDir's temp).
	Broker      broker.Config
	TempDataDir bool
	// Cameras are the opened sources; Run closes them.
	Cameras []publish.Camera
	// Process is the processor's configuration but for its Kafka client,
	// topics and group.
	Process process.Config
	// StartView creates the dashboard on the demo's broker and its
	// listener (the dashboard's flags and messages are the caller's).
	StartView func(topics kafka.Topics, clientOpts []kgo.Opt) (*view.Server, net.Listener, error)
	// Ready is called once every part is about to run, with the
	// dashboard's listener and the broker's address and data directory.
	Ready func(dashboard net.Listener, brokerAddr, dataDir string)
	// Log narrates (default: discarded).
	Log *slog.Logger
	// Metrics, when on, serves the metrics and health of every part
	// (nil: none).
	Metrics *telemetry.Server
}

// Group is the processor's consumer group in the demo.
const Group = "framecast-demo"

// Run starts the parts, runs them until ctx ends or one of them stops, and
// closes everything. A cancelled ctx before the parts run is not an error.
func Run(ctx context.Context, cfg Config) (err error) {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	log := cfg.Log
	d := &running{log: log, cams: cfg.Cameras}
	defer d.close()

	bc := cfg.Broker
	bc.Logger = log.With("role", "broker")
	if cfg.TempDataDir {
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
	clientOpts, err := kc.ClientOpts(log)
	if err != nil {
		return err
	}
	d.pub, err = publish.New(ctx, publish.Config{
		Topic: kc.Topics.Frames, FlushTimeout: 2 * time.Second, Log: log.With("role", "publish"),
	}, cfg.Metrics.KafkaClientAs(clientOpts, "framecast-demo-publish")...)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("publisher: %w", err)
	}
	srv, ln, err := cfg.StartView(kc.Topics, clientOpts)
	if err != nil {
		return err
	}
	// The processor last: once it exists nothing else can fail before
	// Run, which is what closes its engines.
	pc := cfg.Process
	pc.Client, pc.Topics, pc.Group = cfg.Metrics.KafkaClientAs(clientOpts, "framecast-demo-process"), kc.Topics, Group
	pc.Log = log.With("role", "process")
	proc, err := process.New(ctx, pc)
	if err != nil {
		srv.Close()
		ln.Close()
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("processor: %w (the models come with `framecast models fetch`, or `make setup`)", err)
	}
	if cfg.Ready != nil {
		cfg.Ready(ln, d.broker.Addr(), bc.DataDir)
	}

	cfg.Metrics.WatchBroker(d.broker).WatchPublish(d.pub).WatchProcess(proc).WatchView(srv)
	var stopAt time.Time
	err = cfg.Metrics.Serve(ctx, log, func(ctx context.Context) error {
		g, runCtx := rungroup.New(ctx)
		part := func(name string, run func(context.Context) error) {
			g.Go(func(ctx context.Context) error {
				err := run(ctx)
				if ctx.Err() == nil {
					log.Warn("a part of the demo stopped; stopping the rest", "part", name, "err", err)
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
		stopAt = time.Now()
		if ctx.Err() != nil {
			log.Info("stopping the demo: cameras, processor, dashboard, then the broker")
		}
		return g.Wait()
	})
	d.close()
	log.Info("demo stopped", "shutdown", time.Since(stopAt).Round(time.Millisecond))
	return err
}

// DataDir is where the demo's broker keeps its data when no directory is
// given. Two brokers must never share a directory (kfake would interleave
// their segments; the broker's lock refuses the second), so a demo on
// another port than the default gets a directory of its own:
// <home>/demo/broker-PORT for a fixed port, and for port 0 a fresh one for
// this run (temp is then true: the name is a pattern for os.MkdirTemp, and
// the directory is removed at the end).
func DataDir(home, listen string) (dir string, temp bool) {
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

// running holds what Run started, for closing on every path.
type running struct {
	log    *slog.Logger
	cams   []publish.Camera
	broker *broker.Broker
	pub    *publish.Publisher
	// tempDir is the broker's data directory when it is this run's own;
	// removed on close.
	tempDir string
}

func (d *running) close() {
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
			d.log.Warn("closing the broker", "err", err)
		}
		d.broker = nil
	}
	if d.tempDir != "" {
		if err := os.RemoveAll(d.tempDir); err != nil {
			d.log.Warn("removing the demo's broker data", "err", err)
		}
		d.tempDir = ""
	}
}
