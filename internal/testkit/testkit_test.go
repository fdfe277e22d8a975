package testkit

import (
	"context"
	"errors"
	"fmt"
	"net"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/framecast/framecast/internal/frame"
	"github.com/framecast/framecast/internal/kafka"
)

// fakeT stands in for the *testing.T of a test of the kit, to see what the
// kit does to it: Fatal and Skip end the goroutine, as they do in a test.
type fakeT struct {
	testing.TB        // the real test: TempDir, Log
	fatal, skip, errs string
	cleanups          []func()
}

func (f *fakeT) Helper()                        {}
func (f *fakeT) Errorf(format string, a ...any) { f.errs += fmt.Sprintf(format, a...) }
func (f *fakeT) Cleanup(fn func())              { f.cleanups = append(f.cleanups, fn) }
func (f *fakeT) Fatalf(format string, a ...any) {
	f.fatal = fmt.Sprintf(format, a...)
	runtime.Goexit()
}
func (f *fakeT) Skip(a ...any) {
	f.skip = fmt.Sprint(a...)
	runtime.Goexit()
}

// run runs fn in a goroutine of its own, as the testing package runs a
// test, then the cleanups, last first.
func run(t *testing.T, fn func(tb testing.TB)) *fakeT {
	f := &fakeT{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(f)
	}()
	<-done
	for i := len(f.cleanups) - 1; i >= 0; i-- {
		f.cleanups[i]()
	}
	return f
}

func TestEventually(t *testing.T) {
	var polls atomic.Int32
	Eventually(t, 5*time.Second, "the third poll", func() bool { return polls.Add(1) == 3 })

	f := run(t, func(tb testing.TB) { Eventually(tb, 50*time.Millisecond, "never", func() bool { return false }) })
	if want := "timed out after 50ms waiting for never"; f.fatal != want {
		t.Errorf("failure %q, want %q", f.fatal, want)
	}
}

func TestGo(t *testing.T) {
	boom := errors.New("boom")
	b := Go(t, func(ctx context.Context) error {
		<-ctx.Done()
		return boom
	})
	select {
	case <-b.Done():
		t.Fatal("returned before its context was cancelled")
	case <-time.After(20 * time.Millisecond):
	}
	if err := b.Stop(time.Second); err != boom {
		t.Errorf("Stop: %v, want boom", err)
	}
	if err := b.Stop(time.Second); err != boom || b.Err() != boom {
		t.Errorf("Stop again: %v, Err %v; want boom", err, b.Err())
	}

	// The end of the test cancels and waits.
	var stopped atomic.Bool
	f := run(t, func(tb testing.TB) {
		Go(tb, func(ctx context.Context) error {
			<-ctx.Done()
			stopped.Store(true)
			return nil
		})
	})
	if !stopped.Load() || f.errs != "" {
		t.Errorf("cleanup: stopped %v, errors %q", stopped.Load(), f.errs)
	}

	// A function that does not stop fails the test.
	f = run(t, func(tb testing.TB) {
		release := make(chan struct{})
		defer close(release) // after the failure, so that the cleanup is quick
		Go(tb, func(context.Context) error { <-release; return nil }).Stop(20 * time.Millisecond)
	})
	if !strings.Contains(f.fatal, "did not return within 20ms") {
		t.Errorf("failure %q", f.fatal)
	}
}

func TestFreeAddr(t *testing.T) {
	addr := FreeAddr(t)
	if !strings.HasPrefix(addr, "127.0.0.1:") {
		t.Fatalf("address %q", addr)
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("the port is not free: %v", err)
	}
	l.Close()
}

func TestCluster(t *testing.T) {
	c := NewCluster(t, Partitions(3))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	topics, err := kadm.NewClient(c.Client(t)).ListTopics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{kafka.DefaultFramesTopic, kafka.DefaultResultsTopic, kafka.DefaultDLQTopic} {
		if td, ok := topics[name]; !ok || len(td.Partitions) != 3 {
			t.Errorf("topic %s: %+v, want 3 partitions", name, td)
		}
	}
	sent := c.ProduceFrames(t, "cam-1", 2, 5, []byte("jpeg"))
	got := c.ReadTopic(t, kafka.DefaultFramesTopic, len(sent))
	if len(got) != 5 {
		t.Fatalf("read %d records, want 5", len(got))
	}
	for i, r := range got {
		m, err := frame.DecodeMeta(r)
		if err != nil || m.Camera != "cam-1" || m.Seq != int64(i) || r.Partition != 2 || string(r.Value) != "jpeg" {
			t.Errorf("record %d: partition %d, meta %+v (%v)", i, r.Partition, m, err)
		}
	}
	if n := len(c.ReadTopic(t, kafka.DefaultResultsTopic, 0)); n != 0 {
		t.Errorf("%d results, want none", n)
	}

	bare := NewCluster(t, Topics())
	topics, err = kadm.NewClient(bare.Client(t)).ListTopics(ctx)
	if err != nil || len(topics) != 0 {
		t.Errorf("topics %v (%v), want none", topics.Names(), err)
	}
}

func TestRequireModels(t *testing.T) {
	home := t.TempDir()
	t.Setenv("FRAMECAST_HOME", home)
	t.Setenv("FRAMECAST_ONNXRUNTIME_LIB", "")
	t.Setenv(EnvRequireModels, "") // first the skip, which `make test` turns into a failure
	f := run(t, func(tb testing.TB) { RequireModels(tb) })
	for _, want := range []string{"make setup", "framecast models fetch", home} {
		if !strings.Contains(f.skip, want) {
			t.Errorf("skip message %q lacks %q", f.skip, want)
		}
	}
	if f.fatal != "" {
		t.Errorf("failed: %s", f.fatal)
	}
	t.Setenv(EnvRequireModels, "1")
	f = run(t, func(tb testing.TB) { RequireSamples(tb) })
	if f.skip != "" || !strings.Contains(f.fatal, "sample1.jpg") || !strings.Contains(f.fatal, EnvRequireModels) {
		t.Errorf("with %s=1: skip %q, failure %q; want a failure", EnvRequireModels, f.skip, f.fatal)
	}
}
