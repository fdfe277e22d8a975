package frame

import (
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

func TestMetaRoundTrip(t *testing.T) {
	at := time.Unix(1700000000, 123456789)
	in := Meta{Camera: "cam-7", Seq: 42, CapturedAt: at, Width: 640, Height: 480}
	r := &kgo.Record{Key: []byte("cam-7"), Headers: EncodeHeaders(in), Offset: 9, Timestamp: at.Add(time.Second)}
	got, err := DecodeMeta(r)
	if err != nil {
		t.Fatal(err)
	}
	if got.Camera != "cam-7" || got.Seq != 42 || !got.CapturedAt.Equal(at) || got.Width != 640 || got.Height != 480 || got.Fallback || got.ContentType != ContentTypeJPEG {
		t.Errorf("round trip: %+v", got)
	}
}

func TestMetaFallback(t *testing.T) {
	at := time.Unix(1700000000, 0)
	r := &kgo.Record{Key: []byte("kcat-cam"), Offset: 17, Timestamp: at, Partition: 3,
		Headers: []kgo.RecordHeader{{Key: "traceparent", Value: []byte("x")}}}
	got, err := DecodeMeta(r)
	if err != nil {
		t.Fatal(err)
	}
	if got.Camera != "kcat-cam" || got.Seq != 17 || !got.CapturedAt.Equal(at) || !got.Fallback {
		t.Errorf("fallback: %+v", got)
	}
	r.Key = nil
	if got, _ := DecodeMeta(r); got.Camera != "partition-3" {
		t.Errorf("no key: camera %q", got.Camera)
	}
}

func TestMetaBadHeaders(t *testing.T) {
	for name, hs := range map[string][]kgo.RecordHeader{
		"letters":  {{Key: HeaderSeq, Value: []byte("abc")}},
		"negative": {{Key: HeaderSeq, Value: []byte("-1")}},
		"empty":    {{Key: HeaderCapturedNS, Value: nil}},
		"overflow": {{Key: HeaderCapturedNS, Value: []byte("99999999999999999999")}},
		// 19 digits that do not fit in int64 used to wrap to a negative
		// sequence number.
		"seq overflow":  {{Key: HeaderSeq, Value: []byte("9999999999999999999")}},
		"time overflow": {{Key: HeaderCapturedNS, Value: []byte("9223372036854775808")}},
		"twice":         {{Key: HeaderSeq, Value: []byte("1")}, {Key: HeaderSeq, Value: []byte("2")}},
		"width":         {{Key: HeaderWidth, Value: []byte("99999999")}},
		"binary":        {{Key: HeaderHeight, Value: []byte{0xff, 0x00}}},
	} {
		_, err := DecodeMeta(&kgo.Record{Key: []byte("c"), Headers: hs})
		if !errors.Is(err, ErrBadHeader) {
			t.Errorf("%s: err = %v, want ErrBadHeader", name, err)
		}
	}
	if _, err := DecodeMeta(&kgo.Record{Key: []byte{0xff, 0xfe}}); !errors.Is(err, ErrBadHeader) {
		t.Errorf("invalid UTF-8 key accepted")
	}
}

func FuzzDecodeMeta(f *testing.F) {
	f.Add([]byte("cam"), []byte("12"), []byte("1700000000000000000"), []byte("640"), []byte("x"))
	f.Add([]byte{}, []byte{}, []byte("-"), []byte("99999999999999999999"), []byte{0})
	f.Add([]byte("c"), []byte("9999999999999999999"), []byte("9223372036854775807"), []byte("1"), []byte{})
	f.Fuzz(func(t *testing.T, key, seq, ts, w, junk []byte) {
		r := &kgo.Record{Key: key, Offset: 5, Headers: []kgo.RecordHeader{
			{Key: HeaderSeq, Value: seq}, {Key: HeaderCapturedNS, Value: ts}, {Key: HeaderWidth, Value: w}, {Key: string(junk), Value: junk},
		}}
		m, err := DecodeMeta(r)
		if err != nil {
			if !errors.Is(err, ErrBadHeader) {
				t.Fatalf("unexpected error type: %v", err)
			}
			return
		}
		if m.Seq < 0 || m.Width < 0 || m.Camera == "" {
			t.Fatalf("accepted implausible meta %+v", m)
		}
	})
}
