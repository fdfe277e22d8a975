package process

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestLive: a worker on one frame for MaxBusy is reported; idle or quick
// ones are not.
func TestLive(t *testing.T) {
	w := []*worker{{}, {}}
	p := &Processor{workers: w, busy: []*atomic.Int64{&w[0].busySince, &w[1].busySince}}
	if err := p.Live(context.Background()); err != nil {
		t.Errorf("idle workers: %v", err)
	}
	p.workers[0].busySince.Store(time.Now().Add(-time.Second).UnixNano())
	if err := p.Live(context.Background()); err != nil {
		t.Errorf("a worker busy for a second: %v", err)
	}
	p.workers[1].busySince.Store(time.Now().Add(-MaxBusy - time.Second).UnixNano())
	if err := p.Live(context.Background()); err == nil || !strings.Contains(err.Error(), "worker 1 has been on one frame") {
		t.Errorf("a stuck worker: %v", err)
	}
}
