// Package rungroup runs the parts of a role together until the first one
// ends, Prometheus's run group in the shape of errgroup: the demo's
// publisher, processor and dashboard, the dashboard's readers and HTTP
// server, a publisher and its stats loop.
//
// It differs from errgroup.WithContext in one rule: the group stops when
// any part returns, with an error or without. A part that ends early has
// stopped serving, and the role cannot go on without it; a part that has
// nothing left to do (a stats loop) waits on its context instead of
// returning.
package rungroup

import (
	"context"
	"sync"
)

// Group is a set of parts sharing one context. The zero Group is not
// usable: make one with New.
type Group struct {
	cancel context.CancelFunc
	ctx    context.Context
	wg     sync.WaitGroup

	mu  sync.Mutex
	err error // the first error a part returned
}

// New returns a Group and its context, which ends when ctx does or when
// the first part returns.
func New(ctx context.Context) (*Group, context.Context) {
	ctx, cancel := context.WithCancel(ctx)
	return &Group{cancel: cancel, ctx: ctx}, ctx
}

// Go runs part in a goroutine of its own, with the group's context. When
// part returns the context is cancelled, so the other parts stop. A part
// should return soon after its context ends.
func (g *Group) Go(part func(ctx context.Context) error) {
	g.wg.Go(func() {
		defer g.cancel()
		if err := part(g.ctx); err != nil {
			g.mu.Lock()
			if g.err == nil {
				g.err = err
			}
			g.mu.Unlock()
		}
	})
}

// Wait waits for every part to return and returns the first error one
// returned, or nil. The errors that follow the first are most often its
// consequences (a part stopped by the cancellation); a part that must not
// lose its error joins it itself.
func (g *Group) Wait() error {
	g.wg.Wait()
	g.cancel()
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.err
}
