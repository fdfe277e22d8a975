package results

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/framecast/framecast/internal/frame"
	"github.com/framecast/framecast/internal/kafka"
	"github.com/framecast/framecast/internal/testkit"
)

func resultRecord(t *testing.T, camera string, seq int64, faces int) *kgo.Record {
	t.Helper()
	r := frame.Result{Schema: frame.Schema, Camera: camera, Seq: seq, Status: frame.StatusOK, CapturedAt: time.Now(), Faces: []frame.Face{}}
	for range faces {
		r.Faces = append(r.Faces, frame.Face{Emotion: "happy", Emotions: map[string]float64{"happy": 0.9}})
	}
	b, err := frame.Marshal(&r)
	if err != nil {
		t.Fatal(err)
	}
	return &kgo.Record{Topic: kafka.DefaultResultsTopic, Key: []byte(camera), Value: b}
}

// TestTail: only the cameras asked for, at most Count, an idle end, and a
// record that is not a result skipped.
func TestTail(t *testing.T) {
	c := testkit.NewCluster(t, testkit.Partitions(1))
	c.Produce(t, resultRecord(t, "a", 1, 2), resultRecord(t, "b", 1, 0),
		&kgo.Record{Topic: kafka.DefaultResultsTopic, Key: []byte("a"), Value: []byte("not json")},
		resultRecord(t, "a", 2, 0), resultRecord(t, "a", 3, 1))
	opts := []kgo.Opt{kgo.SeedBrokers(c.Addr)}
	var out bytes.Buffer
	write := func(r *kgo.Record) error { return WriteLine(&out, r) }
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := Tail(ctx, Config{ClientOpts: opts, Topic: kafka.DefaultResultsTopic, FromStart: true, Cameras: []string{"a"}, Count: 2}, write)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], "a  #1  2 faces  happy 0.90") || !strings.Contains(lines[1], "a  #2  no faces") {
		t.Errorf("count 2, camera a:\n%s", out.String())
	}
	out.Reset()
	start := time.Now()
	if err := Tail(ctx, Config{ClientOpts: opts, Topic: kafka.DefaultResultsTopic, FromStart: true, Idle: 500 * time.Millisecond}, write); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(out.String(), "\n"); n != 4 || time.Since(start) > 20*time.Second {
		t.Errorf("idle: %d lines after %v:\n%s", n, time.Since(start), out.String())
	}
	err = Tail(ctx, Config{ClientOpts: opts, Topic: "no-such-topic", Idle: time.Second}, write)
	if err == nil || !strings.Contains(err.Error(), "no-such-topic") {
		t.Errorf("missing topic: %v", err)
	}
}

func TestWriteJSON(t *testing.T) {
	var b bytes.Buffer
	for _, v := range []string{`{"a":1}`, "{\"b\":2}\n"} {
		if err := WriteJSON(&b, &kgo.Record{Value: []byte(v)}); err != nil {
			t.Fatal(err)
		}
	}
	if b.String() != "{\"a\":1}\n{\"b\":2}\n" {
		t.Errorf("%q", b.String())
	}
}
