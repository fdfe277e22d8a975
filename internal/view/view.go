// Package view is framecast's live dashboard: a web server that reads the
// frames and results topics without joining the processors' consumer group
// (it never takes partitions from them), starting from the newest records,
// joins frames and results by (camera, seq), and shows every camera on one
// page.
//
// # Endpoints
//
//	/                         the dashboard (embedded assets, no internet needed)
//	/ws                       one WebSocket per page for every camera (protocol.go)
//	/stream.mjpeg?camera=ID   MJPEG (multipart/x-mixed-replace) for VLC and friends;
//	                          &annotate=1 burns the boxes and labels in on the server
//	/snapshot.jpg?camera=ID   the newest frame (&annotate=1 too)
//	/api/cameras              the cameras seen, as JSON
//	/healthz                  200 while the process serves
//	/readyz                   200 once both readers are connected to their topics, else 503
//
// # Real time before completeness
//
// Every viewer gets each camera's newest frame: a WebSocket client or an
// MJPEG reader that cannot keep up skips frames (counted) and never builds
// a queue, so a slow browser costs a bounded amount of memory (at most two
// frames per camera) and a dead one is dropped after Config.WriteTimeout.
//
// # Security
//
// With Config.AuthToken set, the page, its assets, the WebSocket and the
// streams need the token: an Authorization: Bearer header, a ?token=
// parameter (the page then keeps a value derived from it in an HttpOnly
// cookie) or that cookie; it is compared in constant time. The WebSocket
// accepts only the page's own origin, or Config.AllowOrigins. CheckListen
// refuses a non-loopback address without a token.
//
// Without a token, the dashboard answers only requests whose Host is
// localhost, a loopback address, the address it listens on, or one of
// Config.AllowHosts (421 otherwise): a web page of another site whose name
// its DNS points at 127.0.0.1 (DNS rebinding) cannot read the cameras.
// /healthz and /readyz answer whatever the Host.
package view

import (
	"cmp"
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/framecast/framecast/internal/kafka"
	"github.com/framecast/framecast/internal/rungroup"
)

//go:embed web
var webFS embed.FS

// Defaults of Config.
const (
	DefaultListen        = "127.0.0.1:8080"
	DefaultRingSize      = 32
	DefaultEmotionWindow = 2 * time.Minute
	DefaultHistory       = 5 * time.Minute
	DefaultStatsInterval = time.Second
	DefaultWriteTimeout  = 10 * time.Second
	DefaultMaxResults    = 256
	DefaultMaxCameras    = 512
	DefaultJPEGQuality   = 80
	DefaultLogInterval   = 30 * time.Second
	DefaultMaxFrameBytes = 256 << 20
)

// Config configures a Server. The zero value of each field means its
// documented default; Client is required.
type Config struct {
	// Client holds the Kafka connection options (seed brokers, TLS,
	// SASL), as kafka.Config.ClientOpts returns them.
	Client []kgo.Opt
	// ReaderClient, if set, gives the options each reader's client adds
	// to Client, by reader ("frames", "results"): the CLI names each
	// client and hooks its metrics to it.
	ReaderClient func(reader string) []kgo.Opt
	// Topics names the frames and results topics (default the kafka
	// package's defaults).
	Topics kafka.Topics
	// Listen is the host:port Listen listens on (default DefaultListen;
	// port 0: any free port). Its host is one the dashboard answers to
	// without a token, whatever it is (a name the machine has). Other
	// than loopback, it needs an AuthToken or InsecureNoAuth (Validate).
	Listen string
	// AuthToken, when set, is required on the page, the WebSocket and the
	// streams. Empty: no authentication (see CheckListen).
	AuthToken string
	// InsecureNoAuth allows a Listen address other than loopback without
	// an AuthToken: anyone who reaches it sees every camera.
	InsecureNoAuth bool
	// AllowOrigins are extra Origin host patterns (path.Match, e.g.
	// OriginPatternExample) whose pages may open the WebSocket; the
	// dashboard's own host always may. A pattern is matched against the
	// origin's host:port; one without a port matches any port. Entries may
	// hold several patterns separated by commas (see OriginPatterns).
	AllowOrigins []string
	// AllowHosts are host names (a port is ignored) the dashboard answers
	// to without an AuthToken, besides localhost, loopback addresses and
	// the address Run listens on: the listen host's name, a reverse
	// proxy's. Entries may hold several names separated by commas (see
	// HostNames). With an AuthToken every Host is answered.
	AllowHosts []string
	// RingSize is how many recent frames per camera are kept to join
	// late results with. Default 32.
	RingSize int
	// EmotionWindow is the span of the emotion distribution, at most
	// History. Default 2m.
	EmotionWindow time.Duration
	// History is the span of the throughput and latency charts.
	// Default 5m.
	History time.Duration
	// StatsInterval is how often statistics go to the browsers.
	// Default 1s.
	StatsInterval time.Duration
	// WriteTimeout bounds every write to a viewer; a WebSocket or stream
	// that accepts nothing for this long is closed. Default 10s.
	WriteTimeout time.Duration
	// MaxResults bounds the results waiting for one WebSocket client;
	// the oldest go first. Default 256.
	MaxResults int
	// MaxCameras bounds the cameras tracked (a producer inventing keys
	// must not grow memory without end): a camera idle for longer than
	// History is forgotten, and at the cap a new camera evicts the least
	// recently seen one. Default 512.
	MaxCameras int
	// MaxFrameBytes bounds the bytes of the recent frames kept to join
	// late results with, all cameras together; the oldest go first.
	// Besides them the dashboard holds two frames per camera (its newest,
	// and the newest joined with its result). Default 256 MiB.
	MaxFrameBytes int64
	// StallAlarm: a partition of either topic with records to read that
	// the dashboard makes no progress on for this long logs an ERROR
	// (again every StallAlarm while it lasts), is counted in
	// Stats.StallAlarms, and its cameras show STALLED. Default 30s;
	// negative: never.
	StallAlarm time.Duration
	// MatchTimeout bounds how long a frame waits for its result before
	// it is played without one (see playback.go). Default 5s.
	MatchTimeout time.Duration
	// MatchBytes bounds the frames a camera holds waiting for their
	// results; all cameras together hold at most MaxFrameBytes of them.
	// Default 16 MiB.
	MatchBytes int64
	// JPEGQuality of frames annotated on the server. Default 80.
	JPEGQuality int
	// LogInterval is the period of the summary line on Log (negative:
	// none). Default 30s.
	LogInterval time.Duration
	// Log receives narration (default: discarded).
	Log *slog.Logger
}

// Validate reports every error of c at once, each field named by its flag
// of `framecast view`, as kafka.Config's errors are. Zero fields are
// valid: they mean the defaults. New validates too.
// readerClient is the client options of the named reader.
func (c *Config) readerClient(reader string) []kgo.Opt {
	if c.ReaderClient == nil {
		return c.Client
	}
	return append(c.Client[:len(c.Client):len(c.Client)], c.ReaderClient(reader)...)
}

func (c Config) Validate() error {
	var errs []error
	if err := CheckListen(cmp.Or(c.Listen, DefaultListen), c.AuthToken, c.InsecureNoAuth); err != nil {
		errs = append(errs, err)
	}
	if (c.EmotionWindow != 0 && c.EmotionWindow < time.Second) || c.WriteTimeout < 0 {
		errs = append(errs, errors.New("--emotion-window must be at least 1s and --write-timeout positive"))
	}
	if _, err := OriginPatterns(c.AllowOrigins); err != nil {
		errs = append(errs, fmt.Errorf("--allow-origin: %w", err))
	}
	if _, err := HostNames(c.AllowHosts); err != nil {
		errs = append(errs, fmt.Errorf("--allow-host: %w", err))
	}
	return errors.Join(errs...)
}

func (c *Config) withDefaults() error {
	if len(c.Client) == 0 {
		return errors.New("view: Config.Client (seed brokers) is required")
	}
	if err := c.Validate(); err != nil {
		return err
	}
	if c.Listen == "" {
		c.Listen = DefaultListen
	}
	if c.Topics.Frames == "" {
		c.Topics.Frames = kafka.DefaultFramesTopic
	}
	if c.Topics.Results == "" {
		c.Topics.Results = kafka.DefaultResultsTopic
	}
	if c.RingSize <= 0 {
		c.RingSize = DefaultRingSize
	}
	if c.EmotionWindow <= 0 {
		c.EmotionWindow = DefaultEmotionWindow
	}
	if c.History <= 0 {
		c.History = DefaultHistory
	}
	c.History = max(c.History, 10*time.Second)
	c.EmotionWindow = min(c.EmotionWindow, c.History) // the buckets span History
	if c.StatsInterval <= 0 {
		c.StatsInterval = DefaultStatsInterval
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = DefaultWriteTimeout
	}
	if c.MaxResults <= 0 {
		c.MaxResults = DefaultMaxResults
	}
	if c.MaxCameras <= 0 {
		c.MaxCameras = DefaultMaxCameras
	}
	if c.MaxFrameBytes <= 0 {
		c.MaxFrameBytes = DefaultMaxFrameBytes
	}
	if c.StallAlarm == 0 {
		c.StallAlarm = DefaultStallAlarm
	}
	if c.MatchTimeout <= 0 {
		c.MatchTimeout = DefaultMatchTimeout
	}
	if c.MatchBytes <= 0 {
		c.MatchBytes = DefaultMatchBytes
	}
	c.AllowOrigins, _ = OriginPatterns(c.AllowOrigins) // checked by Validate
	c.AllowHosts, _ = HostNames(c.AllowHosts)
	if h := hostName(c.Listen); h != "" {
		c.AllowHosts = append(c.AllowHosts, h)
	}
	if c.JPEGQuality <= 0 || c.JPEGQuality > 100 {
		c.JPEGQuality = DefaultJPEGQuality
	}
	if c.LogInterval == 0 {
		c.LogInterval = DefaultLogInterval
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	return nil
}

// Server is the dashboard. Create it with New and run it once with Run;
// Handler serves its HTTP endpoints.
type Server struct {
	cfg     Config
	log     *slog.Logger
	store   *store
	hub     *hub
	frames  *reader
	results *reader
	handler http.Handler

	lastStats atomic.Pointer[[]byte]
	stopping  atomic.Bool
	closeOnce sync.Once

	originPatterns []string                        // AllowOrigins, with ":*" added to those without a port
	hosts          atomic.Pointer[map[string]bool] // the Host names answered without a token (hostAllowed)
	cookieValue    string                          // what the cookie holds: derived from the token (cookieFor)

	streams       atomic.Int64 // MJPEG streams open
	streamDropped atomic.Int64 // frames MJPEG readers skipped
	badRecords    atomic.Int64 // records that were not frames or results
	unauthorized  atomic.Int64
}

// New creates the server and its Kafka clients; nothing runs before Run.
func New(cfg Config) (*Server, error) {
	if err := cfg.withDefaults(); err != nil {
		return nil, err
	}
	s := &Server{
		cfg: cfg, log: cfg.Log,
		store:          newStore(cfg.RingSize, cfg.History, cfg.EmotionWindow, cfg.MaxCameras, cfg.MaxFrameBytes),
		hub:            newHub(cfg.MaxResults),
		originPatterns: withAnyPort(cfg.AllowOrigins),
	}
	if cfg.AuthToken != "" {
		s.cookieValue = cookieFor(cfg.AuthToken)
	}
	s.setHosts(nil)
	// A forgotten camera's per-connection state goes with it.
	s.store.onEvict = s.hub.forget
	s.store.onPlay = s.hub.played
	s.store.matchTimeout, s.store.matchBytes = cfg.MatchTimeout, cfg.MatchBytes
	var err error
	s.frames, err = newReader("frames", cfg.Topics.Frames, cfg.readerClient("frames"), s.log, cfg.StallAlarm, false, s.onFrame)
	if err != nil {
		return nil, err
	}
	// read_committed: results of aborted exactly-once transactions never
	// show.
	s.results, err = newReader("results", cfg.Topics.Results, cfg.readerClient("results"), s.log, cfg.StallAlarm, true, s.onResult)
	if err != nil {
		s.frames.rd.Close()
		return nil, err
	}
	s.handler = s.routes()
	return s, nil
}

func (s *Server) routes() http.Handler {
	web, _ := fs.Sub(webFS, "web") // cannot fail: the directory is embedded
	static := http.FileServerFS(web)
	auth := http.NewServeMux()
	// The WebSocket and the stream set their own deadline on every write;
	// everything else must be written within WriteTimeout.
	auth.Handle("GET /", s.writeDeadline(securityHeaders(static)))
	auth.HandleFunc("GET /ws", s.handleWS)
	auth.HandleFunc("GET /stream.mjpeg", s.handleStream)
	auth.Handle("GET /snapshot.jpg", s.writeDeadline(http.HandlerFunc(s.handleSnapshot)))
	auth.Handle("GET /api/cameras", s.writeDeadline(http.HandlerFunc(s.handleCameras)))

	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !s.Ready() {
			http.Error(w, "not ready: "+s.notReadyReason(), http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ready\n"))
	})
	mux.Handle("/", s.checkHost(s.requireAuth(auth)))
	return mux
}

// writeDeadline gives a response WriteTimeout to be written: a client that
// stops reading a snapshot or an asset does not hold its handler.
func (s *Server) writeDeadline(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(s.cfg.WriteTimeout))
		next.ServeHTTP(w, r)
	})
}

// securityHeaders keeps the page to its own origin: no framing, no
// third-party scripts, nothing loaded from the internet.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' blob: data:; connect-src 'self'; "+
			"style-src 'self'; script-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-cache")
		next.ServeHTTP(w, r)
	})
}

func (s *Server) handleCameras(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	json.NewEncoder(w).Encode(struct {
		Cameras []cameraInfo `json:"cameras"`
	}{s.store.info()})
}

// Close releases the Kafka clients of a server that is not going to Run
// (Run closes them itself).
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		s.frames.rd.Close()
		s.results.rd.Close()
	})
}

// Handler serves the dashboard's endpoints (tests mount it on their own
// servers; Run serves it on its listener).
func (s *Server) Handler() http.Handler { return s.handler }

// Ready reports whether both readers reached their topics and the server
// is not stopping.
func (s *Server) Ready() bool {
	return !s.stopping.Load() && s.frames.ready.Load() && s.results.ready.Load()
}

// MaxHandle is how long one record may take to handle (decode a header,
// store a frame, fan it out to the viewers' queues: microseconds) before
// Live reports the reader stuck.
const MaxHandle = 30 * time.Second

// Live says why the dashboard is not alive, nil when both readers' loops
// turn: neither has been on one record for MaxHandle. Unreachable
// brokers are NotReady's to report, not a reason to restart.
func (s *Server) Live(context.Context) error {
	now := time.Now().UnixNano()
	for _, r := range []*reader{s.frames, s.results} {
		if at := r.handling.Load(); at != 0 && time.Duration(now-at) >= MaxHandle {
			return fmt.Errorf("the %s reader has been on one record for %v", r.name, time.Duration(now-at).Round(time.Second))
		}
	}
	return nil
}

// NotReady says why Ready is false, nil when it is true.
func (s *Server) NotReady() error {
	if s.Ready() {
		return nil
	}
	return errors.New(s.notReadyReason())
}

func (s *Server) notReadyReason() string {
	switch {
	case s.stopping.Load():
		return "stopping"
	case !s.frames.ready.Load():
		return "the frames reader has not reached " + s.cfg.Topics.Frames + " yet"
	default:
		return "the results reader has not reached " + s.cfg.Topics.Results + " yet"
	}
}

// Stats are the server's counters.
type Stats struct {
	// Clients are the WebSocket connections open now; Accepted all
	// WebSocket connections ever accepted.
	Clients  int
	Accepted int64
	// QueuedBytes is what the WebSocket clients have waiting or being
	// written: bounded by about two frames per camera and client plus
	// MaxResults results, whatever a client's speed.
	QueuedBytes int64
	// DroppedFrames counts frames WebSocket clients skipped because a
	// newer one came before they were ready; StreamDropped the frames
	// MJPEG readers skipped.
	DroppedFrames, StreamDropped int64
	// Streams are the MJPEG streams open now.
	Streams int64
	// Cameras tracked.
	Cameras int
	// BadRecords were neither a frame nor a framecast.result.v1 result
	// (or had a negative sequence number or an invalid camera id).
	BadRecords int64
	// RecordPanics are records whose handling panicked (recovered; the
	// record was skipped).
	RecordPanics int64
	// CamerasEvicted counts cameras forgotten: idle for longer than
	// History, or the least recently seen when a new camera came at
	// MaxCameras.
	CamerasEvicted int64
	// OrphanResults are results of cameras without frames, dropped.
	OrphanResults int64
	// FrameBytes are the bytes of the recent frames held to join results
	// with (at most MaxFrameBytes); TrimmedFrames the frames that left
	// early to stay within it.
	FrameBytes, TrimmedFrames int64
	// Unauthorized requests refused.
	Unauthorized int64
	// StallAlarms counts the stall ERRORs logged (one per stalled
	// partition and Config.StallAlarm); StalledPartitions are the
	// partitions stalled now.
	StallAlarms       int64
	StalledPartitions int
	// Playback (matched mode): frames played with their own result, played
	// without one (it did not come: a later frame's result came first,
	// the camera had no results, or MatchTimeout passed), and dropped
	// unplayed to stay within MatchBytes/MaxFrameBytes; LateResults came
	// after their frame was played. PlaybackBytes are the frames waiting.
	PlayedMatched, PlayedUnmatched, PlaybackDropped, LateResults int64
	PlaybackBytes                                                int64
}

// Stats returns a snapshot of the counters.
func (s *Server) Stats() Stats {
	sc := s.store.counters()
	return Stats{
		Clients: s.hub.count(), Accepted: s.hub.accepted.Load(), QueuedBytes: s.hub.queuedBytes(),
		DroppedFrames: s.hub.dropped.Load(), StreamDropped: s.streamDropped.Load(), Streams: s.streams.Load(),
		Cameras: sc.cameras, BadRecords: s.badRecords.Load(), Unauthorized: s.unauthorized.Load(),
		RecordPanics:   s.frames.panics.Load() + s.results.panics.Load(),
		CamerasEvicted: sc.evicted, OrphanResults: sc.orphans, FrameBytes: sc.frameBytes, TrimmedFrames: sc.trimmed,
		StallAlarms:       s.frames.alarms.Load() + s.results.alarms.Load(),
		StalledPartitions: len(s.stallView(time.Now()).alarms()),
		PlayedMatched:     sc.plays.matched, PlayedUnmatched: sc.plays.unmatched + sc.plays.gaveUp,
		PlaybackDropped: sc.plays.dropped, LateResults: sc.plays.late, PlaybackBytes: sc.playBytes,
	}
}

// stallView is both readers' partitions with lag.
func (s *Server) stallView(now time.Time) stallView {
	return stallView{frames: s.frames.health(now), results: s.results.health(now)}
}

// Listen listens on Config.Listen for Run, and logs how to open the
// dashboard: with its token, or, without one on an address other than
// loopback, a warning that anyone who reaches it sees every camera.
func (s *Server) Listen() (net.Listener, error) {
	ln, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return nil, fmt.Errorf("dashboard: %s is in use (another dashboard or demo?): pick another --listen, e.g. 127.0.0.1:0 for any free port: %w", s.cfg.Listen, err)
		}
		return nil, fmt.Errorf("dashboard: listening on %s: %w", s.cfg.Listen, err)
	}
	if s.cfg.AuthToken != "" {
		s.log.Info("the dashboard needs its token: open " + URL(ln.Addr()) + "?token=<token> once (the browser keeps it), or send Authorization: Bearer <token>")
	} else if !IsLoopback(s.cfg.Listen) {
		s.log.Warn("the dashboard is reachable from other machines WITHOUT authentication (--insecure-no-auth)", "addr", ln.Addr().String())
	}
	return ln, nil
}

// URL is the address to open the dashboard at: the listener's, with the
// host name instead of a wildcard address.
func URL(addr net.Addr) string {
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

// Run serves on ln and reads Kafka until ctx ends, then stops: readiness
// goes 503, viewers are disconnected, the Kafka clients close. It returns
// nil after a cancellation, or the listener's error.
func (s *Server) Run(ctx context.Context, ln net.Listener) error {
	// One run group: the HTTP server failing stops the readers; the
	// readers and the stats loop end only with ctx.
	g, ctx := rungroup.New(ctx)
	g.Go(func(ctx context.Context) error { s.frames.run(ctx); return nil })
	g.Go(func(ctx context.Context) error { s.results.run(ctx); return nil })
	g.Go(func(ctx context.Context) error { s.statsLoop(ctx); return nil })

	s.setHosts(ln.Addr())
	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		// No WriteTimeout: it would cut the WebSocket and the streams.
		// Those set a deadline on each write, the other handlers one for
		// their response (writeDeadline).
		IdleTimeout: 2 * time.Minute,
		// Requests end with Run: every request's context is cancelled
		// when Run stops (before Shutdown waits for the handlers), and
		// the WebSocket and the streams watch it, even in the middle of
		// a write to a viewer that stopped reading.
		BaseContext: func(net.Listener) context.Context { return ctx },
		ErrorLog:    slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	g.Go(func(context.Context) error {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil // Shutdown, below
	})
	g.Go(func(ctx context.Context) error {
		<-ctx.Done()
		s.shutdown(srv)
		return nil
	})
	s.log.Info("dashboard listening", "addr", ln.Addr().String(), "auth", s.cfg.AuthToken != "")
	err := g.Wait()
	s.Close()
	st := s.Stats()
	s.log.Info("dashboard stopped", "ws_accepted", st.Accepted, "ws_dropped_frames", st.DroppedFrames, "stream_dropped_frames", st.StreamDropped)
	return err
}

// shutdown stops the HTTP server once Run's context has ended: readiness
// goes 503, then the handlers get up to 3 s (their requests' context has
// ended too, so the streams and WebSockets stop at once).
func (s *Server) shutdown(srv *http.Server) {
	s.stopping.Store(true)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		srv.Close()
	}
}

// statsLoop sends statistics to every client once per StatsInterval and
// logs a summary once per LogInterval.
func (s *Server) statsLoop(ctx context.Context) {
	t := time.NewTicker(s.cfg.StatsInterval)
	defer t.Stop()
	var lastLog time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			m := s.store.snapshotWith(now, s.stallView(now))
			b, _ := json.Marshal(m)
			s.lastStats.Store(&b)
			s.hub.stats(b)
			if s.cfg.LogInterval > 0 && now.Sub(lastLog) >= s.cfg.LogInterval {
				lastLog = now
				st := s.Stats()
				s.log.Info("dashboard stats", "cameras", len(m.Cams), "fps", m.All.FPS, "results_per_s", m.All.RPS,
					"latency_p50_ms", m.All.P50, "viewers", st.Clients, "streams", st.Streams,
					"ws_dropped_frames", st.DroppedFrames, "queued_bytes", st.QueuedBytes,
					"played_matched", st.PlayedMatched, "played_unmatched", st.PlayedUnmatched, "stall_alarms", st.StallAlarms)
			}
		}
	}
}
