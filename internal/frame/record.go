package frame

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Frame record headers on the frames topic. Values are ASCII decimal so any
// Kafka tool (kcat -J, the console consumer) shows them readably.
const (
	HeaderSeq         = "framecast-seq"         // per-camera sequence number
	HeaderCapturedNS  = "framecast-captured-ns" // capture time, unix nanoseconds
	HeaderContentType = "content-type"          // "image/jpeg"
	HeaderWidth       = "framecast-width"
	HeaderHeight      = "framecast-height"
	// HeaderReason is set on dead-letter records: why the frame was not
	// analysed (see imagex.Reason and the Reason* constants).
	HeaderReason = "framecast-reason"
	// HeaderError carries the human-readable error on dead-letter records.
	HeaderError = "framecast-error"
)

// Dead-letter reasons for records that are not images at all.
const (
	ReasonBadHeader = "bad_header"
	ReasonNoKey     = "no_key"
)

// ContentTypeJPEG is the only frame encoding publishers produce today.
const ContentTypeJPEG = "image/jpeg"

// Meta is what a frame record says about its frame, with the fallbacks for
// records produced by other clients without framecast's headers.
type Meta struct {
	Camera      string
	Seq         int64
	CapturedAt  time.Time
	ContentType string
	Width       int // 0 when the producer did not say
	Height      int
	// Fallback is true when the record had no framecast headers: Seq then
	// is the offset and CapturedAt the record timestamp.
	Fallback bool
}

// ErrBadHeader is wrapped by DecodeMeta for malformed framecast headers.
var ErrBadHeader = errors.New("malformed frame header")

// EncodeHeaders returns the headers of a frame record.
func EncodeHeaders(m Meta) []kgo.RecordHeader {
	h := []kgo.RecordHeader{
		{Key: HeaderSeq, Value: strconv.AppendInt(nil, m.Seq, 10)},
		{Key: HeaderCapturedNS, Value: strconv.AppendInt(nil, m.CapturedAt.UnixNano(), 10)},
		{Key: HeaderContentType, Value: []byte(ContentTypeJPEG)},
	}
	if m.ContentType != "" {
		h[2].Value = []byte(m.ContentType)
	}
	if m.Width > 0 && m.Height > 0 {
		h = append(h,
			kgo.RecordHeader{Key: HeaderWidth, Value: strconv.AppendInt(nil, int64(m.Width), 10)},
			kgo.RecordHeader{Key: HeaderHeight, Value: strconv.AppendInt(nil, int64(m.Height), 10)})
	}
	return h
}

// DecodeMeta reads a frame record's key and headers. A record without any
// framecast header (say, a JPEG sent with kcat) is accepted with fallbacks:
// the camera is the key (or "partition-N" without a key), the sequence the
// offset, the capture time the record timestamp. A record whose framecast
// headers are present but malformed is an error wrapping ErrBadHeader, so
// it goes to the dead-letter topic instead of being analysed with made-up
// metadata.
func DecodeMeta(r *kgo.Record) (Meta, error) {
	m := Meta{Camera: string(r.Key), Seq: r.Offset, CapturedAt: r.Timestamp, Fallback: true}
	if len(r.Key) == 0 {
		m.Camera = "partition-" + strconv.Itoa(int(r.Partition))
	}
	if !ValidCamera(m.Camera) {
		return m, fmt.Errorf("%w: camera id (record key) must be valid UTF-8 of at most %d bytes", ErrBadHeader, MaxCameraLen)
	}
	seen := map[string]bool{}
	for _, h := range r.Headers {
		switch h.Key {
		case HeaderSeq, HeaderCapturedNS, HeaderWidth, HeaderHeight, HeaderContentType:
		default:
			continue // other clients' headers are theirs
		}
		if seen[h.Key] {
			return m, fmt.Errorf("%w: %s appears twice", ErrBadHeader, h.Key)
		}
		seen[h.Key] = true
		if h.Key == HeaderContentType {
			m.ContentType = string(h.Value)
			continue
		}
		v, err := parseDecimal(h.Value)
		if err != nil {
			return m, fmt.Errorf("%w: %s=%q: %v", ErrBadHeader, h.Key, truncate(h.Value), err)
		}
		switch h.Key {
		case HeaderSeq:
			m.Seq, m.Fallback = v, false
		case HeaderCapturedNS:
			m.CapturedAt, m.Fallback = time.Unix(0, v), false
		case HeaderWidth:
			if v > 1<<20 {
				return m, fmt.Errorf("%w: %s=%d is not a plausible width", ErrBadHeader, h.Key, v)
			}
			m.Width = int(v)
		case HeaderHeight:
			if v > 1<<20 {
				return m, fmt.Errorf("%w: %s=%d is not a plausible height", ErrBadHeader, h.Key, v)
			}
			m.Height = int(v)
		}
	}
	return m, nil
}

// parseDecimal accepts a non-negative ASCII decimal that fits in int64.
func parseDecimal(b []byte) (int64, error) {
	if len(b) == 0 || len(b) > 19 {
		return 0, errors.New("want 1 to 19 decimal digits")
	}
	var v int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, errors.New("not a decimal number")
		}
		d := int64(c - '0')
		if v > (math.MaxInt64-d)/10 {
			// 19 digits can exceed int64: without this check
			// 9999999999999999999 would wrap to a negative sequence
			// number, which readers use as an index.
			return 0, errors.New("larger than 9223372036854775807")
		}
		v = v*10 + d
	}
	return v, nil
}

func truncate(b []byte) string {
	if len(b) > 32 {
		b = b[:32]
	}
	return string(b)
}
