// Package telemetry serves a role's Prometheus metrics and its health:
//
//	GET /metrics  Prometheus text format: the role's framecast_* metrics,
//	              its Kafka client's (framecast_kafka_*), Go and process
//	GET /healthz  200 while the process is alive and its loops turn
//	GET /readyz   200 only when the role can do its job; else 503, and the
//	              body says why
//
// A Server is off (every method a no-op, Serve just runs the role) when
// its listen address is empty, so a command wires it the same way whether
// --metrics-listen is given or not. The per-role collectors (roles.go)
// read the roles' Stats snapshots at scrape time; only the histograms are
// fed from the hot path, through the roles' small observer hooks.
package telemetry

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/proto"

	"github.com/framecast/framecast/internal/rungroup"
)

// Namespace prefixes every metric framecast exports.
const Namespace = "framecast"

// checkTimeout bounds one health or readiness check (a check may ask the
// brokers something).
const checkTimeout = 2 * time.Second

// shutdownTimeout bounds the graceful shutdown of the HTTP server.
const shutdownTimeout = 5 * time.Second

// Check says why something is not healthy or not ready; nil means it is.
type Check func(ctx context.Context) error

// Server is the metrics and health endpoint of one process. Create it with
// New or RegisterFlags; register checks and collectors before Serve.
type Server struct {
	listen *string
	reg    *prometheus.Registry

	mu       sync.Mutex
	live     []namedCheck
	ready    []namedCheck
	stopping bool // the role was told to stop: not ready any more
	addr     net.Addr
}

type namedCheck struct {
	name string
	fn   Check
}

// New returns a server that will listen on listen (host:port; empty: off)
// with a registry that already holds the Go and process collectors and
// framecast_build_info.
func New(listen string) *Server {
	s := &Server{listen: &listen, reg: prometheus.NewRegistry()}
	s.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		collectors.NewBuildInfoCollector(),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: Namespace, Name: "build_info", Help: "Always 1; the labels say which build runs.",
			ConstLabels: prometheus.Labels{"version": version()},
		}, func() float64 { return 1 }),
		// A gauge rather than the scrape's up or a probe of /readyz:
		// alerts and dashboards get readiness from the scrape they
		// already make, with no blackbox exporter to run.
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: Namespace, Name: "ready", Help: "1 while /readyz would answer 200 (its checks run at scrape time), else 0.",
		}, func() float64 {
			ctx, cancel := context.WithTimeout(context.Background(), checkTimeout)
			defer cancel()
			return b2f(failing(ctx, s.checks(true)) == "")
		}),
	)
	return s
}

// RegisterFlags registers --metrics-listen on fs (FRAMECAST_METRICS_LISTEN
// through the CLI's environment mapping) and returns the server it
// configures: off unless the flag is given.
func RegisterFlags(fs *flag.FlagSet) *Server {
	s := New("")
	fs.Var((*listenFlag)(s.listen), "metrics-listen", "serve Prometheus /metrics, /healthz and /readyz on this `host:port` (empty: off)")
	return s
}

// listenFlag is --metrics-listen: a host:port with a numeric port, or
// empty. A malformed one is a usage error when it is given (flag, env
// or config file), not a failure once the role has started connecting;
// a port in use still fails at Serve.
type listenFlag string

func (l *listenFlag) String() string { return string(*l) }

func (l *listenFlag) Set(v string) error {
	if v != "" {
		_, port, err := net.SplitHostPort(v)
		if err != nil {
			return fmt.Errorf("want host:port, e.g. 0.0.0.0:9464 or 127.0.0.1:9464: %w", err)
		}
		if n, err := strconv.ParseUint(port, 10, 16); err != nil || (n == 0 && port != "0") {
			return fmt.Errorf("port %q: want a number from 0 to 65535", port)
		}
	}
	*l = listenFlag(v)
	return nil
}

// On reports whether the server will listen.
func (s *Server) On() bool { return s != nil && *s.listen != "" }

// Registry is where the role's collectors go.
func (s *Server) Registry() *prometheus.Registry { return s.reg }

// Live adds a liveness check: /healthz fails while it fails.
func (s *Server) Live(name string, fn Check) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.live = append(s.live, namedCheck{name, fn})
}

// Ready adds a readiness check: /readyz fails while it fails.
func (s *Server) Ready(name string, fn Check) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ready = append(s.ready, namedCheck{name, fn})
}

// Addr is the address the server listens on, once Serve has started it.
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

// Handler serves /metrics, /healthz and /readyz.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(gaugeNames{s.reg}, promhttp.HandlerOpts{Registry: s.reg}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		s.answer(w, r, s.checks(false), "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		s.answer(w, r, s.checks(true), "ready")
	})
	return mux
}

func (s *Server) checks(ready bool) []namedCheck {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !ready {
		return slices.Clone(s.live)
	}
	if s.stopping {
		return []namedCheck{{"stopping", func(context.Context) error { return errors.New("shutting down") }}}
	}
	return slices.Clone(s.ready)
}

// answer writes 200 and ok, or 503 and what failing says.
func (s *Server) answer(w http.ResponseWriter, r *http.Request, cs []namedCheck, ok string) {
	ctx, cancel := context.WithTimeout(r.Context(), checkTimeout)
	defer cancel()
	failed := failing(ctx, cs)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if failed != "" {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprint(w, failed)
		return
	}
	fmt.Fprintln(w, ok)
}

// failing runs the checks concurrently and returns one line per failing
// check ("" when all pass).
func failing(ctx context.Context, cs []namedCheck) string {
	errs := make([]error, len(cs))
	var wg sync.WaitGroup
	for i, c := range cs {
		wg.Go(func() { errs[i] = c.fn(ctx) })
	}
	wg.Wait()
	var b strings.Builder
	for i, err := range errs {
		if err != nil {
			fmt.Fprintf(&b, "%s: %v\n", cs[i].name, err)
		}
	}
	return b.String()
}

// Serve runs the role's run and, when the server is on, serves the
// endpoints beside it: it listens first (a bad address fails before
// the role starts), keeps answering while the role drains after ctx ends
// (/readyz says "shutting down" from then on) and shuts down gracefully
// when run returns. The first error of the two is returned.
func (s *Server) Serve(ctx context.Context, log *slog.Logger, run func(context.Context) error) error {
	if !s.On() {
		return run(ctx)
	}
	ln, err := net.Listen("tcp", *s.listen)
	if err != nil {
		return fmt.Errorf("--metrics-listen: %w", err)
	}
	s.mu.Lock()
	s.addr = ln.Addr()
	s.mu.Unlock()
	log.Info("metrics and health", "url", "http://"+ln.Addr().String()+"/metrics")
	g, _ := rungroup.New(context.WithoutCancel(ctx))
	g.Go(func(sctx context.Context) error { return s.Run(sctx, ln) })
	g.Go(func(gctx context.Context) error {
		// The role stops on ctx (a signal) or when the server fails.
		rctx, cancel := context.WithCancel(ctx)
		defer cancel()
		stop := context.AfterFunc(gctx, cancel)
		defer stop()
		return run(rctx)
	})
	stopReady := context.AfterFunc(ctx, func() {
		s.mu.Lock()
		s.stopping = true
		s.mu.Unlock()
	})
	defer stopReady()
	return g.Wait()
}

// Run serves the endpoints on ln until ctx ends, then shuts down
// gracefully (at most 5 s). It is a run-group part: Serve uses it; a
// caller with its own run group may too.
func (s *Server) Run(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("metrics server: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		srv.Close()
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("metrics server: %w", err)
	}
	return nil
}

// Version is framecast_build_info's version label, set at link time by
// the Makefile (-X); without it, the module version Go recorded.
var Version = ""

func version() string {
	if Version != "" {
		return Version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "dev"
}

// gaugeNames drops the "_total" that kprom gives two gauges
// (buffered_fetch_records_total, buffered_produce_records_total): in the
// Prometheus conventions, which promtool checks, only counters end in it.
type gaugeNames struct{ prometheus.Gatherer }

func (g gaugeNames) Gather() ([]*dto.MetricFamily, error) {
	mfs, err := g.Gatherer.Gather()
	for _, mf := range mfs {
		if mf.GetType() == dto.MetricType_GAUGE && strings.HasSuffix(mf.GetName(), "_total") {
			mf.Name = proto.String(strings.TrimSuffix(mf.GetName(), "_total"))
		}
	}
	return mfs, err
}
