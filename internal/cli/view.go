package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/framecast/framecast/internal/flagvalue"
	"github.com/framecast/framecast/internal/kafka"
	"github.com/framecast/framecast/internal/telemetry"
	"github.com/framecast/framecast/internal/view"
)

const viewAbout = `The live dashboard: every camera's video with face boxes and emotion labels drawn in
the browser, per-camera fps, latency, faces and drops, and charts of the emotions,
the throughput and the end-to-end latency. Open the printed URL in a browser.

It reads the frames and results topics directly (results with read_committed),
starting from the newest records, without joining a consumer group: it never takes
partitions from the processors. All cameras share one WebSocket; a slow browser gets
the newest frame of each camera, never a growing queue.

Other endpoints:
  /stream.mjpeg?camera=ID[&annotate=1]   MJPEG for VLC, ffplay, an <img> tag (annotate=1:
                                         boxes burnt in on the server)
  /snapshot.jpg?camera=ID[&annotate=1]   the newest frame
  /api/cameras   /healthz   /readyz (200 once both topics are being read)

Security: it listens on 127.0.0.1 by default. On any other address it requires
--auth-token (or FRAMECAST_AUTH_TOKEN), or an explicit --insecure-no-auth. The token goes in
an Authorization: Bearer header, or once as ?token= in the page's URL (the browser then
keeps a hash of it in a cookie). The WebSocket accepts only the dashboard's own origin, or
--allow-origin patterns. Without a token it answers only requests for localhost, a
loopback address or the address it listens on (against DNS rebinding: another site's page
must not read the cameras); behind a reverse proxy or under another name, add the name with
--allow-host.

Each camera is shown slightly behind live by default, every frame with its own result
(boxes never lost to latency; the delay is on the tile), or live (the newest frame) with
the page's Live button. A partition the dashboard cannot read shows its cameras STALLED
and logs an ERROR every --stall-alarm.

Example: framecast view --listen 127.0.0.1:8080`

// viewFlags are the dashboard flags `view` and `demo` share.
type viewFlags struct {
	cfg        view.Config
	stallAlarm time.Duration // 0: the view package's default
}

func (v *viewFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&v.cfg.Listen, "listen", view.DefaultListen, "host:port of the dashboard (port 0: any free port); other than loopback it needs --auth-token")
	fs.StringVar(&v.cfg.AuthToken, "auth-token", "", "require this secret on the page, the WebSocket and the streams (prefer FRAMECAST_AUTH_TOKEN: command lines are visible to other users)")
	fs.BoolVar(&v.cfg.InsecureNoAuth, "insecure-no-auth", false, "allow a non-loopback --listen without --auth-token (only on a trusted network: anyone who reaches it sees every camera)")
	fs.Var((*flagvalue.List)(&v.cfg.AllowOrigins), "allow-origin", "also accept WebSocket connections from pages of these origin host patterns, comma-separated, repeatable (path.Match syntax, e.g. "+
		view.OriginPatternExample+"; a pattern without a port matches any port, one with a port (dash.example.com:8443) only that port)")
	fs.Var((*flagvalue.List)(&v.cfg.AllowHosts), "allow-host", "without --auth-token, also answer requests for these host names, comma-separated, repeatable (a reverse proxy's name; localhost, loopback addresses and the --listen host always work)")
	fs.DurationVar(&v.cfg.EmotionWindow, "emotion-window", view.DefaultEmotionWindow, "span of the emotion distribution charts")
	fs.DurationVar(&v.cfg.WriteTimeout, "write-timeout", view.DefaultWriteTimeout, "close a viewer that accepts nothing for this long")
}

// registerStallAlarm adds --stall-alarm. Not in register: demo defines
// its own --stall-alarm (for every role it runs) and passes it on.
func (v *viewFlags) registerStallAlarm(fs *flag.FlagSet) {
	fs.DurationVar(&v.stallAlarm, "stall-alarm", view.DefaultStallAlarm, "log an ERROR, count it and show the cameras STALLED when a partition of the frames or results topic has records the dashboard makes no progress on for this long (again every interval while it lasts; 0: never)")
}

func (v *viewFlags) validate() []error {
	var errs []error
	if err := v.config().Validate(); err != nil {
		errs = append(errs, err)
	}
	// Zero means the default in view.Config (and a negative duration
	// never); on the command line 0 is never or a mistake.
	if v.stallAlarm < 0 {
		errs = append(errs, errors.New("--stall-alarm must not be negative (0: never)"))
	}
	if v.cfg.Listen == "" {
		errs = append(errs, view.CheckListen("", "", false)) // not host:port
	}
	if v.cfg.EmotionWindow == 0 || v.cfg.WriteTimeout == 0 {
		errs = append(errs, errors.New("--emotion-window must be at least 1s and --write-timeout positive"))
	}
	return errs
}

// config is the dashboard's configuration from the flags (validate
// first).
func (v *viewFlags) config() view.Config {
	cfg := v.cfg
	cfg.StallAlarm = offIfZero(v.stallAlarm)
	return cfg
}

func runView(ctx context.Context, env *environment, args []string) error {
	fs := newFlagSet(env, "view", "[flags]", viewAbout)
	var vf viewFlags
	vf.register(fs)
	vf.registerStallAlarm(fs)
	var kc kafka.Config
	kc.RegisterFlags(fs)
	metrics := telemetry.RegisterFlags(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	errs := vf.validate()
	if fs.NArg() > 0 {
		errs = append(errs, fmt.Errorf("unexpected arguments %q: view takes only flags", fs.Args()))
	}
	if err := kc.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return usageError("%v", err)
	}
	clientOpts, err := kafkaClient(ctx, env.log, &kc, "framecast-view")
	if err != nil {
		if ctx.Err() != nil {
			return nil // interrupted before it started: a normal stop
		}
		return err
	}
	srv, ln, err := startView(env, vf, kc.Topics, clientOpts, metrics, "framecast-view")
	if err != nil {
		return err
	}
	fmt.Fprintln(env.stdout, view.URL(ln.Addr()))
	env.log.Info("connected", "kafka", kc.String())
	return metrics.WatchView(srv).Serve(ctx, env.log, func(ctx context.Context) error { return srv.Run(ctx, ln) })
}

// startView creates the dashboard and listens; the caller prints the URL
// (view.URL) when everything else is up.
func startView(env *environment, vf viewFlags, topics kafka.Topics, clientOpts []kgo.Opt, metrics *telemetry.Server, clientID string) (*view.Server, net.Listener, error) {
	cfg := vf.config()
	cfg.Client, cfg.Topics, cfg.Log = clientOpts, topics, env.log.With("role", "view")
	cfg.ReaderClient = func(r string) []kgo.Opt { return metrics.KafkaClientAs(nil, clientID+"-"+r) }
	srv, err := view.New(cfg)
	if err != nil {
		return nil, nil, err
	}
	ln, err := srv.Listen()
	if err != nil {
		srv.Close()
		return nil, nil, err
	}
	return srv, ln, nil
}
