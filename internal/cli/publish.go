package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/framecast/framecast/internal/kafka"
	"github.com/framecast/framecast/internal/publish"
	"github.com/framecast/framecast/internal/rungroup"
	"github.com/framecast/framecast/internal/source"
)

// stringList is a flag that may be repeated; each use appends a value.
type stringList []string

func (s *stringList) String() string { return strings.Join(*s, " ") }

func (s *stringList) Set(v string) error {
	*s = append(*s, v)
	return nil
}

func runPublish(ctx context.Context, env *environment, args []string) error {
	fs := newFlagSet(env, "publish", "--source [ID=]URI [--source [ID=]URI ...] [--camera-file FILE] [flags]",
		"Capture frames from one or more sources and produce them to the frames topic: key = camera id,\n"+
			"value = JPEG, record timestamp = capture time, headers with sequence number and size.\n"+
			"Each camera runs at its own pace; a frame that does not fit in the producer's buffer is\n"+
			"dropped and counted, never queued behind a slow broker.\n\n"+
			"Sources (chosen by URI):\n"+
			"  synthetic:[?size=WxH&fps=N&seed=N&faces=sample1,sample4&quality=Q&dir=PATH]\n"+
			"      the face-api sample photos filmed by a virtual camera that pans, zooms and cuts\n"+
			"  PATH or 'GLOB'   an image, a directory of images or a glob, in name order, looped (see --once)\n"+
			"  VIDEO            a video file ffmpeg reads (.mp4, .mkv, …), at its native rate (see --realtime, --loop)\n"+
			"  rtsp://… rtmp://… srt://…    network streams through ffmpeg\n"+
			"  http(s)://…      MJPEG IP cameras (read in Go), JPEG snapshot URLs, HLS or progressive video\n"+
			"  /dev/video0 or v4l2:///dev/video0   a webcam through ffmpeg (#size=1280x720&fps=30&format=mjpeg)\n"+
			"  lavfi:GRAPH      an ffmpeg test source, e.g. lavfi:testsrc2=size=640x480:rate=10\n"+
			"Options per video/network/webcam source after #: fps, size, every, quality, loop, realtime,\n"+
			"format (webcams), stall. Such sources reconnect with backoff when they fail (also at start)\n"+
			"and are restarted when they deliver nothing for --stall-timeout; live cameras publish their\n"+
			"newest frame, never a backlog.\n\n"+
			"Camera ids: --source ID=URI, or --camera ID for the sources without one (in order),\n"+
			"or cam-1, cam-2, … by position. A --camera-file lists cameras in YAML:\n"+
			indent(publish.CameraFileExample, "  ")+"\n"+
			"Cameras are spread over the topic's partitions: ids sorted, the i-th on partition i mod partitions.\n\n"+
			"Examples:\n"+
			"  framecast publish --source lobby=synthetic: --source door=synthetic:?seed=2 --count 100\n"+
			"  framecast publish --source desk=/dev/video0\n"+
			"  framecast publish --source gate='rtsp://user:pass@192.168.1.20:554/stream1#fps=10'\n"+
			"  framecast publish --source replay=/videos/entrance.mp4 --loop")
	var sf sourceFlags
	sf.register(fs, publish.DefaultFPS)
	count := fs.Int64("count", 0, "stop each camera after this many frames, flush and exit (0: run until interrupted)")
	maxBuffered := byteSize(publish.DefaultMaxBufferedBytes)
	fs.Var(&maxBuffered, "max-buffered-bytes", "`size` bound of the producer buffer (e.g. 64MiB); frames that do not fit are dropped (buffer_full)")
	batchMax := byteSize(publish.DefaultBatchMaxBytes)
	fs.Var(&batchMax, "batch-max-bytes", "`size` of the largest produce batch, and so frame (at most 64MiB); the topic's max.message.bytes must be at least this")
	deliveryTimeout := fs.Duration("delivery-timeout", publish.DefaultDeliveryTimeout, "drop a frame Kafka has not acknowledged within this time (delivery_failed)")
	flushTimeout := fs.Duration("flush-timeout", publish.DefaultFlushTimeout, "at exit, wait at most this long for buffered frames")
	statsInterval := fs.Duration("stats-interval", 5*time.Second, "log a stats line this often (0: only at exit)")
	var kc kafka.Config
	kc.RegisterFlags(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}

	specs, err := sf.specs(fs.Args())
	var errs []error
	if err != nil {
		errs = append(errs, err)
	}
	if *count < 0 {
		errs = append(errs, fmt.Errorf("--count %d: want 0 (no limit) or more", *count))
	}
	if maxBuffered <= 0 || maxBuffered > 1<<40 {
		errs = append(errs, fmt.Errorf("--max-buffered-bytes %v: want more than 0 and at most 1TiB", &maxBuffered))
	}
	if batchMax <= 0 || batchMax > 64<<20 {
		errs = append(errs, fmt.Errorf("--batch-max-bytes %v: want 1 to 64MiB", &batchMax))
	}
	if *deliveryTimeout <= 0 || *flushTimeout <= 0 || *statsInterval < 0 {
		errs = append(errs, errors.New("--delivery-timeout and --flush-timeout must be positive, --stats-interval not negative"))
	}
	if err := kc.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return usageError("%v", err)
	}

	// Open every source before connecting: a wrong path is reported at
	// once, without waiting for Kafka. Network cameras connect in the
	// background and are retried, so one that is down does not stop the
	// others.
	cams, err := openCameras(env, &sf, specs, *count)
	if err != nil {
		return err
	}
	closeAll := func() {
		for _, c := range cams {
			c.Source.Close()
		}
	}

	clientOpts, err := kafkaClient(ctx, env.log, &kc, "framecast-publish")
	if err != nil {
		closeAll()
		return err
	}
	pub, err := publish.New(ctx, publish.Config{
		Topic:            kc.Topics.Frames,
		MaxBufferedBytes: int(maxBuffered),
		BatchMaxBytes:    int32(batchMax),
		DeliveryTimeout:  *deliveryTimeout,
		FlushTimeout:     *flushTimeout,
		Log:              env.log,
	}, clientOpts...)
	if err != nil {
		closeAll()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return explainConnect(&kc, err)
	}
	defer pub.Close()

	start := time.Now()
	// The stats loop runs until the publisher ends.
	g, _ := rungroup.New(ctx)
	g.Go(func(ctx context.Context) error { return pub.Run(ctx, cams) })
	g.Go(func(ctx context.Context) error {
		if *statsInterval <= 0 {
			<-ctx.Done()
			return nil
		}
		t := time.NewTicker(*statsInterval)
		defer t.Stop()
		prev, prevAt := pub.Stats(), time.Now()
		for {
			select {
			case <-ctx.Done():
				return nil
			case now := <-t.C:
				s := pub.Stats()
				secs := now.Sub(prevAt).Seconds()
				env.log.Info("publish stats", append(append(statsAttrs(s), sourceAttrs(pub.SourceStatus())...),
					"fps", round1(float64(s.Acked-prev.Acked)/secs),
					"mb_per_s", round1(float64(s.AckedBytes-prev.AckedBytes)/secs/1e6))...)
				prev, prevAt = s, now
			}
		}
	})
	err = g.Wait()
	s := pub.Stats()
	secs := time.Since(start).Seconds()
	env.log.Info("publish finished", append(append(statsAttrs(s), sourceAttrs(pub.SourceStatus())...),
		"seconds", round1(secs), "fps", round1(float64(s.Acked)/secs))...)
	return err
}

// cameraIDs pairs each source with its camera id: ID=URI, else the next
// --camera, else cam-N by position (skipping ids already taken).
func cameraIDs(sources, cameras []string) (ids, uris []string, err error) {
	taken := map[string]bool{}
	ids = make([]string, len(sources))
	uris = make([]string, len(sources))
	for i, s := range sources {
		if id, uri, ok := splitSource(s); ok {
			ids[i], uris[i] = id, uri
			taken[id] = true
		} else {
			uris[i] = s
		}
	}
	next := 0
	for i := range sources {
		if ids[i] != "" || next >= len(cameras) {
			continue
		}
		ids[i] = cameras[next]
		taken[ids[i]] = true
		next++
	}
	if next < len(cameras) {
		return nil, nil, fmt.Errorf("%d --camera ids for %d sources without ID=: give one --camera per such --source", len(cameras), next)
	}
	n := 1
	for i := range sources {
		if ids[i] != "" {
			continue
		}
		for n = max(n, i+1); taken["cam-"+strconv.Itoa(n)]; n++ {
		}
		ids[i] = "cam-" + strconv.Itoa(n)
		taken[ids[i]] = true
	}
	seen := map[string]bool{}
	for _, id := range ids {
		if seen[id] {
			return nil, nil, fmt.Errorf("camera id %q given twice", id)
		}
		seen[id] = true
	}
	return ids, uris, nil
}

// splitSource splits "ID=URI". The part before '=' is an id only if it
// cannot be part of a URI or path (no ':', '/', '\', '?', '&') and the
// whole string is not an existing file.
func splitSource(s string) (id, uri string, ok bool) {
	id, uri, found := strings.Cut(s, "=")
	if !found || id == "" || uri == "" || strings.ContainsAny(id, `:/\?&`) {
		return "", "", false
	}
	if _, err := os.Stat(s); err == nil {
		return "", "", false
	}
	return id, uri, true
}

// kafkaClient names the client (clientID unless --client-id was given),
// builds its connection options (franz-go's warnings to log) and checks
// the brokers: Check explains an unreachable broker, a failed SASL
// handshake or a TLS mismatch, which franz-go itself reports only as a
// timeout. An interrupted check returns ctx.Err().
func kafkaClient(ctx context.Context, log *slog.Logger, kc *kafka.Config, clientID string) ([]kgo.Opt, error) {
	if kc.ClientID == "" {
		kc.ClientID = clientID
	}
	opts, err := kc.ClientOpts(log)
	if err != nil {
		return nil, usageError("%v", err)
	}
	if err := kafka.Check(ctx, *kc, kafka.DefaultCheckTimeout); err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, err
	}
	return opts, nil
}

// explainConnect turns a connection failure into what to do next. The
// topic check's errors say it already (kafka.TopicError); an unreachable
// broker may also be a SASL or TLS mismatch.
func explainConnect(kc *kafka.Config, err error) error {
	var te *kafka.TopicError
	if !errors.As(err, &te) {
		return fmt.Errorf("Kafka at %s: %w", kc.Brokers, err)
	}
	if errors.Is(err, publish.ErrNoBroker) {
		if kc.SASLMechanism != "" {
			err = fmt.Errorf("%w; with SASL, a wrong user or password also looks like this", err)
		}
		if kc.UsesTLS() {
			err = fmt.Errorf("%w; check that the address is a TLS listener", err)
		}
	}
	return err
}

func statsAttrs(s publish.Stats) []any {
	return []any{
		"captured", s.Captured, "acked", s.Acked, "in_flight", s.InFlight(),
		"dropped_buffer_full", s.Dropped.BufferFull, "dropped_delivery_failed", s.Dropped.DeliveryFailed,
		"dropped_too_large", s.Dropped.TooLarge, "source_errors", s.Dropped.SourceError,
		"buffered_bytes", s.BufferedBytes,
	}
}

// openCameras opens every camera's source; on an error it closes those
// already open.
func openCameras(env *environment, sf *sourceFlags, specs []publish.CameraSpec, count int64) ([]publish.Camera, error) {
	var cams []publish.Camera
	for _, spec := range specs {
		opts, fps := sf.options(spec)
		opts.Log = env.log.With("camera", spec.ID)
		src, err := source.Open(spec.URI, opts)
		if err != nil {
			for _, c := range cams {
				c.Source.Close()
			}
			return nil, fmt.Errorf("camera %s: %w", spec.ID, err)
		}
		c := publish.Camera{ID: spec.ID, Source: src, FPS: fps, Count: count}
		if r, ok := src.(source.FrameRater); ok && r.FPS() > 0 {
			c.FPS = r.FPS()
		}
		cams = append(cams, c)
		attrs := []any{"id", c.ID, "source", source.Redact(spec.URI)}
		if sp, ok := src.(source.SelfPaced); ok && sp.SelfPaced() {
			attrs = append(attrs, "fps", "the source's own")
		} else {
			attrs = append(attrs, "fps", c.FPS)
		}
		env.log.Info("camera", attrs...)
	}
	return cams, nil
}

// sourceAttrs summarises the supervised sources for the stats lines.
func sourceAttrs(m map[string]source.Status) []any {
	if len(m) == 0 {
		return nil
	}
	var up, reconnects, stalls, dropped int64
	var down, ended []string
	for id, s := range m {
		switch {
		case s.Up:
			up++
		case s.Ended:
			ended = append(ended, id)
		default:
			down = append(down, id)
		}
		reconnects += s.Reconnects
		stalls += s.Stalls
		dropped += s.Dropped
	}
	sort.Strings(down)
	attrs := []any{"sources_up", up, "source_reconnects", reconnects, "source_stalls", stalls, "source_frames_replaced", dropped}
	if len(down) > 0 {
		attrs = append(attrs, "sources_down", strings.Join(down, ","))
	}
	if len(ended) > 0 {
		sort.Strings(ended)
		attrs = append(attrs, "sources_ended", strings.Join(ended, ","))
	}
	return attrs
}

// indent prefixes every line of s.
func indent(s, prefix string) string {
	return prefix + strings.ReplaceAll(s, "\n", "\n"+prefix)
}

func round1(x float64) float64 { return float64(int64(x*10+0.5)) / 10 }
