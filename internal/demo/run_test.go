package demo

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/framecast/framecast/internal/analysis"
	"github.com/framecast/framecast/internal/broker"
	"github.com/framecast/framecast/internal/kafka"
	"github.com/framecast/framecast/internal/process"
	"github.com/framecast/framecast/internal/publish"
	"github.com/framecast/framecast/internal/source"
	"github.com/framecast/framecast/internal/telemetry"
	"github.com/framecast/framecast/internal/testkit"
	"github.com/framecast/framecast/internal/view"
)

// still films the same JPEG at every read.
type still struct{ jpeg []byte }

func (s still) Next(context.Context) (source.Frame, error) {
	return source.Frame{JPEG: s.jpeg, Width: 64, Height: 48, CapturedAt: time.Now()}, nil
}

func (still) Close() error { return nil }

// TestRunMetrics runs the demo (on analysis.Fake) with its metrics on: one
// scrape has every part's series, and each of its Kafka clients (the
// publisher, the processor, the dashboard's two readers) has its own
// client_id in framecast_kafka_*, so their traffic is not mixed.
func TestRunMetrics(t *testing.T) {
	m := telemetry.New("127.0.0.1:0")
	cfg := Config{
		Broker:  broker.Config{Listen: "127.0.0.1:0", DataDir: t.TempDir()},
		Cameras: []publish.Camera{{ID: "cam-1", Source: still{testkit.FlatJPEG(64, 48)}, FPS: 20}},
		Process: process.Config{
			NewAnalyzer: func() (analysis.Analyzer, error) { return &analysis.Fake{}, nil },
			Concurrency: 1, StatsInterval: -1, StallAlarm: -1, MaxAge: time.Minute,
		},
		StartView: func(topics kafka.Topics, clientOpts []kgo.Opt) (*view.Server, net.Listener, error) {
			srv, err := view.New(view.Config{
				Client: clientOpts, Topics: topics, Listen: "127.0.0.1:0", StallAlarm: -1,
				ReaderClient: func(r string) []kgo.Opt { return m.KafkaClientAs(nil, "framecast-demo-view-"+r) },
			})
			if err != nil {
				return nil, nil, err
			}
			ln, err := srv.Listen()
			return srv, ln, err
		},
		Metrics: m,
	}
	run := testkit.Go(t, func(ctx context.Context) error { return Run(ctx, cfg) })
	testkit.Eventually(t, 10*time.Second, "the metrics server listens", func() bool { return m.Addr() != nil })
	scrape := func() string {
		resp, err := http.Get("http://" + m.Addr().String() + "/metrics")
		if err != nil {
			return ""
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	want := []string{
		`framecast_kafka_produce_bytes_total{client_id="framecast-demo-publish"`,
		`framecast_kafka_fetch_bytes_total{client_id="framecast-demo-process"`,
		`framecast_kafka_fetch_bytes_total{client_id="framecast-demo-view-frames"`,
		`framecast_kafka_fetch_bytes_total{client_id="framecast-demo-view-results"`,
		`framecast_frames_published_total{camera="cam-1"}`,
		`framecast_frames_processed_total{outcome="ok"}`,
		`framecast_broker_topic_bytes{topic="framecast.frames"}`,
		`framecast_view_viewers`,
		`framecast_ready 1`,
	}
	testkit.Eventually(t, 30*time.Second, "every part's series in one scrape", func() bool {
		body := scrape()
		for _, w := range want {
			if !strings.Contains(body, w) {
				return false
			}
		}
		return true
	})
	if err := run.Stop(30 * time.Second); err != nil {
		t.Errorf("the demo stopped with %v", err)
	}
}
