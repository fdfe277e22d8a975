package telemetry

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/framecast/framecast/internal/analysis"
	"github.com/framecast/framecast/internal/broker"
	"github.com/framecast/framecast/internal/process"
	"github.com/framecast/framecast/internal/publish"
	"github.com/framecast/framecast/internal/source"
	"github.com/framecast/framecast/internal/testkit"
	"github.com/framecast/framecast/internal/view"
)

var discard = slog.New(slog.DiscardHandler)

// serve runs run with s's endpoints in the background and waits until
// they listen.
func serve(t *testing.T, s *Server, run func(context.Context) error) *testkit.Background {
	t.Helper()
	bg := testkit.Go(t, func(ctx context.Context) error { return s.Serve(ctx, discard, run) })
	testkit.Eventually(t, 5*time.Second, "the metrics server listens", func() bool { return s.Addr() != nil })
	return bg
}

func get(t *testing.T, s *Server, path string) (int, string) {
	t.Helper()
	resp, err := http.Get("http://" + s.Addr().String() + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// scrape returns the metric families of /metrics.
func scrape(t *testing.T, s *Server) (map[string]*dto.MetricFamily, string) {
	t.Helper()
	code, body := get(t, s, "/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics: %d %s", code, body)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := parser.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("parsing /metrics: %v", err)
	}
	return mfs, body
}

// value is the value of the sample of name with the labels (name=value
// pairs); for a histogram, its count. ok is false without one.
func value(mfs map[string]*dto.MetricFamily, name string, labels ...string) (v float64, ok bool) {
	mf := mfs[name]
	if mf == nil {
		return 0, false
	}
next:
	for _, m := range mf.GetMetric() {
		for i := 0; i+1 < len(labels); i += 2 {
			found := false
			for _, l := range m.GetLabel() {
				if l.GetName() == labels[i] && l.GetValue() == labels[i+1] {
					found = true
				}
			}
			if !found {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.GetCounter().GetValue(), true
		case m.Gauge != nil:
			return m.GetGauge().GetValue(), true
		case m.Histogram != nil:
			return float64(m.GetHistogram().GetSampleCount()), true
		}
	}
	return 0, false
}

func want(t *testing.T, mfs map[string]*dto.MetricFamily, w float64, name string, labels ...string) {
	t.Helper()
	if v, ok := value(mfs, name, labels...); !ok || v != w {
		t.Errorf("%s%v = %v (present %v), want %v", name, labels, v, ok, w)
	}
}

// stillSource is a camera that films the same JPEG at every read.
type stillSource struct{ jpeg []byte }

func (s stillSource) Next(context.Context) (source.Frame, error) {
	return source.Frame{JPEG: s.jpeg, Width: 640, Height: 480, CapturedAt: time.Now()}, nil
}

func (stillSource) Close() error { return nil }

// TestPipeline scrapes a real pipeline: the embedded broker, a publisher
// of n frames and a processor on analysis.Fake, each with its endpoints.
func TestPipeline(t *testing.T) {
	const n = 12
	ctx := t.Context()
	addr, dir := testkit.FreeAddr(t), t.TempDir()
	bcfg := broker.Config{Listen: addr, DataDir: dir, Logger: discard}
	b, err := broker.Start(ctx, bcfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	sb := New("127.0.0.1:0").WatchBroker(b)
	serve(t, sb, func(ctx context.Context) error { <-ctx.Done(); return nil })

	// The dashboard: each of its two readers is a client with its own id
	// and series (KafkaClientAs), which fetch the frames and results
	// from the end of the topics (so it starts first).
	sv := New("127.0.0.1:0")
	vs, err := view.New(view.Config{
		Client: []kgo.Opt{kgo.SeedBrokers(addr)}, Listen: "127.0.0.1:0", Log: discard, StallAlarm: -1,
		ReaderClient: func(r string) []kgo.Opt { return sv.KafkaClientAs(nil, "framecast-view-"+r) },
	})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := vs.Listen()
	if err != nil {
		t.Fatal(err)
	}
	serve(t, sv.WatchView(vs), func(ctx context.Context) error { return vs.Run(ctx, ln) })
	testkit.Eventually(t, 20*time.Second, "the dashboard is ready", func() bool { c, _ := get(t, sv, "/readyz"); return c == http.StatusOK })

	sp := New("127.0.0.1:0")
	pub, err := publish.New(ctx, publish.Config{Log: discard},
		sp.KafkaClient([]kgo.Opt{kgo.SeedBrokers(addr), kgo.ClientID("framecast-publish")})...)
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	cams := []publish.Camera{{ID: "cam-1", Source: stillSource{testkit.FlatJPEG(640, 480)}, FPS: 50, Count: n}}
	published := make(chan error, 1)
	serve(t, sp.WatchPublish(pub), func(ctx context.Context) error {
		published <- pub.Run(ctx, cams)
		<-ctx.Done() // the endpoints stay up for the test
		return nil
	})

	s := New("127.0.0.1:0")
	p, err := process.New(ctx, process.Config{
		Client:      s.KafkaClient([]kgo.Opt{kgo.SeedBrokers(addr), kgo.ClientID("framecast-process")}),
		NewAnalyzer: func() (analysis.Analyzer, error) { return &analysis.Fake{}, nil },
		Concurrency: 2, StatsInterval: -1, StallAlarm: -1, MaxAge: time.Minute, SessionTimeout: 6 * time.Second,
		Log: discard,
	})
	if err != nil {
		t.Fatal(err)
	}
	proc := serve(t, s.WatchProcess(p), p.Run)

	testkit.Eventually(t, 20*time.Second, "n frames processed", func() bool { return p.Stats().OK == n })
	select {
	case err := <-published:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the publisher did not end after its frames")
	}

	mfs, body := scrape(t, s)
	want(t, mfs, n, "framecast_frames_processed_total", "outcome", "ok")
	want(t, mfs, 0, "framecast_frames_processed_total", "outcome", "skipped")
	want(t, mfs, 0, "framecast_frames_processed_total", "outcome", "dlq")
	want(t, mfs, n, "framecast_frames_analysed_total", "analysis", "full")
	want(t, mfs, 0, "framecast_frames_analysed_total", "analysis", "reused")
	for _, stage := range []string{"decode", "detect", "classify", "total"} {
		want(t, mfs, n, "framecast_analysis_seconds", "stage", stage)
	}
	want(t, mfs, n, "framecast_latency_seconds")
	var faces float64
	for _, m := range mfs["framecast_faces_total"].GetMetric() {
		faces += m.GetCounter().GetValue()
	}
	if want := float64(p.Stats().Faces); faces != want || faces == 0 {
		t.Errorf("framecast_faces_total sums to %v, want %v (> 0)", faces, want)
	}
	want(t, mfs, 0, "framecast_stalled_partitions")
	for _, name := range []string{"framecast_consumer_lag_records", "framecast_build_info", "go_goroutines",
		"process_cpu_seconds_total", "framecast_kafka_connects_total"} {
		if mfs[name] == nil {
			t.Errorf("no %s in the scrape", name)
		}
	}
	promtool(t, body)
	t.Logf("a scrape of the processor:\n%s", framecastLines(body))

	mfs, _ = scrape(t, sp)
	want(t, mfs, n, "framecast_frames_published_total", "camera", "cam-1")
	for _, r := range dropReasons {
		want(t, mfs, 0, "framecast_frames_dropped_total", "camera", "cam-1", "reason", r)
	}
	want(t, mfs, 0, "framecast_source_up", "camera", "cam-1") // its count reached
	want(t, mfs, 0, "framecast_source_reconnects_total", "camera", "cam-1")
	if mfs["framecast_kafka_produce_bytes_total"] == nil {
		t.Error("no framecast_kafka_produce_bytes_total in the publisher's scrape")
	}
	testkit.Eventually(t, 20*time.Second, "both dashboard readers' clients to count fetched bytes", func() bool {
		mfs, _ := scrape(t, sv)
		f, _ := value(mfs, "framecast_kafka_fetch_bytes_total", "client_id", "framecast-view-frames")
		r, _ := value(mfs, "framecast_kafka_fetch_bytes_total", "client_id", "framecast-view-results")
		return f > 0 && r > 0
	})
	if code, body := get(t, sv, "/healthz"); code != http.StatusOK {
		t.Errorf("dashboard /healthz: %d %s", code, body)
	}
	_, body = scrape(t, sv)
	promtool(t, body)

	mfs, _ = scrape(t, sb)
	if v, _ := value(mfs, "framecast_broker_topic_bytes", "topic", "framecast.frames"); v <= 0 {
		t.Errorf("framecast_broker_topic_bytes{topic=frames} = %v, want > 0", v)
	}

	for _, srv := range []*Server{s, sb} {
		if code, body := get(t, srv, "/healthz"); code != http.StatusOK {
			t.Errorf("/healthz: %d %s", code, body)
		}
	}
	readyz := func(srv *Server) (int, string) { return get(t, srv, "/readyz") }
	testkit.Eventually(t, 10*time.Second, "the processor is ready", func() bool { c, _ := readyz(s); return c == http.StatusOK })
	if code, _ := readyz(sb); code != http.StatusOK {
		t.Errorf("broker /readyz: %d", code)
	}

	// The broker goes away: both say why they are not ready.
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if code, body := readyz(sb); code != http.StatusServiceUnavailable || !strings.Contains(body, "closed") {
		t.Errorf("broker /readyz after Close: %d %q", code, body)
	}
	testkit.Eventually(t, 10*time.Second, "the processor is not ready without its broker", func() bool {
		c, body := readyz(s)
		return c == http.StatusServiceUnavailable && strings.Contains(body, "process: ")
	})
	_, body = readyz(s)
	t.Logf("processor /readyz without a broker: %s", strings.TrimSpace(body))
	if code, body := get(t, s, "/healthz"); code != http.StatusOK {
		t.Errorf("/healthz without a broker: %d %s (alive all the same)", code, body)
	}
	// And back.
	b, err = broker.Start(ctx, bcfg)
	if err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 30*time.Second, "the processor is ready again", func() bool { c, _ := readyz(s); return c == http.StatusOK })

	if err := proc.Stop(30 * time.Second); err != nil {
		t.Errorf("the processor with its endpoints: %v", err)
	}
}

// promtool checks a scrape with Prometheus's own linter, when installed
// (Debian's prometheus package).
func promtool(t *testing.T, scrape string) {
	t.Helper()
	bin, err := exec.LookPath("promtool")
	if err != nil {
		t.Log("promtool not installed (Debian: apt-get install prometheus): the scrape is not linted")
		return
	}
	cmd := exec.Command(bin, "check", "metrics")
	cmd.Stdin = strings.NewReader(scrape)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
}

func framecastLines(body string) string {
	var b strings.Builder
	for l := range strings.Lines(body) {
		if strings.HasPrefix(l, "framecast_") && !strings.HasPrefix(l, "framecast_kafka_") && !strings.Contains(l, "_bucket{") {
			b.WriteString(l)
		}
	}
	return b.String()
}

func TestOff(t *testing.T) {
	s := New("")
	ran := false
	if err := s.WatchBroker(nil).Serve(t.Context(), discard, func(context.Context) error { ran = true; return nil }); err != nil || !ran {
		t.Fatalf("Serve off: ran %v, err %v", ran, err)
	}
	if s.Addr() != nil {
		t.Error("a server that is off listens")
	}
	var none *Server
	if none.On() || none.WatchProcess(nil) != nil {
		t.Error("a nil server is on")
	}
}

func TestBadAddress(t *testing.T) {
	err := New("nowhere").Serve(t.Context(), discard, func(context.Context) error {
		t.Error("the role ran")
		return nil
	})
	if err == nil || !strings.Contains(err.Error(), "--metrics-listen") {
		t.Errorf("Serve = %v, want a --metrics-listen error", err)
	}
}

// TestDrain: after the signal, /readyz says so while the role drains; the
// endpoints stop when the role does, and its error is Serve's.
func TestDrain(t *testing.T) {
	s := New("127.0.0.1:0")
	s.Ready("part", func(context.Context) error { return nil })
	s.Live("part", func(context.Context) error { return nil })
	release, boom := make(chan struct{}), errors.New("boom")
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		done <- s.Serve(ctx, discard, func(ctx context.Context) error {
			<-ctx.Done()
			<-release // draining
			return boom
		})
	}()
	testkit.Eventually(t, 5*time.Second, "listening", func() bool { return s.Addr() != nil })
	if code, body := get(t, s, "/readyz"); code != http.StatusOK || body != "ready\n" {
		t.Errorf("/readyz: %d %q", code, body)
	}
	mfs, _ := scrape(t, s)
	want(t, mfs, 1, "framecast_ready")
	cancel()
	testkit.Eventually(t, 5*time.Second, "not ready while draining", func() bool {
		code, body := get(t, s, "/readyz")
		return code == http.StatusServiceUnavailable && strings.Contains(body, "shutting down")
	})
	mfs, _ = scrape(t, s)
	want(t, mfs, 0, "framecast_ready")
	if code, _ := get(t, s, "/healthz"); code != http.StatusOK {
		t.Errorf("/healthz while draining: %d", code)
	}
	close(release)
	if err := <-done; !errors.Is(err, boom) {
		t.Errorf("Serve = %v, want the role's error", err)
	}
	if _, err := http.Get("http://" + s.Addr().String() + "/healthz"); err == nil {
		t.Error("the endpoints answer after Serve returned")
	}
}

// TestNotReadyBody: every failing check has its line.
func TestNotReadyBody(t *testing.T) {
	s := New("127.0.0.1:0")
	s.Ready("a", func(context.Context) error { return errors.New("no a") })
	s.Ready("b", func(context.Context) error { return nil })
	s.Ready("c", func(context.Context) error { return errors.New("no c") })
	w := httptest.NewRecorder()
	s.Handler().ServeHTTP(w, httptest.NewRequest("GET", "/readyz", nil))
	if w.Code != http.StatusServiceUnavailable || w.Body.String() != "a: no a\nc: no c\n" {
		t.Errorf("/readyz: %d %q", w.Code, w.Body.String())
	}
	mfs, err := s.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	ready := map[string]*dto.MetricFamily{}
	for _, mf := range mfs {
		ready[mf.GetName()] = mf
	}
	want(t, ready, 0, "framecast_ready")
}
