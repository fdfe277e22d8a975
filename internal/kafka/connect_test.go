package kafka

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"
)

// Connect tells wrong settings (a CA file that is not there) from a
// cluster that does not answer.
func TestConnect(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c := &Config{Brokers: cluster(t), CAFile: filepath.Join(t.TempDir(), "missing.pem")}
	if _, err := c.Connect(ctx, nil, "test"); !errors.Is(err, ErrSettings) {
		t.Errorf("missing CA file: %v, want ErrSettings", err)
	}
	c = &Config{Brokers: closedAddr(t)}
	if _, err := c.Connect(ctx, nil, "test"); err == nil || errors.Is(err, ErrSettings) {
		t.Errorf("nothing listening: %v", err)
	}
	c = &Config{Brokers: cluster(t)}
	if opts, err := c.Connect(ctx, nil, "framecast-test"); err != nil || len(opts) == 0 || c.ClientID != "framecast-test" {
		t.Errorf("a live cluster: %v (client id %q)", err, c.ClientID)
	}
}
