package rungroup

import (
	"context"
	"errors"
	"testing"
	"time"
)

// waitDone is a part that runs until its context ends, and says so.
func waitDone(stopped chan<- string, name string) func(context.Context) error {
	return func(ctx context.Context) error {
		<-ctx.Done()
		stopped <- name
		return nil
	}
}

func TestFirstToReturnStopsAll(t *testing.T) {
	boom := errors.New("boom")
	for _, tc := range []struct {
		name string
		ret  error
	}{
		{"with an error", boom},
		{"without one", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stopped := make(chan string, 2)
			g, ctx := New(context.Background())
			g.Go(waitDone(stopped, "a"))
			g.Go(waitDone(stopped, "b"))
			g.Go(func(context.Context) error { return tc.ret })
			if err := g.Wait(); err != tc.ret {
				t.Errorf("Wait = %v, want %v", err, tc.ret)
			}
			if len(stopped) != 2 {
				t.Errorf("%d of 2 parts stopped", len(stopped))
			}
			if ctx.Err() == nil {
				t.Error("the group's context is still live")
			}
		})
	}
}

// Wait returns the first error, not the ones the cancellation caused.
func TestFirstError(t *testing.T) {
	first, later := errors.New("first"), errors.New("later")
	g, _ := New(context.Background())
	g.Go(func(ctx context.Context) error {
		<-ctx.Done()
		return later
	})
	g.Go(func(context.Context) error { return first })
	if err := g.Wait(); err != first {
		t.Errorf("Wait = %v, want %v", err, first)
	}
}

func TestParentCancelStopsAll(t *testing.T) {
	parent, cancel := context.WithCancel(context.Background())
	stopped := make(chan string, 2)
	g, _ := New(parent)
	g.Go(waitDone(stopped, "a"))
	g.Go(waitDone(stopped, "b"))
	time.AfterFunc(10*time.Millisecond, cancel)
	if err := g.Wait(); err != nil {
		t.Errorf("Wait = %v", err)
	}
	if len(stopped) != 2 {
		t.Errorf("%d of 2 parts stopped", len(stopped))
	}
}

func TestEmptyGroup(t *testing.T) {
	g, ctx := New(context.Background())
	if err := g.Wait(); err != nil {
		t.Errorf("Wait = %v", err)
	}
	if ctx.Err() == nil {
		t.Error("Wait left the context live")
	}
}
