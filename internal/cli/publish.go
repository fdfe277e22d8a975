package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/framecast/framecast/internal/kafka"
	"github.com/framecast/framecast/internal/publish"
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
	fs := newFlagSet(env, "publish", "--source [ID=]URI [--source [ID=]URI ...] [flags]",
		"Capture frames from one or more sources and produce them to the frames topic: key = camera id,\n"+
			"value = JPEG, record timestamp = capture time, headers with sequence number and size.\n"+
			"Each camera runs at its own pace; a frame that does not fit in the producer's buffer is\n"+
			"dropped and counted, never queued behind a slow broker.\n\n"+
			"Sources:\n"+
			"  synthetic:[?size=WxH&fps=N&seed=N&faces=sample1,sample4&quality=Q&dir=PATH]\n"+
			"      the face-api sample photos filmed by a virtual camera that pans, zooms and cuts\n"+
			"  PATH  an image file or a directory of images (name order), looped (see --once)\n"+
			"Video files, RTSP, HTTP MJPEG and webcams come in a later version.\n\n"+
			"Camera ids: --source ID=URI, or --camera ID for the sources without one (in order),\n"+
			"or cam-1, cam-2, … by position. Cameras are spread over the topic's partitions: ids\n"+
			"sorted, the i-th on partition i mod partitions.\n\n"+
			"Example: framecast publish --source lobby=synthetic: --source door=synthetic:?seed=2 --count 100")
	var sources, cameras stringList
	fs.Var(&sources, "source", "a source URI, optionally ID=URI; repeat for several cameras (URIs may also follow the flags)")
	fs.Var(&cameras, "camera", "camera id of the next --source given without ID=; repeatable")
	fps := fs.Float64("fps", publish.DefaultFPS, "frames per second per camera (a synthetic: URI's fps option wins)")
	count := fs.Int64("count", 0, "stop each camera after this many frames, flush and exit (0: run until interrupted)")
	quality := fs.Int("jpeg-quality", source.DefaultJPEGQuality, "JPEG quality of frames framecast encodes (synthetic, non-JPEG images), 1-100")
	size := fs.String("size", fmt.Sprintf("%dx%d", source.DefaultWidth, source.DefaultHeight), "frame size of synthetic: sources, WIDTHxHEIGHT")
	once := fs.Bool("once", false, "play image files and directories once instead of looping")
	maxBuffered := fs.Int("max-buffered-bytes", publish.DefaultMaxBufferedBytes, "producer buffer bound in bytes; frames that do not fit are dropped (buffer_full)")
	batchMax := fs.Int("batch-max-bytes", publish.DefaultBatchMaxBytes, "largest produce batch, and so frame, in bytes (at most 64 MiB); the topic's max.message.bytes must be at least this")
	deliveryTimeout := fs.Duration("delivery-timeout", publish.DefaultDeliveryTimeout, "drop a frame Kafka has not acknowledged within this time (delivery_failed)")
	flushTimeout := fs.Duration("flush-timeout", publish.DefaultFlushTimeout, "at exit, wait at most this long for buffered frames")
	statsInterval := fs.Duration("stats-interval", 5*time.Second, "log a stats line this often (0: only at exit)")
	var kc kafka.Config
	kc.RegisterFlags(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	sources = append(sources, fs.Args()...)

	var errs []error
	if len(sources) == 0 {
		errs = append(errs, errors.New("no --source given, e.g. --source synthetic:"))
	}
	if !(*fps > 0 && *fps <= 1000) {
		errs = append(errs, fmt.Errorf("--fps %v: want more than 0 and at most 1000", *fps))
	}
	if *count < 0 {
		errs = append(errs, fmt.Errorf("--count %d: want 0 (no limit) or more", *count))
	}
	if *quality < 1 || *quality > 100 {
		errs = append(errs, fmt.Errorf("--jpeg-quality %d: want 1 to 100", *quality))
	}
	w, h, ok := source.ParseSize(*size)
	if !ok {
		errs = append(errs, fmt.Errorf("--size %q: want WIDTHxHEIGHT, e.g. 640x480", *size))
	}
	if *maxBuffered <= 0 {
		errs = append(errs, fmt.Errorf("--max-buffered-bytes %d: want more than 0", *maxBuffered))
	}
	if *batchMax <= 0 || *batchMax > 64<<20 {
		errs = append(errs, fmt.Errorf("--batch-max-bytes %d: want 1 to %d", *batchMax, 64<<20))
	}
	if *deliveryTimeout <= 0 || *flushTimeout <= 0 || *statsInterval < 0 {
		errs = append(errs, errors.New("--delivery-timeout and --flush-timeout must be positive, --stats-interval not negative"))
	}
	if err := kc.Validate(); err != nil {
		errs = append(errs, err)
	}
	ids, uris, err := cameraIDs(sources, cameras)
	if err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return usageError("%v", err)
	}

	// Open every source before connecting: a wrong path is reported at
	// once, without waiting for Kafka.
	opts := source.Options{Width: w, Height: h, FPS: *fps, JPEGQuality: *quality, Once: *once}
	var cams []publish.Camera
	closeAll := func() {
		for _, c := range cams {
			c.Source.Close()
		}
	}
	for i, uri := range uris {
		src, err := source.Open(uri, opts)
		if err != nil {
			closeAll()
			return fmt.Errorf("camera %s: %w", ids[i], err)
		}
		c := publish.Camera{ID: ids[i], Source: src, FPS: *fps, Count: *count}
		if r, ok := src.(source.FrameRater); ok && r.FPS() > 0 {
			c.FPS = r.FPS()
		}
		cams = append(cams, c)
		env.log.Info("camera", "id", c.ID, "source", uri, "fps", c.FPS)
	}

	if kc.ClientID == "" {
		kc.ClientID = "framecast-publish"
	}
	clientOpts, err := kc.ClientOpts()
	if err != nil {
		closeAll()
		return usageError("%v", err)
	}
	// Check explains an unreachable broker, a failed SASL handshake or a
	// TLS mismatch, which franz-go itself reports only as a timeout.
	if err := kafka.Check(ctx, kc, kafka.DefaultCheckTimeout); err != nil {
		closeAll()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return err
	}
	pub, err := publish.New(ctx, publish.Config{
		Topic:            kc.Topics.Frames,
		MaxBufferedBytes: *maxBuffered,
		BatchMaxBytes:    int32(*batchMax),
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
	done := make(chan struct{})
	statsDone := make(chan struct{})
	go func() {
		defer close(statsDone)
		if *statsInterval <= 0 {
			<-done
			return
		}
		t := time.NewTicker(*statsInterval)
		defer t.Stop()
		prev, prevAt := pub.Stats(), time.Now()
		for {
			select {
			case <-done:
				return
			case now := <-t.C:
				s := pub.Stats()
				secs := now.Sub(prevAt).Seconds()
				env.log.Info("publish stats", append(statsAttrs(s),
					"fps", round1(float64(s.Acked-prev.Acked)/secs),
					"mb_per_s", round1(float64(s.AckedBytes-prev.AckedBytes)/secs/1e6))...)
				prev, prevAt = s, now
			}
		}
	}()
	err = pub.Run(ctx, cams)
	close(done)
	<-statsDone
	s := pub.Stats()
	secs := time.Since(start).Seconds()
	env.log.Info("publish finished", append(statsAttrs(s),
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

// explainConnect turns a connection failure into what to do next.
func explainConnect(kc *kafka.Config, err error) error {
	switch {
	case errors.Is(err, publish.ErrNoBroker):
		hint := "is the broker running? Start one with `framecast broker`"
		if kc.SASLMechanism != "" {
			hint += "; with SASL, a wrong user or password also looks like this"
		}
		if kc.UsesTLS() {
			hint += "; check that the address is a TLS listener"
		}
		return fmt.Errorf("cannot reach Kafka at %s: %w; %s", kc.Brokers, err, hint)
	case errors.Is(err, publish.ErrNoTopic):
		return fmt.Errorf("Kafka at %s: %w", kc.Brokers, err)
	}
	return fmt.Errorf("Kafka at %s: %w", kc.Brokers, err)
}

func statsAttrs(s publish.Stats) []any {
	return []any{
		"captured", s.Captured, "acked", s.Acked, "in_flight", s.InFlight(),
		"dropped_buffer_full", s.Dropped.BufferFull, "dropped_delivery_failed", s.Dropped.DeliveryFailed,
		"dropped_too_large", s.Dropped.TooLarge, "source_errors", s.Dropped.SourceError,
		"buffered_bytes", s.BufferedBytes,
	}
}

func round1(x float64) float64 { return float64(int64(x*10+0.5)) / 10 }
