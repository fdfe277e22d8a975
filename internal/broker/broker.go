// Package broker is framecast's embedded development Kafka broker: kfake
// (franz-go's Kafka-protocol broker) with a data directory, run by
// `framecast broker`, `framecast demo` and the tests.
//
// Invariants:
//
//   - One broker per data directory: Start locks it (DataDirInUseError)
//     before it reads a byte, and Close releases it only once kfake has
//     written its state.
//   - Nothing damaged is loaded: every segment is verified before kfake
//     sees the directory (verify.go). A torn tail left by a killed broker
//     (never acknowledged) is cut; other damage stops the start unless
//     Config.Repair, which cuts and keeps a copy (repair.go).
//   - Bounded memory: the broker enforces retention itself, and
//     Config.RetentionRecords bounds each partition.
//   - Topics are created with internal/kafka's specs and never altered.
//     This package imports internal/kafka for them; kafka never imports
//     it.
//   - SASL users come from each start's Config alone: kfake's copy of
//     them in the data directory (sasl.json) is deleted at Start and at
//     Close, and no password is logged.
package broker

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/framecast/framecast/internal/kafka"
)

// DefaultRetentionInterval is how often the embedded broker enforces
// retention.
const DefaultRetentionInterval = 30 * time.Second

// DefaultStatsInterval is how often the broker logs what its topics hold.
const DefaultStatsInterval = time.Minute

// DefaultRetentionRecords is the records each partition of the embedded
// broker's topics keeps at most: 50,000 results are 83 minutes of one
// camera at 10 fps, and 12 full partitions of results hold 600,000 index
// entries, about 55 MB of heap (110 MB of RSS at Go's default GOGC) plus
// up to one segment's worth per partition until that segment is deleted.
// With Apache Kafka there is no such bound: its index lives in files.
const DefaultRetentionRecords int64 = 50_000

// Notice is what the embedded broker says of itself in its start-up
// log and the CLI help.
const Notice = "for development, CI and demos only: it is kfake (franz-go's test broker), " +
	"a single node with no replication; for production run Apache Kafka in KRaft mode " +
	"(deploy/compose.yaml's kafka profile runs one and creates the topics; see the README)"

// SASLUser is one user the embedded broker accepts.
type SASLUser struct {
	// Mechanism is PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (any case).
	Mechanism string
	User      string
	Password  string
}

// Config configures the embedded development broker. The zero value
// of a field means its default; DataDir is required.
type Config struct {
	// Listen is the host:port to listen on, default 127.0.0.1:9092. The
	// broker advertises this address in metadata, so the host must be one
	// that clients can reach (not 0.0.0.0). Port 0 picks a free port.
	Listen string
	// DataDir holds segments, topics, committed offsets and producer
	// state; a restart on the same directory keeps them. Required: kfake's
	// in-memory mode keeps every segment in the Go heap (700 MB–6.5 GB RSS
	// and a p99 of 77 ms under video load, against ~50 MB and 4 ms with a
	// directory). One broker per directory.
	DataDir string
	// Topics names the three topics; empty names mean the defaults.
	Topics kafka.Topics
	// TopicSettings (partitions, retention, segment and message sizes)
	// apply to topics the broker creates; existing topics are kept as they
	// are.
	kafka.TopicSettings
	// RetentionInterval is how often retention is enforced. Default 30s.
	RetentionInterval time.Duration
	// RetentionRecords bounds the records each partition of the three
	// topics keeps, on top of their retention by time and size. kfake
	// holds an index entry (≈90 bytes of heap, measured) for every
	// record batch it keeps and has no way to page them out, so at
	// 80 results/s a day of results alone is 7 million entries and
	// grows the broker by ~1 MB/min; this bound makes its memory flat.
	// Default DefaultRetentionRecords; -1 turns it off.
	RetentionRecords int64
	// TLS, when set, makes the listener TLS-only (it needs Certificates).
	TLS *tls.Config
	// CertFile and KeyFile, the PEM certificate (chain) and private key
	// of the listener, are the other way to make it TLS-only: Validate
	// and Start load them into TLS (which must then be nil).
	CertFile, KeyFile string
	// SASL, when non-empty, requires every client to authenticate as one
	// of these users. They replace any users from previous runs on the
	// same data directory.
	SASL []SASLUser
	// Repair cuts a damaged partition at its first bad batch (keeping
	// a copy of what it removes under <DataDir>/repaired/) instead of
	// refusing to start. A torn tail left by a killed broker is cut
	// without it.
	Repair bool
	// StatsInterval is how often the broker logs what its topics hold
	// (records and bytes): default DefaultStatsInterval, negative never.
	StatsInterval time.Duration
	// Logger receives the broker's narration; nil discards it.
	Logger *slog.Logger
}

// Broker is a running embedded broker.
type Broker struct {
	cluster *kfake.Cluster
	lock    *dirLock
	addr    string
	cfg     Config
	log     *slog.Logger

	// mu guards closed: kfake's admin calls block forever on a closed
	// cluster, so every call into the cluster holds the read lock.
	mu     sync.RWMutex
	closed bool

	stop, done chan struct{}
	probing    atomic.Bool // a Live probe is waiting for the request loop
	// capped holds "topic-partition" for the partitions RetentionRecords
	// has trimmed, to say so once.
	capped sync.Map
}

// saslStateFile is where kfake persists SASL users in its data directory.
// It reloads them over the configured ones on a restart; we delete it so
// the configuration is the only source of users (a changed password takes
// effect, a removed user is gone) and no PLAIN password lingers on disk.
const saslStateFile = "sasl.json"

// Start starts the embedded broker: it loads the data directory,
// listens, creates the missing topics and enforces retention until Close.
// ctx bounds only the start-up.
func Start(ctx context.Context, cfg Config) (*Broker, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	cfg, host, port, err := cfg.normalize()
	if err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}

	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("broker data directory: %w", err)
	}
	// The lock first: nothing may read or cut the directory's files
	// while another broker appends to them. It is held until kfake has
	// closed (Close), or released here on any failure.
	lock, err := lockDataDir(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	started := false
	defer func() {
		if !started {
			lock.unlock()
		}
	}()
	if err := checkDataDir(cfg.DataDir, cfg.Repair, log); err != nil {
		return nil, err
	}
	if err := os.Remove(filepath.Join(cfg.DataDir, saslStateFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("broker data directory: removing stale SASL users: %w", err)
	}
	if len(cfg.SASL) > 0 {
		// kfake writes its state files 0644; keep other local users out
		// of a directory that holds credentials while the broker runs.
		_ = os.Chmod(cfg.DataDir, 0o700)
	}

	opts := []kfake.Opt{
		kfake.DataDir(cfg.DataDir),
		kfake.Ports(port),
		// kfake binds 127.0.0.1; we bind the host asked for instead.
		kfake.ListenFn(func(network, addr string) (net.Listener, error) {
			_, p, err := net.SplitHostPort(addr)
			if err != nil {
				return nil, err
			}
			ln, err := net.Listen(network, net.JoinHostPort(host, p))
			if err != nil || cfg.TLS != nil {
				return ln, err
			}
			return sizeGuard{ln, maxRequestBytes(cfg.MaxMessageBytes)}, nil
		}),
		kfake.ClusterID("framecast-dev"),
		kfake.DefaultNumPartitions(cfg.Partitions),
		kfake.WithLogger(slogKfake{log}),
		// Broker-wide defaults, so a topic a client creates itself can
		// hold a frame too.
		kfake.BrokerConfigs(map[string]string{
			"message.max.bytes": strconv.Itoa(cfg.MaxMessageBytes),
			"log.segment.bytes": strconv.FormatInt(cfg.EffectiveSegmentBytes(), 10),
		}),
	}
	if cfg.TLS != nil {
		opts = append(opts, kfake.TLS(cfg.TLS))
	}
	if len(cfg.SASL) > 0 {
		opts = append(opts, kfake.EnableSASL())
		for _, u := range cfg.SASL {
			opts = append(opts, kfake.Superuser(u.Mechanism, u.User, u.Password))
		}
	}

	start := time.Now()
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		return nil, explainListenErr(cfg.Listen, cfg.DataDir, err)
	}
	b := &Broker{
		cluster: c,
		lock:    lock,
		addr:    c.ListenAddrs()[0],
		cfg:     cfg,
		log:     log,
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
	}

	for _, spec := range cfg.Specs(cfg.Topics) {
		if ti := c.TopicInfo(spec.Name); ti != nil {
			n := len(c.PartitionInfos(spec.Name))
			log.Info("topic kept", "topic", spec.Name, "partitions", n)
			if n != cfg.Partitions {
				log.Warn("existing topic has a different partition count; it is kept as is (delete the data directory to start over)",
					"topic", spec.Name, "partitions", n, "configured", cfg.Partitions)
			}
			continue
		}
		if err := c.CreateTopic(spec.Name, spec.Partitions, spec.Configs); err != nil {
			c.Close()
			return nil, fmt.Errorf("creating topic %s: %w", spec.Name, err)
		}
		log.Info("topic created", "topic", spec.Name, "partitions", spec.Partitions,
			"retention.ms", spec.Configs["retention.ms"], "retention.bytes", spec.Configs["retention.bytes"],
			"segment.bytes", spec.Configs["segment.bytes"], "max.message.bytes", spec.Configs["max.message.bytes"])
	}

	// kfake's own cleaner runs only every log.cleaner.backoff.ms (1 h),
	// and only once a topic is created or altered in this run: after a
	// restart it never starts. So we enforce retention ourselves, once now
	// (frames that expired while the broker was down go at once) and then
	// on a ticker.
	b.ApplyRetention()
	go b.retain(cfg.RetentionInterval, cfg.StatsInterval)
	started = true

	users := make([]string, 0, len(cfg.SASL))
	for _, u := range cfg.SASL {
		users = append(users, u.User+"("+u.Mechanism+")")
	}
	log.Info("embedded Kafka broker listening: "+Notice,
		"addr", b.addr, "data_dir", cfg.DataDir, "tls", cfg.TLS != nil, "sasl_users", strings.Join(users, ","),
		"startup", time.Since(start).Round(time.Millisecond))
	return b, nil
}

// Validate reports every configuration error at once.
func (cfg Config) Validate() error {
	_, _, _, err := cfg.normalize()
	return err
}

// normalize fills defaults, validates everything at once and splits Listen.
func (cfg Config) normalize() (Config, string, int, error) {
	if cfg.Listen == "" {
		cfg.Listen = kafka.DefaultBrokers
	}
	cfg.Topics = cfg.Topics.WithDefaults()
	cfg.TopicSettings = cfg.TopicSettings.WithDefaults()
	if cfg.RetentionInterval == 0 {
		cfg.RetentionInterval = DefaultRetentionInterval
	}
	if cfg.RetentionRecords == 0 {
		cfg.RetentionRecords = DefaultRetentionRecords
	}
	if cfg.StatsInterval == 0 {
		cfg.StatsInterval = DefaultStatsInterval
	}
	cfg.SASL = slices.Clone(cfg.SASL) // normalised below; the caller's slice stays as it was
	var errs []error
	host, port, err := parseListen(cfg.Listen)
	if err != nil {
		errs = append(errs, err)
	}
	if cfg.DataDir == "" {
		errs = append(errs, errors.New("broker data directory is required (the in-memory mode holds every frame in the Go heap)"))
	}
	if cfg.RetentionInterval < 0 {
		errs = append(errs, errors.New("retention interval must be positive"))
	}
	if cfg.RetentionRecords < -1 {
		errs = append(errs, errors.New("retention records must be positive (or -1: unbounded)"))
	}
	switch {
	case (cfg.CertFile == "") != (cfg.KeyFile == ""):
		errs = append(errs, errors.New("--server-tls-cert and --server-tls-key go together"))
	case cfg.CertFile != "" && cfg.TLS != nil:
		errs = append(errs, errors.New("broker TLS: give TLS or CertFile and KeyFile, not both"))
	case cfg.CertFile != "":
		cert, err := tls.LoadX509KeyPair(cfg.CertFile, cfg.KeyFile)
		if err != nil {
			errs = append(errs, fmt.Errorf("--server-tls-cert/--server-tls-key: %w", err))
		}
		cfg.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	case cfg.TLS != nil && len(cfg.TLS.Certificates) == 0 && cfg.TLS.GetCertificate == nil:
		errs = append(errs, errors.New("broker TLS needs a certificate and key"))
	}
	for i, u := range cfg.SASL {
		m := strings.ToUpper(u.Mechanism)
		switch m {
		case "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512":
		default:
			errs = append(errs, fmt.Errorf("SASL mechanism %q: use PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512", u.Mechanism))
		}
		if u.User == "" || u.Password == "" {
			errs = append(errs, errors.New("a SASL user needs a name and a password"))
		}
		cfg.SASL[i].Mechanism = m
	}
	errs = append(errs, cfg.Topics.Validate(), cfg.TopicSettings.Validate())
	return cfg, host, port, errors.Join(errs...)
}

// parseListen splits host:port, refusing wildcard hosts: kfake advertises
// the address it listens on, and a client told to connect to 0.0.0.0
// cannot reach the broker from another machine.
func parseListen(listen string) (string, int, error) {
	host, p, err := net.SplitHostPort(listen)
	if err != nil {
		return "", 0, fmt.Errorf("listen address %q: want host:port, e.g. 127.0.0.1:9092", listen)
	}
	port, err := strconv.Atoi(p)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("listen address %q: bad port", listen)
	}
	if host == "" {
		return "", 0, fmt.Errorf("listen address %q: give a host, e.g. 127.0.0.1:%d", listen, port)
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		return "", 0, fmt.Errorf("listen address %q: the broker advertises the address it listens on, and clients cannot connect to %s; "+
			"listen on an address they can reach (127.0.0.1, or this machine's LAN address)", listen, host)
	}
	return host, port, nil
}

func explainListenErr(listen, dataDir string, err error) error {
	if errors.Is(err, syscall.EADDRINUSE) {
		return fmt.Errorf("listening on %s: the address is in use: is a broker (framecast broker, or Kafka) already running? "+
			"Stop it or pick another --listen: %w", listen, err)
	}
	// kfake prefixes data directory failures with "loading persisted
	// state" or "persisting initial state".
	if strings.Contains(err.Error(), "persist") {
		return fmt.Errorf("broker data directory %s: %w (move it aside to start empty)", dataDir, err)
	}
	return fmt.Errorf("starting the broker on %s: %w", listen, err)
}

// maxRequestBytes is the largest request the plaintext listener reads:
// Kafka's socket.request.max.bytes (100 MiB), or more for huge messages.
func maxRequestBytes(maxMessage int) uint32 {
	return uint32(max(100<<20, 2*int64(maxMessage)+1<<20)) //nolint:gosec // bounded by validation
}

// sizeGuard closes a connection whose next request declares a size above
// limit, as Kafka does. kfake allocates whatever a request's 4-byte size
// says, and a TLS client's ClientHello reads as a 369 MB request that it
// then waits for: the client's handshake hangs until it times out. With
// the guard it gets an immediate EOF, which franz-go and Check explain as
// "TLS used against a plaintext broker".
type sizeGuard struct {
	net.Listener
	limit uint32
}

func (g sizeGuard) Accept() (net.Conn, error) {
	c, err := g.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &guardedConn{Conn: c, limit: g.limit}, nil
}

// guardedConn follows the request framing (4-byte big-endian size, then
// the body) through every Read. kfake reads each connection from one
// goroutine, so it needs no lock.
type guardedConn struct {
	net.Conn
	limit  uint32
	hdr    [4]byte
	nhdr   int    // bytes of the current size header seen
	remain uint32 // body bytes of the current request still to come
}

func (c *guardedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	for b := p[:n]; len(b) > 0; {
		if c.remain > 0 {
			k := uint32(min(uint64(c.remain), uint64(len(b)))) //nolint:gosec // ≤ remain
			c.remain -= k
			b = b[k:]
			continue
		}
		k := copy(c.hdr[c.nhdr:], b)
		c.nhdr += k
		b = b[k:]
		if c.nhdr == 4 {
			c.nhdr = 0
			c.remain = uint32(c.hdr[0])<<24 | uint32(c.hdr[1])<<16 | uint32(c.hdr[2])<<8 | uint32(c.hdr[3])
			if c.remain > c.limit {
				c.Conn.Close()
				return 0, io.EOF
			}
		}
	}
	return n, err
}

// retain enforces retention every interval, and logs what the topics
// hold every statsEvery (if positive), until Close.
func (b *Broker) retain(every, statsEvery time.Duration) {
	defer close(b.done)
	t := time.NewTicker(every)
	defer t.Stop()
	var stats <-chan time.Time
	if statsEvery > 0 {
		st := time.NewTicker(statsEvery)
		defer st.Stop()
		stats = st.C
	}
	for {
		select {
		case <-b.stop:
			return
		case <-t.C:
			b.ApplyRetention()
		case <-stats:
			st := b.Stats()
			attrs := make([]any, 0, len(st))
			for _, s := range st {
				attrs = append(attrs, slog.Group(s.Topic, "records", s.Records, "bytes", s.Bytes))
			}
			b.log.Info("broker holds", attrs...)
		}
	}
}

// Addr is the host:port clients bootstrap from.
func (b *Broker) Addr() string { return b.addr }

// DataDir is the broker's data directory.
func (b *Broker) DataDir() string { return b.cfg.DataDir }

// ApplyRetention drops the records past their topic's retention.ms or
// retention.bytes, and those past RetentionRecords, now, as the broker
// does every RetentionInterval.
func (b *Broker) ApplyRetention() {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if b.closed {
		return
	}
	b.cluster.ApplyRetention()
	keep := b.cfg.RetentionRecords
	if keep < 0 {
		return
	}
	t := b.cfg.Topics
	for _, name := range []string{t.Frames, t.Results, t.DLQ} {
		for _, p := range b.cluster.PartitionInfos(name) {
			if p.HighWatermark-p.LogStartOffset > keep {
				// As a DeleteRecords request would: the log start
				// moves, and kfake deletes the segments (and
				// frees the index entries) wholly below it.
				if err := b.cluster.DeleteRecords(name, p.Partition, p.HighWatermark-keep); err != nil {
					b.log.Warn("bounding the records a partition keeps", "topic", name, "partition", p.Partition, "err", err)
				} else if _, seen := b.capped.LoadOrStore(fmt.Sprint(name, "-", p.Partition), true); !seen {
					// Once per partition: from now on it keeps less
					// than its retention time says.
					b.log.Info("partition reached --retention-records: its oldest records are deleted as new ones arrive",
						"topic", name, "partition", p.Partition, "records", keep)
				}
			}
		}
	}
}

// TopicStats summarises what one topic holds.
type TopicStats struct {
	Topic      string
	Partitions int
	// Records is the number of records kept (end offsets minus start
	// offsets, summed over partitions).
	Records int64
	// Bytes is the size of the records kept.
	Bytes int64
}

// Stats reports the three topics, for a periodic log line.
func (b *Broker) Stats() []TopicStats {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if b.closed {
		return nil
	}
	t := b.cfg.Topics
	var out []TopicStats
	for _, name := range []string{t.Frames, t.Results, t.DLQ} {
		s := TopicStats{Topic: name}
		for _, p := range b.cluster.PartitionInfos(name) {
			s.Partitions++
			s.Records += p.HighWatermark - p.LogStartOffset
			s.Bytes += p.NumBytes
		}
		out = append(out, s)
	}
	return out
}

// Close stops the broker: it stops accepting connections, writes its state
// (committed offsets included) to the data directory and returns when it
// is safe to start another broker on the same directory. Closing twice is
// a no-op.
func (b *Broker) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	b.mu.Unlock()
	close(b.stop)
	<-b.done
	start := time.Now()
	b.cluster.Close()
	err := os.Remove(filepath.Join(b.cfg.DataDir, saslStateFile))
	if errors.Is(err, os.ErrNotExist) {
		err = nil
	}
	// Only now may another broker open the directory: kfake wrote its
	// snapshots in Close.
	b.lock.unlock()
	b.log.Info("embedded Kafka broker stopped", "data_dir", b.cfg.DataDir, "shutdown", time.Since(start).Round(time.Millisecond))
	return err
}

// slogKfake routes kfake's log lines to slog with franz-go's level
// mapping (kafka.SlogLevel): kfake's info level is per-request chatter
// (group joins, closed connections), so it goes to debug.
type slogKfake struct{ l *slog.Logger }

func (s slogKfake) Logf(lv kfake.LogLevel, format string, args ...any) {
	// kfake's levels are kgo's, value for value (TestKfakeLevelsAreKgos).
	level := kafka.SlogLevel(kgo.LogLevel(lv))
	ctx := context.Background()
	if !s.l.Enabled(ctx, level) {
		return
	}
	s.l.Log(ctx, level, "kfake: "+fmt.Sprintf(format, args...))
}

// Live says why the broker is not alive, nil when its request loop turns:
// it answers a question about its topics within ctx (the health check's
// timeout). Every request a client makes goes through that one loop, so
// a loop that does not answer is a broker that serves nobody. One probe
// runs at a time: a stuck one is reported, not piled on.
func (b *Broker) Live(ctx context.Context) error {
	if !b.probing.CompareAndSwap(false, true) {
		return errors.New("the request loop has not answered the last health check yet")
	}
	done := make(chan struct{})
	go func() {
		defer b.probing.Store(false)
		defer close(done)
		b.Stats()
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return errors.New("the request loop did not answer in time")
	}
}
