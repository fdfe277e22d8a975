package kafka

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

func TestDirectReader(t *testing.T) {
	addr := cluster(t, kfake.SeedTopics(1, "t")) // one partition: one order
	opts := clientOpts(t, addr)
	prod := newClient(t, addr)
	produce := func(ctx context.Context, v string) error {
		return prod.ProduceSync(ctx, &kgo.Record{Topic: "t", Value: []byte(v)}).FirstErr()
	}
	old := []string{"old-0", "old-1", "old-2"}
	for _, v := range old {
		if err := produce(ctxTimeout(t, 10*time.Second), v); err != nil {
			t.Fatal(err)
		}
	}
	errDone := errors.New("done")
	// read runs a reader until it has n records, producing "new-…"
	// records meanwhile, and returns what it read.
	read := func(t *testing.T, cfg ReaderConfig, n int) []string {
		rd, err := NewDirectReader(opts, cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer rd.Close()
		if _, err := rd.CheckTopics(ctxTimeout(t, 5*time.Second)); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		go func() { // until the reader has its start offsets and sees one
			for i := 0; ctx.Err() == nil; i++ {
				_ = produce(ctx, fmt.Sprint("new-", i))
				time.Sleep(50 * time.Millisecond)
			}
		}()
		var got []string
		err = rd.Run(ctx, func(fs kgo.Fetches) error {
			fs.EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
			if len(got) >= n {
				return errDone
			}
			return nil
		})
		if !errors.Is(err, errDone) {
			t.Fatalf("Run: %v, after %v", err, got)
		}
		return got
	}

	t.Run("from the start", func(t *testing.T) {
		got := read(t, ReaderConfig{Topics: []string{"t"}, FromStart: true, ReadCommitted: true}, 3)
		if !slices.Equal(got[:3], old) {
			t.Errorf("got %v, want the old records first", got)
		}
	})
	t.Run("from the end", func(t *testing.T) {
		for _, v := range read(t, ReaderConfig{Topics: []string{"t"}}, 1) {
			if slices.Contains(old, v) {
				t.Errorf("read %s, produced before the reader started", v)
			}
		}
	})
	t.Run("Run ends with its context", func(t *testing.T) {
		rd, err := NewDirectReader(opts, ReaderConfig{Topics: []string{"t"}})
		if err != nil {
			t.Fatal(err)
		}
		defer rd.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		if err := rd.Run(ctx, func(kgo.Fetches) error { return nil }); err != nil {
			t.Fatalf("Run: %v, want nil once its context ends", err)
		}
	})
	if _, err := NewDirectReader(opts, ReaderConfig{}); err == nil {
		t.Error("a reader without topics")
	}
}
