// Package testkit holds what the tests of several packages share: an
// in-process Kafka cluster with framecast's topics and helpers to produce
// and read records, a polling assertion, free loopback addresses, functions
// run in the background and stopped with the test, stalled network clients,
// checks for the models and tools `make setup` installs, and test media
// (hand-made JPEGs, videos of the sample photos).
//
// It is imported by tests only; it needs no cgo, so the packages that use it
// still vet and build on every platform.
package testkit

import (
	"context"
	"testing"
	"time"
)

// Eventually polls cond until it holds, and fails the test if timeout
// passes first, naming what it waited for: tests poll instead of sleeping
// for a guessed time. The polls start 5 ms apart and slow to 50 ms.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for wait := 5 * time.Millisecond; !cond(); wait = min(wait*2, 50*time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(wait)
	}
}

// CleanupTimeout is how long the end of a test waits for a Background
// function to return after cancelling its context.
const CleanupTimeout = time.Minute

// Background is a function running in its own goroutine with a context
// that Stop, or the end of the test, cancels.
type Background struct {
	t      testing.TB
	cancel context.CancelFunc
	done   chan struct{}
	err    error
}

// Go runs fn in a goroutine. Stop cancels its context and waits for it; at
// the end of the test, if Stop was not called, the context is cancelled
// and the test fails unless fn returns within CleanupTimeout (a role that
// does not stop when told to is a bug, not a slow test). fn's error is
// reported by Stop and Err only: some functions return context.Canceled
// when cancelled, and the caller knows which.
func Go(t testing.TB, fn func(ctx context.Context) error) *Background {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	b := &Background{t: t, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(b.done)
		b.err = fn(ctx)
	}()
	t.Cleanup(func() {
		if !b.stop(CleanupTimeout) {
			t.Errorf("a background function did not return within %v of the end of the test", CleanupTimeout)
		}
	})
	return b
}

// stop cancels the context and reports whether fn returned within d.
func (b *Background) stop(d time.Duration) bool {
	b.cancel()
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-b.done:
		return true
	case <-timer.C:
		return false
	}
}

// Stop cancels fn's context, as SIGINT or SIGTERM do to a command, and
// returns fn's error; the test fails at once if fn does not return within
// d. Stopping again returns the same error.
func (b *Background) Stop(d time.Duration) error {
	b.t.Helper()
	if !b.stop(d) {
		b.t.Fatalf("a background function did not return within %v of its cancellation", d)
	}
	return b.err
}

// Done is closed when fn has returned.
func (b *Background) Done() <-chan struct{} { return b.done }

// Err is fn's error, once Done is closed.
func (b *Background) Err() error {
	<-b.done
	return b.err
}
