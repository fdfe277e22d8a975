package childproc

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/framecast/framecast/internal/kafka"
)

// BrokerReadyTimeout is how long StartBroker waits for the broker's
// topics.
const BrokerReadyTimeout = 60 * time.Second

// Broker is `framecast broker` running as a child process on a loopback
// port.
type Broker struct {
	*Process
	addr string
}

// StartBroker runs this executable's `broker` on a free 127.0.0.1 port,
// with its data in dataDir and partitions partitions per topic, and waits
// until its three topics exist (BrokerReadyTimeout).
func StartBroker(ctx context.Context, log *slog.Logger, dataDir string, partitions int) (*Broker, error) {
	addr, err := freeLoopbackAddr()
	if err != nil {
		return nil, err
	}
	p, err := Start(log, "broker", []string{"broker", "--listen", addr, "--data-dir", dataDir,
		"--partitions", strconv.Itoa(partitions), "--stats-interval", "0"}, "addr", addr, "data_dir", dataDir)
	if err != nil {
		return nil, err
	}
	b := &Broker{Process: p, addr: addr}
	if err := b.waitReady(ctx, BrokerReadyTimeout); err != nil {
		b.Stop(log)
		return nil, err
	}
	return b, nil
}

// Addr is the broker's host:port.
func (b *Broker) Addr() string { return b.addr }

// ClientOpts are the options of a client of this broker, built as every
// role's are (kafka.Config.ClientOpts); log may be nil.
func (b *Broker) ClientOpts(clientID string, log *slog.Logger) ([]kgo.Opt, error) {
	kc := kafka.Config{Brokers: b.addr, ClientID: clientID}
	return kc.ClientOpts(log)
}

func (b *Broker) waitReady(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		select {
		case <-b.Done():
			return fmt.Errorf("the broker exited at start (%v): %s", b.Err(), b.Stderr())
		case <-ctx.Done():
			return ctx.Err()
		default:
		}
		if b.topicsReady(ctx) == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the broker at %s did not create its topics within %v: %s", b.addr, timeout, b.Stderr())
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// topicsReady checks the broker's three topics (kafka.CheckTopics).
func (b *Broker) topicsReady(ctx context.Context) error {
	opts, err := b.ClientOpts("framecast-bench-probe", nil) // not ready yet is no news: unlogged
	if err != nil {
		return err
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	_, err = kafka.CheckTopics(ctx, cl, kafka.DefaultFramesTopic, kafka.DefaultResultsTopic, kafka.DefaultDLQTopic)
	return err
}

func freeLoopbackAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("finding a free port on 127.0.0.1: %w", err)
	}
	defer l.Close()
	return l.Addr().String(), nil
}
