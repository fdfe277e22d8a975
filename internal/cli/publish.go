package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/framecast/framecast/internal/flagvalue"
	"github.com/framecast/framecast/internal/kafka"
	"github.com/framecast/framecast/internal/publish"
	"github.com/framecast/framecast/internal/telemetry"
)

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
	var cfg publish.Config
	flagvalue.SizeVar(fs, &cfg.MaxBufferedBytes, "max-buffered-bytes", publish.DefaultMaxBufferedBytes, "`size` bound of the producer buffer (e.g. 64MiB); frames that do not fit are dropped (buffer_full)")
	flagvalue.SizeVar(fs, &cfg.BatchMaxBytes, "batch-max-bytes", publish.DefaultBatchMaxBytes, "`size` of the largest produce batch, and so frame (at most 64MiB); the topic's max.message.bytes must be at least this")
	fs.DurationVar(&cfg.DeliveryTimeout, "delivery-timeout", publish.DefaultDeliveryTimeout, "drop a frame Kafka has not acknowledged within this time (delivery_failed)")
	fs.DurationVar(&cfg.FlushTimeout, "flush-timeout", publish.DefaultFlushTimeout, "at exit, wait at most this long for buffered frames")
	statsInterval := fs.Duration("stats-interval", 5*time.Second, "log a stats line this often (0: only at exit)")
	var kc kafka.Config
	kc.RegisterFlags(fs)
	metrics := telemetry.RegisterFlags(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}

	specs, err := sf.specs(fs.Args())
	errs := []error{err, cfg.Validate(), kc.Validate()}
	if *count < 0 {
		errs = append(errs, fmt.Errorf("--count %d: want 0 (no limit) or more", *count))
	}
	// Zero means the default in publish.Config: on the command line it
	// is a mistake. (--stats-interval is the command's own.)
	if cfg.DeliveryTimeout == 0 || cfg.FlushTimeout == 0 || *statsInterval < 0 {
		errs = append(errs, errors.New("--delivery-timeout and --flush-timeout must be positive, --stats-interval not negative"))
	}
	if err := errors.Join(errs...); err != nil {
		return usageError("%v", err)
	}

	// Open every source before connecting: a wrong path is reported at
	// once, without waiting for Kafka. Network cameras connect in the
	// background and are retried, so one that is down does not stop the
	// others.
	cams, err := publish.OpenCameras(specs, sf.options, *count, env.log)
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
	cfg.Topic, cfg.Log = kc.Topics.Frames, env.log
	pub, err := publish.New(ctx, cfg, metrics.KafkaClient(clientOpts)...)
	if err != nil {
		closeAll()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return kc.ExplainConnect(err)
	}
	defer pub.Close()

	return metrics.WatchPublish(pub).Serve(ctx, env.log, func(ctx context.Context) error { return pub.RunWithStats(ctx, cams, *statsInterval) })
}

// kafkaClient connects as clientID (kafka.Config.Connect); wrong
// connection settings are the invocation's fault.
func kafkaClient(ctx context.Context, log *slog.Logger, kc *kafka.Config, clientID string) ([]kgo.Opt, error) {
	opts, err := kc.Connect(ctx, log, clientID)
	if errors.Is(err, kafka.ErrSettings) {
		return nil, usageError("%v", err)
	}
	return opts, err
}

// indent prefixes every line of s.
func indent(s, prefix string) string {
	return prefix + strings.ReplaceAll(s, "\n", "\n"+prefix)
}

func round1(x float64) float64 { return float64(int64(x*10+0.5)) / 10 }
