package telemetry

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/plugin/kprom"

	"github.com/framecast/framecast/internal/broker"
	"github.com/framecast/framecast/internal/frame"
	"github.com/framecast/framecast/internal/process"
	"github.com/framecast/framecast/internal/publish"
	"github.com/framecast/framecast/internal/view"
)

// The roles' metrics. Counters and gauges are read from the roles' Stats
// snapshots when Prometheus scrapes; only the histograms are observed as
// results are delivered. Labels are bounded: cameras by the configuration,
// partitions by the topic, reasons, outcomes, stages and emotions by the
// code.

// lagTimeout bounds the brokers' answer for framecast_consumer_lag_records
// during a scrape; without one the series is left out.
const lagTimeout = 2 * time.Second

// KafkaClient adds the Kafka client metrics (kprom: framecast_kafka_*,
// labelled with the client id) to opts, for one client at a time (each
// new client of the same options replaces the last one's series, as
// process does when it reconnects). Off, it returns opts as they are.
func (s *Server) KafkaClient(opts []kgo.Opt) []kgo.Opt {
	if !s.On() {
		return opts
	}
	m := kprom.NewMetrics(Namespace, kprom.Registerer(s.reg), kprom.Subsystem("kafka"), kprom.WithClientLabel())
	return append(opts[:len(opts):len(opts)], kgo.WithHooks(m))
}

// KafkaClientAs names a client id and adds its metrics to opts (on or
// off, the id is set): a role with several clients at once (the
// dashboard's two readers, the demo's publisher, processor and readers)
// gives each its own id, because the series of one id are one client's.
func (s *Server) KafkaClientAs(opts []kgo.Opt, id string) []kgo.Opt {
	return s.KafkaClient(append(opts[:len(opts):len(opts)], kgo.ClientID(id)))
}

// WatchProcess exports p's metrics and adds its checks: live while no
// worker is stuck on a frame, ready once it is in its group and the
// results topic is writable (process.Processor.Ready). Call it before
// p.Run.
func (s *Server) WatchProcess(p *process.Processor) *Server {
	if !s.On() {
		return s
	}
	h := &analysisHistograms{
		stages: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: Namespace, Name: "analysis_seconds",
			Help:    "Time of each analysis stage of the frames analysed (result status ok).",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}, []string{"stage"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: Namespace, Name: "latency_seconds",
			Help:    "Capture to result delivered, of the results with status ok.",
			Buckets: prometheus.ExponentialBuckets(0.01, 2, 12),
		}),
	}
	h.decode, h.detect = h.stages.WithLabelValues("decode"), h.stages.WithLabelValues("detect")
	h.classify, h.total = h.stages.WithLabelValues("classify"), h.stages.WithLabelValues("total")
	processed := newDesc("frames_processed_total", "Frame records delivered: as a result (ok, skipped) or a dead letter (dlq).", "outcome")
	faces := newDesc("faces_total", "Faces found in the results delivered, by their most likely emotion.", "emotion")
	analysed := newDesc("frames_analysed_total", "Results delivered with status ok, by how fresh their faces are: full (detector ran), tracked (followed from earlier frames), reused (a static frame).", "analysis")
	lag := newDesc("consumer_lag_records", "Records of the frames partitions assigned to this processor not yet committed by its group.", "topic", "partition")
	stalled := newDesc("stalled_partitions", "Assigned frames partitions that lag without progress for --stall-alarm.")
	assigned := newDesc("assigned_partitions", "Frames partitions assigned to this processor.")
	inFlight := newDesc("in_flight_frames", "Frames fetched whose record is not delivered yet.")
	s.reg.MustRegister(h.stages, h.latency, collectorFunc{
		descs: []*prometheus.Desc{processed, faces, analysed, lag, stalled, assigned, inFlight},
		collect: func(ch chan<- prometheus.Metric) {
			st := p.Stats()
			ch <- counter(processed, st.OK, "ok")
			ch <- counter(processed, sum(st.Skipped), "skipped")
			ch <- counter(processed, sum(st.DLQ), "dlq")
			for e, n := range st.FacesByEmotion {
				ch <- counter(faces, n, e)
			}
			for a, n := range st.Analysis {
				ch <- counter(analysed, n, a)
			}
			ch <- gauge(stalled, float64(st.StalledPartitions))
			ch <- gauge(assigned, float64(st.Assigned))
			ch <- gauge(inFlight, float64(st.InFlight))
			ctx, cancel := context.WithTimeout(context.Background(), lagTimeout)
			defer cancel()
			lags, _ := p.Lag(ctx) // unknown now: left out
			for _, l := range lags {
				ch <- gauge(lag, float64(l.Lag), l.Topic, strconv.Itoa(int(l.Partition)))
			}
		},
	})
	p.SetObserver(h)
	s.Live("process", p.Live)
	s.Ready("process", p.Ready)
	return s
}

// analysisHistograms are process.Observer: five observations per result.
type analysisHistograms struct {
	stages                          *prometheus.HistogramVec
	latency                         prometheus.Histogram
	decode, detect, classify, total prometheus.Observer
}

func (h *analysisHistograms) Observe(t frame.Timings, latency time.Duration) {
	h.decode.Observe(t.Decode / 1e3)
	h.detect.Observe(t.Detect / 1e3)
	h.classify.Observe(t.Classify / 1e3)
	h.total.Observe(t.Total / 1e3)
	h.latency.Observe(latency.Seconds())
}

// dropReasons are the label values of framecast_frames_dropped_total.
var dropReasons = [...]string{"buffer_full", "delivery_failed", "too_large", "source_error"}

// WatchPublish exports p's metrics and adds its checks: live while its
// paced cameras' reads return (publish.Publisher.Live), ready while the
// brokers answer and at least one camera is up.
func (s *Server) WatchPublish(p *publish.Publisher) *Server {
	if !s.On() {
		return s
	}
	published := newDesc("frames_published_total", "Frames Kafka acknowledged, by camera.", "camera")
	dropped := newDesc("frames_dropped_total", "Frames lost before Kafka acknowledged them (source_error: reads that gave no frame), by camera and reason.", "camera", "reason")
	up := newDesc("source_up", "1 while the camera's source delivers, else 0.", "camera")
	reconnects := newDesc("source_reconnects_total", "Connections of the camera's source after the first.", "camera")
	buffered := newDesc("publish_buffered_bytes", "Frame bytes waiting in the producer.")
	s.reg.MustRegister(collectorFunc{
		descs: []*prometheus.Desc{published, dropped, up, reconnects, buffered},
		collect: func(ch chan<- prometheus.Metric) {
			for id, c := range p.CameraStats() {
				ch <- counter(published, c.Published, id)
				for i, n := range [...]int64{c.Dropped.BufferFull, c.Dropped.DeliveryFailed, c.Dropped.TooLarge, c.Dropped.SourceError} {
					ch <- counter(dropped, n, id, dropReasons[i])
				}
				ch <- gauge(up, b2f(c.Up), id)
				ch <- counter(reconnects, c.Reconnects, id)
			}
			ch <- gauge(buffered, float64(p.Stats().BufferedBytes))
		},
	})
	s.Live("publish", p.Live)
	s.Ready("publish", p.Ready)
	return s
}

// WatchBroker exports what b's topics hold and adds its checks: live while
// its request loop answers, ready while it listens and each of its topics
// has partitions.
func (s *Server) WatchBroker(b *broker.Broker) *Server {
	if !s.On() {
		return s
	}
	bytes := newDesc("broker_topic_bytes", "Bytes of the records the topic keeps.", "topic")
	records := newDesc("broker_topic_records", "Records the topic keeps.", "topic")
	s.reg.MustRegister(collectorFunc{
		descs: []*prometheus.Desc{bytes, records},
		collect: func(ch chan<- prometheus.Metric) {
			for _, t := range b.Stats() {
				ch <- gauge(bytes, float64(t.Bytes), t.Topic)
				ch <- gauge(records, float64(t.Records), t.Topic)
			}
		},
	})
	s.Live("broker", b.Live)
	s.Ready("broker", func(context.Context) error {
		ts := b.Stats()
		if ts == nil {
			return errors.New("closed")
		}
		for _, t := range ts {
			if t.Partitions == 0 {
				return fmt.Errorf("topic %s has no partitions", t.Topic)
			}
		}
		return nil
	})
	return s
}

// WatchView exports the dashboard's viewers and adds its checks: live
// while its readers' loops turn, ready once both reached their topics.
func (s *Server) WatchView(v *view.Server) *Server {
	if !s.On() {
		return s
	}
	viewers := newDesc("view_viewers", "Dashboard WebSocket connections open now.")
	streams := newDesc("view_streams", "MJPEG streams open now.")
	s.reg.MustRegister(collectorFunc{
		descs: []*prometheus.Desc{viewers, streams},
		collect: func(ch chan<- prometheus.Metric) {
			st := v.Stats()
			ch <- gauge(viewers, float64(st.Clients))
			ch <- gauge(streams, float64(st.Streams))
		},
	})
	s.Live("view", v.Live)
	s.Ready("view", func(context.Context) error { return v.NotReady() })
	return s
}

// collectorFunc is a collector of fixed descriptions whose values collect
// reads at scrape time.
type collectorFunc struct {
	descs   []*prometheus.Desc
	collect func(chan<- prometheus.Metric)
}

func (c collectorFunc) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs {
		ch <- d
	}
}

func (c collectorFunc) Collect(ch chan<- prometheus.Metric) { c.collect(ch) }

func newDesc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(Namespace+"_"+name, help, labels, nil)
}

func counter[N int64 | uint64](d *prometheus.Desc, v N, labels ...string) prometheus.Metric {
	return prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
}

func gauge(d *prometheus.Desc, v float64, labels ...string) prometheus.Metric {
	return prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
}

func sum(m map[string]uint64) uint64 {
	var n uint64
	for _, v := range m {
		n += v
	}
	return n
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
