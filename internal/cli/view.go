package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/framecast/framecast/internal/kafka"
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
keeps it in a cookie). The WebSocket accepts only the dashboard's own origin, or
--allow-origin patterns.

Example: framecast view --listen 127.0.0.1:8080`

// viewFlags are the dashboard flags `view` and `demo` share.
type viewFlags struct {
	listen         string
	authToken      string
	insecureNoAuth bool
	allowOrigins   stringList
	emotionWindow  time.Duration
	writeTimeout   time.Duration
}

func (v *viewFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&v.listen, "listen", view.DefaultListen, "host:port of the dashboard (port 0: any free port); other than loopback it needs --auth-token")
	fs.StringVar(&v.authToken, "auth-token", "", "require this secret on the page, the WebSocket and the streams (prefer FRAMECAST_AUTH_TOKEN: command lines are visible to other users)")
	fs.BoolVar(&v.insecureNoAuth, "insecure-no-auth", false, "allow a non-loopback --listen without --auth-token (only on a trusted network: anyone who reaches it sees every camera)")
	fs.Var(&v.allowOrigins, "allow-origin", "also accept WebSocket connections from pages of this origin host pattern (e.g. *.example.com); repeatable")
	fs.DurationVar(&v.emotionWindow, "emotion-window", view.DefaultEmotionWindow, "span of the emotion distribution charts")
	fs.DurationVar(&v.writeTimeout, "write-timeout", view.DefaultWriteTimeout, "close a viewer that accepts nothing for this long")
}

func (v *viewFlags) validate() []error {
	var errs []error
	if err := view.CheckListen(v.listen, v.authToken, v.insecureNoAuth); err != nil {
		errs = append(errs, err)
	}
	if v.emotionWindow < time.Second || v.writeTimeout <= 0 {
		errs = append(errs, errors.New("--emotion-window must be at least 1s and --write-timeout positive"))
	}
	return errs
}

func runView(ctx context.Context, env *environment, args []string) error {
	fs := newFlagSet(env, "view", "[flags]", viewAbout)
	var vf viewFlags
	vf.register(fs)
	var kc kafka.Config
	kc.RegisterFlags(fs)
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
	if kc.ClientID == "" {
		kc.ClientID = "framecast-view"
	}
	clientOpts, err := kc.ClientOpts()
	if err != nil {
		return usageError("%v", err)
	}
	// Check explains an unreachable broker, a failed SASL handshake or a
	// TLS mismatch, which franz-go itself reports only as a timeout.
	if err := kafka.Check(ctx, kc, kafka.DefaultCheckTimeout); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	srv, ln, err := startView(env, vf, kc.Topics, clientOpts)
	if err != nil {
		return err
	}
	fmt.Fprintln(env.stdout, dashboardURL(ln.Addr()))
	env.log.Info("connected", "kafka", kc.String())
	return srv.Run(ctx, ln)
}

// startView creates the dashboard and listens; the caller prints the URL
// (dashboardURL) when everything else is up.
func startView(env *environment, vf viewFlags, topics kafka.Topics, clientOpts []kgo.Opt) (*view.Server, net.Listener, error) {
	srv, err := view.New(view.Config{
		Client: clientOpts, Topics: topics, AuthToken: vf.authToken, AllowOrigins: vf.allowOrigins,
		EmotionWindow: vf.emotionWindow, WriteTimeout: vf.writeTimeout, Log: env.log.With("role", "view"),
	})
	if err != nil {
		return nil, nil, err
	}
	ln, err := net.Listen("tcp", vf.listen)
	if err != nil {
		srv.Close()
		if errors.Is(err, syscall.EADDRINUSE) {
			return nil, nil, fmt.Errorf("dashboard: %s is in use (another dashboard or demo?): pick another --listen, e.g. 127.0.0.1:0 for any free port: %w", vf.listen, err)
		}
		return nil, nil, fmt.Errorf("dashboard: listening on %s: %w", vf.listen, err)
	}
	url := dashboardURL(ln.Addr())
	if vf.authToken != "" {
		env.log.Info("the dashboard needs its token: open " + url + "?token=<token> once (the browser keeps it), or send Authorization: Bearer <token>")
	} else if !view.IsLoopback(vf.listen) {
		env.log.Warn("the dashboard is reachable from other machines WITHOUT authentication (--insecure-no-auth)", "addr", ln.Addr().String())
	}
	return srv, ln, nil
}

// dashboardURL is the address to open: the listener's, with the host name
// instead of a wildcard address.
func dashboardURL(addr net.Addr) string {
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return "http://" + addr.String() + "/"
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		if h, err := os.Hostname(); err == nil && h != "" {
			host = h
		} else {
			host = "127.0.0.1"
		}
	}
	return "http://" + net.JoinHostPort(host, port) + "/"
}
